"""Only new work is done: adding an alpha trains and attacks only the new models, a changed attack setting
re-attacks every model and retrains none, a narrowed grid keeps the checkpoints it no longer asks for, a
checkpoint that cannot be read is named and trained again, and stacks are fixed by the runs and engine.stack."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lsstudy import models
from lsstudy.grid.attacks import attack_grid
from lsstudy.grid.runs import RunConfig, grid, transfer_sources
from lsstudy.grid.training import stacks, train_grid
from lsstudy.pipeline import params

ENGINE = {"executor": "local", "workers": 1, "threads_per_unit": 1, "gpus_per_unit": 0.25, "stack": 1}


def tiny(tiny_params, **train_overrides) -> dict:
    """The digits study of the tests' parameters, narrowed to a few one-epoch linear models and one seed."""
    study = params.study(tiny_params, "digits")
    study["base"] = {**study["base"], "seeds": [0]}
    study["train"] = {**study["train"], "methods": ["none", "adversarial"], "alphas": [0.1], "baselines": [],
                      **train_overrides}
    return study


def run(study: dict, root: Path, data_settings: dict) -> list[str]:
    """Train and attack the study; return what the drivers said (how many models they reused)."""
    said = []
    train_grid("digits", study["base"], study["train"], ENGINE, data_settings, root, say=said.append)
    attack_grid("digits", study["base"], study["train"], study["attack"], ENGINE, data_settings, root, say=said.append)
    return said


def mtimes(root: Path, pattern: str) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.glob(pattern)}


def test_a_new_alpha_trains_and_attacks_only_the_new_models(tmp_path, tiny_params):
    study = tiny(tiny_params)
    run(study, tmp_path, tiny_params["data"])
    before = mtimes(tmp_path, "models/**/*.pt")
    wider = tiny(tiny_params, alphas=[0.1, 0.6])
    said = run(wider, tmp_path, tiny_params["data"])
    total = len(grid(wider["base"], wider["train"]))
    sources = len(transfer_sources(wider["base"], wider["train"]))
    assert f"digits: {len(before)} of {total + sources} models already trained; training 1" in said
    assert f"digits: {total - 1} of {total} models already evaluated with these settings; attacking 1" in said
    assert all(mtimes(tmp_path, "models/**/*.pt")[p] == t for p, t in before.items())


def test_a_changed_attack_setting_reattacks_every_model_and_retrains_none(tmp_path, tiny_params):
    study = tiny(tiny_params)
    run(study, tmp_path, tiny_params["data"])
    before = mtimes(tmp_path, "models/**/*.pt")
    study["attack"] = {**study["attack"], "bim_steps": 3}
    said = run(study, tmp_path, tiny_params["data"])
    total = len(grid(study["base"], study["train"]))
    assert f"digits: 0 of {total} models already evaluated with these settings; attacking {total}" in said
    assert mtimes(tmp_path, "models/**/*.pt") == before


def test_a_narrowed_grid_keeps_the_models_it_no_longer_asks_for(tmp_path, tiny_params):
    wide = tiny(tiny_params, archs=["linear", "mlp"])
    said = []
    train_grid("digits", wide["base"], wide["train"], ENGINE, tiny_params["data"], tmp_path, say=said.append)
    before = mtimes(tmp_path, "models/**/*.pt")
    narrow = tiny(tiny_params, archs=["linear"])
    train_grid("digits", narrow["base"], narrow["train"], ENGINE, tiny_params["data"], tmp_path, say=said.append)
    assert mtimes(tmp_path, "models/**/*.pt") == before
    assert any("3 checkpoint(s) in" in line and "not in the grid: kept, and ignored" in line for line in said)


