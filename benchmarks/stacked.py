"""Stacked small models on a CPU core: M models trained and attacked as one stack (lsstudy.stacked) against one at a time.

    python benchmarks/stacked.py           # about 5 minutes on 2 cores
    python benchmarks/stacked.py --quick   # a check of the script (under a minute)

One torch thread, the CPU time of the measuring thread (``time.thread_time``), for the linear model, the MLP and the
LeNet of mnist5k, M = 8 models each (seeds 0 to 7; methods none, ALS, SLS and BLS in turn, alpha 0.1):
- training: the default study's recipe (lr 0.05, momentum 0.9, batch 100, a 10% hold-out), 2 epochs on the 4,000
  training images: ``lsstudy.train.train`` for each model, then ``lsstudy.train_stack.train_stack`` for all; the
  largest weight difference of a model between the two, relative to the tensor's largest weight, and for scale the
  same between the models trained alone with 2 torch threads and with 1;
- PGD: ``lsstudy.attacks.gradient.pgd`` (cross-entropy, eps 0.1, 10 steps, no random start: starts by point,
  ``point_seeds``, cost the same either way) on 200 test images per model, each model alone, then the M models as
  one ``StackedModel`` on the M x 200 images; the share of the points whose example is the same. Median of 3 rounds.
Writes benchmarks/results/stacked[_quick].md; the last line printed is ``stacked speedup train <x> pgd <x>`` (the
LeNet's).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsstudy import data, models  # noqa: E402
from lsstudy.attacks.gradient import pgd  # noqa: E402
from lsstudy.files import write_text  # noqa: E402
from lsstudy.stacked import Stack, StackedModel  # noqa: E402
from lsstudy.train import train  # noqa: E402
from lsstudy.train_stack import train_stack  # noqa: E402

SIZES = {"full": {"models": 8, "epochs": 2, "train_images": 4000, "points": 200, "steps": 10, "rounds": 3},
         "quick": {"models": 3, "epochs": 1, "train_images": 300, "points": 30, "steps": 2, "rounds": 1}}
RECIPE = {"lr": 0.05, "momentum": 0.9, "batch_size": 100, "val_fraction": 0.1, "patience": 5, "plateau_loss": "ce"}
METHODS = ["none", "adversarial", "standard", "boltzmann"]
ARCHS = ["linear", "mlp", "lenet"]
EPS = 0.1


def cpu_seconds(work) -> float:
    start = time.thread_time()
    work()
    return time.thread_time() - start


def settings(size: dict) -> list[dict]:
    return [{"method": METHODS[i % len(METHODS)], "alpha": 0.0 if i % len(METHODS) == 0 else 0.1, "temperature": 1.0,
             "seed": i} for i in range(size["models"])]


def largest_gap(a: list, b: list) -> float:
    return max(((p - q).abs().max() / q.abs().max().clamp_min(1e-30)).item()
               for m, n in zip(a, b) for p, q in zip(m.state_dict().values(), n.state_dict().values()))


def training(arch: str, size: dict) -> dict:
    x, y = data.load("mnist5k", "train")
    x, y = x[: size["train_images"]], y[: size["train_images"]]
    runs = settings(size)
    alone = [models.build(arch, "mnist5k", seed=s["seed"]) for s in runs]

    def one_at_a_time():
        for model, s in zip(alone, runs):
            train(model, x, y, s["method"], s["alpha"], s["temperature"], epochs=size["epochs"], seed=s["seed"],
                  device="cpu", progress=False, **RECIPE)
    stacked = [models.build(arch, "mnist5k", seed=s["seed"]) for s in runs]
    warm = [models.build(arch, "mnist5k", seed=s["seed"]) for s in runs[:2]]  # first calls build oneDNN's kernels
    train(warm[0], x[:200], y[:200], epochs=1, device="cpu", progress=False, **RECIPE)
    train_stack(warm, x[:200], y[:200], runs[:2], epochs=1, device="cpu", **RECIPE)
    seconds = {"alone": cpu_seconds(one_at_a_time),
               "stacked": cpu_seconds(lambda: train_stack(stacked, x, y, runs, epochs=size["epochs"], device="cpu",
                                                          **RECIPE))}
    # For scale: how far float noise alone moves the same training (each model alone, 2 torch threads instead of 1)
    threads = [models.build(arch, "mnist5k", seed=s["seed"]) for s in runs]
    torch.set_num_threads(2)
    for model, s in zip(threads, runs):
        train(model, x, y, s["method"], s["alpha"], s["temperature"], epochs=size["epochs"], seed=s["seed"], device="cpu",
              progress=False, **RECIPE)
    torch.set_num_threads(1)
    return {**seconds, "gap": largest_gap(stacked, alone), "threads_gap": largest_gap(threads, alone),
            "models": (alone, stacked)}


def attacking(trained: list, size: dict) -> dict:
    x, y = data.load_test_slice("mnist5k", 0, size["points"])
    trained = [model.eval() for model in trained]
    stacked = StackedModel(Stack(trained)).eval()
    x_all, y_all = x.repeat(len(trained), 1, 1, 1), y.repeat(len(trained))
    attack = lambda model, a, b: pgd(model, a, b, EPS, steps=size["steps"], random_start=False)  # noqa: E731
    attack(trained[0], x, y), attack(stacked, x_all, y_all)  # warm-up
    times = {"alone": [], "stacked": []}
    for _ in range(size["rounds"]):
        times["alone"].append(cpu_seconds(lambda: [attack(model, x, y) for model in trained]))
        times["stacked"].append(cpu_seconds(lambda: attack(stacked, x_all, y_all)))
    same = (torch.cat([attack(model, x, y) for model in trained]) == attack(stacked, x_all, y_all)).flatten(1).all(1)
    return {k: statistics.median(v) for k, v in times.items()} | {"same": same.float().mean().item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a check of the script")
    quick = parser.parse_args().quick
    size = SIZES["quick" if quick else "full"]
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    rows = {}
    for arch in ARCHS:
        fit = training(arch, size)
        rows[arch] = {"train": fit, "pgd": attacking(fit["models"][0], size)}
        print(f"{arch}: training {fit['alone']:.1f} s one at a time, {fit['stacked']:.1f} s stacked; "
              f"PGD {rows[arch]['pgd']['alone']:.2f} s, {rows[arch]['pgd']['stacked']:.2f} s", flush=True)
    M = size["models"]
    lines = [f"# {M} models stacked against one at a time, on one CPU core{' (quick: a check of the script)' if quick else ''}",
             "", f"torch {torch.__version__}, 1 torch thread, {os.cpu_count()} cores; "
             f"`python benchmarks/stacked.py{' --quick' if quick else ''}`. CPU time of the measuring thread; load average "
             f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end. Training: {size['epochs']} epoch(s) of "
             f"{size['train_images']} mnist5k images, the default recipe; PGD: {size['steps']} steps at eps {EPS}, "
             f"{size['points']} test images a model, no random start, median of {size['rounds']} round(s).", "",
             "| arch | training, one at a time (s) | stacked (s) | speed-up | largest weight difference | "
             "the same, 2 threads against 1 | PGD, one at a time (s) | stacked (s) | speed-up | same examples |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for arch, row in rows.items():
        fit, attack = row["train"], row["pgd"]
        lines.append(f"| {arch} | {fit['alone']:.2f} | {fit['stacked']:.2f} | {fit['alone'] / fit['stacked']:.2f}x | "
                     f"{fit['gap']:.1e} | {fit['threads_gap']:.1e} | {attack['alone']:.2f} | {attack['stacked']:.2f} | "
                     f"{attack['alone'] / attack['stacked']:.2f}x | {100 * attack['same']:.1f}% |")
    lenet = rows["lenet"]
    train_speedup = lenet["train"]["alone"] / lenet["train"]["stacked"]
    pgd_speedup = lenet["pgd"]["alone"] / lenet["pgd"]["stacked"]
    lines += ["", "Weight differences: the largest of a model between stacked and alone, relative to the tensor's largest "
              "weight (0: bit-identical); for scale, the same between the models trained alone with 2 torch threads and "
              "with 1 (float noise only, which training carries on).", ""]
    path = write_text(ROOT / "benchmarks" / "results" / f"stacked{'_quick' if quick else ''}.md", "\n".join(lines))
    print("\n".join(lines))
    print(f"written to {path}")
    print(f"stacked speedup train {train_speedup:.2f} pgd {pgd_speedup:.2f}")


if __name__ == "__main__":
    main()
