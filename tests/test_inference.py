"""The verdict's tests and calls against answers known independently: the coverage of the interval on simulated
masks with a known true gain (where seed noise dominates and where point noise does), scipy's paired t-test and
one-sided test with one seed, the null rate and the power the t approximation promises checked by simulation,
Holm's procedure worked by hand, and the calls on cases whose answer is obvious."""

import numpy as np
import pytest
from scipy import stats

from lsstudy.report import components, inference


def simulated_masks(rng, n_seeds, n_points, shift, spreads):
    """Robustness masks from a probit model: point ``p`` is robust under seed ``s`` with probability
    Phi(difficulty_p + seed_s) without smoothing and Phi(difficulty_p + seed_s + shift + seed_gain_s +
    point_gain_p) with it. The population gain is E[Phi(mu + N(0, tau^2))] = Phi(mu / sqrt(1 + tau^2))
    summed over the two models: Phi(shift / sqrt(1 + sum of all spreads^2)) - 1/2."""
    difficulty, seed, seed_gain, point_gain = spreads
    shared = rng.normal(0, difficulty, n_points) + rng.normal(0, seed, (n_seeds, 1))
    smoothed = shared + shift + rng.normal(0, seed_gain, (n_seeds, 1)) + rng.normal(0, point_gain, n_points)
    none = rng.random((n_seeds, n_points)) < stats.norm.cdf(shared)
    method = rng.random((n_seeds, n_points)) < stats.norm.cdf(smoothed)
    true_gain = stats.norm.cdf(shift / np.sqrt(1 + np.sum(np.square(spreads)))) - 0.5
    return method, none, true_gain


# Measured on these models: this interval 0.943, 0.933, 0.944 (2000 runs each); the paired bootstrap it replaced
# 0.970, 0.799, 0.863 (1000 runs, 1000 replicates). The binomial sd at 300 runs is about 0.013.
@pytest.mark.parametrize("n_seeds, n_points, spreads", [
    (5, 200, (1.0, 0.1, 0.05, 3.0)),  # the gain varies from point to point, seeds differ little
    (3, 300, (1.0, 0.3, 0.5, 0.3)),   # the gain varies from seed to seed, with few seeds
    (5, 300, (1.0, 0.3, 0.5, 0.3)),
])
def test_interval_covers_the_true_gain_whichever_noise_dominates(n_seeds, n_points, spreads):
    rng, runs, covered = np.random.default_rng(1), 300, 0
    for _ in range(runs):
        method, none, true_gain = simulated_masks(rng, n_seeds, n_points, 0.3, spreads)
        row = inference.compare(method, none)
        covered += row["ci_low"] <= true_gain <= row["ci_high"]
    assert 0.91 <= covered / runs <= 0.99


def test_one_seed_is_scipys_paired_t_test_and_its_one_sided_test_of_delta():
    rng = np.random.default_rng(2)
    method, none = rng.random((1, 500)) < 0.6, rng.random((1, 500)) < 0.55
    row = inference.compare(method, none, delta=0.03)
    d = method[0].astype(float) - none[0]
    assert row["p_value"] == pytest.approx(stats.ttest_rel(method[0].astype(float), none[0].astype(float)).pvalue)
    assert row["p_below"] == pytest.approx(stats.ttest_1samp(d - 0.03, 0.0, alternative="less").pvalue)
    low, high = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_no_difference_is_rejected_at_the_level_and_the_promised_power_is_found():
    c = components.Components(5, 300, 0.0, 0.002, 0.03, 0.08, *components.design(0.002, 0.03, 0.08, 5, 300))
    # a true null is rejected about at the level: a little more often with 5 seeds (0.056 in 20,000 runs; the
    # known limit of components.py)
    assert 0.03 <= inference.simulated_power(c, 0.0, level=0.05, runs=2000) <= 0.08
    detectable = inference.min_detectable_gain(c.se, c.df, level=0.05)
    assert inference.simulated_power(c, detectable, level=0.05, runs=2000) == pytest.approx(0.8, abs=0.03)
    # at Holm's strictest step of a family of 24 tests the approximation is optimistic with 4 df (the se itself
    # varies): the simulation finds 0.73, which is why power.csv reports both
    strict = inference.min_detectable_gain(c.se, c.df, level=0.05 / 24)
    assert 0.65 <= inference.simulated_power(c, strict, level=0.05 / 24, runs=2000) < 0.78


