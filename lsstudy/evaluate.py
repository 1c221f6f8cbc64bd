"""Run a grid of attacks on one model and return a tidy table.

Accuracy follows the RobustBench convention: a test point counts as robust only if the model
classifies it correctly both clean and under attack, over all test points (so adversarial accuracy
never exceeds clean accuracy).

The minimum-norm attacks (DeepFool, CW-L2) report their own success: a point is flipped when the
attack returns a finite L2 norm for it. Their accuracy is what the bounded attack leaves (points
correct clean that it failed to flip within its iterations, as the paper reported). Over the points
correct clean, ``failure_rate`` is the fraction it failed to flip and ``median_l2`` the median norm,
a failure counting as +inf: a model that resists more often cannot show a smaller median (a median
over the successes alone would reward it), and the median is +inf when half or more of them resist. The
mean would be +inf at the first failure, so there is no mean column. Both are NaN on the other rows.

The rows for all classes also carry ``robust_points``, one character per test point ("1": correct
clean and under attack), so that per-example combinations of attacks (the worst case over all of
them, a point counting only if every attack failed on it) can be computed from the table alone.
"""

import inspect
import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.std import tqdm  # text bars: no widget, so no IProgress warning in executed notebooks

from lsstudy.attacks.registry import ATTACKS
from lsstudy.checks import check_choice, check_eps
from lsstudy.train import predict

MIN_NORM_ATTACKS = {"deepfool", "cw_l2"}
COLUMNS = ["attack", "loss", "eps", "class", "n", "accuracy", "median_l2", "failure_rate", "robust_points"]
# The objective an attack ascends when its spec names none ("standard": AutoAttack's own ensemble of losses).
DEFAULT_LOSS = {"square": "margin", "autoattack": "standard"}
SPEC_KEYS = ("attack", "eps", "name")  # evaluate's own keys; the others go to the attack function


def check_attack_spec(spec: dict) -> None:
    """Raise ValueError naming the key if an attack spec of ``evaluate`` is not allowed."""
    check_choice("attack", spec.get("attack"), list(ATTACKS))
    if spec["attack"] not in MIN_NORM_ATTACKS:
        if not spec.get("eps"):
            raise ValueError(f"attack {spec['attack']!r} needs a non-empty list 'eps'")
        for eps in spec["eps"]:
            check_eps(eps)


def _run_batched(attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, **kwargs):
    """Adversarial x (and L2 norms for minimum-norm attacks) for all of x, batch by batch."""
    device = next(model.parameters()).device
    outs = [attack(model, x[i : i + batch_size].to(device), y[i : i + batch_size].to(device), **kwargs)
            for i in range(0, len(x), batch_size)]
    if isinstance(outs[0], tuple):
        return torch.cat([o[0].cpu() for o in outs]), torch.cat([o[1].cpu() for o in outs])
    return torch.cat([o.cpu() for o in outs]), None


def _rows(attack: str, loss: str, eps: float, y: torch.Tensor, robust: torch.Tensor, l2: torch.Tensor | None,
          clean_correct: torch.Tensor) -> list[dict]:
    rows = []
    for cls in ["all", *sorted(y.unique().tolist())]:
        mask = torch.ones_like(y, dtype=torch.bool) if cls == "all" else y == cls
        row = {"attack": attack, "loss": loss, "eps": eps, "class": str(cls), "n": int(mask.sum()),
               "accuracy": robust[mask].float().mean().item(), "median_l2": math.nan, "failure_rate": math.nan,
               "robust_points": points_string(robust) if cls == "all" else ""}
        if l2 is not None and (mask & clean_correct).any():
            norms = l2[mask & clean_correct]
            row["median_l2"] = float(np.median(norms.double().numpy()))  # +inf failures included
            row["failure_rate"] = torch.isinf(norms).double().mean().item()
        rows.append(row)
    return rows


