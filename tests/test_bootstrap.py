"""The verdict's statistics against answers known independently: the coverage of the interval on
simulated masks with a known true gain, scipy's bootstrap, the exact variance of the crossed bootstrap,
Holm's procedure worked by hand, and the calls on cases whose verdict is obvious."""

import numpy as np
import pytest
from scipy import stats

from lsstudy.bootstrap import call, gain_family, holm, min_detectable_gain, paired_bootstrap


def simulated_masks(rng, n_seeds, n_points, delta, spreads):
    """Robustness masks from a probit model: point ``p`` is robust under seed ``s`` with probability
    Phi(difficulty_p + seed_s) without smoothing and Phi(difficulty_p + seed_s + delta + seed_gain_s +
    point_gain_p) with it. The population gain is E[Phi(mu + N(0, tau^2))] = Phi(mu / sqrt(1 + tau^2))
    summed over the two models: Phi(delta / sqrt(1 + sum of all spreads^2)) - 1/2."""
    difficulty, seed, seed_gain, point_gain = spreads
    shared = rng.normal(0, difficulty, n_points) + rng.normal(0, seed, (n_seeds, 1))
    smoothed = shared + delta + rng.normal(0, seed_gain, (n_seeds, 1)) + rng.normal(0, point_gain, n_points)
    none = rng.random((n_seeds, n_points)) < stats.norm.cdf(shared)
    method = rng.random((n_seeds, n_points)) < stats.norm.cdf(smoothed)
    true_gain = stats.norm.cdf(delta / np.sqrt(1 + np.sum(np.square(spreads)))) - 0.5
    return method, none, true_gain


def t_interval_over_seeds(method, none):
    per_seed = method.mean(axis=1) - none.mean(axis=1)
    half = stats.t.ppf(0.975, len(per_seed) - 1) * per_seed.std(ddof=1) / np.sqrt(len(per_seed))
    return per_seed.mean() - half, per_seed.mean() + half


def test_interval_covers_the_true_gain_where_a_t_interval_over_seeds_does_not():
    # 5 seeds, 200 points; the smoothed model helps some points and hurts others (point_gain spread 3),
    # seeds differ little: most of the gain's uncertainty is in which points were drawn.
    rng, runs = np.random.default_rng(1), 250
    covered = {"bootstrap": 0, "t over seeds": 0}
    gains, standard_errors = [], []
    for run in range(runs):
        method, none, true_gain = simulated_masks(rng, 5, 200, delta=0.3, spreads=(1.0, 0.1, 0.05, 3.0))
        out = paired_bootstrap(method, none, n_resamples=1000, seed=run)
        low, high = t_interval_over_seeds(method, none)
        covered["bootstrap"] += out["ci_low"] <= true_gain <= out["ci_high"]
        covered["t over seeds"] += low <= true_gain <= high
        gains.append(out["gain"])
        standard_errors.append(out["se"])
    # measured (1000 runs): bootstrap 0.970, t 0.735; the binomial sd at 250 runs is about 0.014 and 0.028
    assert covered["bootstrap"] / runs >= 0.90
    assert covered["t over seeds"] / runs <= 0.85
    # the interval is not merely wide: its se is close to the spread of the gain over repeated studies
    # (the crossed bootstrap is mildly conservative, Owen 2007; measured ratio 1.11)
    assert 0.9 <= np.mean(standard_errors) / np.std(gains, ddof=1) <= 1.35


def test_one_seed_interval_matches_scipy_paired_percentile_bootstrap():
    rng = np.random.default_rng(2)
    method, none = rng.random((1, 1000)) < 0.6, rng.random((1, 1000)) < 0.5
    ours = paired_bootstrap(method, none, n_resamples=10_000, seed=3)
    theirs = stats.bootstrap((method[0].astype(float), none[0].astype(float)),
                             lambda m, n, axis: np.mean(m - n, axis=axis), paired=True, vectorized=True,
                             n_resamples=10_000, method="percentile", rng=np.random.default_rng(4))
    assert ours["resampled"] == "points only"
    # each endpoint has a Monte Carlo sd of about 0.03 se at B = 10,000; allow 0.2 se
    assert ours["ci_low"] == pytest.approx(theirs.confidence_interval.low, abs=0.2 * ours["se"])
    assert ours["ci_high"] == pytest.approx(theirs.confidence_interval.high, abs=0.2 * ours["se"])
    assert ours["se"] == pytest.approx(theirs.standard_error, rel=0.05)


def test_one_seed_standard_error_is_sd_over_root_points():
    rng = np.random.default_rng(5)
    method, none = rng.random((1, 400)) < 0.7, rng.random((1, 400)) < 0.4
    differences = (method.astype(float) - none)[0]
    out = paired_bootstrap(method, none, n_resamples=8000, seed=6)
    # relative Monte Carlo error of a bootstrap sd is about 1 / sqrt(2 B) = 0.8%
    assert out["se"] == pytest.approx(differences.std(ddof=0) / np.sqrt(400), rel=0.04)


