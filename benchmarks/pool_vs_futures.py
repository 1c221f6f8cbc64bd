"""The engine's own process pool against the standard library's ``concurrent.futures.ProcessPoolExecutor``.

    python benchmarks/pool_vs_futures.py [--workers 2] [--units 200] [--ms 20] [--quick]

``lsstudy/grid/engine.py`` keeps a pool of its own and says why at its top: when a worker dies, ``ProcessPoolExecutor``
fails every pending future alike and cannot say which unit the dead process ran. This measures that reason and
what the pool costs, with the same unit function on both, one torch thread per worker, spawned processes and a
mnist5k-sized context (a 4,000 x 784 float tensor, sent once per worker: the engine sends it with the run, the
executor through its initializer):
- **dispatch**: ``--units`` units of about ``--ms`` ms of matrix products each, twice in a row (the first batch
  includes starting the workers; the engine keeps its workers for the second, an executor is made per batch as
  a driver would make one per stage, and also kept for a second batch);
- **a worker dies**: ``--workers`` x 4 units of 1 s each, the third killing its own process half-way (as the
  kernel's OOM killer would): which results reach the driver, and what the error says.

Writes benchmarks/results/pool_vs_futures.md. ``--quick`` (20 units, 2 ms) only checks that the script runs: it
prints its table and writes nothing.
"""

import argparse
import os
import platform
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsstudy.files import write_text  # noqa: E402
from lsstudy.grid import engine  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "pool_vs_futures.md"
_context = None  # the executor's workers get the context once, from their initializer


def _busy(payload: dict, context: torch.Tensor) -> int:
    """About ``payload["ms"]`` ms of matrix products on a slice of the context; kills its own process half-way
    with ``payload["die"]``."""
    end = time.perf_counter() + payload["ms"] / 1000
    half = time.perf_counter() + payload["ms"] / 2000
    block = context[:256]
    while time.perf_counter() < end:
        block @ block.T
        if payload.get("die") and time.perf_counter() > half:
            os.kill(os.getpid(), signal.SIGKILL)
    return payload["i"]


def _initialise(context: torch.Tensor) -> None:
    global _context
    torch.set_num_threads(1)
    _context = context


def _busy_here(payload: dict) -> int:
    return _busy(payload, _context)


def _engine_batch(payloads: list[dict], context: torch.Tensor, workers: int) -> tuple[list[int], str]:
    got = []
    settings = {"executor": "local", "workers": workers, "threads_per_unit": 1, "gpus_per_unit": 0.25}
    try:
        engine.run(_busy, [engine.Unit(f"unit {p['i']}", p) for p in payloads], context, settings,
                   lambda unit, result: got.append(result))
    except engine.WorkerDied as error:
        return got, str(error)
    return got, ""


def _futures_batch(payloads: list[dict], executor: ProcessPoolExecutor) -> tuple[list[int], str]:
    got, errors = [], set()
    for future in as_completed([executor.submit(_busy_here, p) for p in payloads]):
        try:
            got.append(future.result())
        except Exception as error:  # BrokenProcessPool, on every future not finished when the worker died
            errors.add(f"{type(error).__name__}: {error}")
    return got, "; ".join(sorted(errors))


def _executor(context: torch.Tensor, workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_initialise, initargs=(context,))


def _timed(run) -> tuple[float, list[int], str]:
    start = time.perf_counter()
    got, error = run()
    return time.perf_counter() - start, got, error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--ms", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    units, ms = (20, 2.0) if args.quick else (args.units, args.ms)
    torch.manual_seed(0)
    context = torch.rand(4000, 784)
    payloads = [{"i": i, "ms": ms} for i in range(units)]
    rows = []
    for batch in ["first", "second"]:
        seconds, got, _ = _timed(lambda: _engine_batch(payloads, context, args.workers))
        rows.append({"pool": "engine (workers kept)", "batch": batch, "seconds": round(seconds, 2),
                     "results": len(got)})
    for batch in ["first", "second"]:
        with _executor(context, args.workers) as executor:
            seconds, got, _ = _timed(lambda: _futures_batch(payloads, executor))
        rows.append({"pool": "ProcessPoolExecutor, one per batch", "batch": batch, "seconds": round(seconds, 2),
                     "results": len(got)})
    with _executor(context, args.workers) as executor:
        for batch in ["first", "second"]:
            seconds, got, _ = _timed(lambda: _futures_batch(payloads, executor))
            rows.append({"pool": "ProcessPoolExecutor, kept", "batch": batch, "seconds": round(seconds, 2),
                         "results": len(got)})
    dispatch = pd.DataFrame(rows).to_markdown(index=False)

    dying = [{"i": i, "ms": 200.0 if args.quick else 1000.0, "die": i == 2} for i in range(args.workers * 4)]
    faults = []
    def futures_dying() -> tuple[list[int], str]:
        with _executor(context, args.workers) as executor:
            return _futures_batch(dying, executor)

    for name, run in [("engine", lambda: _engine_batch(dying, context, args.workers)),
                      ("ProcessPoolExecutor", futures_dying)]:
        seconds, got, error = _timed(run)
        faults.append({"pool": name, "units": len(dying),
                       "results handed to the driver": " ".join(map(str, sorted(got))),
                       "error": error, "seconds": round(seconds, 2)})
    fault = pd.DataFrame(faults).to_markdown(index=False)
    print(dispatch, fault, sep="\n\n")
    if args.quick:
        return
    write_text(RESULT, f"""# The engine's pool against concurrent.futures

`python benchmarks/pool_vs_futures.py --workers {args.workers} --units {args.units} --ms {args.ms}` on {date.today()},
{platform.processor() or platform.machine()}, {os.cpu_count()} cores, one torch thread per worker, spawned workers,
a 4,000 x 784 context.

Dispatch: {units} units of about {ms:g} ms each, two batches in a row (the first includes starting the workers).

{dispatch}

A worker dies: {len(dying)} units of 1 s, unit 2 killing its own process (SIGKILL) half-way.

{fault}
""")


if __name__ == "__main__":
    main()
