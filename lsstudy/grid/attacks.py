"""The grid's attacks: which models need (re-)evaluating, the engine to attack them, and the tables.

An evaluation is reused while the checkpoint's bytes, the plan of attacks, the attacked and selection points,
the transfer examples and the digest of the evaluation code are unchanged; see ``lsstudy.grid.study``.
``evaluate_models`` serves both the attack stage (every model of the grid, ``grid_plan``) and the confirm
stage (the chosen configurations, ``confirm_plan``).
"""

import os
from dataclasses import asdict, fields
from pathlib import Path

import pandas as pd
import torch

from lsstudy.attacks.transfer import CraftedExamples
from lsstudy.grid import engine
from lsstudy.grid.runs import RunConfig, grid, longest_first
from lsstudy.grid.training import grid_models
from lsstudy.grid.study import (code_digest, file_digest, json_digest, load_window, read_cache, settings_first,
                           tensor_digest, test_split, write_cache)
from lsstudy.grid.units.evaluation import craft_transfer, evaluate_model, grid_plan

EVALUATION_UNIT = "lsstudy.grid.units.evaluation"
RUN_COLUMNS = [field.name for field in fields(RunConfig)]


def selection_split(attack: dict, base: dict, data_settings: dict, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The test points that choose each method's configuration (``attack.selection``), never evaluated."""
    selection = attack["selection"]
    return load_window(base["dataset"], selection["offset"], selection["size"], data_settings, root)


def _checkpoint_payload(path: Path, **extra):
    def make() -> dict:  # read when the unit is sent, not before: a grid of large models is not held at once
        checkpoint = torch.load(path, weights_only=True)
        return {"meta": checkpoint["meta"], "state_dict": checkpoint["state_dict"], **extra}

    return make


def transfer_examples(study: str, sources: list[RunConfig], models_dir: Path, attack: dict, engine_settings: dict,
                      test: tuple, cache_dir: Path) -> dict[str, dict[float, torch.Tensor]]:
    """Per arch, PGD examples crafted on its transfer source (reused while source, settings and code stay)."""
    settings = {"eps": attack["strong"]["eps"], **attack["strong"]["transfer"]}
    code, points = code_digest(EVALUATION_UNIT), tensor_digest(*test)
    crafted, units, pending = {}, [], {}
    for source in sources:
        path = source.checkpoint(models_dir)
        key = json_digest({"checkpoint": file_digest(path), "settings": settings, "points": points, "code": code})
        cache = cache_dir / "transfer" / f"{source.arch}.pkl.gz"
        cached = read_cache(cache, key)
        if cached is not None:
            crafted[source.arch] = cached["examples"]
        else:
            units.append(engine.Unit(source.label(study), _checkpoint_payload(path, seed=source.seed, **settings)))
            pending[source.label(study)] = (source.arch, key, cache)

    def keep(unit: engine.Unit, examples: dict) -> None:
        arch, key, cache = pending[unit.label]
        write_cache(cache, {"key": key, "examples": examples})
        crafted[arch] = examples

    engine.run(craft_transfer, units, {"test": test}, engine_settings, keep, description=f"transfer {study}",
               reused=len(crafted))
    return crafted


def evaluate_models(study: str, runs: dict[RunConfig, Path], plan: dict, test: tuple, selection: tuple | None,
                    examples: dict, engine_settings: dict, cache_dir: Path, say=print,
                    description: str = "attack") -> dict[RunConfig, dict]:
    """``evaluate_model``'s results for every run of ``runs`` (run -> its checkpoint), reused from
    ``cache_dir`` where nothing they depend on changed. ``examples``: per arch, the transfer examples of the
    attacked points (for a plan with a transfer attack)."""
    code = code_digest(EVALUATION_UNIT)
    points = tensor_digest(*test, *(selection or ()))
    results, units, keys = {}, [], {}
    for run in longest_first(list(runs)):
        path = runs[run]
        transfer = tensor_digest(*examples[run.arch].values()) if run.arch in examples else None
        key = json_digest({"checkpoint": file_digest(path), "plan": plan, "points": points, "code": code,
                           "transfer": transfer})
        cache = cache_dir / run.arch / f"{run.name}.pkl.gz"
        cached = read_cache(cache, key)
        if cached is not None:
            results[run] = cached
        else:
            units.append(engine.Unit(run.label(study), _checkpoint_payload(path, run=run, plan=plan)))
            keys[run.label(study)] = (run, key, cache)
    say(f"{study}: {len(results)} of {len(runs)} models already evaluated with these settings; attacking {len(units)}")

    def keep(unit: engine.Unit, result: dict) -> None:
        run, key, cache = keys[unit.label]
        write_cache(cache, {"key": key, **{k: v for k, v in result.items() if k != "seconds"}})  # times vary
        results[run] = result

    context = {"test": test, "selection": selection,
               "transfer": {arch: CraftedExamples(test[0], by_eps) for arch, by_eps in examples.items()}}
    engine.run(evaluate_model, units, context, engine_settings, keep, description=f"{description} {study}",
               reused=len(results))
    return results


def with_settings(results: dict[RunConfig, dict], part: str, runs: dict[RunConfig, Path], root: Path) -> pd.DataFrame:
    """One table of ``part`` ("attacks", "selection", "diagnostics") over ``runs``, the model's settings first
    (and, for attack tables, its checkpoint relative to ``root``)."""
    tables = []
    for run, path in runs.items():
        table = results[run][part].assign(**asdict(run))
        tables.append(table.assign(checkpoint=os.path.relpath(path, root)) if part != "diagnostics" else table)
    return settings_first(pd.concat(tables, ignore_index=True))


def timings(results: dict[RunConfig, dict]) -> pd.DataFrame:
    """Seconds each attack took on each model evaluated in this run (what the evaluation costs: a log, never
    part of a results table, since times differ from run to run; reused evaluations have none)."""
    rows = [{**asdict(run), "attack": attack, "loss": loss, "eps": eps, "seconds": seconds}
            for run, result in results.items() for (attack, loss, eps), seconds in result.get("seconds", {}).items()]
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS, "attack", "loss", "eps", "seconds"])


def attack_grid(study: str, base: dict, train: dict, attack: dict, engine_settings: dict, data_settings: dict,
                root: Path, say=print) -> dict[str, pd.DataFrame]:
    """Attack every model of the grid with the paper's attacks (``grid_plan``); returns the tables "attacks"
    (one row per model, attack, protocol, eps and class), "selection" (the selection attack on the selection
    points), "diagnostics" (per model and attacked point) and "timings".

    Each model's results are kept in results/<study>/attack/evaluations/ and reused while nothing they
    depend on changed.
    """
    root = Path(root)
    cache_dir = root / "results" / study / "attack" / "evaluations"
    models_dir = grid_models(root, study)
    test = test_split(base, data_settings, root)
    runs = {run: run.checkpoint(models_dir) for run in grid(base, train)}
    results = evaluate_models(study, runs, grid_plan(attack), test, selection_split(attack, base, data_settings, root),
                              {}, engine_settings, cache_dir, say)
    return {part: with_settings(results, part, runs, root) for part in ["attacks", "selection", "diagnostics"]} | {
        "timings": timings(results)}
