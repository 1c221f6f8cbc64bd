"""Run a grid of attacks on one model and return a tidy table.

Accuracy follows the RobustBench convention: a test point counts as robust only if the model
classifies it correctly both clean and under attack, over all test points (so adversarial accuracy
never exceeds clean accuracy). Points misclassified clean are never attacked: they count as not robust.

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

In a **cascade** (``cascade=True``, what the confirm stage runs), each bounded attack runs only on the points
that every attack before it at the same eps left robust, as AutoAttack runs its own attacks: a row's
``robust_points`` and ``accuracy`` are then the worst case over it and every attack before it (the per-point
worst case over all rows is unchanged; only a row's own accuracy is no longer its attack's alone). Specs
marked ``standalone`` still run on every point correct clean (cheap attacks whose own accuracy a table
reports). ``attacked`` counts the points whose result a row reports. Random starts are drawn per point
(``point_seeds``), so an attack gives a point the same result whichever points share its batch: the
cascade gives the same per-point worst case as attacking every point, exactly for this package's attacks,
and up to their own batch-wide random draws for torchattacks' (APGD, Square, AutoAttack's).

No attack runs twice: a spec that computes what an earlier one computed (the paper's protocol on a model
whose smoothed target is one-hot is plain cross-entropy) takes the earlier result.
"""

import inspect
import json
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
COLUMNS = ["attack", "loss", "eps", "class", "n", "attacked", "accuracy", "median_l2", "failure_rate",
           "robust_points"]
# The objective an attack ascends when its spec names none ("standard": AutoAttack's own ensemble of losses).
DEFAULT_LOSS = {"square": "margin", "autoattack": "standard", "exact": "none"}
SPEC_KEYS = ("attack", "eps", "name", "standalone")  # evaluate's own keys; the others go to the attack function


def check_attack_spec(spec: dict) -> None:
    """Raise ValueError naming the key if an attack spec of ``evaluate`` is not allowed."""
    check_choice("attack", spec.get("attack"), list(ATTACKS))
    if spec["attack"] not in MIN_NORM_ATTACKS:
        if not spec.get("eps"):
            raise ValueError(f"attack {spec['attack']!r} needs a non-empty list 'eps'")
        for eps in spec["eps"]:
            check_eps(eps)


def row_key(spec: dict) -> tuple[str, str]:
    """(attack, loss) of the rows a spec gives: its ``name`` (else its attack) and the objective it ascends
    (the spec's ``loss``, else ``DEFAULT_LOSS`` or "ce"; "n/a" for the minimum-norm attacks)."""
    if spec["attack"] in MIN_NORM_ATTACKS:
        return spec.get("name", spec["attack"]), "n/a"
    return spec.get("name", spec["attack"]), spec.get("loss", DEFAULT_LOSS.get(spec["attack"], "ce"))


def point_seeds(seed: int, n: int) -> torch.Tensor:
    """One seed per point of the evaluated set, from the run's ``seed`` and the point's position, so a point's
    random start does not depend on which points share its batch."""
    return seed * 2**32 + torch.arange(n, dtype=torch.int64)


def _one_hot_target(smoothing: dict | None) -> bool:
    return smoothing is not None and (smoothing["method"] == "none" or smoothing["alpha"] == 0)


def _same_attack(attack: str, eps: float, kwargs: dict, smoothing: dict | None) -> str:
    """What an attack computes, as a key: the paper's protocol with a one-hot smoothed target is plain
    cross-entropy, so both get the same key."""
    kwargs = dict(kwargs)
    if kwargs.get("loss") == "smoothed" and _one_hot_target(smoothing):
        kwargs["loss"] = "ce"
        kwargs.pop("smoothing")
    return json.dumps([attack, eps, sorted(kwargs.items())], default=id)  # objects (a transfer source) by identity


def _run_batched(attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                 seeds: torch.Tensor | None, **kwargs):
    """Adversarial x (and L2 norms for minimum-norm attacks) for all of x, batch by batch."""
    device = next(model.parameters()).device
    outs = []
    for i in range(0, len(x), batch_size):
        if seeds is not None:
            kwargs["point_seeds"] = seeds[i : i + batch_size]
        outs.append(attack(model, x[i : i + batch_size].to(device), y[i : i + batch_size].to(device), **kwargs))
    if isinstance(outs[0], tuple):
        return torch.cat([o[0].cpu() for o in outs]), torch.cat([o[1].cpu() for o in outs])
    return torch.cat([o.cpu() for o in outs]), None


