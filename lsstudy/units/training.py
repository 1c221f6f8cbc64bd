"""The unit of training: one model of the grid, trained from its settings (a pure function for the engine)."""

from lsstudy import baselines, models
from lsstudy.grid import RunConfig
from lsstudy.train import predict, train


def train_model(payload: dict, context: dict) -> dict:
    """Train the model of ``payload["run"]`` (a ``RunConfig``) with ``payload["recipe"]`` (train()'s
    settings) and, for a baseline defence, ``payload["options"]``.

    ``context``: {"train": (x, y), "test": (x, y)}, the training split and the attacked test points.
    Returns {"state_dict" (on the CPU), "history" (a DataFrame, one row per epoch), "clean_accuracy"}.
    """
    run: RunConfig = payload["run"]
    recipe, options = payload["recipe"], dict(payload.get("options", {}))
    x, y = context["train"]
    model = models.build(run.arch, run.dataset, seed=run.seed)
    if run.method in baselines.BASELINES:
        teacher = models.build(run.arch, run.dataset, seed=run.seed) if run.method == "distillation" else None
        history = baselines.train_baseline(run.method, model, teacher, x, y, recipe, seed=run.seed, **options)
    else:
        history = train(model, x, y, run.method, run.alpha, run.temperature, seed=run.seed, progress=False, **recipe)
    x_test, y_test = context["test"]
    clean = (predict(model, x_test).argmax(1) == y_test).float().mean().item()
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    return {"state_dict": state, "history": history, "clean_accuracy": clean}

