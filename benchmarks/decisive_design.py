"""What a decisive MNIST design costs: the seeds and test points with which every primary comparison detects a gain
of 3 (and of 2) points with 80% power at Holm's strictest step, whether params-decisive.yaml asks for enough of
them, and the time that study takes here.

    python benchmarks/decisive_design.py      # after `make study`; about 5 minutes on 2 cores

Inputs, all written by `make study` for ``--study`` (default mnist5k): ``results/<study>/verdict/variance.csv`` (the
variance components of each primary comparison: training seeds, test points, residual), ``power.csv`` (the
family's strictest Holm level), ``results/<study>/confirm/chosen.csv`` (the configurations judged on each seed)
and ``reports/<study>/timings/confirm.csv`` (the seconds each attack took on each judged model). The seeds needed
come from ``lsstudy.report.inference.seeds_needed`` (the two-way design's t approximation; the verdict's simulation
finds it optimistic with few seeds), at the study's own points, at every test point of mnist5k outside the selection
window, and at every test point of mnist25k (the full 10,000-image MNIST test set) outside it.

What the time rests on: one unsmoothed model per arch trained here with the recipe of ``--design``'s study of that
arch (its epochs and schedule), on one torch thread (the engine runs one model a core), its clean accuracy on every
point that study evaluates, and the attack seconds per point of the default study's judged models. Two
assumptions, said in the report: the components of the better-trained mnist25k models are those of the study's
models (they are what is measured), and the cascade costs per point what it cost on them (it runs fewer attacks on
the points an early attack breaks, so a more robust model costs more). Its time on a GPU is not estimated here: the
only GPU throughput measured so far is ResNet18's and the CIFAR LeNet's (benchmarks/results/gpu.md), whose bounds
for these models come out looser than the CPU's time; benchmarks/gpu_paper.py measures these archs on mnist25k when
a GPU is lent. Writes benchmarks/results/decisive_design.md.
"""

import argparse
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lsstudy import data, models
from lsstudy.grid.training import TRAIN_RECIPE_KEYS
from lsstudy.pipeline import params
from lsstudy.report import components, inference
from lsstudy.train import train

ROOT = Path(__file__).resolve().parents[1]
DELTAS = [0.03, 0.02]
LARGE = "mnist25k"  # the shipped MNIST whose test split is the full 10,000 images


def seeds_table(variance: pd.DataFrame, level: float, designs: dict[str, int]) -> pd.DataFrame:
    """Per arch and eps: the most seeds any primary comparison needs for each delta at each design's points."""
    rows = []
    for (arch, eps), group in variance.groupby(["arch", "eps"], sort=False):
        row = {"arch": arch, "eps": eps}
        for delta in DELTAS:
            for name, points in designs.items():
                needed = [inference.seeds_needed(components.Components(r.seeds, r.points, r.gain, r.var_seed, r.var_point,
                                                                       r.var_residual, r.se, np.nan), delta, points, level)
                          for r in group.itertuples()]
                row[f"seeds for {delta:g} at {name}"] = max(needed)
        rows.append(row)
    return pd.DataFrame(rows)


def train_seconds(recipe: dict, root: Path, arch: str, points: tuple[int, int]) -> tuple[float, float, nn.Module]:
    """(CPU seconds, clean accuracy on the test window ``points`` = (offset, size), the model) of one unsmoothed model
    of ``arch`` trained on mnist25k with ``recipe`` (a study's train section)."""
    x, y = data.load(LARGE, "train", str(root))
    x_test, y_test = data.load_test_slice(LARGE, *points, str(root))
    model = models.build(arch, LARGE)
    start = time.process_time()
    train(model, x, y, seed=0, progress=False, **{key: recipe[key] for key in TRAIN_RECIPE_KEYS})
    seconds = time.process_time() - start
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return seconds, accuracy, model


def gradient_seconds(model: nn.Module, root: Path, batch: int = 500, repeats: int = 5) -> float:
    """CPU seconds per point of one forward-backward to the input (cross-entropy), on batches of ``batch`` test
    points: the unit an attack step costs."""
    x, y = data.load_test_slice(LARGE, 0, batch, str(root))
    start = time.process_time()
    for _ in range(repeats):
        x_grad = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(x_grad), y), x_grad)
    return (time.process_time() - start) / repeats / batch


