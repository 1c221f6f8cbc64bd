"""Speed and strength of lsstudy's DeepFool and CW-L2 against torchattacks 3.5.1, on a mnist5k LeNet.

    python benchmarks/attacks_vs_torchattacks.py [--n 500] [--batch-size 100] [--threads 1]

Trains a LeNet on mnist5k (plain cross-entropy, seeded), attacks the first n test images with each
implementation and writes benchmarks/results/attacks_vs_torchattacks.json and .md.

What is compared, and why it is fair:
- Every implementation sees the same batches; the batches are interleaved (batch 1 by every
  attack, then batch 2, ...) so a change in machine load hits all of them alike.
- Success rate and L2 are measured here, the same way for all: over the test points the model
  classifies correctly, success = the returned point is misclassified, L2 = ||x_adv - x||_2.
  Medians are given over each attack's own successes and over the points both attacks of a pair
  flip (the fair comparison of sizes: an attack that fails on hard points has a smaller median).
- DeepFool: both with steps=50, overshoot=0.02.
- CW-L2: torchattacks has one fixed c and no binary search. Ours starts at c=1 with 5 search steps of
  100 Adam steps; torchattacks runs with c=1 and the same total of 500 Adam steps (the reference for
  the targets), and with 100 steps (the same steps per value of c). Same kappa=0 and lr, for each lr
  in --cw-lr.
Targets: our DeepFool >= 10x faster with median L2 at most 5% larger; our CW no slower, median L2 no larger.
"""

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torchattacks
from torch import Tensor

from lsstudy import data, models
from lsstudy.attacks.cw import cw_l2
from lsstudy.attacks.deepfool import deepfool
from lsstudy.train import predict, train

RESULTS = Path(__file__).parent / "results"
DEEPFOOL = {"steps": 50, "overshoot": 0.02}
CW = {"c": 1.0, "kappa": 0.0, "steps": 100, "search_steps": 5}
MET = {True: "yes", False: "no", None: "-"}


@dataclass
class Runner:
    attack: str
    implementation: str
    settings: str
    run: Callable[[Tensor, Tensor], Tensor]  # (x, y) -> x_adv
    is_target_reference: bool = True  # the torchattacks setting the targets are judged against
    seconds: float = 0.0


def runners(model: torch.nn.Module, cw_lrs: list[float]) -> list[Runner]:
    out = [
        Runner("deepfool", "lsstudy", "steps=50, overshoot=0.02", lambda x, y: deepfool(model, x, y, **DEEPFOOL)[0]),
        Runner("deepfool", "torchattacks", "steps=50, overshoot=0.02", torchattacks.DeepFool(model, **DEEPFOOL)),
    ]
    total_steps = CW["steps"] * CW["search_steps"]
    for lr in cw_lrs:
        out += [
            Runner(f"cw_l2 lr={lr}", "lsstudy",
                   f"c=1 start, binary search {CW['search_steps']} x {CW['steps']} steps, each from the last",
                   lambda x, y, lr=lr: cw_l2(model, x, y, lr=lr, **CW)[0]),
            Runner(f"cw_l2 lr={lr}", "torchattacks", f"c=1 fixed, {total_steps} steps (same total)",
                   torchattacks.CW(model, c=CW["c"], kappa=CW["kappa"], steps=total_steps, lr=lr)),
            Runner(f"cw_l2 lr={lr}", "torchattacks", f"c=1 fixed, {CW['steps']} steps (same per c)",
                   torchattacks.CW(model, c=CW["c"], kappa=CW["kappa"], steps=CW["steps"], lr=lr), False),
        ]
    return out


def median(values: Tensor) -> float | None:
    return values.median().item() if len(values) else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarise(runner: Runner, x: Tensor, y: Tensor, x_adv: Tensor, correct: Tensor, model) -> dict:
    flipped = correct & (predict(model, x_adv).argmax(dim=1) != y)
    l2 = (x_adv - x).flatten(1).norm(dim=1)
    return {"attack": runner.attack, "implementation": runner.implementation, "settings": runner.settings,
            "seconds": round(runner.seconds, 2), "success_rate": flipped.sum().item() / correct.sum().item(),
            "median_l2": median(l2[flipped]), "is_target_reference": runner.is_target_reference,
            "flipped": flipped, "l2": l2}


