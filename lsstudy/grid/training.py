"""The grid's training: which models are new, the engine to train them, and their checkpoints.

A checkpoint is reused while its recipe, the training data and the digest of the training code (every file
the training unit imports) are unchanged; see ``lsstudy.grid.study``. With ``engine.stack`` above 1, label-smoothing
models of one arch are trained in stacks (``lsstudy.stacked``), whose grouped kernels add in their own order: the
stack a model was trained in is then part of its key, and which models share a stack is fixed by the runs asked
for and ``engine.stack`` alone (``stacks``), never by which of them are trained already.
"""

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from lsstudy import baselines, models
from lsstudy.grid import engine
from lsstudy.grid.runs import ARCH_COST, METHOD_COST, RunConfig, grid, transfer_sources
from lsstudy.grid.study import code_digest, load_split, tensor_digest, test_split
from lsstudy.grid.units.training import train_models
from lsstudy.stacked import STACKABLE

TRAIN_RECIPE_KEYS = ["epochs", "lr", "momentum", "batch_size", "val_fraction", "patience", "plateau_loss", "schedule",
                     "precision"]
TRAINING_UNIT = "lsstudy.grid.units.training"


def _recipe(run: RunConfig, train: dict, code: str, data_digest: str) -> dict:
    recipe = {key: train[key] for key in TRAIN_RECIPE_KEYS}
    options = dict(train[run.method]) if run.method in baselines.BASELINES else {}
    if run.method == "distillation":
        options["lr"] = options["lr"][run.arch]
    return {"recipe": recipe, "options": options, "code": code, "data": data_digest}


def _reusable(path: Path, key: dict, say) -> dict | None:
    """The checkpoint's meta if it was trained with exactly ``key``; None if absent, different or unreadable."""
    if not path.exists():
        return None
    try:
        meta = models.read_meta(path)
    except models.CheckpointError as error:
        say(f"{error}: it will be trained again")
        return None
    return meta if meta.get("key") == key else None


def stacks(runs: list[RunConfig], size: int) -> list[list[RunConfig]]:
    """``runs`` in units of training: the label-smoothing models of each arch of ``STACKABLE`` and dataset, in
    consecutive groups of ``size`` in the order of ``runs`` (the last group of each may be smaller); every other
    model (baselines, other archs) alone."""
    groups, alone = {}, []
    for run in runs:
        if size > 1 and run.arch in STACKABLE and run.method not in baselines.BASELINES:
            groups.setdefault((run.arch, run.dataset), []).append(run)
        else:
            alone.append([run])
    return [kind[i : i + size] for kind in groups.values() for i in range(0, len(kind), size)] + alone


def _cost(group: list[RunConfig]) -> int:
    """The unit's rough cost, so that the engine starts the longest units first (see
    ``lsstudy.grid.runs.ARCH_COST``)."""
    return len(group) * ARCH_COST.get(group[0].arch, 10) * METHOD_COST.get(group[0].method, 1)


def train_runs(study: str, runs: list[RunConfig], models_dir: Path, base: dict, train: dict, engine_settings: dict,
               data_settings: dict, root: Path, say=print, description: str = "train") -> dict[RunConfig, dict]:
    """Train every model of ``runs`` that has no checkpoint in ``models_dir`` with the same key yet (recipe,
    training data, training code, and its stack's models if it was trained in one); return every run's checkpoint
    meta (its history, clean accuracy, key).

    Checkpoints go to <models_dir>/<arch>/. Others found there are kept and ignored (a narrowed grid never
    destroys trained models); one that cannot be read is named and trained again. A stack with any model to train
    trains all of its models again (the same numbers for those already there).
    """
    root = Path(root)
    x, y = load_split(base, data_settings, "train", root)
    x_test, y_test = test_split(base, data_settings, root)
    code, data_digest = code_digest(TRAINING_UNIT), tensor_digest(x, y, x_test, y_test)
    metas, units, reused = {}, [], 0
    for group in sorted(stacks(runs, engine_settings["stack"]), key=_cost, reverse=True):  # stable: ties keep order
        keys = [_recipe(run, train, code, data_digest) for run in group]
        if len(group) > 1:
            keys = [{**key, "stack": [run.name for run in group]} for key in keys]
        reusable = [_reusable(run.checkpoint(models_dir), key, say) for run, key in zip(group, keys)]
        if all(meta is not None for meta in reusable):
            metas |= dict(zip(group, reusable))
            reused += 1
        else:
            label = group[0].label(study) + (f" and {len(group) - 1} more in its stack" if len(group) > 1 else "")
            units.append(engine.Unit(label, {"runs": group, "recipe": keys[0]["recipe"], "options": keys[0]["options"],
                                             "keys": keys}))
    wanted = {run.checkpoint(models_dir) for run in runs}
    others = [p for p in Path(models_dir).glob("*/*.pt") if p not in wanted]
    if others:
        say(f"{len(others)} checkpoint(s) in {models_dir} are not in the grid: kept, and ignored")
    say(f"{study}: {len(metas)} of {len(runs)} models already trained; training {len(runs) - len(metas)}"
        + (f" in {len(units)} units" if any(len(u.payload["runs"]) > 1 for u in units) else ""))

    def save(unit: engine.Unit, results: list[dict]) -> None:
        for run, key, result in zip(unit.payload["runs"], unit.payload["keys"], results):
            scale = {"logit_scale": key["options"]["scale"]} if run.method == "scaled_logits" else {}
            model = models.build(run.arch, run.dataset, **scale)
            model.load_state_dict(result["state_dict"])
            meta = {**asdict(run), "key": key, "clean_accuracy": result["clean_accuracy"],
                    "history": result["history"].to_dict("list"), **scale}
            models.save(model, run.checkpoint(models_dir), **meta)
            metas[run] = meta

    engine.run(train_models, units, {"train": (x, y), "test": (x_test, y_test)}, engine_settings, save,
               description=f"{description} {study}", reused=reused)
    return metas


def grid_models(root: Path, study: str) -> Path:
    """Where the grid's checkpoints live: models/<study>/grid."""
    return Path(root) / "models" / study / "grid"


def train_grid(study: str, base: dict, train: dict, engine_settings: dict, data_settings: dict, root: Path,
               say=print) -> pd.DataFrame:
    """Train every model of the study's grid and the transfer sources (``train_runs``, into
    models/<study>/grid); return the training histories of the grid (one row per model and epoch)."""
    runs = grid(base, train)
    metas = train_runs(study, runs + transfer_sources(base, train), grid_models(root, study), base, train,
                       engine_settings, data_settings, root, say)
    return pd.concat([pd.DataFrame(metas[run]["history"]).assign(**asdict(run)) for run in runs], ignore_index=True)
