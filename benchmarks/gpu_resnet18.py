"""A first look at the paper's main setting on one GPU: ResNet18 on CIFAR-10 (the shipped cifar10_5k), label
smoothing against no smoothing, under the paper's protocol and under the study's strong evaluation.

    PYTHONPATH=. python3 benchmarks/gpu_resnet18.py           # on a GPU machine (one H100: about 4 minutes)
    PYTHONPATH=. python3 benchmarks/gpu_resnet18.py --tiny    # anywhere: the same code with the CIFAR LeNet, 1 epoch

Not a verdict: one seed, fewer epochs than the authors, the default study's CPU attack budgets. It runs the
study's own units through the engine (four ResNet18s share the GPU, ``gpus_per_unit`` 0.25): training (the
authors' recipe: plain SGD at lr 0.01, plateau schedule on the smoothed hold-out loss), then the confirm stage's
attacks (FGSM and BIM under both protocols, PGD, APGD, margin losses, Square, transfer from an independently
trained ResNet18, AutoAttack's ensemble) on test points 317-1016, and ``lsstudy.report.verdict.verdict_table``'s robust
accuracy (a point counts only if every attack failed on it). It imports only what the bare GPU machine has
(torch, pandas, scipy, matplotlib, tqdm, pyyaml) plus torchattacks, which travels as a wheel.
Writes benchmarks/results/gpu_resnet18[_tiny].md, and a copy to $OUT when that is set.
"""

import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsstudy.grid.attacks import evaluate_models, transfer_examples, with_settings  # noqa: E402
from lsstudy.grid.runs import RunConfig  # noqa: E402
from lsstudy.grid.study import test_split  # noqa: E402
from lsstudy.grid.training import train_runs  # noqa: E402
from lsstudy.grid.units.evaluation import confirm_plan  # noqa: E402
from lsstudy.report import verdict  # noqa: E402
from lsstudy.report.style import eps_label  # noqa: E402

from device_report import tiny_requested, write_report  # noqa: E402  (benchmarks/, the script's folder)

DATA = {"root": "data/raw", "download": False}
STRONG_EPS = [2 / 255, 8 / 255]
SIZES = {"full": {"arch": "resnet18", "epochs": 30, "test_offset": 317, "test_size": 700, "alphas": [0.1, 0.3]},
         "tiny": {"arch": "lenet", "epochs": 1, "test_offset": 317, "test_size": 20, "alphas": [0.1]}}  # a CPU check


def settings(size: dict) -> tuple[dict, dict, dict, dict]:
    """(base, train, attack, confirm) sections: the paper's recipe for training, the default study's budgets."""
    base = {"dataset": "cifar10_5k", "seeds": [0], "test_offset": size["test_offset"], "test_size": size["test_size"]}
    train = {"archs": [size["arch"]], "epochs": size["epochs"], "lr": 0.01, "momentum": 0.0, "batch_size": 100,
             "val_fraction": 0.1, "patience": 5, "plateau_loss": "smoothed"}
    attack = {"protocols": ["ce", "smoothed"], "bim_steps": 10, "batch_size": 500,
              "strong": {"eps": STRONG_EPS, "pgd": {"steps": 10, "restarts": 1}, "apgd_steps": 10,
                         "square_queries": 200, "transfer": {"steps": 10, "restarts": 1}, "unbounded_eps": 0.5}}
    confirm = {"autoattack": {"steps": 10, "targets": 3, "queries": 200}}
    return base, train, attack, confirm


def runs(arch: str, alphas: list[float]) -> tuple[list[RunConfig], RunConfig]:
    """No smoothing and each method at each alpha (BLS at T = 0.01, its choice in the default studies), seed 0;
    and the transfer source (seed 1000)."""
    grid = [RunConfig("cifar10_5k", arch, "none", 0.0, 1.0, 0)]
    for method in ["standard", "adversarial", "boltzmann", "second_best"]:
        temperature = 0.01 if method == "boltzmann" else 1.0
        grid += [RunConfig("cifar10_5k", arch, method, alpha, temperature, 0) for alpha in alphas]
    return grid, RunConfig("cifar10_5k", arch, "none", 0.0, 1.0, 1000)