def _rows(attack: str, loss: str, eps: float, y: torch.Tensor, robust: torch.Tensor, attacked: torch.Tensor,
          l2: torch.Tensor | None, clean_correct: torch.Tensor) -> list[dict]:
    rows = []
    for cls in ["all", *sorted(y.unique().tolist())]:
        mask = torch.ones_like(y, dtype=torch.bool) if cls == "all" else y == cls
        row = {"attack": attack, "loss": loss, "eps": eps, "class": str(cls), "n": int(mask.sum()),
               "attacked": int((mask & attacked).sum()), "accuracy": robust[mask].float().mean().item(),
               "median_l2": math.nan, "failure_rate": math.nan,
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
    cascade: bool = False,
) -> pd.DataFrame:
    """Clean accuracy and every attack of ``attacks`` on (x, y), one row per (attack, loss, eps, class).

    Args:
        model: a logits model in eval mode (its device is used).
        x, y: test images in [0, 1] and labels.
        attacks: specs such as ``{"attack": "fgsm", "eps": [0.1, 0.2], "loss": "ce"}`` or
            ``{"attack": "deepfool", "steps": 50}``; an optional ``name`` labels the rows instead of
            the attack (to run one attack with two settings); ``standalone: True`` keeps a bounded attack
            out of the cascade; other keys are passed to the attack function of ``lsstudy.attacks``.
        smoothing: the model's {method, alpha, temperature}, needed by specs with ``loss="smoothed"``
            (the paper's protocol).
        seed: seeds torch before each attack, and is passed to attacks with a ``seed`` argument
            (APGD, AutoAttack, Square); attacks with a ``point_seeds`` argument (PGD) get one seed per
            point (``point_seeds``), so random starts are reproducible and do not depend on the batch.
        timings: if a dict, filled with ``{(row name, loss, eps): seconds}``, the wall time of each
            attack run (eps None for the minimum-norm attacks, whose rows have eps NaN; results taken from
            an earlier identical attack cost nothing and are left out). Timings stay out of the table, so
            the same inputs give the same table, byte for byte.
        cascade: run each bounded attack, in the order of ``attacks``, only on the points that every attack
            before it at the same eps left robust (see the module docstring).

    Returns a DataFrame with columns ``COLUMNS``; ``class`` is "all" or the class index as a string;
    ``loss`` is the objective the attack ascended (``row_key``); ``eps`` is NaN and ``loss`` "n/a" for the
    minimum-norm attacks, whose rows alone carry ``median_l2`` (+inf when at least half the points correct
    clean resist) and ``failure_rate`` (see the module docstring); the clean row has attack "clean", loss
    "none" and eps 0; ``attacked`` counts the points whose result the row reports.
    """
    for spec in attacks:
        check_attack_spec(spec)
    clean_correct = predict(model, x).argmax(1) == y
    seeds = point_seeds(seed, len(x))
    rows = _rows("clean", "none", 0.0, y, clean_correct, torch.ones_like(clean_correct), None, clean_correct)
    survivors: dict[float, torch.Tensor] = {}  # per eps, in a cascade: the points every attack so far left robust
    done: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # what an attack computed: (robust, points it ran on)
    jobs = [(spec, eps) for spec in attacks for eps in (spec.get("eps") or [math.nan])]
    for spec, eps in tqdm(jobs, desc="attacks", disable=not progress, leave=False):
        attack = ATTACKS[spec["attack"]]
        kwargs = {k: v for k, v in spec.items() if k not in SPEC_KEYS}
        if kwargs.get("loss") == "smoothed":
            kwargs["smoothing"] = smoothing
        minimum_norm = spec["attack"] in MIN_NORM_ATTACKS
        if not minimum_norm:
            kwargs["eps"] = eps
        parameters = inspect.signature(attack).parameters
        if "seed" in parameters:
            kwargs.setdefault("seed", seed)
        in_cascade = cascade and not minimum_norm and not spec.get("standalone", False)
        attacked = survivors.get(eps, clean_correct) if in_cascade else clean_correct
        key = _same_attack(spec["attack"], eps, kwargs, smoothing)
        earlier = done.get(key)
        l2 = None
        start = time.perf_counter()
        if earlier is not None and not (attacked & ~earlier[1]).any():  # the same attack already ran on these
            robust = attacked & earlier[0]
        else:
            torch.manual_seed(seed)
            index = attacked.nonzero().squeeze(1)
            if eps == 0 or not len(index):  # a zero budget leaves every point where it is: nothing to run
                robust = attacked.clone()
            else:
                robust = torch.zeros_like(clean_correct)
                x_adv, l2_attacked = _run_batched(attack, model, x[index], y[index], batch_size,
                                                  seeds[index] if "point_seeds" in parameters else None, **kwargs)
                if l2_attacked is not None:  # a minimum-norm attack says itself where it succeeded
                    robust[index] = torch.isinf(l2_attacked)
                    l2 = torch.zeros(len(x), dtype=l2_attacked.dtype).index_put((index,), l2_attacked)
                else:
                    robust[index] = predict(model, x_adv).argmax(1) == y[index]
            if not minimum_norm:
                done[key] = (robust, attacked)
            if timings is not None:
                name, loss = row_key(spec)
                timings[(name, loss, None if math.isnan(eps) else eps)] = time.perf_counter() - start
        if cascade and not minimum_norm:
            survivors[eps] = survivors.get(eps, clean_correct) & robust
        rows += _rows(*row_key(spec), eps, y, robust, attacked, l2, clean_correct)
    return pd.DataFrame(rows, columns=COLUMNS)
