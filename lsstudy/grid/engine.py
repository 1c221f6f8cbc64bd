"""The engine: runs units of work (train one model, evaluate one model) on every core, GPU or Ray node.

A unit is a module-level function ``function(payload, context) -> result``: a pure function of its
payload (one model's settings), the context (read-only data shared by all units: tensors of the
dataset, transfer examples) and the code. It writes no file; ``run`` hands each result to the driver's
``on_result`` as it arrives, and only the driver writes. Units seed everything they draw, so a result
depends on the payload, the context, the code and the torch thread count, never on the executor or on
how many workers there are.

==========  ===============================================================================================
executor    where units run
==========  ===============================================================================================
local       ``workers`` processes of this machine (spawned, each with ``threads_per_unit`` torch
            threads: workers x threads = cores). With CUDA, workers are spread over the GPUs, several per
            GPU (``gpus_per_unit``), and units place their tensors there. ``workers: 1`` runs in-process.
ray         one Ray task per unit, asking for ``threads_per_unit`` CPUs and ``gpus_per_unit`` of a GPU,
            on the cluster named by RAY_ADDRESS, else on a Ray instance started on this machine.
==========  ===============================================================================================

Why a small pool of our own rather than ``concurrent.futures``: when a worker process dies (killed, out
of memory), ``ProcessPoolExecutor`` fails every pending future alike and cannot say which unit the dead
process was running; here each worker runs one unit at a time on its own pipe, so the message names the
model, and the units other workers finish meanwhile are still handed to the driver. The workers stay up
between the batches of units a driver runs (training, transfer examples, evaluations).

Over 300 lines: its three executors (this process, a pool of worker processes, Ray) share the units, the
failure handling and the progress they report; split by executor, those would move to a module all three import.
"""

import atexit
import json
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import torch
from tqdm.std import tqdm

from lsstudy import runtime

RAY_ADDRESS_ENV = "RAY_ADDRESS"


@dataclass(frozen=True)
class Unit:
    """One unit of work: ``label`` names its model in progress and error messages. ``payload`` is what the
    unit function receives, or a zero-argument callable that makes it, called just before the unit is
    sent (so that a grid of large models is not all in memory at once)."""

    label: str
    payload: Any

    def materialise(self) -> Any:
        return self.payload() if callable(self.payload) else self.payload


class UnitFailed(RuntimeError):
    """A unit raised an exception (its traceback, from the worker, is in the message)."""


