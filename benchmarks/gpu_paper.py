"""The mnist25k paper study (params-paper.yaml's studies.mnist25k) on one GPU, as much of it as fits in 8 minutes,
through the study's own stages: its verdict and what each stage costs.

    PYTHONPATH=. python3 benchmarks/gpu_paper.py           # on a GPU machine: about 8 minutes
    PYTHONPATH=. python3 benchmarks/gpu_paper.py --tiny    # anywhere: tiny sizes on the CPU (a check; 21 s on 2 cores)

The settings are the stages' own: params.yaml with params-paper.yaml added (``lsstudy.pipeline.params``, every check
included), study mnist25k, params.yaml's engine (on a GPU, four units share it: ``gpus_per_unit`` 0.25). Each stage
runs the call its notebook makes, in a temporary folder: ``train_grid`` (train.ipynb), ``attack_grid``
(attack.ipynb), ``confirm_grid`` (confirm.ipynb), then the verdict's ``verdict_table``, ``ladder_masks``,
``gains``, ``reproduction`` and ``summary`` (verdict.ipynb). The study is cut into levels (``LEVELS``), each the
last with more alphas, grid seeds and judging seeds, all at 12 epochs (the paper's recipe otherwise: plain SGD at lr
0.01, the plateau schedule on the smoothed hold-out loss) and on 1,000 of the paper's 2,000 test points
(1,000-1,999; its 1,000 selection points 0-999), with the paper's attack budgets (PGD 100 steps x 5 restarts,
AutoAttack's standard ensemble). A level reuses every model and evaluation of the one before (the stages' content
keys), and the next one starts only if the throughput measured so far says it ends within the budget. The report
is written again after every stage, so a run stopped at its time limit still leaves what it measured.

It imports what the bare GPU machine has (torch, pandas, scipy, matplotlib, seaborn, tqdm, pyyaml) plus
torchattacks 3.5.1 (constraints.txt) and pydantic 2.14.4 with pydantic-core 2.50.5, annotated-types 0.8.0 and
typing-inspection 0.4.5 (the versions .venv holds), which travel as wheels (/work/.library/device/README.md). Writes
benchmarks/results/gpu_paper.md (``--tiny``: a temporary file, so the recorded result stays), or ``--out``, and a
copy to $OUT when that is set.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsstudy.files import write_table  # noqa: E402
from lsstudy.grid.attacks import attack_grid  # noqa: E402
from lsstudy.grid.confirm import confirm_grid  # noqa: E402
from lsstudy.grid.runs import grid, transfer_sources  # noqa: E402
from lsstudy.grid.training import grid_models, train_grid  # noqa: E402
from lsstudy.pipeline import params  # noqa: E402
from lsstudy.report import verdict as judge  # noqa: E402
from lsstudy.report.style import arch_order  # noqa: E402
from lsstudy.report.tables import load_results  # noqa: E402

STUDY = "mnist25k"
RESULT = ROOT / "benchmarks" / "results" / "gpu_paper.md"
COMMAND = "PYTHONPATH=. python3 benchmarks/gpu_paper.py"
POINTS = {"base": {"test_size": 1000}, "confirm": {"test_size": 1000}}
# A check of the script on the CPU: two archs, two methods, one epoch, 20 points, attacks of 2 steps.
TINY = {"base": {"seeds": [0], "test_size": 20},
        "train": {"archs": ["linear", "mlp"], "methods": ["none", "adversarial"], "alphas": [0.1],
                  "baselines": ["scaled_logits"], "epochs": 1},
        "attack": {"eps": [0.0, 0.1, 0.2], "bim_steps": 2, "min_norm_size": 4, "deepfool": {"steps": 3},
                   "cw_l2": {"steps": 3, "search_steps": 1}, "selection": {"size": 20},
                   "strong": {"pgd": {"steps": 2, "restarts": 1}, "apgd_steps": 2, "square_queries": 5,
                              "transfer": {"steps": 2, "restarts": 1}}},
        "confirm": {"seeds": [3, 4], "test_size": 20, "autoattack": {"steps": 2, "targets": 2, "queries": 5}},
        "figures": {"alpha_figure_eps": [0.1, 0.2]}, "verdict": {"primary": ["adversarial"]}}
# Each level is merged on the study as written (params-paper.yaml); each holds the one before it.
LEVELS = {
    "full": {"budget_s": 480, "levels": [
        params.merge(POINTS, {"base": {"seeds": [0]}, "train": {"alphas": [0.1, 0.5], "epochs": 12},
                              "confirm": {"seeds": [3, 4]}}),
        params.merge(POINTS, {"base": {"seeds": [0]}, "train": {"alphas": [0.1, 0.3, 0.5, 0.7, 0.9], "epochs": 12},
                              "confirm": {"seeds": [3, 4, 5]}}),
        params.merge(POINTS, {"train": {"epochs": 12}})]},  # the paper's grid, seeds and judging seeds
    "tiny": {"budget_s": 120, "levels": [TINY, params.merge(TINY, {"train": {"alphas": [0.1, 0.5]}})]},
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, on whatever device there is (a CPU check)")
    parser.add_argument("--out", type=Path, help=f"the report (default {RESULT.relative_to(ROOT)}; with --tiny, "
                        "a temporary file)")
    args = parser.parse_args()
    if not args.tiny and not torch.cuda.is_available():
        sys.exit("no GPU here: run with --tiny to check the script on the CPU")
    if args.out is None:
        args.out = Path(tempfile.mkstemp(prefix="gpu_paper_tiny_", suffix=".md")[1]) if args.tiny else RESULT
    return args


def level_settings(size: str) -> tuple[list[dict], dict, dict]:
    """Each level's checked study settings (params.yaml + params-paper.yaml, the level on top), the engine, the
    data section."""
    merged = params.merge(params.load_params(ROOT / "params.yaml"), params.load_params(ROOT / "params-paper.yaml"))
    study = merged["studies"][STUDY]
    levels = [params.study({**merged, "studies": {STUDY: params.merge(study, level)}}, STUDY)
              for level in LEVELS[size]["levels"]]
    engine = dict(merged["engine"], **({"workers": 1, "threads_per_unit": 1} if size == "tiny" else {}))
    return levels, engine, merged["data"]


def checkpoints(root: Path, part: str) -> set[Path]:
    return set((root / "models" / STUDY / part).glob("*/*.pt"))


def run_level(s: dict, engine: dict, data: dict, root: Path, costs: list[dict], progress) -> dict:
    """The four stages of one level in ``root``, as their notebooks call them; a row of ``costs`` per stage
    (``progress()`` after each), and the verdict's summary and number of primary calls."""
    out = root / "results" / STUDY
    base, train, attack, confirm, verdict = (s[k] for k in ["base", "train", "attack", "confirm", "verdict"])

    def timed(stage: str, part: str | None, points: int, work, count: int | None = None):
        """Run ``work``; its row: seconds, the new models (checkpoints new in models/<study>/<part>, or ``count``)
        and the points attacked on them."""
        before = checkpoints(root, part) if part else set()
        start = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - start
        new = count if count is not None else len(checkpoints(root, part) - before) if part else 0
        costs.append({"stage": stage, "seconds": seconds, "models": new, "points": new * points})
        progress()
        return result

    before = checkpoints(root, "grid")
    timed("train", "grid", 0, lambda: write_table(train_grid(STUDY, base, train, engine, data, root),
                                                  out / "train" / "history.csv"))
    sources = {run.checkpoint(grid_models(root, STUDY)) for run in transfer_sources(base, train)}
    trained = len(checkpoints(root, "grid") - before - sources)  # what the attack stage evaluates anew
    attacked = base["test_size"] + attack["selection"]["size"]
    grid_tables = timed("attack", None, attacked, lambda: attack_grid(STUDY, base, train, attack, engine, data, root),
                        count=trained)
    for name in ["attacks", "selection"]:
        write_table(grid_tables[name], out / "attack" / f"{name}.csv")
    selection = load_results(out / "attack" / "selection.csv")
    confirmed_tables = timed("confirm", "confirm", confirm["test_size"],
                             lambda: confirm_grid(STUDY, base, train, attack, confirm, engine, data, root, selection))
    for name in ["attacks", "chosen"]:
        write_table(confirmed_tables[name], out / "confirm" / f"{name}.csv")

    def judged():
        confirmed = load_results(out / "confirm" / "attacks.csv")
        grid_table = load_results(out / "attack" / "attacks.csv")
        chosen, strong = confirmed_tables["chosen"], attack["strong"]
        table = judge.verdict_table(confirmed, strong, verdict["unbounded_max"], verdict["level"])
        primary = judge.hypotheses(base["dataset"], arch_order(train["archs"]), verdict["primary"], strong["eps"])
        gains = judge.gains(judge.ladder_masks(confirmed, strong["eps"]), chosen, verdict["level"], verdict["delta"],
                            primary)
        reproduced = judge.reproduction(judge.ladder_masks(grid_table, strong["eps"]), verdict["level"],
                                        verdict["delta"])
        return {"summary": judge.summary(gains, reproduced, table, train["alphas"]), "calls": judge.calls(gains)}

    return timed("verdict", None, 0, judged)


