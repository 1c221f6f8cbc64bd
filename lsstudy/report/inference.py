"""Is a smoothed model's gain in robust accuracy over the unsmoothed model of the same seed real, absent, or
still open, given a few seeds and a finite set of test points?

Each comparison is a (seeds, points) pair of robustness masks. Its gain is the mean difference; its standard
error and degrees of freedom come from the variance components of seeds and points (``lsstudy.report.components``), so
both sources of noise count and a few seeds get a Student-t interval wide enough for them (the paired bootstrap
this replaces under-covered there: 0.80 and 0.86 for a nominal 0.95 at 3 and 5 seeds, where this interval gives
0.93 and 0.94, in the simulations of tests/test_inference.py).

Two tests a comparison, both corrected with Holm over every test of the family (2 m for m comparisons):
- "is there a difference?": two-sided, H0: gain = 0;
- "is any gain below ``delta``?": one-sided, H0: gain >= delta, the upper half of an equivalence test (two
  one-sided tests; Schuirmann 1987, Wellek 2010, ch. 2), ``delta`` a practical margin said in advance.

The call: "gain" or "loss" where the first test rejects; otherwise "no gain above delta" where the second does;
otherwise "unresolved", with the largest gain the family's data do not exclude (the one-sided upper bound at the
level of Holm's first step; a call that could not reject has its bound at or above ``delta``); "no interval"
where every seed and point gave the same difference. ``min_detectable_gain`` and ``simulated_power`` say what a
design can see.
"""

import numpy as np
from scipy import stats

from lsstudy.report import components as variance

LEVEL = 0.05
POWER = 0.8
DELTA = 0.03
CALLS = ("gain", "loss", "no gain above delta", "unresolved", "no interval")
COLUMNS = ["gain", "ci_low", "ci_high", "se", "df", "var_seed", "var_point", "var_residual", "p_value", "p_below",
           "p_holm", "p_below_holm", "largest_gain_not_excluded", "call"]


def _check_fraction(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"{name}={value!r} is not allowed; it must be a number in (0, 1)")


def _mask(values, name: str) -> np.ndarray:
    """``values`` as a float (seeds, points) array of 0s and 1s, or a ValueError naming ``name``."""
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise ValueError(f"{name} has shape {array.shape}; it must be a 2-D array (seeds, points) with at least 2 points")
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} has values outside {{0, 1}}; it must be a robustness mask (1 = robust)")
    return array.astype(float)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment (Holm 1979, "A simple sequentially rejective multiple test procedure"):
    the k-th smallest of m p-values is multiplied by m - k + 1, made non-decreasing in that order and
    capped at 1. Rejecting where the adjusted value is below the level controls the family-wise error
    rate at that level under any dependence between the tests. Returns the adjusted values in input order."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or p.size == 0 or not ((p >= 0) & (p <= 1)).all():
        raise ValueError(f"p_values={p_values!r} is not allowed; it must be a non-empty 1-D list of numbers in [0, 1]")
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def compare(method, none, delta: float = DELTA, level: float = LEVEL) -> dict:
    """One comparison, uncorrected: the gain of ``method`` over ``none`` (masks of the same seeds on the same
    points), its variance components, the (1 - ``level``) t-interval, the two-sided p-value of no difference
    (``p_value``) and the one-sided p-value of a gain of ``delta`` or more (``p_below``)."""
    method, none = _mask(method, "method"), _mask(none, "none")
    if method.shape != none.shape:
        raise ValueError(f"none has shape {none.shape}; it must have method's shape {method.shape} "
                         "(same seeds, same points)")
    _check_fraction(level, "level")
    _check_fraction(delta, "delta")
    c = variance.estimate(method - none)
    row = {"gain": c.gain, "se": c.se, "df": c.df, "var_seed": c.var_seed, "var_point": c.var_point,
           "var_residual": c.var_residual, "seeds": c.seeds, "points": c.points}
    if c.se == 0:  # no measure of uncertainty: no interval, no test
        return row | {"ci_low": c.gain, "ci_high": c.gain, "p_value": np.nan, "p_below": np.nan}
    half = stats.t.ppf(1 - level / 2, c.df) * c.se
    return row | {"ci_low": c.gain - half, "ci_high": c.gain + half,
                  "p_value": float(2 * stats.t.sf(abs(c.gain) / c.se, c.df)),
                  "p_below": float(stats.t.cdf((c.gain - delta) / c.se, c.df))}


