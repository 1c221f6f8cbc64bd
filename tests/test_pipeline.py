"""The pipeline end to end in a temporary copy of the repository with the tests' tiny parameters (two studies):
every study notebook runs outside DVC (papermill, from the repository root, as a JupyterLab user would run
them), then `dvc repro` runs every stage of every study, reusing the models and evaluations they made; a
second repro does nothing, changing one study's parameter leaves the other study's stages up to date, and a
bad parameter stops the pipeline by name without losing earlier outputs."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import papermill
import pytest
import yaml

from lsstudy.grid.runs import grid, transfer_sources
from lsstudy.pipeline import params
from lsstudy.pipeline.dvc import STAGES
from lsstudy.report import verdict as judge

ROOT = Path(__file__).resolve().parents[1]
COPIED = ["dvc.yaml", "notebooks", "lsstudy", "data"]
TOYS = [name for name, stage in STAGES.items() if not stage.per_study]


def copy_repository(target: Path, params_file: Path, git: bool = False) -> Path:
    """The pipeline's files and the given parameters in ``target``: a DVC project, in a git repository with one
    commit if ``git`` (DVC's experiments need one), else without git."""
    for name in COPIED + ([".gitignore"] if git else []):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "raw"))
        else:
            shutil.copy(src, target / name)
    shutil.copy(params_file, target / "params.yaml")
    if git:
        subprocess.run(["git", "init", "-q"], cwd=target, check=True)
        assert dvc(target, "init", "-q").returncode == 0
        commit(target, "the pipeline")
    else:
        assert dvc(target, "init", "--no-scm", "-q").returncode == 0
    return target


def commit(repo: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", message],
                   cwd=repo, check=True)


ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=ENV, capture_output=True, text=True)


# the smaller study's notebooks, outside DVC (tests/test_notebooks.py runs a toy's the same way)
OUTSIDE_DVC = [(stage, "objects") for stage in ["train", "attack", "confirm", "figures", "verdict"]]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = copy_repository(tmp_path_factory.mktemp("study"), ROOT / "tests" / "fixtures" / "params.yaml", git=True)
    for stage, study in OUTSIDE_DVC:
        papermill.execute_notebook(str(repo / "notebooks" / f"{stage}.ipynb"), str(repo / f"{stage}.ipynb"),
                                   parameters={"study": study} if study else {}, cwd=str(repo), progress_bar=False,
                                   kernel_name="python3")
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    commit(repo, "every stage run")  # the baseline of the experiments below
    return repo


def test_every_notebook_runs_outside_dvc_and_dvc_reuses_its_work(repo):
    executed = [repo / f"{stage}.ipynb" for stage, _ in OUTSIDE_DVC]
    assert all(path.is_file() for path in executed)
    report = (repo / "reports" / "objects" / "train.ipynb").read_text()
    assert "objects: 3 of 3 models already trained; training 0" in report


def test_repro_writes_every_output_of_every_study(repo):
    tiny = params.load_params(repo / "params.yaml")
    for study in params.study_names(tiny):
        stages = ["train", "attack", "confirm", "figures", "verdict"]
        for path in [f"reports/{study}/{stage}.ipynb" for stage in stages] + [
                f"results/{study}/train/history.csv", f"results/{study}/attack/attacks.csv",
                f"results/{study}/attack/selection.csv", f"results/{study}/attack/diagnostics.csv",
                f"results/{study}/confirm/attacks.csv", f"results/{study}/confirm/chosen.csv",
                f"reports/{study}/timings/confirm.csv", f"results/{study}/figures/table.md",
                f"results/{study}/verdict/verdict.csv", f"results/{study}/verdict/gains.csv",
                f"results/{study}/verdict/power.csv", f"results/{study}/verdict/reproduction.csv",
                f"results/{study}/verdict/summary.md", f"results/{study}/verdict/known_cases.md",
                f"results/{study}/metrics.json",
                f"figures/{study}/paper/accuracy_vs_eps_linear.png", f"figures/{study}/verdict/diagnostics_linear.png"]:
            assert (repo / path).is_file(), path
        settings = params.study(tiny, study)
        models = grid(settings["base"], settings["train"]) + transfer_sources(settings["base"], settings["train"])
        assert len(list((repo / "models" / study / "grid").glob("*/*.pt"))) == len(models)
        chosen = pd.read_csv(repo / "results" / study / "confirm" / "chosen.csv")
        judged = len(chosen.drop_duplicates(["arch", "method", "alpha", "temperature"])) * len(settings["confirm"]["seeds"])
        assert len(list((repo / "models" / study / "confirm").glob("*/*.pt"))) == judged
    for toy in TOYS:
        assert (repo / "reports" / f"{toy}.ipynb").is_file() and list((repo / "figures" / toy).glob("*.png")), toy


