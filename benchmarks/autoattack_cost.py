"""What standard AutoAttack costs, in total and per component, on a mnist5k LeNet.

    python benchmarks/autoattack_cost.py [--n 300] [--eps 0.1] [--threads 1] [--epochs 5] [--quick]

Trains a LeNet on mnist5k (plain cross-entropy, seeded), then attacks the first n test images at eps
(Linf) with, each timed on its own:
- ``lsstudy.attacks.autoattack``: the ensemble as the study runs it (each attack only on the points
  every earlier one left robust), with the authors' settings;
- each of its four components alone, on all n points (APGD-CE, APGD-T, FAB-T, Square 5,000
  queries), so that their seconds add up to more than the ensemble's;
- the same ensemble at the default study's CPU budget (``confirm.autoattack`` in params.yaml);
- torchattacks.AutoAttack(version="standard") as shipped, whose white-box attacks run 10 iterations
  instead of 100: what the shortcut saves and what it misses.
Accuracy left counts a point only if it is correct clean and under attack (RobustBench).

Writes benchmarks/results/autoattack_cost.md. ``--quick`` (20 points, 1 epoch, 10 iterations, 100
queries) only checks that the script runs: it prints its table and writes nothing.
"""

import argparse
import os
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import torch
import torchattacks
from torch import Tensor

from lsstudy import data, models
from lsstudy.attacks.autoattack import autoattack, autoattack_components
from lsstudy.files import write_text
from lsstudy.train import predict, train

RESULT = Path(__file__).parent / "results" / "autoattack_cost.md"
QUICK = {"n": 20, "epochs": 1, "steps": 10, "queries": 100}


def timed(attack: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor) -> tuple[float, Tensor]:
    start = time.perf_counter()
    x_adv = attack(x, y)
    return time.perf_counter() - start, x_adv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="test points attacked")
    parser.add_argument("--eps", type=float, default=0.1, help="Linf budget, [0, 1] pixel units")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of the LeNet")
    parser.add_argument("--quick", action="store_true", help="a tiny run that checks the script; writes nothing")
    args = parser.parse_args()
    steps, queries = 100, 5000
    if args.quick:
        args.n, args.epochs, steps, queries = QUICK["n"], QUICK["epochs"], QUICK["steps"], QUICK["queries"]

    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    model = models.build("lenet", "mnist5k", seed=0)
    train(model, *data.load("mnist5k", "train"), epochs=args.epochs, lr=0.05, seed=0, device="cpu", progress=False)
    model.eval()
    x, y = (t[: args.n] for t in data.load("mnist5k", "test"))
    clean_correct = predict(model, x).argmax(1) == y

    with torch.no_grad():
        num_classes = model(x[:1]).shape[1]
    settings = f"{steps} iterations, {queries} queries"
    runs = {f"AutoAttack (lsstudy.attacks.autoattack, {settings})":
            lambda x, y: autoattack(model, x, y, args.eps, steps=steps, queries=queries)}
    runs["AutoAttack at the default study's CPU budget (10 iterations, 3 target classes, 200 queries)"] = (
        lambda x, y: autoattack(model, x, y, args.eps, steps=10, queries=200, targets=3))
    for name, attack in autoattack_components(model, args.eps, num_classes, steps, queries).items():
        runs[f"{name} alone"] = attack
    runs["torchattacks.AutoAttack(version='standard') as shipped (10 iterations)"] = torchattacks.AutoAttack(
        model, norm="Linf", eps=args.eps, version="standard", n_classes=num_classes, seed=0)

    lines = [f"AutoAttack ({settings}; standard: 100 and 5000), Linf eps {args.eps}, on the first {args.n} "
             f"mnist5k test points; LeNet, {args.epochs} training epoch(s), clean accuracy "
             f"{clean_correct.float().mean():.3f}.",
             f"{date.today()}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"{torch.get_num_threads()} torch thread(s), load average {load:.2f} at the start; torch "
             f"{torch.__version__}, torchattacks {torchattacks.__version__}.", "",
             "| attack | seconds | accuracy left |", "| --- | --- | --- |"]
    for name, attack in runs.items():
        seconds, x_adv = timed(attack, x, y)
        left = (clean_correct & (predict(model, x_adv).argmax(1) == y)).float().mean().item()
        lines.append(f"| {name} | {seconds:.1f} | {left:.3f} |")
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.quick:
        print("--quick: nothing written")
    else:
        print(f"wrote {write_text(RESULT, table)}")


if __name__ == "__main__":
    main()
