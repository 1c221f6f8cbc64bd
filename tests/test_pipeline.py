"""The DVC pipeline end to end, from scratch, in a temporary copy of the repository with tiny parameters.

Runs every stage's notebook under papermill (through dvc repro), then checks that a second repro
does nothing and that a bad parameter stops the pipeline by name without losing earlier outputs.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COPIED = ["dvc.yaml", "params.yaml", "notebooks", "lsstudy"]
TOYS = ["toy_triangular", "toy_fading_gaussian", "toy_gradient_gap", "toy_logit_squeezing"]


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["base"].update(test_size=60, seeds=[0, 1])
    params["train"].update(archs=["linear"], alphas=[0.1, 0.6], bls_temperatures=[0.1], epochs=1)
    params["attack"].update(eps=[0.0, 0.1], min_norm_size=8, bim_steps=2)
    params["attack"]["deepfool"].update(steps=5)
    params["attack"]["cw_l2"].update(steps=5, search_steps=1)
    params["attack"]["strong"].update(eps=[0.1], pgd={"steps": 2, "restarts": 1}, apgd_steps=2, square_queries=5,
                                      transfer={"steps": 2, "restarts": 1})
    params["figures"].update(alpha_figure_eps=[0.1], formats=["png"])
    for toy in TOYS:
        params[toy]["formats"] = ["png"]
    params["toy_triangular"].update(gammas=[0.5], alphas=[0.1], eps=[0.0, 0.2], n_train=2000, n_test=2000,
                                    figure_alpha=0.1)
    params["toy_fading_gaussian"].update(alphas=[0.1], eps=[0.0, 0.1], n_train=2000, n_test=2000)
    params["toy_gradient_gap"].update(alphas=[0.0, 0.1], eps=[0.0, 0.05], figure_eps=[0.05], epochs=1)
    params["toy_logit_squeezing"].update(alphas=[0.0, 0.1], epochs=1)
    return params


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("study")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy(src, repo / name)
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    assert dvc(repo, "init", "--no-scm", "-q").returncode == 0
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    return repo


def test_repro_writes_every_expected_output(repo):
    for path in ["reports/train.ipynb", "reports/attack.ipynb", "reports/figures.ipynb", "reports/verdict.ipynb",
                 "results/train/history.csv", "results/figures/metrics.json", "results/figures/table.md",
                 "results/figures/accuracy_vs_eps.csv", "results/diagnostics.csv", "results/verdict.csv",
                 "results/verdict/sanity.md", "results/verdict/gains.csv", "results/verdict/verdict_eps0.1.png",
                 "results/verdict/diagnostics_linear.png", *[f"results/{toy}.csv" for toy in TOYS]]:
        assert (repo / path).is_file(), path
    # per seed: no smoothing, 4 methods x 2 alphas, the BLS sweep point, 2 baselines; plus the transfer source
    assert len(list((repo / "models").glob("**/*.pt"))) == 2 * (1 + 4 * 2 + 1 + 2) + 1
    assert len(list((repo / "figures").glob("*_linear.png"))) >= 8


def test_attack_table_is_tidy_and_complete(repo):
    table = pd.read_csv(repo / "results" / "attacks.csv")
    expected = ["dataset", "arch", "method", "alpha", "temperature", "seed", "attack", "eps", "class", "n", "accuracy",
                "median_l2", "mean_l2", "checkpoint"]
    assert set(expected) <= set(table.columns)
    assert set(table["attack"]) == {"clean", "fgsm", "bim", "deepfool", "cw_l2", "pgd", "pgd_more", "apgd", "square",
                                    "transfer", "unbounded"}
    assert table["accuracy"].between(0, 1).all()
    overall = table[table["class"] == "all"]
    assert (overall.query("attack == 'clean'")["n"] == 60).all()
    assert (repo / overall["checkpoint"].iloc[0]).is_file()  # loadable from the repository root


def test_verdict_has_one_row_per_checkpoint_and_strong_eps(repo):
    verdict = pd.read_csv(repo / "results" / "verdict.csv")
    assert len(verdict) == 2 * (1 + 4 * 2 + 1 + 2)
    assert verdict["checkpoint"].map(lambda p: (repo / p).is_file()).all()
    assert (verdict["robust_accuracy"] <= verdict[["fgsm_accuracy", "paper_protocol_accuracy"]].min(axis=1)).all()


def test_second_repro_does_nothing(repo):
    result = dvc(repo, "repro")
    assert result.returncode == 0
    assert "didn't change" in result.stdout and "Running stage" not in result.stdout


def test_bad_parameter_stops_by_name_and_keeps_outputs(repo):
    params_file = repo / "params.yaml"
    good = params_file.read_text()
    before = {p: p.stat().st_mtime_ns for p in (repo / "models").glob("**/*.pt")}
    params = yaml.safe_load(good)
    params["train"]["alphas"] = [0.1, 1.5]
    params_file.write_text(yaml.safe_dump(params))
    try:
        result = dvc(repo, "repro")
    finally:
        params_file.write_text(good)
    assert result.returncode != 0
    assert "train.alphas[1]=1.5 is not allowed" in result.stdout + result.stderr
    assert {p: p.stat().st_mtime_ns for p in (repo / "models").glob("**/*.pt")} == before
