"""The Ray executor: a local two-node Ray cluster on the loopback address gives the same checkpoints and the
same attack table as the local executor (at the same threads per unit)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lsstudy.files import write_table
from lsstudy.grid.attacks import attack_grid
from lsstudy.grid.training import train_grid
from lsstudy.pipeline import params

HERE = Path(__file__).resolve().parent
ENGINE = {"executor": "local", "workers": 2, "threads_per_unit": 1, "gpus_per_unit": 0.25, "stack": 1}

pytestmark = pytest.mark.ray


def tiny_study() -> dict:
    tiny = params.load_params(HERE / "fixtures" / "params.yaml")
    study = params.study(tiny, "digits")
    study["base"] = {**study["base"], "seeds": [0]}
    study["train"] = {**study["train"], "methods": ["none", "adversarial"], "alphas": [0.1], "baselines": []}
    return {**study, "data": tiny["data"]}


def attack_and_write(study: dict, engine: dict, root: Path) -> None:
    quiet = lambda _: None  # noqa: E731
    train_grid("digits", study["base"], study["train"], engine, study["data"], root, say=quiet)
    tables = attack_grid("digits", study["base"], study["train"], study["attack"], engine, study["data"], root, say=quiet)
    write_table(tables["attacks"], root / "attacks.csv")


def test_a_two_node_ray_cluster_gives_the_local_executors_results(tmp_path):
    pytest.importorskip("ray")
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root, unshare and ip for a private network namespace")
    attack_and_write(tiny_study(), ENGINE, tmp_path / "local")
    script = f"ip link set lo up && exec {sys.executable} {HERE / 'ray_grid.py'} {tmp_path / 'ray'}"
    done = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    local, ray = tmp_path / "local", tmp_path / "ray"
    checkpoints = sorted(p.relative_to(local) for p in local.glob("models/**/*.pt"))
    assert checkpoints == sorted(p.relative_to(ray) for p in ray.glob("models/**/*.pt"))
    assert all((local / p).read_bytes() == (ray / p).read_bytes() for p in checkpoints)
    assert (local / "attacks.csv").read_bytes() == (ray / "attacks.csv").read_bytes()
