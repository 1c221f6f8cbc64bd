"""The engine against the single process it replaced: the default study's training and attacks, side by side.

    python benchmarks/engine.py            # one seed of the mnist5k study of params.yaml (about 15 min, 2 cores)
    python benchmarks/engine.py --quick    # a small slice (under 5 min)

Three runs of the same grid, each in a fresh folder, one after the other on this machine:
- ``one process``: the behaviour before the engine, one process with torch's default threads (one per core);
- ``engine``: ``workers`` processes (one per core) of one torch thread each;
- ``reference``: one process of one thread: the engine's numbers must be identical to it (same threads per
  unit), checkpoints and the attack table byte for byte.
Writes benchmarks/results/engine[_quick].md; the last line printed is ``speedup <x> identical <true|false>``.
"""

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsstudy.files import write_table, write_text  # noqa: E402
from lsstudy.grid import engine
from lsstudy.grid.attacks import attack_grid  # noqa: E402
from lsstudy.grid.runs import grid, transfer_sources  # noqa: E402
from lsstudy.grid.training import train_grid  # noqa: E402
from lsstudy.pipeline import params  # noqa: E402


def study_slice(quick: bool) -> dict:
    settings = params.study(params.load_params(ROOT / "params.yaml"), "mnist5k")
    settings["base"] = {**settings["base"], "seeds": settings["base"]["seeds"][:1]}
    if quick:
        settings["train"] = {**settings["train"], "archs": ["linear", "mlp"], "alphas": [0.1], "epochs": 2,
                             "bls_temperatures": [1.0]}
        settings["base"] = {**settings["base"], "test_size": 60}
    return settings


def run(settings: dict, data_settings: dict, workers: int, threads: int, root: Path) -> dict:
    """Train and attack the grid; seconds of each, with the engine settings given."""
    executor = {"executor": "local", "workers": workers, "threads_per_unit": threads, "gpus_per_unit": 0.25, "stack": 1}
    quiet = lambda _: None  # noqa: E731
    start = time.perf_counter()
    train_grid("mnist5k", settings["base"], settings["train"], executor, data_settings, root, say=quiet)
    trained = time.perf_counter()
    tables = attack_grid("mnist5k", settings["base"], settings["train"], settings["attack"], executor, data_settings,
                         root, say=quiet)
    done = time.perf_counter()
    write_table(tables["attacks"], root / "attacks.csv")
    return {"train": trained - start, "attack": done - trained, "total": done - start}


def same_outputs(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.glob("models/**/*.pt")) + [Path("attacks.csv")]
    return files == sorted(p.relative_to(b) for p in b.glob("models/**/*.pt")) + [Path("attacks.csv")] and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small slice of the grid (under 5 minutes)")
    args = parser.parse_args()
    settings = study_slice(args.quick)
    data_settings = params.load_params(ROOT / "params.yaml")["data"]
    cores = engine.cores()
    models = len(grid(settings["base"], settings["train"])) + len(transfer_sources(settings["base"], settings["train"]))
    runs = {"one process": (1, torch.get_num_threads()), "engine": (cores, 1), "reference": (1, 1)}
    seconds = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, (workers, threads) in runs.items():
            seconds[name] = run(settings, data_settings, workers, threads, Path(scratch) / name)
            print(f"{name}: {workers} worker(s) x {threads} thread(s): {seconds[name]['total']:.1f} s", flush=True)
        identical = same_outputs(Path(scratch) / "engine", Path(scratch) / "reference")
        shutil.rmtree(scratch, ignore_errors=True)
    speedup = seconds["one process"]["total"] / seconds["engine"]["total"]
    lines = [
        f"# The engine against one process ({'quick slice' if args.quick else 'one seed of the mnist5k study'})", "",
        f"{models} models (train, then every attack of the study on {settings['base']['test_size']} test points), "
        f"{cores} cores, torch {torch.__version__}, {platform.processor() or platform.machine()}; "
        f"`python benchmarks/engine.py{' --quick' if args.quick else ''}`. The runs follow each other on one "
        "machine.", "",
        "| run | workers x threads | train (s) | attack (s) | total (s) |", "| --- | --- | --- | --- | --- |"]
    for name, (workers, threads) in runs.items():
        s = seconds[name]
        lines.append(f"| {name} | {workers} x {threads} | {s['train']:.1f} | {s['attack']:.1f} | {s['total']:.1f} |")
    lines += ["", f"Speed-up of the engine over one process: **{speedup:.2f}x** (target: at least 1.5x on 2 cores).",
              f"Engine and reference (same threads per unit) give byte-identical checkpoints and attack table: "
              f"**{str(identical).lower()}**.", ""]
    out = write_text(ROOT / "benchmarks" / "results" / f"engine{'_quick' if args.quick else ''}.md", "\n".join(lines))
    print(f"written to {out}")
    print(f"speedup {speedup:.2f} identical {str(identical).lower()}")


if __name__ == "__main__":
    main()
