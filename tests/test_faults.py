"""Faults a demanding user meets around DVC, each reproduced in a temporary copy of the repository with the tests'
tiny parameters: dvc killed mid-stage leaves nothing running, and a `make paper` that fails leaves params.yaml as
it was."""

import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml
from test_pipeline import ENV, commit, copy_repository, dvc

from lsstudy.pipeline import params

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "fixtures" / "params.yaml"


def exited(process: psutil.Process) -> bool:
    """Whether ``process`` has ended: gone, or a zombie (it exited and writes nothing; only its parent has not
    reaped it yet, as happens on a loaded machine)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def written(repo: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in (repo / "models").glob("**/*") if p.is_file()}


def test_killing_dvc_ends_its_stage_the_kernel_and_the_workers(tmp_path):
    slow = params.merge(params.load_params(TINY), {"engine": {"workers": 2}, "defaults": {"train": {"epochs": 30}}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(slow))
    (tmp_path / "repo").mkdir()
    repo = copy_repository(tmp_path / "repo", tmp_path / "params.yaml")
    running = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "train@digits"], cwd=repo, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic() + 120
    while not list((repo / "models").glob("**/[!.]*.pt")) and time.monotonic() < started:
        time.sleep(0.1)
    chain = psutil.Process(running.pid).children(recursive=True)  # the stage runner, its kernel, the workers
    names = {p.pid: " ".join(p.cmdline()) for p in chain}  # read now: a process that has ended has none
    assert sum("spawn_main" in name for name in names.values()) == 2
    running.kill()
    running.wait()
    # They used to run on, writing checkpoints, for the rest of the stage. All end within 3 s on a quiet machine
    # (5 s with every core busy); the bound leaves room for a CI machine loaded by the rest of the suite.
    _, alive = psutil.wait_procs(chain, timeout=30)
    alive = [p for p in alive if not exited(p)]
    for orphan in alive:
        orphan.kill()
    assert not alive, [names[p.pid][:80] for p in alive]
    before = written(repo)
    time.sleep(2)
    assert written(repo) == before  # nothing writes any more: a rerun races no one


def experiment(repo: Path, extra: dict) -> subprocess.CompletedProcess:
    """What `make paper` runs, with ``extra`` for params-paper.yaml."""
    (repo / "extra.yaml").write_text(yaml.safe_dump(extra))
    return subprocess.run([sys.executable, "-m", "lsstudy.pipeline.experiment", "run", "extra.yaml", "--name", "paper"],
                          cwd=repo, env={**ENV, "PYTHONPATH": str(repo)}, capture_output=True, text=True)


def test_a_failed_make_paper_leaves_params_yaml_as_it_was(tmp_path):
    repo = copy_repository(tmp_path, TINY, git=True)
    before = (repo / "params.yaml").read_bytes()
    # the paper's full datasets are absent: it stops before anything changes, saying where they go
    result = experiment(repo, {"studies": {"full": {"base": {"dataset": "mnist"}}}})
    assert result.returncode == 2 and "dataset 'mnist' is not available in" in result.stderr
    assert "Place the full datasets under data.root (data/raw; see data/README.md), then run again." in result.stderr
    assert (repo / "params.yaml").read_bytes() == before
    # a run that fails once `dvc exp run` has rewritten params.yaml (here: a data file of the pipeline is gone)
    (repo / "data" / "cifar10_5k.npz").unlink()
    commit(repo, "no CIFAR-10")
    extra = {"studies": {"more": {"base": {"dataset": "mnist5k"}}}}
    bare = dvc(repo, "exp", "run", "-n", "paper", *params.set_param_args(params.load_params(repo / "params.yaml"), extra))
    assert bare.returncode != 0 and (repo / "params.yaml").read_bytes() != before  # the fault, with dvc alone
    (repo / "params.yaml").write_bytes(before)
    result = experiment(repo, extra)
    assert result.returncode != 0 and "failed to reproduce 'train@digits'" in result.stderr
    assert "paper: the experiment did not finish; params.yaml is as it was before" in result.stderr
    assert (repo / "params.yaml").read_bytes() == before
