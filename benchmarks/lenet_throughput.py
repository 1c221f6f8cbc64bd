"""LeNet's speed on one CPU core against that core's float32 GEMM rate: PGD and training, plain and as lsstudy computes it.

    python benchmarks/lenet_throughput.py           # about 2 minutes
    python benchmarks/lenet_throughput.py --quick   # a check of the script, well under a minute

One torch thread. Every row is measured once per round, in turn, so that the drifts of a shared machine hit all
rows alike; each number is the median over the rounds. Times are this thread's CPU time (``time.thread_time``): the
work of one core, whatever else the machine runs (on an idle machine it is the wall-clock time).
- GEMM: a 2048 x 2048 float32 matmul into a preallocated output, 2 n^3 FLOPs.
- PGD: ``lsstudy.attacks.gradient.pgd`` on cross-entropy, 10 steps, eps 0.1, on 500 test images (1 epoch-trained
  models): image-steps/s, and GFLOP/s from the FLOPs torch's FlopCounterMode counts in one step (forward and input
  gradient) of the plain network. lsstudy's LeNet computes the same function with more arithmetic (the zeros of its
  phase and block kernels): its rate counts the plain network's FLOPs, the useful ones.
- training: forward, backward and an SGD step (momentum 0.9) on batches of 100 in train mode (dropout on):
  images/s, and GFLOP/s from the FLOPs of one step of the plain network likewise.
Rows: the MNIST and CIFAR LeNets as PyTorch's example networks compute them (plain F.conv2d and F.max_pool2d: lsstudy
before ``lsstudy.conv_pool``) and as lsstudy computes them now, and the MNIST MLP for context.
Writes benchmarks/results/lenet_throughput[_quick].md; the last line printed is ``lenet <percent>% of gemm``.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsstudy import data, models  # noqa: E402
from lsstudy.attacks.gradient import pgd  # noqa: E402
from lsstudy.files import write_text  # noqa: E402
from lsstudy.train import train  # noqa: E402

SIZES = {"full": {"rounds": 7, "points": 500, "steps": 10, "train_batches": 20, "epochs": 1},
         "quick": {"rounds": 1, "points": 100, "steps": 2, "train_batches": 3, "epochs": 0}}
GEMM_SIZE, BATCH, EPS = 2048, 100, 0.1


def plain_mnist(lenet: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """PyTorch's MNIST example network, with the LeNet's parameters."""
    x = F.relu(F.max_pool2d(F.conv2d(x, lenet.conv1.weight, lenet.conv1.bias), 2))
    x = F.relu(F.max_pool2d(F.dropout2d(F.conv2d(x, lenet.conv2.weight, lenet.conv2.bias), training=lenet.training), 2))
    x = F.relu(F.linear(x.flatten(1), lenet.fc1.weight, lenet.fc1.bias))
    return F.linear(F.dropout(x, training=lenet.training), lenet.fc2.weight, lenet.fc2.bias)


def plain_cifar(lenet: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """PyTorch's CIFAR-10 tutorial network, with the LeNet's parameters."""
    conv1, conv2 = lenet.features[0], lenet.features[3]
    x = F.max_pool2d(F.relu(F.conv2d(x, conv1.weight, conv1.bias)), 2)
    x = F.max_pool2d(F.relu(F.conv2d(x, conv2.weight, conv2.bias)), 2).flatten(1)
    fc1, fc2, fc3 = (m for m in lenet.classifier if isinstance(m, nn.Linear))
    return F.linear(F.relu(F.linear(F.relu(F.linear(x, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)), fc3.weight, fc3.bias)


class Plain(nn.Module):
    """A LeNet computed by the plain network: lsstudy's LeNet before conv_pool."""

    def __init__(self, model: nn.Module, dataset: str):
        super().__init__()
        self.model, self.forward_plain = model, plain_mnist if dataset == "mnist5k" else plain_cifar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_plain(self.model[1], self.model[0](x))


def cpu_seconds(work) -> float:
    start = time.thread_time()
    work()
    return time.thread_time() - start


def gemm_rate() -> float:
    a, b, out = torch.randn(GEMM_SIZE, GEMM_SIZE), torch.randn(GEMM_SIZE, GEMM_SIZE), torch.empty(GEMM_SIZE, GEMM_SIZE)
    return 3 * 2 * GEMM_SIZE**3 / cpu_seconds(lambda: [torch.mm(a, b, out=out) for _ in range(3)]) / 1e9


