"""Means over seeds and their 95% Student-t intervals, against scipy and a loop written here."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lsstudy.report.statistics import half_width, summarise, t_interval


def test_half_width_is_the_student_t_interval():
    values = [0.61, 0.59, 0.63]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert half_width(values) == pytest.approx((high - low) / 2)
    assert t_interval(values) == pytest.approx((low, high))


def test_no_interval_from_one_value_or_an_infinite_one():
    assert np.isnan(half_width([0.5]))
    assert np.isnan(half_width([0.5, np.nan]))  # NaNs ignored: one value left
    assert np.isnan(half_width([1.2, np.inf, 1.4]))  # an infinite median norm
    assert t_interval([0.5]) == (0.5, 0.5)


def test_summarise_matches_a_loop_over_groups():
    rows = pd.DataFrame({"method": ["a", "a", "a", "b", "b"], "accuracy": [0.5, 0.6, 0.7, 0.2, 0.4]})
    summary = summarise(rows, ["method"]).set_index("method")
    for method, values in [("a", [0.5, 0.6, 0.7]), ("b", [0.2, 0.4])]:
        low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
        assert summary.loc[method, "mean"] == pytest.approx(np.mean(values))
        assert summary.loc[method, "half_width"] == pytest.approx((high - low) / 2)
        assert summary.loc[method, "seeds"] == len(values)
