"""The stage runner: bad parameters and bad data stop it before a kernel starts, with one message naming the
key or the file and nothing earlier lost; a stage that fails keeps the last good report; Ctrl-C and a killed
kernel end in one line; what a killed run leaves half-written is removed by the next run."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from lsstudy.pipeline import params
from lsstudy.pipeline.stage import main

ROOT = Path(__file__).resolve().parents[1]

# (dotted key, bad value, the message's start): at least one of each kind the schema names
BAD = [
    ("defaults.train.alphas", [0.1, 1.5], "defaults.train.alphas[1]=1.5 is not allowed; it must be a number in [0, 1]"),
    ("defaults.train.epochs", "3", "defaults.train.epochs='3' is not allowed; it must be an integer"),
    ("defaults.train.epoch", 3, "defaults.train.epoch is not a known key (did you mean 'epochs'?)"),
    ("studies.digits.train.methods", ["none", "gaussian"], "studies.digits.train.methods[1]='gaussian' is not allowed"),
    ("studies.digits.base.dataset", "imagenet", "studies.digits.base.dataset='imagenet' is not allowed; choose one of"),
    ("defaults.attack.strong.eps", [0.1, 0.2], "defaults.attack.strong.eps[1]=0.2 is not allowed; choose one of [0.1]"),
    ("defaults.train.transfer_seed", 0, "defaults.train.transfer_seed=0 is not allowed; it must differ from every base.seeds"),
    ("defaults.base.seeds", [], "defaults.base.seeds=[] is not allowed; it must be a non-empty list"),
    ("studies.digits.base.test_offset", 960, "studies.digits.base.test_offset=960 is not allowed; the test window"),
]


def fake_repository(folder: Path, parameters: dict) -> Path:
    """A repository root with ``parameters`` and an earlier run's outputs (which nothing may touch)."""
    (folder / "params.yaml").write_text(yaml.safe_dump(parameters))
    (folder / "dvc.yaml").write_text("stages: {}\n")
    for output in ["models/digits/linear/none_alpha0_T1_seed0.pt", "reports/digits/train.ipynb"]:
        (folder / output).parent.mkdir(parents=True, exist_ok=True)
        (folder / output).write_text("an earlier run's output\n")
    return folder


def outputs(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != "params.yaml"}


