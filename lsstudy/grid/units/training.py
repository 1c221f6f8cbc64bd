"""The unit of training: one model of the grid, or a stack of models of one arch, trained from their settings (pure
functions for the engine)."""

from lsstudy import baselines, models
from lsstudy.grid.runs import RunConfig
from lsstudy.train import predict, train
from lsstudy.train_stack import train_stack


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
        if run.method == "scaled_logits":
            model = models.with_logit_scale(model, options["scale"])
    else:
        history = train(model, x, y, run.method, run.alpha, run.temperature, seed=run.seed, progress=False, **recipe)
    return _result(model, history, context)


def train_models(payload: dict, context: dict) -> list[dict]:
    """Train the models of ``payload["runs"]``: one, as ``train_model`` does, or several (label-smoothing models of
    one arch and dataset, ``lsstudy.stacked.STACKABLE``) as one stack (``lsstudy.train_stack``).

    Returns ``train_model``'s result for each run, in order.
    """
    runs: list[RunConfig] = payload["runs"]
    if len(runs) == 1:
        return [train_model({"run": runs[0], "recipe": payload["recipe"], "options": payload.get("options", {})}, context)]
    members = [models.build(run.arch, run.dataset, seed=run.seed) for run in runs]
    settings = [{"method": r.method, "alpha": r.alpha, "temperature": r.temperature, "seed": r.seed} for r in runs]
    histories = train_stack(members, *context["train"], settings, **payload["recipe"])
    return [_result(member, history, context) for member, history in zip(members, histories)]


def _result(model, history, context: dict) -> dict:
    x_test, y_test = context["test"]
    clean = (predict(model, x_test).argmax(1) == y_test).float().mean().item()
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    return {"state_dict": state, "history": history, "clean_accuracy": clean}
