"""The GPU scripts at their tiny sizes on the CPU: the code a GPU run will execute, checked before device time is
spent on it; and the CPU benchmarks at their quick sizes. Opt-in (`pytest -m slow tests/test_benchmarks.py`, about
4 minutes on 2 cores)."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """The scripts write their results next to themselves: run them in a copy, never in the repository."""
    target = tmp_path_factory.mktemp("bench") / "repo"
    for part in ["benchmarks", "lsstudy", "data"]:
        shutil.copytree(ROOT / part, target / part, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.mark.slow
@pytest.mark.parametrize("script, rows", [("gpu", ["ResNet18 (CIFAR) training", "APGD-CE on ResNet18", "engine:"]),
                                          ("gpu_resnet18", ["| none | 0 |", "| adversarial | 0.1 |"]),
                                          ("gpu_stacked", ["mnist5k LeNets x 1 epochs, one at a time", "cifar10_5k LeNets",
                                                           "one StackedModel", "conv_pool's phases"])])
def test_a_gpu_script_runs_at_its_tiny_size_on_the_cpu(copy, script, rows):
    env = {**os.environ, "PYTHONPATH": str(copy), "CUDA_VISIBLE_DEVICES": ""}
    env.pop("OUT", None)
    subprocess.run([sys.executable, f"benchmarks/{script}.py", "--tiny"], cwd=copy, env=env, check=True,
                   capture_output=True, timeout=600)
    report = (copy / "benchmarks" / "results" / f"{script}_tiny.md").read_text()
    assert "tiny sizes" in report and all(row in report for row in rows), report


@pytest.mark.slow
@pytest.mark.parametrize("script, last, rows", [
    ("lenet_throughput", r"lenet \d+% of gemm", ["GFLOP/s", "MNIST LeNet, plain", "MNIST LeNet, lsstudy",
                                                  "CIFAR LeNet, lsstudy", "MNIST MLP"]),
    ("stacked", r"stacked speedup train \d+\.\d\d pgd \d+\.\d\d", ["| linear |", "| mlp |", "| lenet |"])])
def test_a_cpu_benchmark_runs_quick_and_ends_with_its_summary_line(copy, script, last, rows):
    run = subprocess.run([sys.executable, f"benchmarks/{script}.py", "--quick"], cwd=copy, check=True,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(copy)})
    assert re.fullmatch(last, run.stdout.splitlines()[-1]), run.stdout
    report = (copy / "benchmarks" / "results" / f"{script}_quick.md").read_text()
    assert all(row in report for row in rows), report


def _script(name: str, monkeypatch):
    """benchmarks/<name>.py as a module, its sibling modules importable as when it runs as a script."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_black_box_budget_attacks_only_what_every_white_box_attack_left(monkeypatch):
    import pandas as pd
    budget = _script("black_box_budget", monkeypatch)
    rows = pd.DataFrame([("bim", "smoothed", "11110"), ("pgd", "ce", "11101"), ("apgd", "dlr", "11011"),
                         ("square", "margin", "01001"), ("transfer", "ce", "10001"),
                         ("autoattack", "standard", "00000")],
                        columns=["attack", "loss", "robust_points"])
    left = budget.white_box_survivors(rows)  # Square, transfer and AutoAttack come later in the ladder: not counted
    assert left.tolist() == [True, True, False, False, False]
    assert budget.broken_by(rows, ("square", "margin"), left) == 1
    assert budget.broken_by(rows, ("transfer", "ce"), left) == 1
    assert budget.broken_by(rows, ("exact", "none"), left) is None  # not an affine model: no exact row


def test_the_binarization_tests_corner_is_adversarial_and_pgd_finds_it_on_an_affine_model(monkeypatch):
    import torch
    from lsstudy import models
    binarization = _script("binarization_test", monkeypatch)
    model = models.build("linear", "mnist5k", seed=0).eval()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    binarized = binarization.Binarized(model, torch.nn.Linear(1, 2))
    readout, corner = binarization.readout_for(binarized, x[:1], 0.1, 50, torch.Generator().manual_seed(0))
    binarized.readout = readout
    with torch.no_grad():  # the corner exists in the ball and is the binarized model's class 1; x is class 0
        assert (corner - x[:1]).abs().max() <= 0.1 + 1e-6
        assert binarized(corner).argmax(1).item() == 1 and binarized(x[:1]).argmax(1).item() == 0
    # an affine model's binarized model is affine: PGD finds the example that exists on every point
    result = binarization.score(model, x, 0.1, 50, steps=10, restarts=1)
    assert result == {"points tested": 4, "PGD-ce passes": 4, "PGD-margin passes": 4}