@pytest.mark.parametrize("damage", ["truncated", "empty", "text"])
def test_a_checkpoint_that_cannot_be_read_is_named_and_trained_again(tmp_path, tiny_params, damage):
    study = tiny(tiny_params)
    train_grid("digits", study["base"], study["train"], ENGINE, tiny_params["data"], tmp_path, say=lambda _: None)
    path = next((tmp_path / "models").glob("digits/grid/linear/adversarial*.pt"))
    good = path.read_bytes()
    path.write_bytes({"truncated": good[: len(good) // 2], "empty": b"", "text": b"not a checkpoint\n"}[damage])
    said = []
    train_grid("digits", study["base"], study["train"], ENGINE, tiny_params["data"], tmp_path, say=said.append)
    assert any(f"checkpoint {path.resolve()} cannot be read" in line and "trained again" in line for line in said)
    assert path.read_bytes() == good  # the same seed and recipe train the same model


def test_stacks_group_the_label_smoothing_models_of_an_arch_in_the_order_asked_for():
    run = lambda arch, method, seed: RunConfig("mnist5k", arch, method, 0.1, 1.0, seed)  # noqa: E731
    runs = [run("linear", "none", 0), run("mlp", "none", 0), run("linear", "pgd_training", 0), run("linear", "standard", 0),
            run("resnet18", "none", 0), run("linear", "none", 1), run("mlp", "standard", 0)]
    assert stacks(runs, 2) == [[runs[0], runs[3]], [runs[5]], [runs[1], runs[6]], [runs[2]], [runs[4]]]
    assert stacks(runs, 1) == [[r] for r in runs]


def test_a_stacked_grid_trains_what_one_at_a_time_does_and_a_lost_model_retrains_its_whole_stack(tmp_path, tiny_params):
    study = tiny(tiny_params)  # 2 linear models and the transfer source: a stack of 2, and one alone
    stacked = {**ENGINE, "stack": 2}
    train_grid("digits", study["base"], study["train"], stacked, tiny_params["data"], tmp_path / "stacked", say=lambda _: None)
    train_grid("digits", study["base"], study["train"], ENGINE, tiny_params["data"], tmp_path / "alone", say=lambda _: None)
    checkpoints = sorted((tmp_path / "stacked").glob("models/**/*.pt"))
    for path in checkpoints:  # bit-identical here (batched matmuls); see tests/test_stacked.py for the tolerance
        model, meta = models.load(path)
        alone, _ = models.load(tmp_path / "alone" / path.relative_to(tmp_path / "stacked"))
        for weight, reference in zip(model.state_dict().values(), alone.state_dict().values()):
            assert (weight - reference).abs().max() <= 1e-5 * reference.abs().max()
    in_stack = [p for p in checkpoints if "stack" in models.read_meta(p)["key"]]
    assert len(in_stack) == 2
    before = {p: p.read_bytes() for p in checkpoints}
    in_stack[0].unlink()
    said = []
    train_grid("digits", study["base"], study["train"], stacked, tiny_params["data"], tmp_path / "stacked", say=said.append)
    assert "digits: 1 of 3 models already trained; training 2 in 1 units" in said
    assert {p: p.read_bytes() for p in checkpoints} == before


def test_a_cached_evaluation_is_the_same_bytes_whatever_its_file_name(tmp_path):
    import pandas as pd

    from lsstudy.grid.study import read_cache, write_cache

    value = {"key": "k", "attacks": pd.DataFrame({"accuracy": [0.5, 0.25]}), "selection": pd.DataFrame({"n": [3]})}
    first, second = tmp_path / "a" / "one.pkl.gz", tmp_path / "b" / "two.pkl.gz"
    write_cache(first, value)
    write_cache(second, value)
    assert first.read_bytes() == second.read_bytes()  # dvc.lock records the hash: a rerun must not change it
    assert read_cache(first, "k")["attacks"].equals(value["attacks"]) and read_cache(first, "other") is None


def test_a_cache_holding_tensors_is_the_same_bytes_from_two_processes(tmp_path):
    """torch pickles a tensor under its memory address, so a plain pickle of the transfer examples differed from
    run to run and changed dvc.lock after every clean run."""
    from lsstudy.grid.study import read_cache

    writer = ("import sys, torch; from pathlib import Path; from lsstudy.grid.study import write_cache\n"
              "x = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 7\n"
              "write_cache(Path(sys.argv[1]), {'key': 'k', 'examples': {'x': x, 'row': x[1], 'y': torch.tensor([3, 1])}})")
    paths = [tmp_path / "one.pkl.gz", tmp_path / "two.pkl.gz"]
    for path in paths:
        subprocess.run([sys.executable, "-c", writer, str(path)], check=True, cwd=Path(__file__).resolve().parents[1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    examples = read_cache(paths[0], "k")["examples"]
    expected = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 7
    assert torch.equal(examples["x"], expected) and torch.equal(examples["row"], expected[1])
    assert examples["y"].dtype == torch.int64 and examples["y"].tolist() == [3, 1]
