"""The confirm stage's driver: each method's configuration, chosen on the selection points, confirmed where the
verdict is made: on fresh seeds (``confirm.seeds``) and more points (``confirm.test_size``), with every attack
of the strong evaluation and AutoAttack's ensemble.

The choice never sees the models or the points that judge it: it is made by the grid's seeds (``base.seeds``) on
``attack.selection``'s points, and the schema keeps ``confirm.seeds`` apart from the one and the evaluated window
apart from the other. Judging the very models that won the choice would favour smoothing a little: among a
method's alphas, the one whose models happened to do best on those seeds is the one chosen.
"""

from dataclasses import replace
from pathlib import Path

import pandas as pd

from lsstudy.grid.attacks import evaluate_models, timings, transfer_examples, with_settings
from lsstudy.grid.runs import RunConfig, transfer_sources
from lsstudy.grid.study import load_window
from lsstudy.grid.training import grid_models, train_runs
from lsstudy.grid.units.evaluation import confirm_plan
from lsstudy.report.tables import chosen


def confirm_window(base: dict, confirm: dict, data_settings: dict, root: Path):
    """The verdict's points: [test_offset, test_offset + confirm.test_size) of the test split."""
    return load_window(base["dataset"], base["test_offset"], confirm["test_size"], data_settings, root)


def confirm_grid(study: str, base: dict, train: dict, attack: dict, confirm: dict, engine_settings: dict,
                 data_settings: dict, root: Path, selection: pd.DataFrame, say=print) -> dict[str, pd.DataFrame]:
    """Train the chosen configurations at ``confirm.seeds`` (models/<study>/confirm) and evaluate them with
    ``confirm_plan``; returns the tables "attacks", "chosen" and "timings". Evaluations are kept in
    results/<study>/confirm/evaluations/ and reused like the attack stage's."""
    root = Path(root)
    choice = chosen(selection, attack)
    configurations = [RunConfig(dataset, arch, method, float(alpha), float(temperature), seed=0)
                      for dataset, arch, method, alpha, temperature
                      in choice[["dataset", "arch", "method", "alpha", "temperature"]].drop_duplicates().itertuples(index=False)]
    grid_dir, confirm_dir = grid_models(root, study), root / "models" / study / "confirm"
    judged = [replace(c, seed=seed) for c in configurations for seed in confirm["seeds"]]
    train_runs(study, judged, confirm_dir, base, train, engine_settings, data_settings, root, say,
               description="confirm: train")
    runs = {run: run.checkpoint(confirm_dir) for run in judged}
    test = confirm_window(base, confirm, data_settings, root)
    cache_dir = root / "results" / study / "confirm" / "evaluations"
    examples = transfer_examples(study, transfer_sources(base, train), grid_dir, attack, engine_settings, test, cache_dir)
    results = evaluate_models(study, runs, confirm_plan(attack, confirm), test, None, examples, engine_settings,
                              cache_dir, say, description="confirm")
    return {"attacks": with_settings(results, "attacks", runs, root), "chosen": choice, "timings": timings(results)}
