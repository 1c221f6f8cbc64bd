"""The study grid: adding an alpha trains only the new models; dropped models leave models/."""

import copy
from pathlib import Path

from lsstudy.params import load_params
from lsstudy.study import grid, train_grid

ROOT = Path(__file__).resolve().parents[1]


def test_new_alpha_trains_only_new_models_and_stale_checkpoints_go(tmp_path):
    params = load_params(ROOT / "params.yaml")
    base = {**params["base"], "test_size": 50}
    train = {**params["train"], "archs": ["linear"], "methods": ["none", "adversarial"], "alphas": [0.1], "epochs": 1}
    train_grid(base, train, tmp_path, progress=False)
    first = {p: p.stat().st_mtime_ns for p in (tmp_path / "models").glob("**/*.pt")}
    assert len(first) == 2

    more = copy.deepcopy(train)
    more["alphas"] = [0.1, 0.3]
    history = train_grid(base, more, tmp_path, progress=False)
    second = {p: p.stat().st_mtime_ns for p in (tmp_path / "models").glob("**/*.pt")}
    assert len(second) == 3
    assert all(second[p] == t for p, t in first.items())  # untouched, reused
    assert set(history["alpha"]) == {0.0, 0.1, 0.3}

    fewer = copy.deepcopy(train)
    fewer["alphas"] = [0.3]
    train_grid(base, fewer, tmp_path, progress=False)
    kept = set((tmp_path / "models").glob("**/*.pt"))
    assert kept == {run.checkpoint(tmp_path / "models") for run in grid(base, fewer)}


def test_changed_recipe_retrains(tmp_path):
    params = load_params(ROOT / "params.yaml")
    base = {**params["base"], "test_size": 50}
    train = {**params["train"], "archs": ["linear"], "methods": ["none"], "epochs": 1}
    train_grid(base, train, tmp_path, progress=False)
    (path,) = (tmp_path / "models").glob("**/*.pt")
    before = path.stat().st_mtime_ns
    history = train_grid(base, {**train, "epochs": 2}, tmp_path, progress=False)
    assert path.stat().st_mtime_ns != before and history["epoch"].max() == 2


def test_changed_training_code_retrains(tmp_path, monkeypatch):
    params = load_params(ROOT / "params.yaml")
    base = {**params["base"], "test_size": 50}
    train = {**params["train"], "archs": ["linear"], "methods": ["none"], "epochs": 1}
    train_grid(base, train, tmp_path, progress=False)
    (path,) = (tmp_path / "models").glob("**/*.pt")
    before = path.stat().st_mtime_ns
    monkeypatch.setattr("lsstudy.study.training_code_digest", lambda: "edited")
    train_grid(base, train, tmp_path, progress=False)
    assert path.stat().st_mtime_ns != before
