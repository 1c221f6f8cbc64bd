"""Variance components of a gain against answers known independently: a table worked by hand, the expected
values of the ANOVA estimates over simulations of a two-way model with known components, and the one-seed case
against the plain variance over points."""

import numpy as np
import pytest

from lsstudy.report import components


def test_a_two_by_three_table_worked_by_hand():
    d = np.array([[1.0, 0.0, 0.0],
                  [1.0, 1.0, 1.0]])
    # grand mean 2/3; seed means 1/3, 1; point means 1, 1/2, 1/2
    # MS_seed = 3 x ((1/3 - 2/3)^2 + (1 - 2/3)^2) / 1 = 2/3
    # MS_point = 2 x ((1/3)^2 + 2 (1/6)^2) / 2 = 1/6
    # residuals: d - seed mean - point mean + grand mean = [[1/3, -1/6, -1/6], [-1/3, 1/6, 1/6]]; SS = 1/3; MS = 1/6
    c = components.estimate(d)
    assert c.gain == pytest.approx(2 / 3)
    assert c.var_residual == pytest.approx(1 / 6)
    assert c.var_seed == pytest.approx((2 / 3 - 1 / 6) / 3)
    assert c.var_point == 0.0  # (1/6 - 1/6) / 2
    # the point part is 0, so the mean's variance is MS_seed / (S P), with MS_seed's 1 degree of freedom
    assert c.se == pytest.approx(np.sqrt((2 / 3) / 6))
    assert c.df == pytest.approx(1.0)


def test_estimates_are_unbiased_and_the_standard_error_is_the_spread_of_the_mean():
    rng = np.random.default_rng(0)
    seeds, points, truth = 5, 200, {"var_seed": 0.002, "var_point": 0.05, "var_residual": 0.08}
    estimates, means = [], []
    for _ in range(400):
        d = (0.02 + rng.normal(0, np.sqrt(truth["var_seed"]), (seeds, 1))
             + rng.normal(0, np.sqrt(truth["var_point"]), (1, points))
             + rng.normal(0, np.sqrt(truth["var_residual"]), (seeds, points)))
        c = components.estimate(d)
        estimates.append([c.var_seed, c.var_point, c.var_residual, c.se])
        means.append(c.gain)
    var_seed, var_point, var_residual, se = np.mean(estimates, axis=0)
    # the truncation at 0 biases var_seed up a little (its estimate has 4 degrees of freedom): 15% allowed
    assert var_seed == pytest.approx(truth["var_seed"], rel=0.15)
    assert var_point == pytest.approx(truth["var_point"], rel=0.05)
    assert var_residual == pytest.approx(truth["var_residual"], rel=0.02)
    exact = np.sqrt(truth["var_seed"] / seeds + truth["var_point"] / points + truth["var_residual"] / (seeds * points))
    assert np.std(means, ddof=1) == pytest.approx(exact, rel=0.1)
    assert se == pytest.approx(exact, rel=0.1)
    assert components.design(*truth.values(), seeds, points)[0] == pytest.approx(exact)


def test_one_seed_is_the_variance_over_points():
    d = np.random.default_rng(1).integers(-1, 2, (1, 300)).astype(float)
    c = components.estimate(d)
    assert np.isnan(c.var_seed) and np.isnan(c.var_residual)
    assert c.se == pytest.approx(d[0].std(ddof=1) / np.sqrt(300)) and c.df == 299


def test_a_table_with_too_few_points_is_refused_by_name():
    with pytest.raises(ValueError, match="differences has shape"):
        components.estimate(np.zeros((3, 1)))
