"""benchmarks/gpu_paper.py, the mnist25k paper study on one GPU, at its tiny size on the CPU: the code a GPU run will
execute, checked before device time is spent on it. Its report must hold the throughput of every stage of every
level it ran and the verdict's table, and the recorded result (benchmarks/results/gpu_paper.md) is left alone."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_paper.py"
RECORDED = ROOT / "benchmarks" / "results" / "gpu_paper.md"
CPU_ONLY = {**{k: v for k, v in os.environ.items() if k != "OUT"}, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "",
            "OMP_NUM_THREADS": "1"}
NUMBER = r"[\d,]+(?:\.\d+)?"


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    recorded = RECORDED.read_bytes() if RECORDED.exists() else None
    out = tmp_path_factory.mktemp("gpu_paper") / "report.md"
    run = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--out", str(out)], cwd=ROOT, env=CPU_ONLY,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (RECORDED.read_bytes() if RECORDED.exists() else None) == recorded  # --out: the record is not touched
    return out.read_text()


def test_the_tiny_run_reports_the_throughput_of_every_stage(tiny_report):
    assert "tiny sizes, a check of the script" in tiny_report and "CPU" in tiny_report.splitlines()[0]
    rows = re.findall(rf"^\| (\d) \| (train|attack|confirm|verdict) \| ({NUMBER}) \|(.*)\|$", tiny_report, re.M)
    levels = sorted({int(level) for level, *_ in rows})
    assert levels and levels == list(range(1, len(levels) + 1))
    for level in levels:
        stages = {stage: rest for lv, stage, seconds, rest in rows if int(lv) == level}
        assert set(stages) == {"train", "attack", "confirm", "verdict"}, stages
        assert all(float(seconds) > 0 for lv, _, seconds, _ in rows if int(lv) == level)
    first = {stage: [cell.strip() for cell in rest.split("|")] for lv, stage, _, rest in rows if lv == "1"}
    # level 1 trains every model new: models trained per second and attacked points per second are measured
    for stage in ["train", "confirm"]:
        models, per_second = first[stage][0], first[stage][1]
        assert int(models) > 0 and float(per_second) > 0, first[stage]
    for stage in ["attack", "confirm"]:
        points, per_second = first[stage][2], first[stage][3]
        assert int(points.replace(",", "")) > 0 and float(per_second.replace(",", "")) > 0, first[stage]


def test_the_tiny_run_reports_the_verdict_of_each_arch_and_method(tiny_report):
    verdict = tiny_report.split("## The verdict", 1)[1]
    header = next(line for line in verdict.splitlines() if line.startswith("| arch |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert {"eps", "method", "gain, every attack + AutoAttack", "call", "seeds flagged"} <= set(columns)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in verdict.splitlines()
            if line.startswith("| ") and not line.startswith(("| arch", "| ---"))]
    cells = [dict(zip(columns, row)) for row in rows]
    # the tiny levels: linear and mlp, ALS and the scaled-logits control, judged at both strong eps of the paper's MNIST
    assert {(c["arch"], c["method"]) for c in cells} == {(arch, method) for arch in ["linear", "mlp"]
                                                         for method in ["adversarial", "scaled_logits"]}
    assert {c["eps"] for c in cells} == {"0.1", "0.2"}
    assert all(c["call"] in {"gain", "loss", "no gain above delta", "unresolved", "no interval"} for c in cells), cells
    assert all(re.fullmatch(r"[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]", c["gain, every attack + AutoAttack"])
               for c in cells), cells


def test_without_a_gpu_the_full_run_refuses_to_start():
    run = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, env=CPU_ONLY, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0 and "no GPU here: run with --tiny" in run.stderr
