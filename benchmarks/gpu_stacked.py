"""The stacked engine on one GPU: 64 MNIST LeNets and 64 CIFAR LeNets trained and attacked as stacks, against one at a time.

    PYTHONPATH=. python3 benchmarks/gpu_stacked.py           # on a GPU machine (one H100 or H200: about 3 minutes)
    PYTHONPATH=. python3 benchmarks/gpu_stacked.py --tiny    # anywhere, the same code paths at a tiny size (a CPU check)

It imports only what a bare GPU machine has (torch, pandas, tqdm, pyyaml). Measured, each on the study's float32 code,
for the LeNets of mnist5k and of cifar10_5k:
1. the engine (``lsstudy.grid.training.train_runs``) training 64 LeNets (seeds 0 to 63, no smoothing and ALS at
   alpha 0.1 in turn) for 5 epochs of the default study's recipe: one at a time (``engine.stack`` 1) against one stack
   of 64 (``engine.stack`` 64); seconds, speed-up, mean clean accuracy, the largest weight difference between the two;
2. PGD (cross-entropy, 10 steps, eps 0.1 on MNIST and 8/255 on CIFAR-10, 500 test images a model; no random start:
   starts by point, ``point_seeds``, are drawn on the CPU, the same either way) on the 64 trained models: one at a time
   against one ``StackedModel`` of the 64 on the 32,000 images; the share of the points whose example is the same;
3. lsstudy's choice of the LeNets' first layer on a GPU: PGD on one MNIST LeNet with ``conv_pool``'s phases against the
   plain cuDNN convolution lsstudy uses there.
Writes benchmarks/results/gpu_stacked[_tiny].md, and a copy to $OUT when that is set.
"""

import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsstudy import data, models  # noqa: E402
from lsstudy.attacks.gradient import pgd  # noqa: E402
from lsstudy.conv_pool import conv_pool, max_pool  # noqa: E402
from lsstudy.grid.runs import RunConfig  # noqa: E402
from lsstudy.grid.training import train_runs  # noqa: E402
from lsstudy.stacked import Stack, StackedModel  # noqa: E402

from device_report import tiny_requested, write_report  # noqa: E402  (benchmarks/, the script's folder)

SIZES = {"full": {"models": 64, "epochs": 5, "points": 500, "steps": 10, "layer_points": 1000},
         "tiny": {"models": 2, "epochs": 1, "points": 20, "steps": 2, "layer_points": 20}}
DATASETS = {"mnist5k": 0.1, "cifar10_5k": 8 / 255}  # and their eps
RECIPE = {"archs": ["lenet"], "lr": 0.05, "momentum": 0.9, "batch_size": 100, "val_fraction": 0.1, "patience": 5,
          "plateau_loss": "ce"}  # the default study's


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work) -> float:
    synchronize(device)
    start = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - start


def engine(stack: int) -> dict:
    return {"executor": "local", "workers": 1, "threads_per_unit": 1, "gpus_per_unit": 1.0, "stack": stack}


