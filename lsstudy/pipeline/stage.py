"""Run one pipeline stage: check its parameters and data, then execute its notebook with papermill.

    python -m lsstudy.pipeline.stage train --study mnist5k      # what dvc.yaml runs for train@mnist5k
    python -m lsstudy.pipeline.stage toy_triangular

Parameters and the dataset's files are checked here, before a kernel starts or an output is touched, so
a bad value costs a second and loses nothing. The notebook then runs from notebooks/ (as in JupyterLab)
with its ``study`` parameter set; it reads params.yaml itself (``lsstudy.pipeline.notebook``). While it runs, the
terminal shows the engine's progress (models done of total, elapsed, time left). The executed notebook
replaces reports/<study>/<stage>.ipynb only when the run succeeds; a failed run's notebook goes beside
it as <stage>.failed.ipynb, so the last good report is never lost. Every failure ends in one line and a
non-zero exit code; Ctrl-C and a killed kernel end in one line too, and the next ``dvc repro`` resumes from
the work kept. When the process that started the runner (dvc) ends, even by SIGKILL, the runner stops as on
Ctrl-C, and its kernel and the engine's workers with it. The temporary files a killed run leaves among the
stage's outputs are removed when it runs again.
"""

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm.std import tqdm

from lsstudy import data
from lsstudy.files import atomic_path, remove_leftovers
from lsstudy.pipeline.dvc import STAGES, report
from lsstudy.pipeline.notebook import stage_settings
from lsstudy.pipeline.params import ParamsError, find_root
from lsstudy.runtime import PROGRESS_ENV

INTERRUPTED = 130  # the shell's exit code for Ctrl-C


def _datasets(settings) -> list[str]:
    return [section["dataset"] for section in [settings.sections.get("base", {}), *settings.sections.values()]
            if "dataset" in section]


class _ProgressView(threading.Thread):
    """Draws the engine's progress lines (JSON, appended to a file by the kernel) as a bar on stderr."""

    def __init__(self, path: Path, name: str):
        super().__init__(daemon=True)
        self.path, self.name, self.stop = path, name, threading.Event()
        self.bars: dict[str, tqdm] = {}

    def run(self) -> None:
        offset = 0
        while not self.stop.wait(0.5):
            offset = self._read(offset)
        self._read(offset)
        for bar in self.bars.values():
            bar.close()

    def _read(self, offset: int) -> int:
        with open(self.path) as stream:
            stream.seek(offset)
            for line in stream:
                if line.endswith("\n"):
                    offset += len(line.encode())
                    self._show(json.loads(line))
        return offset

    def _show(self, line: dict) -> None:
        bar = self.bars.get(line["description"])
        if bar is None:
            bar = tqdm(total=line["total"], initial=line["done"], desc=f"{self.name}: {line['description']}",
                       unit="model", file=sys.stderr, mininterval=0 if sys.stderr.isatty() else 30)
            self.bars[line["description"]] = bar
        bar.update(line["done"] - bar.n)
        if bar.n >= bar.total:  # finished: its last line stays, the next bar starts below it
            bar.close()
            del self.bars[line["description"]]


class KernelDied(RuntimeError):
    """The notebook's kernel ended while it ran a cell (killed, out of memory, crashed)."""


def _how(code: int | None) -> str:
    return f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"


def _execute(notebook: Path, output: Path, parameters: dict, cwd: Path, name: str) -> None:
    import papermill
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import DeadKernelError

    logging.getLogger("papermill").setLevel(logging.CRITICAL)  # its failures are reported below, in one line
    with tempfile.TemporaryDirectory(prefix="lsstudy-") as scratch:
        progress = Path(scratch) / "progress.jsonl"
        progress.touch()
        os.environ[PROGRESS_ENV] = str(progress)
        view = _ProgressView(progress, name)
        view.start()
        # IPC sockets in a private folder: the kernel is local, so it needs no (unencrypted) TCP port. An async
        # manager, because with a blocking one nbclient waits on the kernel's reply without ever checking that
        # the kernel still lives: a killed kernel would hang the stage for good.
        kernel = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(Path(scratch) / "kernel"))
        try:
            papermill.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(cwd),
                                       progress_bar=False, km=kernel)
        except DeadKernelError:
            raise KernelDied(_how(kernel.provisioner.process.returncode)) from None
        finally:
            if kernel.has_kernel:  # papermill shuts down only kernels it started itself
                run_sync(kernel.shutdown_kernel)(now=True)
            view.stop.set()
            view.join()
            os.environ.pop(PROGRESS_ENV, None)


