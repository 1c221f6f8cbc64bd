"""Run a grid of attacks on one model and return a tidy table.

Accuracy follows the RobustBench convention: a test point counts as robust only if the model
classifies it correctly both clean and under attack, over all test points (so adversarial accuracy
never exceeds clean accuracy). For the minimum-norm attacks (DeepFool, CW-L2) the accuracy is what
the bounded attack leaves (points it failed to flip within its iterations, as the paper reported),
and the L2 columns summarise the successful perturbations of points that were correct clean.

The rows for all classes also carry ``robust_points``, one character per test point ("1": correct
clean and under attack), so that per-example combinations of attacks (the worst case over all of
them, a point counting only if every attack failed on it) can be computed from the table alone.
"""

import inspect
import math

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from lsstudy.attacks import ATTACKS
from lsstudy.checks import check_choice, check_eps
from lsstudy.train import predict

MIN_NORM_ATTACKS = {"deepfool", "cw_l2"}
COLUMNS = ["attack", "loss", "eps", "class", "n", "accuracy", "median_l2", "mean_l2", "robust_points"]
# The objective an attack ascends when its spec names none.
DEFAULT_LOSS = {"square": "margin"}
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
               "accuracy": robust[mask].float().mean().item(), "median_l2": math.nan, "mean_l2": math.nan,
               "robust_points": points_string(robust) if cls == "all" else ""}
        if l2 is not None:
            flipped = l2[mask & clean_correct & torch.isfinite(l2)]
            if len(flipped):
                row["median_l2"], row["mean_l2"] = flipped.median().item(), flipped.mean().item()
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
            (APGD, Square), so random starts are reproducible.

    Returns a DataFrame with columns ``COLUMNS``; ``class`` is "all" or the class index as a string;
    ``loss`` is the objective the attack ascended (the spec's, else ``DEFAULT_LOSS`` or "ce");
    ``eps`` is NaN and ``loss`` "n/a" for the minimum-norm attacks; the clean row has attack "clean",
    loss "none" and eps 0.
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
        if eps == 0:  # a zero budget leaves every point where it is: no need to run the attack
            x_adv, l2 = x, None
        else:
            x_adv, l2 = _run_batched(ATTACKS[spec["attack"]], model, x, y, batch_size, **kwargs)
        robust = clean_correct & (predict(model, x_adv).argmax(1) == y)
        loss = "n/a" if spec["attack"] in MIN_NORM_ATTACKS else spec.get("loss", DEFAULT_LOSS.get(spec["attack"], "ce"))
        rows += _rows(spec.get("name", spec["attack"]), loss, eps, y, robust, l2, clean_correct)
    return pd.DataFrame(rows, columns=COLUMNS)
