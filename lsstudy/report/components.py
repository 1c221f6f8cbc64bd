"""Where a gain's uncertainty comes from: training seeds, test points, or their interaction.

A gain is measured on differences ``d[s, p] = method[s, p] - none[s, p]`` (point ``p`` robust under the smoothed
and the unsmoothed model of training seed ``s``): a crossed design with one observation a cell. The two-way
random-effects model ``d[s, p] = gain + a[s] + b[p] + e[s, p]`` splits its variance into a seed part (``var_seed``:
how much the gain moves with the training run), a point part (``var_point``: how much some points favour one model)
and a residual (``var_residual``: a point that one seed's models disagree on and another's do not). The usual ANOVA
estimates (Searle, Casella & McCulloch 1992, "Variance Components", ch. 4) come from the mean squares of seeds,
points and residual, whose expectations are ``var_residual + P var_seed``, ``var_residual + S var_point`` and
``var_residual``; a negative estimate is set to 0, as usual.

The variance of the mean gain over S seeds and P points is ``var_seed / S + var_point / P + var_residual / (S P)``,
so the components size a design (``design``) and give the estimate's own standard error, a combination of
mean squares whose degrees of freedom are Satterthwaite's (1946), as mixed-model software gives them. With one
seed the seed part cannot be told from the residual: the standard error is then the points' alone and
``var_seed`` is NaN.

Known limit, measured (docs/verdict.md): with few seeds the seed part is estimated from S - 1 degrees of freedom,
and a draw that puts it low (or at 0) gives a small standard error with many degrees of freedom, so tests are
somewhat liberal: at 5 seeds x 150 points with the default study's components, a true null is rejected 0.060 of
the time at 0.05 and 0.0056 at 0.002 (Holm's strictest step); more seeds bring both to their level.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Components:
    """The variance components of one gain, and the standard error and degrees of freedom of its mean."""
    seeds: int
    points: int
    gain: float
    var_seed: float
    var_point: float
    var_residual: float
    se: float
    df: float


def _mean_squares(differences: np.ndarray) -> tuple[float, float, float]:
    """(seeds, points, residual) mean squares of a two-way table with one value a cell."""
    n_seeds, n_points = differences.shape
    seed_means, point_means, mean = differences.mean(axis=1), differences.mean(axis=0), differences.mean()
    residual = differences - seed_means[:, None] - point_means[None, :] + mean
    return (n_points * np.sum((seed_means - mean) ** 2) / (n_seeds - 1),
            n_seeds * np.sum((point_means - mean) ** 2) / (n_points - 1),
            np.sum(residual ** 2) / ((n_seeds - 1) * (n_points - 1)))


def _satterthwaite(terms: list[tuple[float, float]]) -> float:
    """Degrees of freedom of sum(c * ms) for (c * ms, df) ``terms`` (Satterthwaite 1946); inf for a sum of 0."""
    total = sum(term for term, _ in terms)
    spread = sum(term ** 2 / df for term, df in terms if term)
    return float(total ** 2 / spread) if spread > 0 else float("inf")


def estimate(differences) -> Components:
    """The components of a (seeds, points) array of per-point differences, each in [-1, 1] (1: robust for the
    smoothed model only).

    Example::
        >>> estimate(method_masks.astype(float) - none_masks).var_seed
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim != 2 or d.shape[1] < 2:
        raise ValueError(f"differences has shape {d.shape}; it must be a 2-D array (seeds, points) with at least 2 points")
    n_seeds, n_points = d.shape
    if n_seeds == 1:
        variance = d[0].var(ddof=1)
        return Components(1, n_points, float(d.mean()), float("nan"), float(variance), float("nan"),
                          float(np.sqrt(variance / n_points)), float(n_points - 1))
    ms_seed, ms_point, ms_residual = _mean_squares(d)
    var_seed = max(0.0, (ms_seed - ms_residual) / n_points)
    var_point = max(0.0, (ms_point - ms_residual) / n_seeds)
    se, df = _mean_error(ms_seed, ms_point, ms_residual, var_seed > 0, var_point > 0, n_seeds, n_points)
    return Components(n_seeds, n_points, float(d.mean()), float(var_seed), float(var_point), float(ms_residual), se, df)


def _mean_error(ms_seed, ms_point, ms_residual, keep_seed: bool, keep_point: bool, seeds: int, points: int):
    """(standard error, Satterthwaite df) of the mean, var_seed / S + var_point / P + var_residual / (S P), written
    as mean squares: each component kept adds its mean square and takes one residual away; one set to 0 adds
    nothing."""
    scale = seeds * points
    terms = [(keep_seed * ms_seed / scale, seeds - 1), (keep_point * ms_point / scale, points - 1),
             ((1 - keep_seed - keep_point) * ms_residual / scale, (seeds - 1) * (points - 1))]
    return float(np.sqrt(max(sum(term for term, _ in terms), 0.0))), _satterthwaite(terms)


def design(var_seed: float, var_point: float, var_residual: float, seeds: int, points: int) -> tuple[float, float]:
    """(standard error, degrees of freedom) a design of ``seeds`` (>= 2) x ``points`` would give the mean gain,
    from components: the mean squares at their expected values."""
    return _mean_error(var_residual + points * var_seed, var_residual + seeds * var_point, var_residual,
                       var_seed > 0, var_point > 0, seeds, points)