@pytest.mark.parametrize("key, value, message", BAD)
def test_a_bad_parameter_stops_the_stage_with_one_line_and_loses_nothing(tmp_path, monkeypatch, capsys, tiny_params,
                                                                         key, value, message):
    repo = fake_repository(tmp_path, params.set_dotted(tiny_params, key, value))
    before = outputs(repo)
    monkeypatch.chdir(repo)
    assert main(["train", "--study", "digits"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and len(err.splitlines()) == 1, err
    assert outputs(repo) == before


def test_absent_paper_scale_data_stops_the_first_stage_with_the_files_expected(tmp_path, monkeypatch, capsys, tiny_params):
    paper = params.merge(tiny_params, {"studies": {"mnist": {"base": {"dataset": "mnist"}}}})
    monkeypatch.chdir(fake_repository(tmp_path, paper))
    assert main(["train", "--study", "mnist"]) == 2
    message = capsys.readouterr().err
    assert "dataset 'mnist'" in message and "train-images-idx3-ubyte" in message and "data.download" in message


def test_empty_cifar_files_are_named_before_a_kernel_starts(tmp_path, monkeypatch, capsys, tiny_params):
    folder = tmp_path / "data" / "raw" / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).touch()
    cifar = params.merge(tiny_params, {"studies": {"full": {"base": {"dataset": "cifar10"}}}})
    monkeypatch.chdir(fake_repository(tmp_path, cifar))
    assert main(["attack", "--study", "full"]) == 2
    message = capsys.readouterr().err
    assert f"{folder.resolve() / 'data_batch_1'} is empty (0 bytes)" in message and "/../" not in message
    assert not (tmp_path / "reports" / "full").exists()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the pipeline with the tests' parameters, for stages that really run."""
    repo = tmp_path_factory.mktemp("repo")
    for name in ["notebooks", "lsstudy"]:
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copy(ROOT / "tests" / "fixtures" / "params.yaml", repo / "params.yaml")
    return repo


def as_from_a_terminal() -> None:
    """In the child: Ctrl-C's default disposition, as a terminal gives it. A test run started in the background
    by a non-interactive shell (`pytest &`) inherits SIGINT ignored, and the stage would then never see Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stage(repo: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    return subprocess.Popen([sys.executable, "-m", "lsstudy.pipeline.stage", *args], cwd=repo, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=as_from_a_terminal, **kwargs)


def test_a_failed_stage_keeps_the_last_good_report(repo):
    done = stage(repo, "toy_triangular")
    assert done.wait(timeout=300) == 0, done.stderr.read()
    report = repo / "reports" / "toy_triangular.ipynb"
    good = report.read_bytes()
    results = repo / "results" / "toy_triangular"
    shutil.rmtree(results)
    results.write_text("a file where the stage's folder belongs\n")  # the notebook fails writing its table
    try:
        failed = stage(repo, "toy_triangular")
        assert failed.wait(timeout=300) == 2
        err = failed.stderr.read()
    finally:
        results.unlink()
    assert err.startswith("error: toy_triangular failed: ") and "Traceback" not in err
    assert "reports/toy_triangular.failed.ipynb; the last good report is kept" in err
    assert report.read_bytes() == good and (repo / "reports" / "toy_triangular.failed.ipynb").is_file()


def test_ctrl_c_ends_in_one_line_that_says_how_to_resume(repo):
    running = stage(repo, "train", "--study", "digits")
    progress_seen = time.monotonic() + 120
    while not list((repo / "models" / "digits").glob("**/*.pt")) and time.monotonic() < progress_seen:
        time.sleep(0.1)
    os.killpg(running.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    code = running.wait(timeout=120)
    assert code == 130, (running.stdout.read()[-2000:], running.stderr.read()[-2000:])
    err = running.stderr.read()
    assert "train@digits: interrupted. Finished work is kept; the next `dvc repro` resumes from it." in err
    assert "Traceback" not in err and "Error" not in err, err


def checkpoints(repo: Path) -> list[Path]:
    return [p for p in (repo / "models" / "digits").glob("**/*.pt") if not p.name.startswith(".")]  # not temporaries


def test_a_killed_kernel_ends_the_stage_in_one_line_and_the_rerun_resumes(repo):
    shutil.rmtree(repo / "models" / "digits", ignore_errors=True)  # this test's own run, from scratch
    running = stage(repo, "train", "--study", "digits")
    try:
        started = time.monotonic() + 120
        while not checkpoints(repo) and time.monotonic() < started:
            time.sleep(0.1)
        kernel, = [p for p in psutil.Process(running.pid).children() if "ipykernel_launcher" in p.cmdline()]
        kernel.kill()
        assert running.wait(timeout=30) == 2  # it used to wait for the dead kernel for good
    finally:
        running.kill()
    err = running.stderr.read()
    assert err.splitlines()[-1] == ("error: train@digits: the notebook's kernel died (killed by signal 9); finished work "
                                    "is kept and the next `dvc repro` resumes from it (this run's notebook: "
                                    "reports/digits/train.failed.ipynb)") and "Traceback" not in err
    kept = len(checkpoints(repo))
    rerun = stage(repo, "train", "--study", "digits")
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read()
    said = re.search(r"digits: (\d+) of (\d+) models already trained; training (\d+)",
                     (repo / "reports" / "digits" / "train.ipynb").read_text())
    assert int(said[1]) == kept and int(said[3]) == int(said[2]) - kept


def test_the_temporary_report_a_killed_run_leaves_is_removed_by_the_next_run(repo):
    leftovers = lambda: list((repo / "reports").glob(".toy_triangular.*.tmp.ipynb"))  # noqa: E731
    running = stage(repo, "toy_triangular")
    started = time.monotonic() + 60
    while not leftovers() and time.monotonic() < started:
        time.sleep(0.1)
    running.kill()  # SIGKILL: no clean-up runs
    running.wait()
    assert leftovers()
    done = stage(repo, "toy_triangular")
    assert done.wait(timeout=300) == 0, done.stderr.read()
    assert not leftovers() and (repo / "reports" / "toy_triangular.ipynb").is_file()