def compare(ours: dict, theirs: dict) -> dict:
    both = ours["flipped"] & theirs["flipped"]
    row = {"attack": ours["attack"], "reference": theirs["settings"], "common_successes": int(both.sum()),
           "time_ratio": theirs["seconds"] / ours["seconds"],
           "median_l2_ratio_own_successes": ratio(ours["median_l2"], theirs["median_l2"]),
           "median_l2_ratio_common_successes": ratio(median(ours["l2"][both]), median(theirs["l2"][both]))}
    common = row["median_l2_ratio_common_successes"]
    if not theirs["is_target_reference"]:
        row["target"], row["met"] = "context only", None
    elif ours["attack"] == "deepfool":
        row["target"] = ">= 10x faster, median L2 at most 5% larger (common successes)"
        row["met"] = row["time_ratio"] >= 10 and common is not None and common <= 1.05
    else:
        row["target"] = "no slower, median L2 no larger (common successes)"
        row["met"] = row["time_ratio"] >= 1 and common is not None and common <= 1
    return row


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown(machine: dict, setup: dict, rows: list[dict], comparisons: list[dict]) -> str:
    lines = [
        "# lsstudy attacks vs torchattacks",
        "",
        f"{machine['date']}; {machine['cpu_count']} cores, {machine['torch_threads']} torch threads, "
        f"load average {machine['load_average_start']} at start; torch {machine['torch']}, "
        f"torchattacks {machine['torchattacks']}, Python {machine['python']}.",
        f"LeNet trained {setup['epochs']} epochs on mnist5k (clean accuracy {setup['clean_accuracy']:.3f} on the "
        f"{setup['n']} attacked test images, {setup['correct']} correct); batches of {setup['batch_size']}.",
        "Success rate over correctly classified points; medians over the attack's own successes.",
        "torchattacks' CW has one fixed c (no binary search) and stops when its cost stalls at a check every",
        "tenth of its steps; ours applies the same stall rule to each of its search steps.",
        "",
        "| attack | implementation | settings | time (s) | success | median L2 |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['attack']} | {r['implementation']} | {r['settings']} | {r['seconds']:.1f} | "
                     f"{r['success_rate']:.3f} | {_fmt(r['median_l2'])} |")
    lines += ["", "| attack | vs torchattacks | speed-up | L2 ratio, own successes | L2 ratio, common successes "
              "(n) | target | met |", "| --- | --- | ---: | ---: | ---: | --- | --- |"]
    for c in comparisons:
        own, common = (_fmt(c[k]) for k in ("median_l2_ratio_own_successes", "median_l2_ratio_common_successes"))
        lines.append(f"| {c['attack']} | {c['reference']} | {c['time_ratio']:.2f}x | "
                     f"{own} | {common} ({c['common_successes']}) | "
                     f"{c['target']} | {MET[c['met']]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="number of test images attacked")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--cw-lr", type=float, nargs="+", default=[0.01, 0.1], help="Adam learning rates for CW")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = models.build("lenet", "mnist5k")
    train(model, *data.load("mnist5k", "train"), epochs=args.epochs, lr=0.05, seed=args.seed, device="cpu",
          progress=False)
    x, y = (t[: args.n] for t in data.load("mnist5k", "test"))
    correct = predict(model, x).argmax(dim=1) == y
    machine = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu_count": os.cpu_count(),
               "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
               "torchattacks": torchattacks.__version__, "python": platform.python_version(),
               "platform": platform.platform(), "load_average_start": round(os.getloadavg()[0], 2)}

    todo = runners(model, args.cw_lr)
    adversarial = {id(r): [] for r in todo}
    for start in range(0, args.n, args.batch_size):
        xb, yb = x[start : start + args.batch_size], y[start : start + args.batch_size]
        for r in todo:
            began = time.perf_counter()
            adversarial[id(r)].append(r.run(xb, yb).detach())
            r.seconds += time.perf_counter() - began
            print(f"images {start}-{start + len(xb)}: {r.attack} {r.implementation} ({r.settings}) "
                  f"{r.seconds:.1f} s so far", flush=True)
    machine["load_average_end"] = round(os.getloadavg()[0], 2)

    summaries = [summarise(r, x, y, torch.cat(adversarial[id(r)]), correct, model) for r in todo]
    comparisons = []
    for ours in (s for s in summaries if s["implementation"] == "lsstudy"):
        for theirs in (s for s in summaries if s["attack"] == ours["attack"] and s["implementation"] == "torchattacks"):
            comparisons.append(compare(ours, theirs))
    rows = [{k: v for k, v in s.items() if k not in ("is_target_reference", "flipped", "l2")} for s in summaries]
    setup = {"n": args.n, "batch_size": args.batch_size, "epochs": args.epochs, "seed": args.seed,
             "clean_accuracy": correct.float().mean().item(), "correct": int(correct.sum()),
             "deepfool": DEEPFOOL, "cw": {**CW, "lr": args.cw_lr}}

    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / "attacks_vs_torchattacks.json", RESULTS / "attacks_vs_torchattacks.md"
    json_path.write_text(json.dumps({"machine": machine, "setup": setup, "results": rows,
                                     "comparisons": comparisons}, indent=2) + "\n")
    md_path.write_text(markdown(machine, setup, rows, comparisons))
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