EXPECTED = ["dataset", "arch", "method", "alpha", "temperature", "seed", "attack", "eps", "class", "n", "accuracy",
            "median_l2", "failure_rate", "robust_points", "checkpoint"]


def test_the_grid_has_the_papers_attacks_and_the_verdicts_models_every_attack(repo):
    grid_table = pd.read_csv(repo / "results" / "digits" / "attack" / "attacks.csv")
    assert set(EXPECTED) <= set(grid_table.columns)
    assert set(grid_table["attack"]) == {"clean", "fgsm", "bim", "deepfool", "cw_l2"}
    assert grid_table["accuracy"].between(0, 1).all()
    overall = grid_table[grid_table["class"] == "all"]
    assert (overall.query("attack == 'clean'")["n"] == 40).all()
    assert (repo / overall["checkpoint"].iloc[0]).is_file()  # loadable from the repository root
    confirmed = pd.read_csv(repo / "results" / "digits" / "confirm" / "attacks.csv")
    assert set(confirmed["attack"]) == {"clean", "fgsm", "bim", "pgd", "pgd_more", "apgd", "square", "transfer",
                                        "unbounded", "autoattack", "exact"}
    assert set(confirmed.loc[confirmed["attack"] == "exact", "arch"]) == {"linear"}  # the affine models only
    assert (confirmed.query("attack == 'clean' and `class` == 'all'")["n"] == 50).all()  # confirm.test_size
    assert set(confirmed["seed"]) == {2, 3}  # confirm.seeds: none of the base.seeds that chose the configuration


def test_the_verdict_judges_each_chosen_configuration_on_every_seed(repo):
    verdict = pd.read_csv(repo / "results" / "digits" / "verdict" / "verdict.csv")
    chosen = pd.read_csv(repo / "results" / "digits" / "confirm" / "chosen.csv")
    configurations = chosen.drop_duplicates(["arch", "method", "alpha", "temperature"])
    assert len(verdict) == len(configurations) * 2 * len(chosen["eps"].unique())  # confirm.seeds [2, 3]
    choosers = pd.read_csv(repo / "results" / "digits" / "attack" / "selection.csv")["seed"]
    assert set(choosers) == {0, 1} and not set(choosers) & set(verdict["seed"])  # the choosing seeds never judge
    known = (repo / "results" / "digits" / "verdict" / "known_cases.md").read_text()
    for control in ["none", "pgd_training", "distillation", "scaled_logits"]:  # every control, over 2 seeds x eps
        assert f"| {control} " in known, control
    assert verdict["checkpoint"].map(lambda p: (repo / p).is_file()).all()
    assert (verdict["robust_accuracy"] <= verdict[["fgsm_accuracy", "paper_protocol_accuracy"]].min(axis=1)).all()
    gains = pd.read_csv(repo / "results" / "digits" / "verdict" / "gains.csv")
    assert set(gains["call"]) <= {"gain", "loss", "no gain above delta", "unresolved", "no interval", "not called"}
    assert gains.loc[gains["call"] == "not called", "p_holm"].isna().all()  # descriptive steps stay out of Holm
    assert (gains["ci_low"] <= gains["gain"]).all() and (gains["gain"] <= gains["ci_high"]).all()
    # the study's question is one family, fixed by verdict.primary: each method, arch and eps under every attack
    study = params.study(params.load_params(repo / "params.yaml"), "digits")
    hypotheses = pd.read_csv(repo / "results" / "digits" / "verdict" / "hypotheses.csv")
    assert len(hypotheses) == len(study["verdict"]["primary"]) * len(study["train"]["archs"]) * len(study["attack"]["strong"]["eps"])
    assert judge.calls(gains) == len(hypotheses)
    for table in ["variance.csv", "power.csv"]:
        assert not pd.read_csv(repo / "results" / "digits" / "verdict" / table).empty