def new_models(s: dict, done: dict | None) -> tuple[int, int]:
    """How many grid and (at most) confirm models level ``s`` trains that the level ``done`` did not."""
    train, seeds = s["train"], s["confirm"]["seeds"]
    fixed = 1 + len(train["baselines"])  # none and the baselines: their configuration never depends on the alphas
    configurations = len(train["archs"]) * (len(train["methods"]) + len(train["baselines"]))
    grid_count = len(set(grid(s["base"], train) + transfer_sources(s["base"], train)))
    if done is None:
        return grid_count, configurations * len(seeds)
    old = set(grid(done["base"], done["train"]) + transfer_sources(done["base"], done["train"]))
    reused = len(train["archs"]) * fixed * len(set(done["confirm"]["seeds"]) & set(seeds))
    new_grid = len(set(grid(s["base"], train) + transfer_sources(s["base"], train)) - old)
    return new_grid, configurations * len(seeds) - reused


def projected_seconds(s: dict, done: dict, costs: list[dict]) -> float:
    """The time level ``s`` should take, from the seconds per new model each stage of the levels so far took."""
    per_model = {}
    for stage in ["train", "attack", "confirm"]:
        rows = [c for c in costs if c["stage"] == stage and c["models"]]
        per_model[stage] = sum(c["seconds"] for c in rows) / max(1, sum(c["models"] for c in rows))
    grid_new, confirm_new = new_models(s, done)
    verdict = max(c["seconds"] for c in costs if c["stage"] == "verdict")
    return grid_new * (per_model["train"] + per_model["attack"]) + confirm_new * per_model["confirm"] + verdict


