"""The engine: results never depend on the number of workers, a crashed worker or a failing unit is named,
finished work is kept, and a rerun redoes only what is missing."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from lsstudy.grid import engine
from lsstudy.grid.runs import grid, transfer_sources
from lsstudy.grid.training import train_grid
from lsstudy.pipeline import params


def square_or_fail(payload, context):
    """A unit for the tests: x^2 + context, raising on a negative x (a module-level function: workers import it)."""
    if payload < 0:
        raise ValueError(f"negative payload {payload}")
    return payload * payload + context


def settings(workers: int) -> dict:
    return {"executor": "local", "workers": workers, "threads_per_unit": 1, "gpus_per_unit": 0.25, "stack": 1}


@pytest.mark.parametrize("workers", [1, 2])
def test_every_unit_runs_once_and_returns_to_the_driver(workers):
    got = {}
    units = [engine.Unit(f"unit {i}", i) for i in range(5)]
    engine.run(square_or_fail, units, 10, settings(workers), lambda unit, result: got.update({unit.label: result}))
    assert got == {f"unit {i}": i * i + 10 for i in range(5)}


def test_a_failing_unit_is_named_and_the_others_are_kept():
    got = {}
    units = [engine.Unit(f"model {i}", i) for i in [1, 2, -3]]
    with pytest.raises(engine.UnitFailed, match=r"model -3 failed in a worker:(.|\n)*ValueError: negative payload -3"):
        engine.run(square_or_fail, units, 0, settings(2), lambda unit, result: got.update({unit.label: result}))
    assert got == {"model 1": 1, "model 2": 4}


def tiny_study(tiny_params: dict, **train_overrides) -> tuple[dict, dict, dict]:
    study = params.study(tiny_params, "digits")
    train = {**study["train"], "baselines": [], **train_overrides}
    return {**study["base"], "seeds": [0]}, train, tiny_params["data"]


def checkpoints(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted((root / "models").glob("**/*.pt"))}


def test_checkpoints_do_not_depend_on_the_number_of_workers(tmp_path, tiny_params):
    base, train, data_settings = tiny_study(tiny_params, archs=["linear", "mlp"])
    for workers in [1, 2]:
        train_grid("digits", base, train, settings(workers), data_settings, tmp_path / f"w{workers}", say=lambda _: None)
    one, two = checkpoints(tmp_path / "w1"), checkpoints(tmp_path / "w2")
    assert len(one) == len(grid(base, train)) + len(transfer_sources(base, train)) and one == two


def test_a_killed_worker_fails_the_stage_by_name_and_a_rerun_redoes_only_the_rest(tmp_path, tiny_params):
    base, train, data_settings = tiny_study(tiny_params, epochs=3, alphas=[0.1, 0.6])
    total = len(grid(base, train)) + len(transfer_sources(base, train))

    def kill_a_worker_once_a_model_is_saved():
        while not list((tmp_path / "models").glob("**/*.pt")):
            time.sleep(0.05)
        os.kill(multiprocessing.active_children()[0].pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_a_worker_once_a_model_is_saved, daemon=True)
    killer.start()
    with pytest.raises(engine.WorkerDied, match=r"the worker running digits/linear/[\w.]+ died \(killed by signal 9\)"):
        train_grid("digits", base, train, settings(2), data_settings, tmp_path, say=lambda _: None)
    killer.join()
    kept = checkpoints(tmp_path)
    assert 1 <= len(kept) < total

    said = []
    train_grid("digits", base, train, settings(2), data_settings, tmp_path, say=said.append)
    assert f"digits: {len(kept)} of {total} models already trained; training {total - len(kept)}" in said
    after = checkpoints(tmp_path)
    assert len(after) == total and all(after[p] == content for p, content in kept.items())



DRIVER = """
import os, sys, time
from pathlib import Path
from lsstudy.grid import engine

def nap(seconds, started):
    (Path(started) / str(os.getpid())).touch()  # a test unit: says it runs
    time.sleep(seconds)
    return seconds

if __name__ == "__main__":
    settings = {"executor": "local", "workers": 2, "threads_per_unit": 1, "gpus_per_unit": 0.25}
    engine.run(nap, [engine.Unit(f"nap {i}", 120) for i in range(2)], sys.argv[1], settings, lambda unit, result: None)
"""


def test_workers_end_with_a_killed_driver(tmp_path):
    """SIGKILL of the driver (the kernel, when the stage runner or dvc dies) leaves no worker computing on."""
    script, started = tmp_path / "driver.py", tmp_path / "started"
    script.write_text(DRIVER)
    started.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    driver = subprocess.Popen([sys.executable, str(script), str(started)], env=env)
    deadline = time.monotonic() + 120
    while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [psutil.Process(int(path.name)) for path in started.iterdir()]
    assert len(workers) == 2
    driver.kill()
    driver.wait()
    _, alive = psutil.wait_procs(workers, timeout=5)
    for orphan in alive:
        orphan.kill()
    assert not alive, f"workers {[p.pid for p in alive]} outlived their driver"