def training(dataset: str, size: dict, scratch: Path, device: torch.device) -> dict:
    runs = [RunConfig(dataset, "lenet", "none" if i % 2 == 0 else "adversarial", 0.0 if i % 2 == 0 else 0.1, 1.0, i)
            for i in range(size["models"])]
    base = {"dataset": dataset, "seeds": [0], "test_offset": 0, "test_size": 500}
    recipe = {**RECIPE, "epochs": size["epochs"]}
    out = {}
    for name, stack in [("alone", 1), ("stacked", size["models"])]:
        folder = scratch / dataset / name
        seconds = timed(device, lambda: train_runs("gpu-stacked", runs, folder, base, recipe, engine(stack),
                                                   {"root": "data/raw", "download": False}, ROOT, say=lambda _: None))
        trained = [models.load(run.checkpoint(folder), device)[0] for run in runs]
        out[name] = {"seconds": seconds, "models": trained,
                     "clean": sum(models.read_meta(run.checkpoint(folder))["clean_accuracy"] for run in runs) / len(runs)}
    gap = max(((p - q).abs().max() / q.abs().max().clamp_min(1e-30)).item()
              for a, b in zip(out["stacked"]["models"], out["alone"]["models"])
              for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    return {**out, "gap": gap, "speedup": out["alone"]["seconds"] / out["stacked"]["seconds"]}


def attacking(dataset: str, trained: list, size: dict, device: torch.device) -> dict:
    x, y = data.load_test_slice(dataset, 0, size["points"])
    x, y = x.to(device), y.to(device)
    stacked = StackedModel(Stack(trained)).to(device).eval()
    x_all, y_all = x.repeat(len(trained), 1, 1, 1), y.repeat(len(trained))
    attack = lambda model, a, b: pgd(model, a, b, DATASETS[dataset], steps=size["steps"], random_start=False)  # noqa: E731
    attack(trained[0], x, y), attack(stacked, x_all, y_all)  # warm-up
    alone = timed(device, lambda: [attack(model, x, y) for model in trained])
    together = timed(device, lambda: attack(stacked, x_all, y_all))
    same = (torch.cat([attack(model, x, y) for model in trained]) == attack(stacked, x_all, y_all)).flatten(1).all(1)
    return {"alone": alone, "stacked": together, "speedup": alone / together, "same": same.float().mean().item()}


class Phased(nn.Module):
    """The MNIST LeNet with conv_pool's phases on any device (lsstudy.models.LeNetMNIST computes them on a CPU only)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lenet = self.model[1]
        x = F.relu(conv_pool(self.model[0](x), lenet.conv1, phases=True))
        x = F.relu(max_pool(lenet.conv2_drop(lenet.conv2(x))))
        return lenet.fc2(F.dropout(F.relu(lenet.fc1(x.flatten(1))), training=lenet.training))


def first_layer(model: nn.Module, size: dict, device: torch.device) -> dict:
    x, y = data.load_test_slice("mnist5k", 0, size["layer_points"])
    x, y = x.to(device), y.to(device)
    out = {}
    for name, forward in [("plain", model.eval()), ("phases", Phased(model).eval())]:
        pgd(forward, x, y, 0.1, steps=1, random_start=False)  # warm-up
        out[name] = len(x) * size["steps"] / timed(device, lambda: pgd(forward, x, y, 0.1, steps=size["steps"],
                                                                        random_start=False))
    return out


def report(device: torch.device, tiny: bool, size: dict, rows: dict, layer: dict) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    M = size["models"]
    lines = [f"# Stacked LeNets on one GPU ({'tiny sizes, a check of the script' if tiny else 'full'}): {name}", "",
             f"torch {torch.__version__}; `PYTHONPATH=. python3 benchmarks/gpu_stacked.py{' --tiny' if tiny else ''}`; "
             "the study's float32 code, one measurement each (after a warm-up).", "",
             "| what | measured |", "| --- | --- |"]
    for dataset, row in rows.items():
        fit, attack = row["train"], row["pgd"]
        lines += [
            f"| engine: {M} {dataset} LeNets x {size['epochs']} epochs, one at a time | {fit['alone']['seconds']:.1f} s "
            f"(mean clean accuracy {fit['alone']['clean']:.3f}) |",
            f"| engine: the same as one stack of {M} (engine.stack {M}) | {fit['stacked']['seconds']:.1f} s (mean clean "
            f"accuracy {fit['stacked']['clean']:.3f}); speed-up **{fit['speedup']:.2f}x**; largest weight difference "
            f"{fit['gap']:.1e} |",
            f"| PGD ({size['steps']} steps) on the {M} {dataset} LeNets, {size['points']} images each, one at a time | "
            f"{attack['alone']:.2f} s |",
            f"| the same, one StackedModel on the {M * size['points']} images | {attack['stacked']:.2f} s; speed-up "
            f"**{attack['speedup']:.2f}x**; same examples on {100 * attack['same']:.1f}% of the points |"]
    lines += [f"| PGD on one MNIST LeNet ({size['layer_points']} images): image-steps/s with cuDNN's plain first layer "
              f"(lsstudy on a GPU) and with conv_pool's phases | {layer['plain']:,.0f} and {layer['phases']:,.0f} |", ""]
    return "\n".join(lines)


def main() -> None:
    tiny = tiny_requested(__doc__.splitlines()[0])
    size = SIZES["tiny" if tiny else "full"]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started, rows = time.perf_counter(), {}
    with tempfile.TemporaryDirectory() as scratch:
        for dataset in DATASETS:
            fit = training(dataset, size, Path(scratch), device)
            rows[dataset] = {"train": fit, "pgd": attacking(dataset, fit["alone"]["models"], size, device)}
            print(f"{dataset}: training {fit['speedup']:.2f}x, PGD {rows[dataset]['pgd']['speedup']:.2f}x "
                  f"({time.perf_counter() - started:.0f} s in)", flush=True)
    layer = first_layer(rows["mnist5k"]["train"]["alone"]["models"][0], size, device)
    write_report("gpu_stacked", tiny, report(device, tiny, size, rows, layer))


if __name__ == "__main__":
    main()
