"""The confirm stage's evaluation before and after the cascade, side by side: CPU seconds and per-point masks.

    python benchmarks/evaluation.py            # a slice of the default study (about 25 min on 2 cores)
    python benchmarks/evaluation.py --quick    # a smaller slice (under 5 min)

The slice: for each of the MNIST linear model, MLP and LeNet (study mnist5k of params.yaml) and the CIFAR LeNet
(cifar10_5k), one seed of the unsmoothed model, each smoothing method at one alpha and the two baselines, trained
with the study's recipe, on the study's confirm points, with the study's attack settings (``confirm_plan``).
Each model is evaluated twice, by two processes of one torch thread each, one after the other per arch:
- ``before``: the package as it was at ``BASELINE`` (every attack on every point, AutoAttack's whole ensemble,
  both protocols even where they coincide), taken from git;
- ``after``: the package as it is (the cascade, no attack run twice, per-point random starts).
CPU seconds are each process's own, around the evaluations only. The masks compared are the per-point worst cases
at every step of the verdict's ladder (``lsstudy.report.verdict.ladder_masks``): for the deterministic attacks they
must be equal; torchattacks' APGD, Square and AutoAttack draw their random numbers for the whole batch, so the
points they attack change what they draw and a point or two may differ (counted, per step).
Writes benchmarks/results/evaluation[_quick].md; the last line printed is ``speedup <x> identical <true|false>``.
"""

import argparse
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "8c4b288"  # the last commit before the cascaded evaluation (issue 17)
STUDIES = {"mnist5k": ["linear", "mlp", "lenet"], "cifar10_5k": ["lenet"]}
METHODS = [("none", 0.0), ("standard", 0.1), ("adversarial", 0.1), ("boltzmann", 0.1), ("second_best", 0.1),
           ("pgd_training", 0.0), ("distillation", 0.0)]
QUICK_METHODS = [("none", 0.0), ("adversarial", 0.1), ("pgd_training", 0.0)]


def worker(code: Path, job_path: Path, out_path: Path) -> None:
    """Evaluate the job's models with the package found in ``code``; write (tables, CPU seconds)."""
    sys.path.insert(0, str(code))
    from lsstudy.attacks.transfer import CraftedExamples
    try:  # the package as it is (lsstudy/grid/, issue 21); BASELINE's modules sat side by side in lsstudy/
        from lsstudy.grid.runs import RunConfig
        from lsstudy.grid.units.evaluation import confirm_plan, evaluate_model
    except ModuleNotFoundError:
        from lsstudy.grid import RunConfig
        from lsstudy.units.evaluation import confirm_plan, evaluate_model

    torch.set_num_threads(1)
    job = pickle.loads(job_path.read_bytes())
    plan = confirm_plan(job["attack"], job["confirm"])
    context = {"test": job["test"], "selection": None,
               "transfer": {job["arch"]: CraftedExamples(job["test"][0], job["examples"])}}
    tables, start = [], time.process_time()
    for fields, path in job["runs"]:
        run = RunConfig(**fields)
        checkpoint = torch.load(path, weights_only=True)
        result = evaluate_model({"run": run, "plan": plan, **checkpoint}, context)
        tables.append(result["attacks"].assign(checkpoint=str(path), **{k: getattr(run, k) for k in
                                                                        ["dataset", "arch", "method", "alpha",
                                                                         "temperature", "seed"]}))
    out_path.write_bytes(pickle.dumps((pd.concat(tables, ignore_index=True), time.process_time() - start)))


def train_slice(study: str, archs: list[str], methods: list, quick: bool, folder: Path):
    """The slice's checkpoints, the confirm points and each arch's transfer examples."""
    from lsstudy.grid.attacks import transfer_examples
    from lsstudy.grid.confirm import confirm_window
    from lsstudy.grid.runs import RunConfig, transfer_sources
    from lsstudy.grid.training import train_runs
    from lsstudy.pipeline import params

    settings = params.study(params.load_params(ROOT / "params.yaml"), study)
    base, train, attack, confirm = (settings[k] for k in ["base", "train", "attack", "confirm"])
    train = {**train, "archs": archs}
    if quick:
        train["epochs"], confirm = 2, {**confirm, "test_size": 60}
    engine_settings = {"executor": "local", "workers": "auto", "threads_per_unit": 1, "gpus_per_unit": 0.25, "stack": 1}
    data_settings = params.load_params(ROOT / "params.yaml")["data"]
    runs = [RunConfig(base["dataset"], arch, method, alpha,
                      train["distillation"]["temperature"] if method == "distillation" else train["temperature"], 0)
            for arch in archs for method, alpha in methods]
    models_dir = folder / "models" / study
    sources = transfer_sources(base, train)
    train_runs(study, runs + sources, models_dir, base, train, engine_settings, data_settings, ROOT, say=lambda _: None)
    test = confirm_window(base, confirm, data_settings, ROOT)
    examples = transfer_examples(study, sources, models_dir, attack, engine_settings, test, folder / "cache" / study)
    return runs, models_dir, test, examples, attack, confirm