def decisive_table(design: dict, seeds: pd.DataFrame, configurations: pd.Series, attack_per_point: pd.Series,
                   root: Path) -> pd.DataFrame:
    """Per study of the design file: its seeds and points, the seeds needed for 2 points at those points, and its
    measured costs and CPU hours on this machine's cores."""
    rows = []
    for name, study in design.items():
        (arch,) = study["train"]["archs"]
        seconds, accuracy, model = train_seconds(study["train"], root, arch, (study["base"]["test_offset"], study["confirm"]["test_size"]))
        per_step = gradient_seconds(model, root)
        asked, points = len(study["confirm"]["seeds"]), study["confirm"]["test_size"]
        selection = study["attack"]["selection"]["size"]
        column = f"seeds for {min(DELTAS):g} at {data.split_size(LARGE, 'test') - selection} points (all of {LARGE})"
        needed = seeds.groupby("arch")[column].max()[arch]
        units = asked * configurations[arch]
        cpu = units * (seconds + points * attack_per_point[arch])
        rows.append({"study": name, "arch": arch, "epochs": study["train"]["epochs"],
                     "schedule": study["train"]["schedule"], "clean accuracy": f"{accuracy:.4f}",
                     "training seconds": f"{seconds:.1f}", "gradient evaluations per point": f"{attack_per_point[arch] / per_step:.0f}",
                     "seeds asked": asked, f"seeds needed for {min(DELTAS):g}": f"{needed:g}", "enough": "yes" if asked >= needed else "no",
                     "points": points, "models judged": units,
                     f"CPU hours, {os.cpu_count()} cores": f"{cpu / os.cpu_count() / 3600:.1f}"})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="mnist5k", help="the study whose components and costs are measured")
    parser.add_argument("--design", default="params-decisive.yaml", help="the decisive studies, one per arch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    everything = params.load_params(ROOT / "params.yaml")
    study = params.study(everything, args.study)
    merged = params.validate(params.merge(everything, params.load_params(ROOT / args.design)))
    design = {name: params.study(merged, name) for name in params.study_names(params.load_params(ROOT / args.design))}
    verdict_dir = ROOT / "results" / args.study / "verdict"
    variance = pd.read_csv(verdict_dir / "variance.csv")
    level = float(pd.read_csv(verdict_dir / "power.csv")["level_strictest"].iloc[0])
    selection = study["attack"]["selection"]["size"]
    points = int(variance["points"].iloc[0])
    designs = {f"{points} points (as run)": points,
               f"{data.split_size(args.study, 'test') - selection} points (all of {args.study})":
                   data.split_size(args.study, "test") - selection,
               f"{data.split_size(LARGE, 'test') - selection} points (all of {LARGE})": data.split_size(LARGE, "test") - selection}
    seeds = seeds_table(variance, level, designs)

    chosen = pd.read_csv(ROOT / "results" / args.study / "confirm" / "chosen.csv")
    configurations = chosen.drop_duplicates(["arch", "method", "alpha", "temperature"]).groupby("arch").size()
    timings = pd.read_csv(ROOT / "reports" / args.study / "timings" / "confirm.csv")
    per_model = timings.groupby(["arch", "method", "alpha", "temperature", "seed"])["seconds"].sum()
    attack_per_point = per_model.groupby("arch").mean() / study["confirm"]["test_size"]
    decisive = decisive_table(design, seeds, configurations, attack_per_point, ROOT / everything["data"]["root"])
    training = decisive.set_index("arch")["training seconds"].astype(float)
    archs = [arch for arch in seeds["arch"].unique() if arch in training.index]

    rows = []
    for delta in DELTAS:
        for name, n_points in designs.items():
            column = f"seeds for {delta:g} at {name}"
            need = seeds.groupby("arch", sort=False)[column].max()
            seconds = sum(need[a] * configurations[a] * (training[a] + n_points * attack_per_point[a]) for a in archs)
            rows.append({"delta": f"{delta:g}", "points": name, **{f"seeds ({a})": f"{need[a]:g}" for a in archs},
                         f"CPU hours, {os.cpu_count()} cores": f"{seconds / os.cpu_count() / 3600:.1f}"})
    cost = pd.DataFrame(rows)

    lines = [
        f"# What a decisive MNIST design costs (from {args.study}'s measured components and costs)",
        "",
        f"{date.today()}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 torch thread, load "
        f"average {load:.2f} at the start; torch {torch.__version__}. `python benchmarks/decisive_design.py`.",
        "",
        f"Holm's strictest level of the primary family: {level:.5f}; 80% power (t approximation). The most seeds any "
        "primary comparison of an arch and eps needs (inf: the points' part alone is too large at that many points):",
        "",
        seeds.to_markdown(index=False),
        "",
        f"## The decisive study ({args.design}, `make decisive`)",
        "",
        "One unsmoothed model per arch trained here with the study's recipe (seed 0), its clean accuracy on every "
        f"point the study judges; attack seconds per point of {args.study}'s judged models (the cascade, "
        f"{len(per_model)} models), and the gradient evaluations per point they amount to; configurations judged per "
        "seed: " + ", ".join(f"{a} {configurations[a]}" for a in archs) + ".",
        "",
        decisive.to_markdown(index=False, disable_numparse=True),
        "",
        f"Total: {decisive[f'CPU hours, {os.cpu_count()} cores'].astype(float).sum():.0f} hours on this machine's "
        f"{os.cpu_count()} cores. Its GPU time is not measured: benchmarks/gpu_paper.py measures these archs on "
        f"{LARGE} when a GPU is lent.",
        "",
        "## Other designs, at the decisive recipe's training cost",
        "",
        "The time each design implies (seeds x configurations x (training + points x attack seconds), over the "
        "machine's cores), assuming the better models' components and per-point costs are the study's:",
        "",
        cost.to_markdown(index=False, disable_numparse=True),
        "",
    ]
    out = ROOT / "benchmarks" / "results" / "decisive_design.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
