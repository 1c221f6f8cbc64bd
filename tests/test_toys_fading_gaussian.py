"""Fading Gaussian: the closed-form FGSM accuracy against Monte Carlo, and the fitted unsmoothed model."""

import numpy as np
import pytest

from lsstudy.toys import fading_gaussian as G


def test_samples_have_the_stated_means_and_spreads():
    x, y = G.sample(200_000, 5, np.random.default_rng(0))
    s = G.scales(5)
    plus = x[y == 1]
    assert plus.mean(0) == pytest.approx(s**2, abs=0.01)
    assert plus.std(0) == pytest.approx(s, rel=0.01)


@pytest.mark.parametrize("w, b", [(np.full(6, 2.0), 0.0), (np.array([1.0, -0.5, 0.3, 0.0, 2.0, 0.1]), 0.2)])
def test_closed_form_fgsm_accuracy_matches_fgsm_run_by_autograd(w, b):
    x, y = G.sample(200_000, 6, np.random.default_rng(1))
    for eps in [0.0, 0.1, 0.3]:
        assert G.fgsm_accuracy_measured(w, b, x, y, eps) == pytest.approx(float(G.fgsm_accuracy(w, b, eps)), abs=4e-3)


def test_fgsm_accuracy_depends_only_on_the_direction_of_the_weights():
    w, b = np.array([1.0, 0.4, -0.2]), 0.1
    assert G.fgsm_accuracy(5 * w, 5 * b, [0.0, 0.2]) == pytest.approx(G.fgsm_accuracy(w, b, [0.0, 0.2]))


def test_unsmoothed_model_recovers_the_bayes_weights():
    """The logistic model is well specified here: with many samples w -> 2 for every feature."""
    x, y = G.sample(100_000, 5, np.random.default_rng(2))
    w, b = G.fit(x, y, "none", 0.0)
    assert w == pytest.approx(np.full(5, 2.0), abs=0.15)
    assert abs(b) < 0.1