def evaluate_in(code: Path, job: dict, folder: Path, name: str) -> tuple[pd.DataFrame, float]:
    job_path, out_path = folder / f"{name}.job.pkl", folder / f"{name}.out.pkl"
    job_path.write_bytes(pickle.dumps(job))
    subprocess.run([sys.executable, __file__, "--worker", str(code), str(job_path), str(out_path)], check=True,
                   env={**os.environ, "PYTHONPATH": str(code)})
    return pickle.loads(out_path.read_bytes())


def compare(before: pd.DataFrame, after: pd.DataFrame, strong_eps: list[float]) -> pd.DataFrame:
    """Per ladder step: points whose per-point worst case differs between the two tables, over every model."""
    from lsstudy.report.verdict import ladder_masks

    old, new = ladder_masks(before, strong_eps), ladder_masks(after, strong_eps)
    merged = old.merge(new, on=["checkpoint", "eps", "order", "step"], suffixes=("_before", "_after"))
    merged["differ"] = [int((a != b).sum()) for a, b in zip(merged["robust_before"], merged["robust_after"])]
    merged["points"] = [len(a) for a in merged["robust_before"]]
    return merged.groupby(["order", "step"], as_index=False).agg(points=("points", "sum"), differ=("differ", "sum"),
                                                                 accuracy_before=("accuracy_before", "mean"),
                                                                 accuracy_after=("accuracy_after", "mean"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer models, 2 epochs, 60 points (under 5 min)")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the evaluation before the cascade")
    parser.add_argument("--worker", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)
    sys.path.insert(0, str(ROOT))
    from lsstudy.files import write_text

    methods = QUICK_METHODS if args.quick else METHODS
    rows, comparisons = [], []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        old_code = folder / "before"
        old_code.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "lsstudy"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_code)], input=archive, check=True)
        for study, archs in STUDIES.items():
            runs, models_dir, test, examples, attack, confirm = train_slice(study, archs, methods, args.quick, folder)
            for arch in archs:
                job = {"arch": arch, "test": test, "examples": examples[arch], "attack": attack, "confirm": confirm,
                       "runs": [(asdict(run), run.checkpoint(models_dir)) for run in runs if run.arch == arch]}
                before, before_cpu = evaluate_in(old_code, job, folder, f"{study}-{arch}-before")
                after, after_cpu = evaluate_in(ROOT, job, folder, f"{study}-{arch}-after")
                comparison = compare(before, after, attack["strong"]["eps"]).assign(study=study, arch=arch)
                comparisons.append(comparison)
                rows.append({"study": study, "arch": arch, "models": len(job["runs"]), "points": len(test[1]),
                             "before (CPU s)": round(before_cpu, 1), "after (CPU s)": round(after_cpu, 1),
                             "speedup": round(before_cpu / after_cpu, 2),
                             "points differing, last step": int(comparison["differ"].iloc[-1])})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    detail = pd.concat(comparisons, ignore_index=True)
    speedup = table["before (CPU s)"].sum() / table["after (CPU s)"].sum()
    identical = bool((detail["differ"] == 0).all())
    steps = detail.pivot_table(index=["order", "step"], columns=["study", "arch"], values="differ", aggfunc="sum")
    report = "\n".join([
        "# The confirm stage's evaluation before and after the cascade",
        "",
        f"`python benchmarks/evaluation.py{' --quick' if args.quick else ''}`; {platform.processor() or platform.machine()},"
        f" {os.cpu_count()} cores, torch {torch.__version__}, one torch thread per process, load average "
        f"{load:.2f} at the start. Before: the package at `{args.baseline}`; after: the working tree.",
        "",
        table.to_markdown(index=False),
        "",
        f"**{speedup:.2f}x** fewer CPU-seconds over the slice ({table['before (CPU s)'].sum():.0f} s before, "
        f"{table['after (CPU s)'].sum():.0f} s after). Per-point worst cases identical at every step: **{identical}**.",
        "",
        "Points whose worst case differs, per step of the ladder (summed over the arch's models and eps):",
        "",
        steps.to_markdown(),
        "",
    ])
    write_text(ROOT / "benchmarks" / "results" / f"evaluation{'_quick' if args.quick else ''}.md", report)
    print(f"speedup {speedup:.2f} identical {str(identical).lower()}")


if __name__ == "__main__":
    main()