class WorkerDied(RuntimeError):
    """A worker process ended while it ran a unit (killed, out of memory, crashed)."""


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_count(engine: dict) -> int:
    """params.yaml's ``engine.workers``, with "auto": one worker per ``threads_per_unit`` cores, or with
    CUDA, ``1 / gpus_per_unit`` workers per GPU."""
    if engine["workers"] != "auto":
        return engine["workers"]
    if torch.cuda.is_available():
        return max(1, round(torch.cuda.device_count() / engine["gpus_per_unit"]))
    return max(1, cores() // engine["threads_per_unit"])


# ---- progress ---------------------------------------------------------------------------------------

class Progress:
    """Units done of total, in the notebook (a text bar) and, under the stage runner, in the terminal
    (JSON lines appended to the file named by LSSTUDY_PROGRESS, which the runner draws as a bar)."""

    def __init__(self, description: str, total: int, reused: int = 0):
        self.description, self.total, self.done, self.start = description, total, reused, time.monotonic()
        self.bar = tqdm(total=total, initial=reused, desc=description, unit="model", mininterval=1.0,
                        disable=runtime.progress_elsewhere())
        self._send()

    def advance(self, label: str) -> None:
        self.done += 1
        self.bar.update(1)
        self._send(label)

    def close(self) -> None:
        self.bar.close()

    def _send(self, label: str = "") -> None:
        path = os.environ.get(runtime.PROGRESS_ENV)
        if path:
            line = {"description": self.description, "done": self.done, "total": self.total, "last": label,
                    "elapsed": time.monotonic() - self.start}
            with open(path, "a") as stream:
                stream.write(json.dumps(line) + "\n")


# ---- executors --------------------------------------------------------------------------------------

def run(function: Callable[[Any, Any], Any], units: Iterable[Unit], context: Any, engine: dict,
        on_result: Callable[[Unit, Any], None], description: str = "units", reused: int = 0) -> None:
    """Run ``function(payload, context)`` for every unit with the executor of ``engine`` (params.yaml's
    engine section) and call ``on_result(unit, result)`` in this process as each one finishes.

    ``reused``: units the caller already had (counted as done in the progress display).
    Raises ``UnitFailed`` or ``WorkerDied`` naming the unit's model once the other running units have
    finished and been handed over; units not started yet are not run.
    """
    units = list(units)
    progress = Progress(description, len(units) + reused, reused)

    def finished(unit: Unit, result: Any) -> None:
        on_result(unit, result)
        progress.advance(unit.label)

    try:
        if not units:
            return
        if engine["executor"] == "ray":
            _run_ray(function, units, context, engine, finished)
        elif worker_count(engine) == 1 or len(units) == 1:
            _run_here(function, units, context, engine, finished)
        else:
            _run_pool(function, units, context, engine, finished)
    finally:
        progress.close()


def _devices(n: int) -> list[str]:
    if not torch.cuda.is_available():
        return ["cpu"] * n
    return [f"cuda:{i % torch.cuda.device_count()}" for i in range(n)]


def _run_here(function, units, context, engine, finished) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(engine["threads_per_unit"])
    try:
        for unit in units:
            with runtime.on_device(_devices(1)[0]):
                try:
                    result = function(unit.materialise(), context)
                except Exception as error:
                    raise UnitFailed(f"{unit.label}: {type(error).__name__}: {error}") from error
            finished(unit, result)
    finally:
        torch.set_num_threads(threads)


def _end_with_driver() -> None:
    """End this worker the moment its driver ends, however it ends (SIGKILL included): the parent's sentinel
    (a pipe multiprocessing keeps open in the driver) reads as closed then. An orphan would go on computing
    units nobody collects, beside a rerun that redoes them."""
    wait([multiprocessing.parent_process().sentinel])
    os._exit(1)


def _worker(conn, threads: int, device: str) -> None:
    """A worker process: takes a run's function and context, then runs its units, until it is sent None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle: it stops the workers
    threading.Thread(target=_end_with_driver, daemon=True).start()
    torch.set_num_threads(threads)
    function = context = None
    with runtime.on_device(device):
        while (message := conn.recv()) is not None:
            if message[0] == "run":
                _, function, context = message
                continue
            _, index, payload = message
            try:
                conn.send((index, True, function(payload, context)))
            except Exception:
                conn.send((index, False, traceback.format_exc()))


@dataclass
class _Worker:
    process: Any
    conn: Any
    unit: int | None = None


class _Pool:
    """Worker processes kept for the driver's lifetime: a stage runs several batches of units (training, the
    transfer examples, the evaluations), and starting a process that imports torch costs seconds."""

    def __init__(self, size: int, threads: int):
        spawn = multiprocessing.get_context("spawn")  # fork is unsafe with threads and CUDA
        self.size, self.threads, self.workers = size, threads, []
        for device in _devices(size):
            driver_end, worker_end = spawn.Pipe()
            process = spawn.Process(target=_worker, args=(worker_end, threads, device), daemon=True)
            process.start()
            worker_end.close()
            self.workers.append(_Worker(process, driver_end))

    def usable(self, size: int, threads: int) -> bool:
        return (self.size, self.threads) == (size, threads) and all(w.process.is_alive() for w in self.workers)

    def close(self, wait: bool = True) -> None:
        """Stop the workers: after their current unit, or at once with ``wait=False``."""
        for worker in self.workers:
            if not wait:
                worker.process.terminate()
            elif worker.process.is_alive():
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
            worker.conn.close()


_pool: _Pool | None = None


def _workers(size: int, threads: int) -> _Pool:
    global _pool
    if _pool is None or not _pool.usable(size, threads):
        _close_pool()
        _pool = _Pool(size, threads)
    return _pool


@atexit.register
def _close_pool(wait: bool = True) -> None:
    global _pool
    if _pool is not None:
        _pool.close(wait)
        _pool = None


def _run_pool(function, units, context, engine, finished) -> None:
    pool = _workers(worker_count(engine), engine["threads_per_unit"])
    todo, failure = deque(range(len(units))), None

    def give(worker: _Worker) -> None:
        if todo and failure is None:
            worker.unit = todo.popleft()
            worker.conn.send(("unit", worker.unit, units[worker.unit].materialise()))

    try:
        for worker in pool.workers:
            worker.unit = None
            worker.conn.send(("run", function, context))
            give(worker)
        while busy := [w for w in pool.workers if w.unit is not None]:
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn in ready or worker.conn.poll():
                    try:
                        index, ok, result = worker.conn.recv()
                    except (EOFError, OSError):  # the process died: its sentinel says so too
                        pass
                    else:
                        worker.unit = None
                        if ok:
                            finished(units[index], result)
                        elif failure is None:
                            failure = UnitFailed(f"{units[index].label} failed in a worker:\n{result.rstrip()}")
                        give(worker)
                        continue
                if worker.process.sentinel in ready and worker.unit is not None:
                    worker.process.join()
                    code = worker.process.exitcode
                    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                    if failure is None:
                        failure = WorkerDied(f"the worker running {units[worker.unit].label} died ({how}); "
                                             "the models finished before are kept")
                    worker.unit = None
    except BaseException:  # an interrupt, or the driver's own error: stop the workers mid-unit
        _close_pool(wait=False)
        raise
    if isinstance(failure, WorkerDied):
        _close_pool()
    if failure is not None:
        raise failure


def _ray_unit(function, payload, context, threads: int):
    torch.set_num_threads(threads)
    # Ray sets CUDA_VISIBLE_DEVICES for a task that asked for a GPU share: "cuda" is that GPU
    with runtime.on_device("cuda" if torch.cuda.is_available() else "cpu"):
        return function(payload, context)


def _run_ray(function, units, context, engine, finished) -> None:
    import ray  # only the ray executor needs it

    if not ray.is_initialized():
        address = os.environ.get(RAY_ADDRESS_ENV)
        # on a cluster, ship the lsstudy package (the folder above grid/) to the nodes (they need torch & co installed)
        runtime_env = {"py_modules": [str(Path(__file__).resolve().parents[1])]} if address else None
        ray.init(address=address, runtime_env=runtime_env, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    gpus = engine["gpus_per_unit"] if ray.cluster_resources().get("GPU", 0) > 0 else 0
    remote = ray.remote(num_cpus=engine["threads_per_unit"], num_gpus=gpus, max_retries=0)(_ray_unit)
    context_ref = ray.put(context)
    pending = {remote.remote(function, ray.put(unit.materialise()), context_ref, engine["threads_per_unit"]): unit for unit in units}
    failure = None
    try:
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                continue
            except ray.exceptions.RayTaskError as error:
                failure = failure or UnitFailed(f"{unit.label} failed in a Ray task:\n{error}")
            except ray.exceptions.RayError as error:  # the worker or its node died
                failure = failure or WorkerDied(f"the Ray worker running {unit.label} died: {type(error).__name__}")
            else:
                finished(unit, result)
                continue
            for other in pending:  # stop the rest (Ray interrupts running ones too): the next run redoes them
                ray.cancel(other, force=False)
    except BaseException:
        for other in pending:
            ray.cancel(other, force=True)
        raise
    if failure is not None:
        raise failure