def step_flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor, training: bool) -> int:
    """FLOPs of one step as FlopCounterMode counts them: with the weights' gradient (training) or the input's only
    (an attack step; .backward() with frozen weights, which FlopCounterMode follows, where it cannot autograd.grad)."""
    model.train(training)
    parameters = list(model.parameters())
    if not training:
        for p in parameters:
            p.requires_grad_(False)
        x = x.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    for p in parameters:
        p.requires_grad_(True)
        p.grad = None
    return counter.get_total_flops()


def trained(arch: str, dataset: str, epochs: int) -> nn.Module:
    model = models.build(arch, dataset, seed=0)
    if epochs:
        x, y = data.load(dataset, "train")
        train(model, x, y, epochs=epochs, lr=0.05, seed=0, device="cpu", progress=False)
    return model.eval()


def rows(size: dict) -> dict:
    """name -> (the model measured, the model whose FLOPs count: the plain network, dataset)."""
    mnist, cifar = trained("lenet", "mnist5k", size["epochs"]), trained("lenet", "cifar10_5k", size["epochs"])
    plain_mnist_, plain_cifar_, mlp = Plain(mnist, "mnist5k"), Plain(cifar, "cifar10_5k"), trained("mlp", "mnist5k", size["epochs"])
    return {"MNIST LeNet, plain (before)": (plain_mnist_, plain_mnist_, "mnist5k"),
            "MNIST LeNet, lsstudy (now)": (mnist, plain_mnist_, "mnist5k"),
            "CIFAR LeNet, plain (before)": (plain_cifar_, plain_cifar_, "cifar10_5k"),
            "CIFAR LeNet, lsstudy (now)": (cifar, plain_cifar_, "cifar10_5k"),
            "MNIST MLP (context)": (mlp, mlp, "mnist5k")}


def measure(size: dict) -> dict:
    models_ = rows(size)
    points = {d: data.load_test_slice(d, 0, size["points"]) for d in ["mnist5k", "cifar10_5k"]}
    batches = {}
    for dataset in points:
        x, y = data.load(dataset, "train")
        batches[dataset] = [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, BATCH * size["train_batches"], BATCH)]
    flops = {name: {"pgd": step_flops(counted, points[d][0][:BATCH], points[d][1][:BATCH], False) / BATCH,
                    "train": step_flops(counted, *batches[d][0], True) / BATCH}
             for name, (_, counted, d) in models_.items()}

    def attack(model, dataset):
        x, y = points[dataset]
        model.eval()
        return len(x) * size["steps"] / cpu_seconds(lambda: pgd(model, x, y, EPS, steps=size["steps"]))

    def fit(model, dataset):
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)  # lr 0: every round the same weights

        def steps():
            for x, y in batches[dataset]:
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        rate = BATCH * len(batches[dataset]) / cpu_seconds(steps)
        model.eval()
        return rate

    for model, _, dataset in models_.values():  # warm-up: oneDNN builds its kernels on first use
        attack(model, dataset), fit(model, dataset)
    samples = {"gemm": []} | {(name, kind): [] for name in models_ for kind in ["pgd", "train"]}
    for _ in range(size["rounds"]):
        samples["gemm"].append(gemm_rate())
        for name, (model, _, dataset) in models_.items():
            samples[(name, "pgd")].append(attack(model, dataset))
            samples[(name, "train")].append(fit(model, dataset))
    return {"medians": {key: statistics.median(values) for key, values in samples.items()}, "flops": flops,
            "same": {name: same_examples(models_[f"{name} LeNet, plain (before)"][0],
                                         models_[f"{name} LeNet, lsstudy (now)"][0], *points[dataset], size["steps"])
                     for name, dataset in [("MNIST", "mnist5k"), ("CIFAR", "cifar10_5k")]}}


