"""The statistics of the verdict: is a smoothed model's gain in robust accuracy over the unsmoothed
model of the same arch and seed real, given few seeds and a finite set of test points?

A gain is measured on masks ``method[s, p]`` and ``none[s, p]`` in {0, 1} (point ``p`` robust under
training seed ``s``); the gain is ``mean(method) - mean(none)``. Its uncertainty has two sources: the
training seeds and the test points, which are crossed (every seed is evaluated on the same points). A
Student-t interval over the seeds sees only the first; when every seed shows the same difference its
width is 0 and any gain, however small, would be called.

``paired_bootstrap`` resamples both; ``holm`` corrects a family of p-values; ``call`` turns an interval
and an adjusted p-value into "gain", "loss", "no gain" or "no interval"; ``min_detectable_gain`` says
how large a gain the design could have seen; ``gain_family`` does all of it for a family of comparisons.
"""

import numpy as np
from scipy import stats

from lsstudy.checks import check_positive_int

LEVEL = 0.05
POWER = 0.8
N_RESAMPLES = 2000
COLUMNS = ["gain", "ci_low", "ci_high", "se", "p_value", "p_holm", "call", "min_detectable_gain", "resampled"]


def _check_fraction(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"{name}={value!r} is not allowed; it must be a number in (0, 1)")


def _mask(values, name: str) -> np.ndarray:
    """``values`` as a float (seeds, points) array of 0s and 1s, or a ValueError naming ``name``."""
    array = np.asarray(values)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} has shape {array.shape}; it must be a non-empty 2-D array (seeds, points)")
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} has values outside {{0, 1}}; it must be a robustness mask (1 = robust)")
    return array.astype(float)


def _draw_counts(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    """(n_resamples, n) float array: how often each of ``n`` items is drawn in each of ``n_resamples``
    draws of ``n`` with replacement (multinomial counts; one bincount is much faster than
    ``rng.multinomial``, which loops over rows)."""
    draws = rng.integers(0, n, size=(n_resamples, n)) + n * np.arange(n_resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=n_resamples * n).reshape(n_resamples, n).astype(float)


def paired_bootstrap(method, none, n_resamples: int = N_RESAMPLES, level: float = LEVEL, seed: int = 0) -> dict:
    """Gain of ``method`` over ``none`` with a paired two-way (crossed) bootstrap.

    Seeds and test points are resampled independently with replacement (the pigeonhole bootstrap of
    Owen 2007, "The pigeonhole bootstrap", Ann. Appl. Stat. 1(2); Davison & Hinkley 1997, ch. 2 and 3.8),
    and both models keep the same resampled seeds and points (paired). Both are resampled because a
    different training seed and a different draw of test points would each move the gain; resampling
    only one ignores the other's variance. Owen shows this bootstrap is mildly conservative for crossed
    designs. With one seed only the points are resampled (``resampled`` says which).

    Limit: resampling S seeds shrinks the seed part of the variance by (S - 1) / S and the percentile
    interval has no t correction, so with 3 to 5 seeds the interval is too short when the gain varies
    mostly from seed to seed (simulated, S = 3 or 5: coverage 0.87 where the t-interval over seeds has
    0.95); where it varies mostly from point to point it covers (0.97, against 0.74 for the t-interval).

    Each replicate is a pair of count vectors (how often each seed and each point was drawn), so the
    ``n_resamples`` replicate means are one weighted sum, ``einsum("bs,sp,bp->b")``.

    Arguments:
        method (array (seeds, points) in {0, 1}): robustness mask of the label-smoothed models.
        none (array, same shape): the unsmoothed models of the same seeds, on the same points.
        n_resamples (int): bootstrap replicates B, >= 100. (Default: 2000)
        level (float): 1 - the interval's confidence, in (0, 1). (Default: 0.05, a 95% interval)
        seed (int): seed of the numpy Generator that draws the replicates. (Default: 0)

    Returns:
        dict with ``gain`` (observed mean difference), ``ci_low`` and ``ci_high`` (percentile interval at
        confidence 1 - level), ``se`` (standard deviation of the replicates), ``p_value`` (two-sided, for
        gain = 0: 2 * (1 + replicates on the far side of 0, ties counted on both sides) / (B + 1), capped
        at 1, so never 0) and ``resampled`` ("seeds and points" or "points only").

    Example::
        >>> paired_bootstrap(method_masks, none_masks)["ci_low"]
    """
    method, none = _mask(method, "method"), _mask(none, "none")
    if method.shape != none.shape:
        raise ValueError(f"none has shape {none.shape}; it must have method's shape {method.shape} "
                         "(same seeds, same points)")
    check_positive_int(n_resamples, "n_resamples")
    if n_resamples < 100:
        raise ValueError(f"n_resamples={n_resamples!r} is not allowed; it must be >= 100 for a percentile interval")
    _check_fraction(level, "level")
    differences = method - none
    n_seeds, n_points = differences.shape
    rng = np.random.default_rng(seed)
    seed_counts = _draw_counts(rng, n_seeds, n_resamples)
    point_counts = _draw_counts(rng, n_points, n_resamples)
    replicates = np.einsum("bs,sp,bp->b", seed_counts, differences, point_counts, optimize=True) / (n_seeds * n_points)
    ci_low, ci_high = np.quantile(replicates, [level / 2, 1 - level / 2])
    far_side = min(np.sum(replicates <= 0), np.sum(replicates >= 0))
    return {
        "gain": float(differences.mean()),
        "ci_low": float(ci_low),
        "ci_high": float(ci_high),
        "se": float(replicates.std(ddof=1)),
        "p_value": min(1.0, 2 * (1 + int(far_side)) / (n_resamples + 1)),
        "resampled": "seeds and points" if n_seeds > 1 else "points only",
    }


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment (Holm 1979, "A simple sequentially rejective multiple test procedure"):
    the k-th smallest of m p-values is multiplied by m - k + 1, made non-decreasing in that order and
    capped at 1. Rejecting where the adjusted value is below ``level`` controls the family-wise error
    rate at ``level`` under any dependence between the tests. Returns the adjusted values in input order."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or p.size == 0 or not ((p >= 0) & (p <= 1)).all():
        raise ValueError(f"p_values={p_values!r} is not allowed; it must be a non-empty 1-D list of numbers in [0, 1]")
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def call(ci_low: float, ci_high: float, p_adjusted: float, level: float = LEVEL) -> str:
    """The verdict on one gain.

    - "no interval" when ``ci_low == ci_high``: every replicate gave the same gain, so there is no
      measure of its uncertainty and no call rests on it, whatever the p-value;
    - "gain" when ``p_adjusted < level`` and ``ci_low > 0``;
    - "loss" when ``p_adjusted < level`` and ``ci_high < 0``;
    - "no gain" otherwise (a difference the design cannot tell from 0).
    ``p_adjusted`` is the family's Holm-adjusted p-value (``holm``); the interval is per comparison.
    """
    _check_fraction(level, "level")
    if ci_low == ci_high:
        return "no interval"
    if p_adjusted < level and ci_low > 0:
        return "gain"
    if p_adjusted < level and ci_high < 0:
        return "loss"
    return "no gain"


def min_detectable_gain(se: float, level: float = LEVEL, power: float = POWER) -> float:
    """The smallest gain a two-sided test at ``level`` detects with probability ``power``, given the
    bootstrap standard error ``se``: (z_{1 - level/2} + z_power) * se, about 2.80 * se at the defaults.
    Normal approximation: the gain estimate is taken as normal with standard deviation ``se``, the same
    under no gain and under the gain sought."""
    if not np.isfinite(se) or se < 0:
        raise ValueError(f"se={se!r} is not allowed; it must be a finite number >= 0")
    _check_fraction(level, "level")
    _check_fraction(power, "power")
    return float((stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)) * se)