def describe(s: dict) -> str:
    base, train, confirm = s["base"], s["train"], s["confirm"]
    return (f"{len(train['archs'])} archs ({', '.join(train['archs'])}), {len(train['methods'])} methods, "
            f"{len(train['alphas'])} alphas, baselines {', '.join(train['baselines']) or 'none'}; grid seeds "
            f"{base['seeds']}, judging seeds {confirm['seeds']}; {train['epochs']} epochs; test points "
            f"{base['test_offset']}-{base['test_offset'] + confirm['test_size'] - 1}")


def report(tiny: bool, device: str, levels: list[dict], costs: list[list[dict]], verdicts: list[dict], note: str,
           wall: float) -> str:
    command = COMMAND + (" --tiny" if tiny else "")
    size = "tiny sizes, a check of the script" if tiny else "as much as fits in 8 minutes"
    lines = [f"# The mnist25k paper study on one GPU ({size}): {device}", "",
             f"torch {torch.__version__}; `{command}`; {wall:.0f} s in all. {note}", "",
             "## Throughput", "",
             "New models only (a level reuses the models and evaluations of the one before). Points attacked: "
             "each new model's points (attack: the grid's test points under every attack of the paper's plan, and "
             "the selection points under the selection attack; confirm: the verdict's points under every attack of "
             "the strong evaluation and AutoAttack).", "",
             "| level | stage | wall time (s) | models | models trained per second | points attacked | "
             "attacked points per second |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for i, rows in enumerate(costs, 1):
        for c in rows:
            trained = f"{c['models'] / c['seconds']:.3f}" if c["stage"] in ("train", "confirm") and c["models"] else ""
            attacked = f"{c['points'] / c['seconds']:,.1f}" if c["points"] else ""
            lines.append(f"| {i} | {c['stage']} | {c['seconds']:.1f} | {c['models'] or ''} | {trained} | "
                         f"{c['points'] or '':,} | {attacked} |" if c["points"] else
                         f"| {i} | {c['stage']} | {c['seconds']:.1f} | {c['models'] or ''} | {trained} | | |")
    lines += ["", "## Levels", ""]
    state = {i: "" if i <= len(verdicts) else " (running)" if i == len(costs) else " (not run)"
             for i in range(1, len(levels) + 1)}
    lines += [f"{i}. {describe(s)}{state[i]}" for i, s in enumerate(levels, 1)]
    if verdicts:
        summary = verdicts[-1]["summary"]
        lines += ["", f"## The verdict (level {len(verdicts)})", "",
                  f"Each method at its alpha chosen on the selection points by the grid's seeds, against the "
                  f"unsmoothed model on the judging seeds; {verdicts[-1]['calls']} calls in the primary family "
                  "(lsstudy.report.verdict.summary, as results/<study>/verdict/summary.md).", "",
                  "| " + " | ".join(summary.columns) + " |", "| " + " | ".join("---" for _ in summary.columns) + " |"]
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in summary.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if os.environ.get("OUT"):
        (Path(os.environ["OUT"]) / path.name).write_text(text)


def main() -> None:
    args = arguments()
    size = "tiny" if args.tiny else "full"
    levels, engine, data = level_settings(size)
    budget = LEVELS[size]["budget_s"]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    started, costs, verdicts, done = time.perf_counter(), [], [], None
    note = "Running."
    with tempfile.TemporaryDirectory() as scratch:
        for i, s in enumerate(levels, 1):
            if done is not None:
                left = budget - (time.perf_counter() - started)
                projected = projected_seconds(s, done, [c for rows in costs for c in rows])
                if projected > left:
                    note = (f"Level {i} was not run: it would take about {projected:.0f} s at the throughput "
                            f"measured, {left:.0f} s of the {budget} s budget were left.")
                    break
            costs.append([])
            note = f"Level {i} of {len(levels)} running (a run stopped here leaves this)."
            print(f"level {i}: {describe(s)}", flush=True)
            progress = lambda: write(args.out, report(args.tiny, device, levels, costs, verdicts, note,  # noqa: E731
                                                      time.perf_counter() - started))
            verdicts.append(run_level(s, engine, data, Path(scratch), costs[-1], progress))
            done = s
            note = f"Levels 1-{i} of {len(levels)} run." + (" Every level ran." if i == len(levels) else "")
    text = report(args.tiny, device, levels, costs, verdicts, note, time.perf_counter() - started)
    write(args.out, text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
