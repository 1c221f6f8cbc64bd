"""The grid's attacks: which models need (re-)evaluating, the engine to attack them, and the tables.

An evaluation is reused while the checkpoint's bytes, the attack settings, the attacked points, the transfer
examples and the digest of the evaluation code are unchanged; see ``lsstudy.study``.
"""

import os
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from lsstudy import engine
from lsstudy.grid import RunConfig, grid, transfer_sources
from lsstudy.study import (code_digest, file_digest, json_digest, read_cache, settings_first, tensor_digest,
                           test_split, write_cache)
from lsstudy.attacks.transfer import CraftedExamples
from lsstudy.units.evaluation import craft_transfer, evaluate_model

EVALUATION_UNIT = "lsstudy.units.evaluation"


def _source_payload(path: Path, seed: int, settings: dict):
    def make() -> dict:  # read when the unit is sent, not before
        checkpoint = torch.load(path, weights_only=True)
        return {"meta": checkpoint["meta"], "state_dict": checkpoint["state_dict"], "seed": seed, **settings}

    return make


def _transfer_examples(study: str, base: dict, train: dict, attack: dict, engine_settings: dict, test: tuple,
                       root: Path, cache_dir: Path) -> dict[str, dict[float, torch.Tensor]]:
    """Per arch, PGD examples crafted on its transfer source (reused while source, settings and code stay)."""
    settings = {"eps": attack["strong"]["eps"], **attack["strong"]["transfer"]}
    code, points = code_digest(EVALUATION_UNIT), tensor_digest(*test)
    crafted, units, pending = {}, [], {}
    for source in transfer_sources(base, train):
        path = source.checkpoint(root / "models" / study)
        key = json_digest({"checkpoint": file_digest(path), "settings": settings, "points": points, "code": code})
        cache = cache_dir / "transfer" / f"{source.arch}.pkl.gz"
        cached = read_cache(cache, key)
        if cached is not None:
            crafted[source.arch] = cached["examples"]
        else:
            units.append(engine.Unit(source.label(study), _source_payload(path, source.seed, settings)))
            pending[source.label(study)] = (source.arch, key, cache)

    def keep(unit: engine.Unit, examples: dict) -> None:
        arch, key, cache = pending[unit.label]
        write_cache(cache, {"key": key, "examples": examples})
        crafted[arch] = examples

    engine.run(craft_transfer, units, {"test": test}, engine_settings, keep, description=f"transfer {study}",
               reused=len(crafted))
    return crafted


def _model_payload(path: Path, run: RunConfig, attack: dict):
    def make() -> dict:
        checkpoint = torch.load(path, weights_only=True)
        return {"run": run, "meta": checkpoint["meta"], "state_dict": checkpoint["state_dict"], "attack": attack}

    return make


def attack_grid(study: str, base: dict, train: dict, attack: dict, engine_settings: dict, data_settings: dict,
                root: Path, say=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attack every model of the grid; returns (attack table, per-point diagnostics), both with the model's
    settings on every row (the attack table's ``checkpoint`` column is the model file, relative to ``root``).

    Each model's results are kept in results/<study>/attack/evaluations/ and reused while its checkpoint,
    the attack settings, the attacked points, its transfer examples and the evaluation code are unchanged.
    """
    root = Path(root)
    cache_dir = root / "results" / study / "attack" / "evaluations"
    test = test_split(base, data_settings, root)
    examples = _transfer_examples(study, base, train, attack, engine_settings, test, root, cache_dir)
    code, points = code_digest(EVALUATION_UNIT), tensor_digest(*test)
    runs = grid(base, train)
    results, units, keys = {}, [], {}
    for run in runs:
        path = run.checkpoint(root / "models" / study)
        key = json_digest({"checkpoint": file_digest(path), "attack": attack, "points": points, "code": code,
                            "transfer": tensor_digest(*examples[run.arch].values())})
        cache = cache_dir / run.arch / f"{run.name}.pkl.gz"
        cached = read_cache(cache, key)
        if cached is not None:
            results[run] = cached
        else:
            units.append(engine.Unit(run.label(study), _model_payload(path, run, attack)))
            keys[run.label(study)] = (run, key, cache)
    say(f"{study}: {len(results)} of {len(runs)} models already evaluated with these settings; attacking {len(units)}")

    def keep(unit: engine.Unit, result: dict) -> None:
        run, key, cache = keys[unit.label]
        write_cache(cache, {"key": key, **result})
        results[run] = result

    context = {"test": test, "transfer": {arch: CraftedExamples(test[0], by_eps) for arch, by_eps in examples.items()}}
    engine.run(evaluate_model, units, context, engine_settings, keep, description=f"attack {study}",
               reused=len(results))
    attacks = [results[run]["attacks"].assign(**asdict(run), checkpoint=os.path.relpath(
        run.checkpoint(root / "models" / study), root)) for run in runs]
    diagnostics = [results[run]["diagnostics"].assign(**asdict(run)) for run in runs]
    return (settings_first(pd.concat(attacks, ignore_index=True)),
            settings_first(pd.concat(diagnostics, ignore_index=True)))
