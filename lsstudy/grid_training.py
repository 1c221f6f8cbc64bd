"""The grid's training: which models are new, the engine to train them, and their checkpoints.

A checkpoint is reused while its recipe, the training data and the digest of the training code (every file
the training unit imports) are unchanged; see ``lsstudy.study``.
"""

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from lsstudy import baselines, engine, models
from lsstudy.grid import RunConfig, grid, longest_first, transfer_sources
from lsstudy.study import code_digest, load_split, tensor_digest, test_split
from lsstudy.units.training import train_model

TRAIN_RECIPE_KEYS = ["epochs", "lr", "momentum", "batch_size", "val_fraction", "patience", "plateau_loss"]
TRAINING_UNIT = "lsstudy.units.training"


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


def train_runs(study: str, runs: list[RunConfig], models_dir: Path, base: dict, train: dict, engine_settings: dict,
               data_settings: dict, root: Path, say=print, description: str = "train") -> dict[RunConfig, dict]:
    """Train every model of ``runs`` that has no checkpoint in ``models_dir`` with the same key yet (recipe,
    training data, training code); return every run's checkpoint meta (its history, clean accuracy, key).

    Checkpoints go to <models_dir>/<arch>/. Others found there are kept and ignored (a narrowed grid never
    destroys trained models); one that cannot be read is named and trained again.
    """
    root = Path(root)
    x, y = load_split(base, data_settings, "train", root)
    x_test, y_test = test_split(base, data_settings, root)
    code, data_digest = code_digest(TRAINING_UNIT), tensor_digest(x, y, x_test, y_test)
    metas, units = {}, []
    for run in longest_first(runs):
        key = _recipe(run, train, code, data_digest)
        meta = _reusable(run.checkpoint(models_dir), key, say)
        if meta is not None:
            metas[run] = meta
        else:
            units.append(engine.Unit(run.label(study), {"run": run, "recipe": key["recipe"], "options": key["options"],
                                                        "key": key}))
    wanted = {run.checkpoint(models_dir) for run in runs}
    others = [p for p in Path(models_dir).glob("*/*.pt") if p not in wanted]
    if others:
        say(f"{len(others)} checkpoint(s) in {models_dir} are not in the grid: kept, and ignored")
    say(f"{study}: {len(metas)} of {len(runs)} models already trained; training {len(units)}")

    def save(unit: engine.Unit, result: dict) -> None:
        run = unit.payload["run"]
        model = models.build(run.arch, run.dataset)
        model.load_state_dict(result["state_dict"])
        meta = {**asdict(run), "key": unit.payload["key"], "clean_accuracy": result["clean_accuracy"],
                "history": result["history"].to_dict("list")}
        models.save(model, run.checkpoint(models_dir), **meta)
        metas[run] = meta

    engine.run(train_model, units, {"train": (x, y), "test": (x_test, y_test)}, engine_settings, save,
               description=f"{description} {study}", reused=len(metas))
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
