"""The GPU check: what the paper-scale study costs on one GPU, measured with the study's own code.

    PYTHONPATH=. python3 benchmarks/gpu.py           # on a GPU machine (one H100: about 3 minutes)
    PYTHONPATH=. python3 benchmarks/gpu.py --tiny    # anywhere, the same code paths at a tiny size (a CPU check)

It imports only what a bare GPU machine has (torch, pandas, tqdm, pyyaml) plus torchattacks, which can travel
as a wheel. Measured, each on the study's float32 code:
1. ResNet18 (CIFAR variant) training throughput at the paper's batch size (100) with the ALS loss and plain
   SGD, on synthetic tensors of CIFAR-10's shape: images per second and the implied time of one
   50,000-image epoch;
2. APGD-CE (torchattacks, 100 steps) on 1,000 images against that ResNet18: steps per second;
3. the engine packing several small models on one GPU: 16 CIFAR LeNets trained 20 epochs on the shipped cifar10_5k,
   one at a time (workers 1) against 4 at a time (gpus_per_unit 0.25);
4. CPU against GPU: one LeNet epoch with the same seed on both, how far the weights and accuracy move.
Writes benchmarks/results/gpu[_tiny].md, and a copy to $OUT when that is set.
"""

import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsstudy import data, models  # noqa: E402
from lsstudy.attacks.autoattack import apgd  # noqa: E402
from lsstudy.grid.runs import RunConfig  # noqa: E402
from lsstudy.grid.training import train_runs  # noqa: E402
from lsstudy.smoothing import LabelSmoothingLoss  # noqa: E402
from lsstudy.train import predict, train  # noqa: E402

from device_report import tiny_requested, write_report  # noqa: E402  (benchmarks/, the script's folder)

SIZES = {"full": {"warmup": 20, "steps": 200, "attack_points": 1000, "attack_steps": 100, "models": 16, "epochs": 20},
         "tiny": {"warmup": 1, "steps": 3, "attack_points": 20, "attack_steps": 3, "models": 2, "epochs": 1}}
