"""Faults a demanding user meets around DVC, each reproduced in a temporary copy of the repository with the tests'
tiny parameters: dvc killed mid-stage leaves nothing running."""

import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml
from test_pipeline import ENV, copy_repository

from lsstudy import params

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "fixtures" / "params.yaml"


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
    assert sum("spawn_main" in " ".join(p.cmdline()) for p in chain) == 2
    running.kill()
    running.wait()
    _, alive = psutil.wait_procs(chain, timeout=15)  # they used to run on, writing checkpoints, for the rest of the stage
    for orphan in alive:
        orphan.kill()
    assert not alive, [" ".join(p.cmdline())[:80] for p in alive]
    before = written(repo)
    time.sleep(2)
    assert written(repo) == before  # nothing writes any more: a rerun races no one