def test_second_repro_does_nothing(repo):
    result = dvc(repo, "repro")
    assert result.returncode == 0
    assert "didn't change" in result.stdout and "Running stage" not in result.stdout


def test_changing_one_study_leaves_the_other_studys_stages_up_to_date(repo):
    params_file = repo / "params.yaml"
    good = params_file.read_text()
    changed = yaml.safe_load(good)
    changed["studies"]["objects"]["train"]["alphas"] = [0.1, 0.3]
    params_file.write_text(yaml.safe_dump(changed))
    try:
        status = dvc(repo, "status", "--json")
    finally:
        params_file.write_text(good)
    stale = set(yaml.safe_load(status.stdout))
    assert stale == {f"{stage}@objects" for stage in ["train", "attack", "confirm", "figures", "verdict"]}


def test_bad_parameter_stops_by_name_and_keeps_outputs(repo):
    params_file = repo / "params.yaml"
    good = params_file.read_text()
    outputs = {p: p.read_bytes() for p in [*(repo / "models").glob("**/*.pt"), *(repo / "reports").glob("**/*.ipynb")]}
    assert outputs
    bad = yaml.safe_load(good)
    bad["defaults"]["train"]["alphas"] = [0.1, 1.5]
    params_file.write_text(yaml.safe_dump(bad))
    try:
        result = dvc(repo, "repro")
    finally:
        params_file.write_text(good)
    assert result.returncode != 0
    assert "error: defaults.train.alphas[1]=1.5 is not allowed; it must be a number in [0, 1]" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert all(path.read_bytes() == content for path, content in outputs.items())


def test_experiments_keep_their_metrics_side_by_side_and_a_checkout_restores_every_output(repo):
    outputs = {p: p.read_bytes() for p in [*(repo / "reports").glob("**/*.ipynb"), *(repo / "results").glob("*/metrics.json")]}
    result = dvc(repo, "exp", "run", "-n", "smaller", "-S", "toy_triangular.n_test=1000")  # one stage reruns: quick
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # the last two commits (the pipeline before any run: no metrics yet) and the experiment, side by side
    shown = subprocess.run([sys.executable, "-m", "lsstudy.pipeline.experiment", "compare", "-n", "2"], cwd=repo,
                           env={**ENV, "PYTHONPATH": str(repo)}, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    branch = subprocess.run(["git", "branch", "--show-current"], cwd=repo, capture_output=True, text=True).stdout.strip()
    header, rows = lines[0].split(), {line.rsplit(maxsplit=4)[0]: line.split()[-4:] for line in lines[1:]}
    assert header[:3] == ["workspace", branch, "smaller"] and len(header) == 4 and max(map(len, lines)) <= 120
    assert rows["toy_triangular.n_test"] == ["1000", "2000", "1000", "2000"]
    for study in ["digits", "objects"]:  # every metric, kept by the baseline commit and the experiment alike
        metrics = pd.json_normalize(json.loads((repo / "results" / study / "metrics.json").read_text())).iloc[0]
        for key, value in metrics.items():
            baseline, experiment, before = rows[f"{study}: {key}"][1:]
            assert float(baseline) == float(experiment) == value and before == "!", key
    # the baseline back: git's files, then every DVC output from the cache, executed reports included
    shutil.rmtree(repo / "reports")
    for path in (repo / "results").glob("*/metrics.json"):
        path.unlink()
    subprocess.run(["git", "checkout", "-q", "--", "params.yaml", "dvc.lock"], cwd=repo, check=True)
    assert dvc(repo, "checkout").returncode == 0
    assert {p: p.read_bytes() if p.is_file() else None for p in outputs} == outputs