def table(judged, grid) -> str:
    rows = ["| method | alpha (T) | clean | " + " | ".join(
        f"{eps_label(e)}: paper's protocol | {eps_label(e)}: every attack" for e in STRONG_EPS) + " | flagged |",
            "| --- | --- | --- | " + " | ".join("--- | ---" for _ in STRONG_EPS) + " | --- |"]
    for run in grid:
        mine = judged[(judged["method"] == run.method) & (judged["alpha"] == run.alpha)]
        cells = []
        for eps in STRONG_EPS:
            row = mine[(mine["eps"] - eps).abs() < 1e-9].iloc[0]
            cells += [f"{row['paper_protocol_accuracy']:.3f}", f"{row['robust_accuracy']:.3f}"]
        flags = mine.loc[mine["masking_suspected"], "reasons"].tolist()
        temperature = f" ({run.temperature:g})" if run.method == "boltzmann" else ""
        rows.append(f"| {run.method} | {run.alpha:g}{temperature} | {mine['clean_accuracy'].iloc[0]:.3f} | "
                    + " | ".join(cells) + f" | {'; '.join(sorted(set(flags))) or 'no'} |")
    return "\n".join(rows)


def main() -> None:
    tiny = tiny_requested(__doc__.splitlines()[0])
    size = SIZES["tiny" if tiny else "full"]
    base, train, attack, confirm = settings(size)
    grid, source = runs(size["arch"], size["alphas"])
    engine = {"executor": "local", "workers": "auto", "threads_per_unit": 1, "gpus_per_unit": 0.25, "stack": 1}
    test = test_split(base, DATA, ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        models_dir = Path(scratch) / "models"
        start = time.perf_counter()
        train_runs("gpu-resnet18", grid + [source], models_dir, base, train, engine, DATA, ROOT)
        trained = time.perf_counter()
        checkpoints = {run: run.checkpoint(models_dir) for run in grid}
        examples = transfer_examples("gpu-resnet18", [source], models_dir, attack, engine, test, Path(scratch) / "cache")
        results = evaluate_models("gpu-resnet18", checkpoints, confirm_plan(attack, confirm), test, None, examples,
                                  engine, Path(scratch) / "cache")
        attacked = time.perf_counter()
        attacks = with_settings(results, "attacks", checkpoints, scratch)
    judged = verdict.verdict_table(attacks, attack["strong"], unbounded_max=0.05, level=0.05)
    gpu = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if gpu else "CPU"
    text = "\n".join([
        f"# {size['arch']} on cifar10_5k ({'tiny sizes, a check of the script' if tiny else 'one GPU'}): {device}", "",
        f"torch {torch.__version__}; `PYTHONPATH=. python3 benchmarks/gpu_resnet18.py{' --tiny' if tiny else ''}`. "
        f"{len(grid) + 1} models ({train['epochs']} epochs of plain SGD, lr 0.01, plateau on the smoothed hold-out "
        f"loss; one seed) trained in {trained - start:.0f} s ({'four at a time on the GPU' if gpu else 'on the CPU'}); "
        "every attack of the confirm "
        f"stage at the default study's budgets on test points {base['test_offset']}-"
        f"{base['test_offset'] + base['test_size'] - 1} in {attacked - trained:.0f} s. Accuracy under the paper's "
        "protocol (BIM on the model's smoothed loss) and under every attack (the per-point worst case); *flagged*: "
        "the sanity checks a model fails. One seed: no interval, no call.", "",
        table(judged, grid), ""])
    write_report("gpu_resnet18", tiny, text)


if __name__ == "__main__":
    main()
