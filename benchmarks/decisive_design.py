"""What a decisive MNIST design would cost: the seeds and test points with which every primary comparison detects
a gain of 3 (and of 2) points with 80% power at Holm's strictest step, and the CPU time that implies.

    python benchmarks/decisive_design.py                      # after `make study`; about 2 minutes on 2 cores
    python benchmarks/decisive_design.py --train-epochs 20    # time a longer recipe on mnist25k

Inputs, all written by `make study` for ``--study`` (default mnist5k): ``results/<study>/verdict/variance.csv`` (the
variance components of each primary comparison: training seeds, test points, residual), ``power.csv`` (the
family's strictest Holm level), ``results/<study>/confirm/chosen.csv`` (the configurations judged on each seed)
and ``reports/<study>/timings/confirm.csv`` (the seconds each attack took on each judged model). The seeds needed
come from ``lsstudy.inference.seeds_needed`` (the two-way design's t approximation; the verdict's simulation finds
it optimistic with few seeds), at the study's own points, at every test point of mnist5k outside the selection
window, and at every test point of mnist25k (the full 10,000-image MNIST test set) outside it.

What the time rests on: one model per arch trained here on mnist25k with the study's recipe and ``--train-epochs``
epochs, on one torch thread (the engine runs one model a core), and the attack seconds per point of the study's
judged models. Two assumptions, said in the report: the components of better-trained mnist25k models are those of
the study's models (they are what is measured), and the cascade costs per point what it cost on them (it runs
fewer attacks on the points an early attack breaks, so a more robust model costs more).
Writes benchmarks/results/decisive_design.md; the last line printed is ``decisive <delta> seeds <n> hours <h>``
for the cheapest design reaching 2 points (inf: none does).
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

from lsstudy import components, data, inference, models, params
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


def train_seconds(study: dict, root: Path, archs: list[str], epochs: int) -> dict[str, tuple[float, float]]:
    """(CPU seconds, clean accuracy on test points 300-3299) of one unsmoothed model per arch on mnist25k."""
    x, y = data.load(LARGE, "train", str(root))
    x_test, y_test = data.load_test_slice(LARGE, 300, 3000, str(root))
    recipe = study["train"]
    measured = {}
    for arch in archs:
        model = models.build(arch, LARGE)
        start = time.process_time()
        train(model, x, y, epochs=epochs, lr=recipe["lr"], momentum=recipe["momentum"], batch_size=recipe["batch_size"],
              val_fraction=recipe["val_fraction"], patience=recipe["patience"], seed=0, progress=False)
        seconds = time.process_time() - start
        with torch.no_grad():
            accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
        measured[arch] = (seconds, accuracy)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="mnist5k")
    parser.add_argument("--train-epochs", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    everything = params.load_params(ROOT / "params.yaml")
    study = params.study(everything, args.study)
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
    archs = list(seeds["arch"].unique())
    trained = train_seconds(study, ROOT / everything["data"]["root"], archs, args.train_epochs)

    rows, cheapest = [], (np.inf, np.inf)
    for delta in DELTAS:
        for name, n_points in designs.items():
            column = f"seeds for {delta:g} at {name}"
            need = seeds.groupby("arch", sort=False)[column].max()
            seconds = sum(need[a] * configurations[a] * (trained[a][0] + n_points * attack_per_point[a]) for a in archs)
            hours = seconds / os.cpu_count() / 3600
            rows.append({"delta": f"{delta:g}", "points": name, **{f"seeds ({a})": need[a] for a in archs},
                         "CPU hours, 2 cores": hours})
            if delta == min(DELTAS) and hours < cheapest[1]:
                cheapest = (max(need), hours)
    cost = pd.DataFrame(rows)

    lines = [
        f"# What a decisive MNIST design costs (from {args.study}'s measured components and costs)",
        "",
        f"{date.today()}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 torch thread, load "
        f"average {load:.2f} at the start; torch {torch.__version__}. `python benchmarks/decisive_design.py "
        f"--train-epochs {args.train_epochs}`.",
        "",
        f"Holm's strictest level of the primary family: {level:.5f}; 80% power (t approximation). The most seeds any "
        "primary comparison of an arch and eps needs (inf: the points' part alone is too large at that many points):",
        "",
        seeds.to_markdown(index=False),
        "",
        f"Measured costs: per model, training on {LARGE} for {args.train_epochs} epochs with the study's recipe "
        "(lr, momentum, batch size, plateau schedule), and the attack seconds per point of the study's judged models "
        f"(the cascade, {len(per_model)} models); configurations judged per seed: "
        + ", ".join(f"{a} {configurations[a]}" for a in archs) + ".",
        "",
        "| arch | training seconds | clean accuracy (points 300-3299) | attack seconds per point |",
        "| --- | --- | --- | --- |",
        *(f"| {a} | {trained[a][0]:.1f} | {trained[a][1]:.4f} | {attack_per_point[a]:.3f} |" for a in archs),
        "",
        "The time each design implies (seeds x configurations x (training + points x attack seconds), over the "
        "machine's cores), assuming the better models' components and per-point costs are the study's:",
        "",
        cost.to_markdown(index=False, floatfmt=".1f"),
        "",
    ]
    out = ROOT / "benchmarks" / "results" / "decisive_design.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"decisive {min(DELTAS):g} seeds {cheapest[0]:g} hours {cheapest[1]:.1f}")


if __name__ == "__main__":
    main()