def points_string(robust: torch.Tensor) -> str:
    """A boolean per point as a string of "0" and "1" (the ``robust_points`` column)."""
    return "".join("1" if r else "0" for r in robust.tolist())


def points_mask(points: str) -> torch.Tensor:
    """The inverse of ``points_string``."""
    return torch.tensor([c == "1" for c in points], dtype=torch.bool)


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: list[dict],
    smoothing: dict | None = None,
    batch_size: int = 500,
    seed: int = 0,
    progress: bool = True,
    timings: dict | None = None,
) -> pd.DataFrame:
    """Clean accuracy and every attack of ``attacks`` on (x, y), one row per (attack, loss, eps, class).

    Args:
        model: a logits model in eval mode (its device is used).
        x, y: test images in [0, 1] and labels.
        attacks: specs such as ``{"attack": "fgsm", "eps": [0.1, 0.2], "loss": "ce"}`` or
            ``{"attack": "deepfool", "steps": 50}``; an optional ``name`` labels the rows instead of
            the attack (to run one attack with two settings); other keys are passed to the attack
            function of ``lsstudy.attacks``.
        smoothing: the model's {method, alpha, temperature}, needed by specs with ``loss="smoothed"``
            (the paper's protocol).
        seed: seeds torch before each attack, and is passed to attacks with a ``seed`` argument
            (APGD, AutoAttack, Square), so random starts are reproducible.
        timings: if a dict, filled with ``{(row name, loss, eps): seconds}``, the wall time of each
            attack run (eps None for the minimum-norm attacks, whose rows have eps NaN). Timings
            stay out of the table, so the same inputs give the same table, byte for byte.

    Returns a DataFrame with columns ``COLUMNS``; ``class`` is "all" or the class index as a string;
    ``loss`` is the objective the attack ascended (the spec's, else ``DEFAULT_LOSS`` or "ce");
    ``eps`` is NaN and ``loss`` "n/a" for the minimum-norm attacks, whose rows alone carry
    ``median_l2`` (+inf when at least half the points correct clean resist) and ``failure_rate``
    (see the module docstring); the clean row has attack "clean", loss "none" and eps 0.
    """
    for spec in attacks:
        check_attack_spec(spec)
    clean_correct = predict(model, x).argmax(1) == y
    rows = _rows("clean", "none", 0.0, y, clean_correct, None, clean_correct)
    jobs = [(spec, eps) for spec in attacks for eps in (spec.get("eps") or [math.nan])]
    for spec, eps in tqdm(jobs, desc="attacks", disable=not progress, leave=False):
        kwargs = {k: v for k, v in spec.items() if k not in SPEC_KEYS}
        if kwargs.get("loss") == "smoothed":
            kwargs["smoothing"] = smoothing
        if spec["attack"] not in MIN_NORM_ATTACKS:
            kwargs["eps"] = eps
        if "seed" in inspect.signature(ATTACKS[spec["attack"]]).parameters:
            kwargs.setdefault("seed", seed)
        torch.manual_seed(seed)
        start = time.perf_counter()
        if eps == 0:  # a zero budget leaves every point where it is: no need to run the attack
            x_adv, l2 = x, None
        else:
            x_adv, l2 = _run_batched(ATTACKS[spec["attack"]], model, x, y, batch_size, **kwargs)
        seconds = time.perf_counter() - start
        if l2 is not None:  # a minimum-norm attack says itself where it succeeded
            robust = clean_correct & torch.isinf(l2)
        else:
            robust = clean_correct & (predict(model, x_adv).argmax(1) == y)
        name = spec.get("name", spec["attack"])
        loss = "n/a" if spec["attack"] in MIN_NORM_ATTACKS else spec.get("loss", DEFAULT_LOSS.get(spec["attack"], "ce"))
        if timings is not None:
            timings[(name, loss, None if math.isnan(eps) else eps)] = seconds
        rows += _rows(name, loss, eps, y, robust, l2, clean_correct)
    return pd.DataFrame(rows, columns=COLUMNS)