def test_seeds_needed_is_the_fewest_that_reach_the_target():
    c = components.Components(5, 300, 0.0, 0.002, 0.03, 0.08, *components.design(0.002, 0.03, 0.08, 5, 300))
    seeds = int(inference.seeds_needed(c, 0.03, 1000))
    def mde(s):
        return inference.min_detectable_gain(*components.design(0.002, 0.03, 0.08, s, 1000))
    assert mde(seeds) <= 0.03 < mde(seeds - 1)
    # the point part alone, 0.03 / 50 points, keeps any number of seeds above a 3-point gain
    assert inference.seeds_needed(c, 0.03, 50) == float("inf")


def test_holm_against_a_worked_example():
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> max so far 0.06
    assert inference.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert inference.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # 2 x 0.5 = 1.0, then 0.6 steps up to 1.0
    assert inference.holm([0.02]) == pytest.approx([0.02])


def test_the_four_calls_on_cases_whose_answer_is_obvious():
    rng = np.random.default_rng(10)
    base = rng.random((5, 2000)) < 0.5
    better = base | (rng.random((5, 2000)) < 0.3)  # about +15 points
    flip = rng.random((5, 2000)) < 0.02  # a few points change either way: about 0 on average
    same = base ^ flip
    small = rng.random((3, 40)) < 0.5  # few points: nothing can be said
    tiny_gain = small | (rng.random((3, 40)) < 0.1)
    rows = inference.family([(better, base), (base, better), (same, base), (tiny_gain, small)], delta=0.03)
    assert [row["call"] for row in rows] == ["gain", "loss", "no gain above delta", "unresolved"]
    # Holm over two tests a comparison: 8 tests; the unresolved call's bound is at Holm's first step
    unresolved = rows[3]
    bound = unresolved["gain"] + stats.t.ppf(1 - 0.05 / 8, unresolved["df"]) * unresolved["se"]
    assert unresolved["largest_gain_not_excluded"] == pytest.approx(bound) and bound >= 0.03
    assert rows[2]["largest_gain_not_excluded"] < 0.03  # the same bound excludes delta where the call says so


def test_one_point_won_by_each_of_three_seeds_is_not_a_gain():
    none = np.zeros((3, 150))
    method = none.copy()
    method[[0, 1, 2], [10, 20, 30]] = 1  # +1/150 on every seed: a t-interval over seeds has width 0
    (row,) = inference.family([(method, none)])
    assert row["gain"] == pytest.approx(1 / 150) and row["call"] != "gain"
    assert row["ci_low"] <= 0 < row["ci_high"]


def test_identical_masks_give_no_interval_and_no_test():
    masks = np.random.default_rng(9).random((4, 200)) < 0.5
    (row,) = inference.family([(masks, masks.copy())])
    assert row["gain"] == 0 and row["ci_low"] == row["ci_high"] == 0 and row["call"] == "no interval"


def test_descriptive_rows_are_not_called_and_do_not_enter_the_correction():
    rng = np.random.default_rng(11)
    pairs = [(rng.random((3, 300)) < 0.7, rng.random((3, 300)) < 0.4) for _ in range(3)]
    rows = inference.family(pairs, called=[True, False, True])
    assert rows[1]["call"] == "not called" and np.isnan(rows[1]["p_holm"])
    tested = [rows[0], rows[2]]
    adjusted = inference.holm([r["p_value"] for r in tested] + [r["p_below"] for r in tested])
    assert [rows[0]["p_holm"], rows[2]["p_holm"]] == pytest.approx(adjusted[:2])


@pytest.mark.parametrize("kwargs, name", [
    ({"method": np.ones((3, 10)), "none": np.ones((3, 11))}, "none"),
    ({"method": np.ones(10), "none": np.ones(10)}, "method"),
    ({"method": np.ones((3, 10)), "none": np.full((3, 10), 0.5)}, "none"),
    ({"method": np.ones((3, 10)), "none": np.ones((3, 10)), "level": 1.0}, "level"),
    ({"method": np.ones((3, 10)), "none": np.ones((3, 10)), "delta": 0}, "delta"),
])
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        inference.compare(**kwargs)


def test_bad_family_input_names_the_argument():
    with pytest.raises(ValueError, match="p_values"):
        inference.holm([0.1, 1.5])
    with pytest.raises(ValueError, match="pairs"):
        inference.family([])
    with pytest.raises(ValueError, match="power"):
        inference.min_detectable_gain(0.01, 10, power=1.2)
