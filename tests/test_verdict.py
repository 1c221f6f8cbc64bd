"""The verdict's arithmetic on planted tables: the evaluation ladder, the alpha the paper's protocol
favours, and gains with Student-t intervals (scipy as the reference) and their calls."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lsstudy import verdict

EPS = 0.1


def attack_rows(method: str, alpha: float, seed: int, points: dict[tuple[str, str], str]) -> list[dict]:
    """Rows of an attack table for one model: the clean row and one row per (attack, loss) at EPS."""
    base = {"dataset": "d", "arch": "a", "method": method, "alpha": alpha, "temperature": 1.0, "seed": seed,
            "checkpoint": f"{method}_{alpha}_{seed}.pt", "class": "all"}
    n = len(next(iter(points.values())))
    rows = [{**base, "attack": "clean", "loss": "none", "eps": 0.0, "accuracy": 1.0, "robust_points": "1" * n}]
    for (attack, loss), robust in points.items():
        rows.append({**base, "attack": attack, "loss": loss, "eps": EPS, "robust_points": robust,
                     "accuracy": robust.count("1") / len(robust)})
    return rows


def test_ladder_accumulates_the_worst_case_step_by_step():
    points = {("bim", "smoothed"): "11111111", ("bim", "ce"): "11111110", ("fgsm", "ce"): "11111101",
              ("pgd", "ce"): "11111011", ("pgd", "margin"): "11100111", ("square", "margin"): "01111111"}
    steps = verdict.ladder(pd.DataFrame(attack_rows("none", 0.0, 0, points)), [EPS])
    # paper 8/8; + BIM-CE and FGSM 6/8; + PGD-CE 5/8; + margin 3/8; + black box 2/8
    assert steps.sort_values("order")["accuracy"].tolist() == [1.0, 0.75, 0.625, 0.375, 0.25]
    assert steps["step"].tolist() == [step for step, _ in verdict.LADDER]


def test_paper_alpha_takes_the_best_mean_and_the_smaller_alpha_on_ties():
    rows = []
    for alpha, accuracies in [(0.1, [0.5, 0.7]), (0.3, [0.6, 0.6]), (0.5, [0.2, 0.3])]:
        for seed, accuracy in enumerate(accuracies):
            rows.append({"dataset": "d", "arch": "a", "method": "standard", "eps": EPS, "alpha": alpha,
                         "temperature": 1.0, "seed": seed, "paper_protocol_accuracy": accuracy})
    chosen = verdict.paper_alpha(pd.DataFrame(rows))
    assert chosen["alpha"].tolist() == [0.1]  # 0.1 and 0.3 tie at a mean of 0.6


@pytest.mark.parametrize("method_accuracy, call", [
    ([0.80, 0.82, 0.84], "gain"),   # +0.10 +0.12 +0.14 over none
    ([0.60, 0.90, 0.70], "no gain"),  # mean +0.0667 but spread wide
    ([0.60, 0.61, 0.62], "loss"),
])
def test_gains_mean_interval_and_call_against_scipy(method_accuracy, call):
    none_accuracy = [0.70, 0.70, 0.70]
    rows = []
    for seed, (ours, theirs) in enumerate(zip(method_accuracy, none_accuracy)):
        rows.append({"dataset": "d", "arch": "a", "method": "adversarial", "alpha": 0.3, "temperature": 1.0,
                     "seed": seed, "eps": EPS, "order": 0, "step": "s", "accuracy": ours})
        rows.append({"dataset": "d", "arch": "a", "method": "none", "alpha": 0.0, "temperature": 1.0,
                     "seed": seed, "eps": EPS, "order": 0, "step": "s", "accuracy": theirs})
    chosen = pd.DataFrame([{"dataset": "d", "arch": "a", "method": m, "eps": EPS, "alpha": a, "temperature": 1.0}
                           for m, a in [("adversarial", 0.3), ("none", 0.0)]])
    out = verdict.gains(pd.DataFrame(rows), chosen).iloc[0]
    differences = np.subtract(method_accuracy, none_accuracy)
    low, high = stats.t.interval(0.95, len(differences) - 1, loc=differences.mean(), scale=stats.sem(differences))
    assert out["gain"] == pytest.approx(differences.mean())
    assert out["half_width"] == pytest.approx((high - low) / 2)
    assert out["call"] == call
    assert out["seeds"] == 3 and out["kind"] == "label smoothing"
