"""The notebooks outside DVC, as papermill and JupyterLab run them: they find the repository from wherever they
run, a setting changed from the command line is applied or refused with one clear line, and a parameter the
notebook does not have is an error, not a warning."""

import json
import shutil
from pathlib import Path

import papermill
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("notebooks")
    for name in ["notebooks", "lsstudy"]:
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copy(ROOT / "tests" / "fixtures" / "params.yaml", repo / "params.yaml")
    return repo


def run(repo: Path, cwd: Path, **parameters) -> Path:
    out = cwd / "out.ipynb"
    papermill.execute_notebook(str(repo / "notebooks" / "toy_triangular.ipynb"), str(out), parameters=parameters,
                               cwd=str(cwd), progress_bar=False, kernel_name="python3")
    return out


def error_lines(notebook: Path) -> list[str]:
    outputs = [o for cell in json.loads(notebook.read_text())["cells"] for o in cell.get("outputs", [])]
    return [line for o in outputs if o["output_type"] == "error" for line in o["traceback"]]


@pytest.mark.parametrize("where", ["root", "notebooks"])
def test_a_notebook_finds_the_repository_and_applies_an_override(repo, where):
    cwd = repo if where == "root" else repo / "notebooks"
    run(repo, cwd, overrides={"alphas": [0.05, 0.3], "figure_alpha": 0.3})
    accuracy = pd.read_csv(repo / "results" / "toy_triangular" / "accuracy.csv")
    assert sorted(accuracy["alpha"].unique()) == [0.0, 0.05, 0.3]


@pytest.mark.parametrize("parameters, message", [
    ({"overrides": {"alphas": [2.0]}}, "ParamsError: toy_triangular.alphas[0]=2.0 is not allowed; it must be a number in [0, 1]"),
    ({"overrides": {"alpha": [0.1]}}, "ParamsError: toy_triangular.alpha is not a known key (did you mean 'alphas'?)"),
    ({"epochs": 3}, "ParamsError: parameter 'epochs' is not one of this notebook's parameters ['overrides']"),
    ({"toy_triangular": {"alphas": [0.1]}}, "ParamsError: parameter 'toy_triangular' is not one of this notebook's"),
])
def test_a_bad_setting_from_the_command_line_is_one_line_not_a_traceback(repo, tmp_path, parameters, message):
    with pytest.raises(papermill.PapermillExecutionError) as error:
        run(repo, repo, **parameters)
    assert message in str(error.value)
    lines = error_lines(repo / "out.ipynb")
    assert len(lines) == 1 and lines[0].startswith(message)  # what JupyterLab shows too


@pytest.mark.parametrize("toy", ["toy_fading_gaussian", "toy_gradient_gap", "toy_logit_squeezing"])
def test_every_toy_notebook_runs_outside_dvc(repo, toy):
    """(The study notebooks run outside DVC in tests/test_pipeline.py, toy_triangular above.)"""
    papermill.execute_notebook(str(repo / "notebooks" / f"{toy}.ipynb"), str(repo / f"{toy}.ipynb"), cwd=str(repo),
                               progress_bar=False, kernel_name="python3")
    assert list((repo / "figures" / toy).glob("*.png")) and list((repo / "results" / toy).glob("*.csv"))