BATCH = 100  # the paper's


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def resnet_throughput(device: torch.device, size: dict) -> dict:
    model = models.build("resnet18", "cifar10", seed=0).to(device).train()
    criterion = LabelSmoothingLoss("adversarial", 0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    generator = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(BATCH, 3, 32, 32, generator=generator).to(device)
    y = torch.randint(0, 10, (BATCH,), generator=generator).to(device)

    def step():
        loss = criterion(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(size["warmup"]):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(size["steps"]):
        step()
    synchronize(device)
    seconds = time.perf_counter() - start
    images = size["steps"] * BATCH / seconds
    return {"images_per_second": images, "epoch_seconds": 50_000 / images, "steps": size["steps"]}


def apgd_speed(device: torch.device, size: dict) -> dict:
    model = models.build("resnet18", "cifar10", seed=0).to(device).eval()
    generator = torch.Generator(device="cpu").manual_seed(1)
    x = torch.rand(size["attack_points"], 3, 32, 32, generator=generator).to(device)
    with torch.no_grad():
        y = model(x).argmax(1)  # every point classified "correctly": APGD attacks all of them, every step
    apgd(model, x[:8], y[:8], eps=8 / 255, steps=2)  # warm-up
    synchronize(device)
    start = time.perf_counter()
    apgd(model, x, y, eps=8 / 255, steps=size["attack_steps"])
    synchronize(device)
    seconds = time.perf_counter() - start
    return {"points": len(x), "steps": size["attack_steps"], "seconds": seconds,
            "steps_per_second": size["attack_steps"] / seconds}


def packing(size: dict) -> dict:
    """8 LeNets through the engine on one GPU: one at a time, then four at a time (gpus_per_unit 0.25)."""
    base = {"dataset": "cifar10_5k", "seeds": [0], "test_offset": 0, "test_size": 500}
    recipe = {"archs": ["lenet"], "epochs": size["epochs"], "lr": 0.05, "momentum": 0.9, "batch_size": BATCH,
              "val_fraction": 0.1, "patience": 5, "plateau_loss": "ce"}  # the default study's recipe
    runs = [RunConfig("cifar10_5k", "lenet", "adversarial", round(0.05 * (i + 1), 2), 1.0, 0)
            for i in range(size["models"])]
    out = {}
    with tempfile.TemporaryDirectory() as scratch:
        for workers in [1, 4]:
            engine = {"executor": "local", "workers": workers, "threads_per_unit": 1, "gpus_per_unit": 1 / workers,
                      "stack": 1}
            start = time.perf_counter()
            metas = train_runs("gpu-check", runs, Path(scratch) / f"w{workers}", base, recipe, engine,
                               {"root": "data/raw", "download": False}, ROOT, say=lambda _: None)
            out[workers] = {"seconds": time.perf_counter() - start,
                            "clean": sum(m["clean_accuracy"] for m in metas.values()) / len(metas)}
    return {"models": len(runs), "epochs": size["epochs"], "one_at_a_time": out[1], "four_at_a_time": out[4],
            "speedup": out[1]["seconds"] / out[4]["seconds"]}


def cpu_against_gpu(device: torch.device, size: dict) -> dict:
    x, y = data.load("cifar10_5k", "train")
    x_test, y_test = data.load_test_slice("cifar10_5k", 0, 1000)
    trained = {}
    for where in ["cpu", device.type]:
        model = models.build("lenet", "cifar10_5k", seed=0)
        train(model, x, y, "adversarial", 0.1, epochs=1, lr=0.05, seed=0, device=where, progress=False)
        accuracy = (predict(model, x_test).argmax(1) == y_test).float().mean().item()
        trained[where] = ({k: v.detach().cpu() for k, v in model.state_dict().items()}, accuracy)
    (cpu_weights, cpu_accuracy), (gpu_weights, gpu_accuracy) = trained["cpu"], trained[device.type]
    gap = max((cpu_weights[k] - gpu_weights[k]).abs().max().item() for k in cpu_weights)
    return {"max_weight_difference": gap, "cpu_accuracy": cpu_accuracy, "gpu_accuracy": gpu_accuracy}


def report(device: torch.device, tiny: bool, resnet: dict, attack: dict, pack: dict, numeric: dict) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    return "\n".join([
        f"# GPU check ({'tiny sizes, a check of the script' if tiny else 'full'}): {name}", "",
        f"torch {torch.__version__}; `PYTHONPATH=. python3 benchmarks/gpu.py{' --tiny' if tiny else ''}`; the study's "
        "float32 code, one measurement each (after a warm-up).", "",
        "| what | measured |", "| --- | --- |",
        f"| ResNet18 (CIFAR) training, batch {BATCH}, ALS loss, SGD ({resnet['steps']} steps) | "
        f"{resnet['images_per_second']:,.0f} images/s; one 50,000-image epoch: {resnet['epoch_seconds']:.1f} s |",
        f"| APGD-CE on ResNet18, {attack['points']} images x {attack['steps']} steps | "
        f"{attack['steps_per_second']:.1f} steps/s ({attack['seconds']:.1f} s) |",
        f"| engine: {pack['models']} CIFAR LeNets x {pack['epochs']} epochs, one at a time | "
        f"{pack['one_at_a_time']['seconds']:.1f} s (mean clean accuracy {pack['one_at_a_time']['clean']:.3f}) |",
        f"| engine: the same, four at a time on the GPU (gpus_per_unit 0.25) | "
        f"{pack['four_at_a_time']['seconds']:.1f} s (mean clean accuracy {pack['four_at_a_time']['clean']:.3f}); "
        f"speed-up **{pack['speedup']:.2f}x** |",
        f"| one LeNet epoch (same seed) on the CPU and on the {device.type.upper()} | largest weight difference "
        f"{numeric['max_weight_difference']:.2e}; test accuracy {numeric['cpu_accuracy']:.3f} (CPU) and "
        f"{numeric['gpu_accuracy']:.3f} |", ""])


def main() -> None:
    tiny = tiny_requested(__doc__.splitlines()[0])
    size = SIZES["tiny" if tiny else "full"]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    parts = {}
    for name, measure in [("resnet", lambda: resnet_throughput(device, size)), ("attack", lambda: apgd_speed(device, size)),
                          ("pack", lambda: packing(size)), ("numeric", lambda: cpu_against_gpu(device, size))]:
        parts[name] = measure()
        print(f"{name}: {parts[name]} ({time.perf_counter() - started:.0f} s in)", flush=True)
    write_report("gpu", tiny, report(device, tiny, **parts))


if __name__ == "__main__":
    main()