def gain_family(pairs, n_resamples: int = N_RESAMPLES, level: float = LEVEL, power: float = POWER,
                seed: int = 0, called=None) -> list[dict]:
    """``paired_bootstrap`` for each (method, none) pair of a family of comparisons, with the p-values
    Holm-adjusted over the pairs that are called, the call and the smallest detectable gain.

    ``called``: one bool a pair, which pairs make the family of calls (None: all). The others get their
    interval and p-value but no adjusted p-value (NaN) and the call "not called": descriptive rows, such as
    the intermediate steps of an evaluation ladder, that should not dilute the calls that matter.
    Every pair is resampled from the same ``seed``, so a pair's row does not depend on which other
    pairs are in the family. Returns one dict a pair, in order, with the keys ``COLUMNS`` in
    that order (``pandas.DataFrame(rows)`` makes the table).
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty; it must hold at least one (method, none) pair of masks")
    called = [True] * len(pairs) if called is None else [bool(c) for c in called]
    if len(called) != len(pairs) or not any(called):
        raise ValueError(f"called has {len(called)} values and {sum(called)} true; it must have one a pair "
                         f"({len(pairs)}) and at least one true")
    rows = [paired_bootstrap(method, none, n_resamples, level, seed) for method, none in pairs]
    family = [row for row, is_called in zip(rows, called) if is_called]
    for row, p_holm in zip(family, holm([row["p_value"] for row in family])):
        row["p_holm"] = float(p_holm)
        row["call"] = call(row["ci_low"], row["ci_high"], p_holm, level)
    for row in rows:
        row.setdefault("p_holm", float("nan"))
        row.setdefault("call", "not called")
        row["min_detectable_gain"] = min_detectable_gain(row["se"], level, power)
    return [{column: row[column] for column in COLUMNS} for row in rows]
