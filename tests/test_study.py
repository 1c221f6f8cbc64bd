"""The study grid: adding an alpha trains only the new models; dropped models leave models/; a changed
recipe or changed training code retrains; the transfer source is trained beside the grid, not in it."""

from pathlib import Path

import pytest

from lsstudy.params import load_params
from lsstudy.study import grid, train_grid, transfer_sources

ROOT = Path(__file__).resolve().parents[1]


def tiny(**train_overrides) -> tuple[dict, dict]:
    """(base, train) sections for a few one-epoch linear models, one seed, no baseline defences."""
    params = load_params(ROOT / "params.yaml")
    base = {**params["base"], "test_size": 50, "seeds": [0]}
    train = {**params["train"], "archs": ["linear"], "methods": ["none"], "baselines": [], "epochs": 1,
             **train_overrides}
    return base, train


def checkpoints(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (root / "models").glob("**/*.pt")}


def test_new_alpha_trains_only_new_models_and_stale_checkpoints_go(tmp_path):
    base, train = tiny(methods=["none", "adversarial"], alphas=[0.1])
    train_grid(base, train, tmp_path, progress=False)
    first = checkpoints(tmp_path)
    assert len(first) == 2 + 1  # and the transfer source

    history = train_grid(base, {**train, "alphas": [0.1, 0.3]}, tmp_path, progress=False)
    second = checkpoints(tmp_path)
    assert len(second) == 3 + 1
    assert all(second[p] == t for p, t in first.items())  # untouched, reused
    assert set(history["alpha"]) == {0.0, 0.1, 0.3}
    assert set(history["seed"]) == {0}  # the transfer source's history is not the grid's

    fewer = {**train, "alphas": [0.3]}
    train_grid(base, fewer, tmp_path, progress=False)
    wanted = grid(base, fewer) + transfer_sources(base, fewer)
    assert set(checkpoints(tmp_path)) == {run.checkpoint(tmp_path / "models") for run in wanted}


@pytest.mark.parametrize("change", ["recipe", "code"])
def test_changed_recipe_or_training_code_retrains(tmp_path, monkeypatch, change):
    base, train = tiny()
    train_grid(base, train, tmp_path, progress=False)
    before = checkpoints(tmp_path)
    if change == "recipe":
        train = {**train, "epochs": 2}
    else:
        monkeypatch.setattr("lsstudy.study.training_code_digest", lambda: "edited")
    train_grid(base, train, tmp_path, progress=False)
    after = checkpoints(tmp_path)
    assert after.keys() == before.keys() and all(after[p] != t for p, t in before.items())
