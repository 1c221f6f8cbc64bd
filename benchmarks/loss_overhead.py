"""Extra training-step time of each label-smoothing loss over plain F.cross_entropy.

The paper claims label smoothing costs nothing: it only changes the target of the cross-entropy.
This measures one SGD step (forward, loss, backward, update) of the MNIST LeNet on mnist5k batches
of 100, for F.cross_entropy and for LabelSmoothingLoss with every built-in method. Rounds interleave
the losses, in a rotating order, so that drifts of the machine hit all of them alike; the overhead is
the ratio of medians.

    python benchmarks/loss_overhead.py [--steps 40] [--rounds 15]

Writes benchmarks/results/loss_overhead.json and .md.
"""

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

from lsstudy import data, models
from lsstudy.smoothing import LabelSmoothingLoss

RESULTS = Path(__file__).parent / "results"
METHODS = ["none", "standard", "adversarial", "boltzmann", "second_best"]


def step_time(model, optimizer, loss_fn, batches) -> float:
    """Seconds per training step, averaged over ``batches``."""
    start = time.perf_counter()
    for x, y in batches:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    torch.manual_seed(0)
    x, y = data.load("mnist5k", "train")
    batches = [(x[i : i + 100], y[i : i + 100]) for i in range(0, 100 * args.steps, 100)]
    model = models.build("lenet", "mnist5k", seed=0).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = {"F.cross_entropy": F.cross_entropy} | {m: LabelSmoothingLoss(m, 0.1, temperature=1.0) for m in METHODS}

    step_time(model, optimizer, F.cross_entropy, batches)  # warm-up
    times = {name: [] for name in losses}
    names = list(losses)
    for round_ in range(args.rounds):
        # rotate the order each round so that no loss always runs first (or right after another)
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            times[name].append(step_time(model, optimizer, losses[name], batches))

    reference = statistics.median(times["F.cross_entropy"])
    rows = [{"loss": name, "median_step_ms": 1e3 * statistics.median(t),
             "overhead_percent": 100 * (statistics.median(t) / reference - 1)} for name, t in times.items()]
    record = {"date": str(date.today()), "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "torch": torch.__version__, "threads": torch.get_num_threads(), "steps": args.steps, "rounds": args.rounds,
              "model": "lenet on mnist5k, batch 100, SGD", "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "loss_overhead.json").write_text(json.dumps(record, indent=2))
    lines = [f"Training-step time, {record['model']}; {record['machine']}, torch {record['torch']}, {record['date']}.",
             f"Median of {args.rounds} interleaved rounds of {args.steps} steps.", "",
             "| loss | median step (ms) | overhead vs F.cross_entropy |", "| --- | --- | --- |"]
    lines += [f"| {r['loss']} | {r['median_step_ms']:.2f} | {r['overhead_percent']:+.1f}% |" for r in rows]
    (RESULTS / "loss_overhead.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