def same_examples(plain: nn.Module, now: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> dict:
    """The largest logit difference, plain and now, and the share of the points whose PGD example (same random
    start) is the same."""
    plain.eval(), now.eval()
    with torch.no_grad():
        logits = (now(x) - plain(x)).abs().max().item()
    adversarial = [pgd(m, x, y, EPS, steps=steps, generator=torch.Generator().manual_seed(0)) for m in (plain, now)]
    return {"logits": logits, "examples": (adversarial[0] == adversarial[1]).flatten(1).all(1).float().mean().item()}


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def report(quick: bool, size: dict, result: dict, load: tuple) -> tuple[str, float]:
    medians, flops = result["medians"], result["flops"]
    gemm = medians["gemm"]
    lines = [f"# LeNet throughput on one CPU core{' (quick: a check of the script)' if quick else ''}", "",
             f"{cpu_name()} ({platform.machine()}), {os.cpu_count()} cores, torch {torch.__version__}, "
             f"{torch.get_num_threads()} torch thread; `python benchmarks/lenet_throughput.py{' --quick' if quick else ''}`. "
             f"Medians of {size['rounds']} round(s), each row once a round in turn; CPU time of the measuring thread. "
             f"Load average {load[0]:.1f} at the start, {load[1]:.1f} at the end.", "",
             f"Float32 GEMM ({GEMM_SIZE} x {GEMM_SIZE} matmul): **{gemm:.1f} GFLOP/s**.", "",
             f"PGD: `lsstudy.attacks.gradient.pgd`, cross-entropy, {size['steps']} steps, eps {EPS}, {size['points']} test "
             f"images; training: forward, backward, SGD step on batches of {BATCH}, train mode. GFLOP/s count the FLOPs of "
             "the plain network (FlopCounterMode: forward and input gradient for PGD, forward and weight gradients for "
             "training), the useful ones, for both ways of computing it.", "",
             "| model | PGD image-steps/s | PGD GFLOP/s | PGD % of GEMM | training images/s | training GFLOP/s | "
             "training % of GEMM | MFLOP per image: PGD step, training step |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in flops:
        pgd_rate, train_rate = medians[(name, "pgd")], medians[(name, "train")]
        pgd_gflops, train_gflops = pgd_rate * flops[name]["pgd"] / 1e9, train_rate * flops[name]["train"] / 1e9
        lines.append(f"| {name} | {pgd_rate:,.0f} | {pgd_gflops:.1f} | {100 * pgd_gflops / gemm:.1f}% | "
                     f"{train_rate:,.0f} | {train_gflops:.1f} | {100 * train_gflops / gemm:.1f}% | "
                     f"{flops[name]['pgd'] / 1e6:.2f}, {flops[name]['train'] / 1e6:.2f} |")
    speedups = []
    for dataset in ["MNIST", "CIFAR"]:
        before, now = f"{dataset} LeNet, plain (before)", f"{dataset} LeNet, lsstudy (now)"
        speedups.append(f"{dataset} LeNet {medians[(now, 'pgd')] / medians[(before, 'pgd')]:.2f}x PGD, "
                        f"{medians[(now, 'train')] / medians[(before, 'train')]:.2f}x training")
    percent = 100 * medians[("MNIST LeNet, lsstudy (now)", "pgd")] * flops["MNIST LeNet, lsstudy (now)"]["pgd"] / 1e9 / gemm
    same = result["same"]
    lines += ["", f"Speed-up of lsstudy's LeNets over the plain networks: {'; '.join(speedups)}. "
              f"PGD on the MNIST LeNet at **{percent:.1f}%** of the GEMM rate (target: at least 40%).", "",
              "Same numbers, plain and now: largest logit difference " +
              ", ".join(f"{name} LeNet {v['logits']:.1e}" for name, v in same.items()) +
              "; PGD examples from the same random start identical on " +
              ", ".join(f"{name} LeNet {100 * v['examples']:.1f}%" for name, v in same.items()) +
              " of the points (elsewhere an input-gradient component within float noise of 0 took the other sign; "
              "tests/test_conv_pool.py holds gradients to 1e-5 of the plain networks').", ""]
    return "\n".join(lines), percent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a check of the script")
    quick = parser.parse_args().quick
    torch.set_num_threads(1)
    size = SIZES["quick" if quick else "full"]
    start_load = os.getloadavg()[0]
    result = measure(size)
    text, percent = report(quick, size, result, (start_load, os.getloadavg()[0]))
    path = write_text(ROOT / "benchmarks" / "results" / f"lenet_throughput{'_quick' if quick else ''}.md", text)
    print(text)
    print(f"written to {path}")
    print(f"lenet {percent:.0f}% of gemm")


if __name__ == "__main__":
    main()