def _without_timestamps(path: Path, notebook: str) -> None:
    """Drop what papermill and nbclient record of when things ran (and the temporary output path), so that the
    same run gives the same report, byte for byte: dvc.lock records its hash."""
    import nbformat

    executed = nbformat.read(path, as_version=4)
    record = executed.metadata.get("papermill", {})
    executed.metadata["papermill"] = {"parameters": record.get("parameters", {}), "input_path": notebook}
    for cell in executed.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"  # papermill gives it a random id
    nbformat.write(executed, path)


def _failure(error: Exception) -> str:
    """papermill's error in one line: the exception the notebook raised and its message."""
    ename, evalue = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    return f"{ename}: {str(evalue).strip()}"


def run(stage: str, study: str | None = None, params_file: str = "params.yaml", root: str | Path = ".") -> Path:
    """Check stage ``stage`` (of ``study``), execute its notebook, and return the executed report's path."""
    import papermill

    if stage not in STAGES:
        raise ParamsError(f"stage={stage!r} is not allowed; choose one of {list(STAGES)}")
    if STAGES[stage].per_study and study is None:
        raise ParamsError(f"stage {stage!r} runs per study: pass --study NAME (a key of params.yaml's studies)")
    root = find_root(root)
    settings = stage_settings(stage, study if STAGES[stage].per_study else None, {}, params_file, start=root)
    for dataset in _datasets(settings):
        data.check_available(dataset, root / settings.data["root"], settings.data["download"])
    name = f"{stage}@{study}" if STAGES[stage].per_study else stage
    final = root / report(stage, settings.study)
    failed = final.with_name(f"{stage}.failed.ipynb")
    parameters = {"study": settings.study} if STAGES[stage].per_study else {}
    for path in STAGES[stage].writes(settings.study):  # what a killed run left half-written
        remove_leftovers(root / path)
    with atomic_path(final) as attempt:
        try:
            _execute(root / STAGES[stage].notebook, attempt, parameters, root / "notebooks", name)
        except papermill.PapermillExecutionError as error:
            attempt.replace(failed)
            raise RuntimeError(f"{name} failed: {_failure(error)}\nThe failed run's notebook is "
                               f"{failed.relative_to(root)}; the last good report is kept.") from None
        except KernelDied as error:
            attempt.replace(failed)
            raise KernelDied(f"{name}: the notebook's kernel died ({error}); finished work is kept and the next "
                             f"`dvc repro` resumes from it (this run's notebook: {failed.relative_to(root)})") from None
        _without_timestamps(attempt, STAGES[stage].notebook)
    failed.unlink(missing_ok=True)
    print(f"{name}: done; executed notebook in {final.relative_to(root)}")
    return final


@contextmanager
def _ending_with_parent() -> Iterator[threading.Event]:
    """Inside the block, interrupt this process as Ctrl-C would once the process that started it ends (the
    event it yields is then set): a SIGKILLed dvc would otherwise leave the stage running on, its kernel
    writing checkpoints beside a rerun that redoes the same work. The kernel ends with this process, and
    the engine's workers with the kernel."""
    parent, ended, done = os.getppid(), threading.Event(), threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            if os.getppid() != parent:  # reparented: the parent is gone
                ended.set()
                os.kill(os.getpid(), signal.SIGINT)
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield ended
    finally:
        done.set()
        watcher.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", help=f"one of {list(STAGES)}")
    parser.add_argument("--study", help="a study of params.yaml (stages that run per study)")
    parser.add_argument("--params", default="params.yaml", help="parameter file, relative to the repository root")
    args = parser.parse_args(argv)
    name = f"{args.stage}@{args.study}" if args.study else args.stage
    # Ctrl-C, and the interrupt _ending_with_parent sends, must reach this process even when it was started with
    # SIGINT ignored (as a non-interactive shell starts `dvc repro &`): else a killed dvc leaves the stage running.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with _ending_with_parent() as orphaned:
        try:
            run(args.stage, args.study, args.params)
        except KeyboardInterrupt:
            why = "stopped, as the process that started it (dvc) ended" if orphaned.is_set() else "interrupted"
            print(f"\n{name}: {why}. Finished work is kept; the next `dvc repro` resumes from it.", file=sys.stderr)
            return INTERRUPTED
        except (ParamsError, data.DataError, RuntimeError, OSError) as error:  # one message, no traceback
            print(f"error: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