def call(row: dict, level: float = LEVEL) -> str:
    """The call of one comparison from its Holm-adjusted p-values (``p_holm``, ``p_below_holm``)."""
    if not np.isfinite(row["p_value"]):
        return "no interval"
    if row["p_holm"] < level:
        return "gain" if row["gain"] > 0 else "loss"
    return "no gain above delta" if row["p_below_holm"] < level else "unresolved"


def family(pairs, delta: float = DELTA, level: float = LEVEL, called=None) -> list[dict]:
    """``compare`` for each (method, none) pair, with Holm over the two tests of every called pair and the call.

    ``called``: one bool a pair, which pairs make the family (None: all). The others keep their interval and
    p-values but get NaN adjusted p-values and the call "not called": descriptive rows, such as the steps of an
    evaluation ladder between its ends, that should not dilute the calls that matter. Returns one dict a pair,
    in order, with ``COLUMNS`` (and ``seeds``, ``points``)."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty; it must hold at least one (method, none) pair of masks")
    called = [True] * len(pairs) if called is None else [bool(c) for c in called]
    if len(called) != len(pairs):
        raise ValueError(f"called has {len(called)} values; it must have one a pair ({len(pairs)})")
    rows = [compare(method, none, delta, level) for method, none in pairs]
    tested = [row for row, is_called in zip(rows, called) if is_called and np.isfinite(row["p_value"])]
    tests = 2 * len(tested)
    if tested:
        adjusted = holm([row["p_value"] for row in tested] + [row["p_below"] for row in tested])
        for row, p_holm, p_below_holm in zip(tested, adjusted[:len(tested)], adjusted[len(tested):]):
            row["p_holm"], row["p_below_holm"] = float(p_holm), float(p_below_holm)
            row["largest_gain_not_excluded"] = row["gain"] + stats.t.ppf(1 - level / tests, row["df"]) * row["se"]
    for row, is_called in zip(rows, called):
        for key in ["p_holm", "p_below_holm", "largest_gain_not_excluded"]:
            row.setdefault(key, np.nan)
        row["call"] = call(row, level) if is_called else "not called"
    return [{column: row[column] for column in [*COLUMNS, "seeds", "points"]} for row in rows]


def min_detectable_gain(se: float, df: float, level: float = LEVEL, power: float = POWER) -> float:
    """The smallest gain a two-sided t-test at ``level`` detects with probability ``power``, for an estimate with
    standard error ``se`` and ``df`` degrees of freedom: (t_{1 - level/2} + t_power) * se (the usual approximation,
    checked by ``simulated_power``)."""
    if not np.isfinite(se) or se < 0:
        raise ValueError(f"se={se!r} is not allowed; it must be a finite number >= 0")
    _check_fraction(level, "level")
    _check_fraction(power, "power")
    return float((stats.t.ppf(1 - level / 2, df) + stats.t.ppf(power, df)) * se)


def simulated_power(c: variance.Components, gain: float, level: float = LEVEL, runs: int = 2000,
                    seed: int = 0) -> float:
    """How often the two-sided test at ``level`` finds a true ``gain`` on a design of ``c.seeds`` x ``c.points``,
    simulating the two-way model with the components ``c`` (normal effects) and running the whole estimate
    (components, Satterthwaite, t) on each draw: a check of ``min_detectable_gain``'s approximation."""
    rng = np.random.default_rng(seed)
    var_seed = 0.0 if np.isnan(c.var_seed) else c.var_seed
    var_residual = 0.0 if np.isnan(c.var_residual) else c.var_residual
    found = 0
    for _ in range(runs):
        d = (gain + rng.normal(0, np.sqrt(var_seed), (c.seeds, 1)) + rng.normal(0, np.sqrt(c.var_point), (1, c.points))
             + rng.normal(0, np.sqrt(var_residual), (c.seeds, c.points)))
        drawn = variance.estimate(d)
        found += drawn.se > 0 and 2 * stats.t.sf(abs(drawn.gain) / drawn.se, drawn.df) < level
    return found / runs


def seeds_needed(c: variance.Components, target: float, points: int, level: float = LEVEL, power: float = POWER,
                 most: int = 1000) -> float:
    """The fewest seeds with which a design of ``points`` test points detects a gain of ``target`` with
    ``power`` at ``level``, by the components ``c``; inf if ``most`` seeds are not enough (the points' part alone
    can be too large). NaN when the seed part is unknown (one seed)."""
    if np.isnan(c.var_seed):
        return float("nan")
    for seeds in range(2, most + 1):
        se, df = variance.design(c.var_seed, c.var_point, c.var_residual, seeds, points)
        if min_detectable_gain(se, df, level, power) <= target:
            return float(seeds)
    return float("inf")
