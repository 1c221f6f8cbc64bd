"""Means over seeds and their 95% Student-t intervals, as every table and figure of the study shows them.

Seeds vary training; the interval of a mean over n seeds is mean +- t(0.975, n - 1) * s / sqrt(n).
With one seed there is no interval. (seaborn's default bootstrap interval is unreliable with 2 to 5
seeds, hence ``t_interval`` as its ``errorbar``.)
"""

import numpy as np
import pandas as pd
from scipy import stats


def half_width(values) -> float:
    """Half-width of the 95% Student-t interval of the mean of ``values`` (NaNs ignored); NaN below 2
    values, and NaN when a value is infinite (an infinite median norm: no finite interval)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2 or not np.isfinite(values).all():
        return np.nan
    return stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))


def t_interval(values) -> tuple[float, float]:
    """(low, high) of the 95% t-interval of the mean of ``values``, collapsed to the mean with one
    value; usable as seaborn's ``errorbar`` callable."""
    mean, half = np.nanmean(values), half_width(values)
    half = 0.0 if np.isnan(half) else half
    return mean - half, mean + half


def summarise(rows: pd.DataFrame, by: list[str], value: str = "accuracy") -> pd.DataFrame:
    """Per ``by`` group: the mean of ``value`` over seeds, its 95% t half-width, and the seeds counted."""
    return (rows.groupby(by, sort=False, dropna=False)[value]
            .agg(mean="mean", half_width=half_width, seeds="count").reset_index())