def test_two_way_standard_error_matches_the_exact_variance_of_the_crossed_bootstrap():
    # T = w' D v with w ~ Multinomial(S, 1/S) / S, v ~ Multinomial(P, 1/P) / P independent; with
    # C_n = (I/n - 11'/n^2) / n the covariance of such a weight vector and m_n = 1/n its mean,
    # Var T = tr(D C_P D' C_S) + m_S' D C_P D' m_S + m_P' D' C_S D m_P.
    rng = np.random.default_rng(7)
    n_seeds, n_points = 4, 60
    method = rng.random((n_seeds, n_points)) < rng.uniform(0.3, 0.9, (n_seeds, 1))
    none = rng.random((n_seeds, n_points)) < 0.5
    d = method.astype(float) - none

    def weight_cov(n):
        return (np.eye(n) / n - np.ones((n, n)) / n**2) / n

    m_s, m_p = np.full(n_seeds, 1 / n_seeds), np.full(n_points, 1 / n_points)
    variance = (np.trace(d @ weight_cov(n_points) @ d.T @ weight_cov(n_seeds))
                + m_s @ d @ weight_cov(n_points) @ d.T @ m_s + m_p @ d.T @ weight_cov(n_seeds) @ d @ m_p)
    out = paired_bootstrap(method, none, n_resamples=8000, seed=8)
    assert out["resampled"] == "seeds and points"
    assert out["gain"] == pytest.approx(d.mean())
    assert out["se"] == pytest.approx(np.sqrt(variance), rel=0.05)


def test_holm_against_a_worked_example():
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> max so far 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # 2 x 0.5 = 1.0, then 0.6 steps up to 1.0
    assert holm([0.02]) == pytest.approx([0.02])


def test_one_point_won_by_each_of_three_seeds_is_not_a_gain():
    none = np.zeros((3, 150))
    method = none.copy()
    method[[0, 1, 2], [10, 20, 30]] = 1  # +1/150 on every seed: a t-interval over seeds has width 0
    (row,) = gain_family([(method, none)])
    assert row["gain"] == pytest.approx(1 / 150)
    assert row["call"] == "no gain"
    assert row["ci_low"] <= 0 < row["ci_high"]


def test_identical_masks_give_no_gain_and_no_call():
    masks = np.random.default_rng(9).random((4, 200)) < 0.5
    (row,) = gain_family([(masks, masks.copy())])
    assert row["gain"] == 0 and row["ci_low"] == row["ci_high"] == 0
    assert row["p_value"] == 1.0
    assert row["call"] == "no interval"


def test_a_large_gain_is_called_and_its_reverse_is_a_loss():
    rng = np.random.default_rng(10)
    method, none = rng.random((5, 300)) < 0.6, rng.random((5, 300)) < 0.3
    gain, loss = gain_family([(method, none), (none, method)])
    assert gain["call"] == "gain" and loss["call"] == "loss"
    assert gain["gain"] == pytest.approx(method.mean() - none.mean())
    # no replicate reaches 0 on either side: p = 2 / 2001 each, and Holm doubles the smaller of two
    assert gain["p_value"] == pytest.approx(2 / 2001) and gain["p_holm"] == loss["p_holm"] == pytest.approx(4 / 2001)
    assert gain["min_detectable_gain"] < gain["gain"]


def test_call_rule():
    assert call(0.01, 0.05, 0.01) == "gain"
    assert call(0.01, 0.05, 0.2) == "no gain"  # the interval excludes 0 but the family-wise test does not
    assert call(-0.05, -0.01, 0.01) == "loss"
    assert call(-0.01, 0.05, 0.01) == "no gain"
    assert call(0.02, 0.02, 0.0) == "no interval"


def test_p_value_is_never_zero_and_symmetric_in_the_two_models():
    rng = np.random.default_rng(11)
    method, none = rng.random((3, 500)) < 0.9, rng.random((3, 500)) < 0.1
    forward, backward = paired_bootstrap(method, none), paired_bootstrap(none, method)
    assert forward["p_value"] == backward["p_value"] == pytest.approx(2 / 2001)  # no replicate at or below 0
    assert forward["ci_low"] == pytest.approx(-backward["ci_high"])


def test_min_detectable_gain_is_z_sum_times_se():
    assert min_detectable_gain(0.01) == pytest.approx((1.959964 + 0.841621) * 0.01, rel=1e-6)
    assert min_detectable_gain(0.01, level=0.01, power=0.9) == pytest.approx((2.575829 + 1.281552) * 0.01, rel=1e-6)


@pytest.mark.parametrize("kwargs, name", [
    ({"method": np.ones((3, 10)), "none": np.ones((3, 11))}, "none"),
    ({"method": np.ones(10), "none": np.ones(10)}, "method"),
    ({"method": np.ones((3, 10)), "none": np.full((3, 10), 0.5)}, "none"),
    ({"method": np.ones((3, 10)), "none": np.ones((3, 10)), "n_resamples": 99}, "n_resamples"),
    ({"method": np.ones((3, 10)), "none": np.ones((3, 10)), "level": 1.0}, "level"),
    ({"method": np.ones((3, 10)), "none": np.ones((3, 10)), "level": 0}, "level"),
])
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        paired_bootstrap(**kwargs)


def test_bad_family_input_names_the_argument():
    with pytest.raises(ValueError, match="p_values"):
        holm([0.1, 1.5])
    with pytest.raises(ValueError, match="pairs"):
        gain_family([])
    with pytest.raises(ValueError, match="power"):
        min_detectable_gain(0.01, power=1.2)
