"""The triangular example: the closed forms against Monte Carlo and quadrature, and the fitted models."""

import re

import matplotlib

matplotlib.use("Agg")  # no display in tests

import numpy as np
import pytest
import torch
from scipy import integrate

from authors_reference import assert_points, authors_points, bullet
from lsstudy.report.reference import authors
from lsstudy.smoothing import smooth_targets
from lsstudy.toys import triangular as T


@pytest.mark.parametrize("gamma", [0.5, 0.6, 2 / 3])
def test_bayes_curve_matches_monte_carlo_of_the_sign_classifier(gamma):
    x, y = T.sample(400_000, gamma, np.random.default_rng(0))
    for eps in [0.0, 0.1, 0.3, 0.6]:
        measured = T.robust_accuracy_mc(0.0, x, y, eps)
        assert abs(measured - T.bayes_accuracy(gamma, eps)) < 4e-3  # 5 standard errors at n = 4e5


@pytest.mark.parametrize("threshold, direction", [(-0.4, 1), (-0.1, 1), (0.25, 1), (-0.3, -1), (0.2, -1)])
def test_robust_accuracy_closed_form_matches_quadrature_and_monte_carlo(threshold, direction):
    gamma, eps = 0.55, 0.15
    x, y = T.sample(300_000, gamma, np.random.default_rng(1))
    closed = float(T.robust_accuracy(threshold, gamma, eps, direction))
    # quadrature: a point of class 1 survives iff direction * (x - t) > eps, of class 0 iff direction * (t - x) > eps
    keep1 = integrate.quad(lambda u: T.pdf1(u) * (direction * (u - threshold) > eps), -1, 1, points=[0, threshold - eps, threshold + eps], limit=200)[0]
    keep0 = integrate.quad(lambda u: T.pdf0(u) * (direction * (threshold - u) > eps), -1, 1, points=[0, threshold - eps, threshold + eps], limit=200)[0]
    assert closed == pytest.approx(gamma * keep1 + (1 - gamma) * keep0, abs=1e-6)
    assert T.robust_accuracy_mc(threshold, x, y, eps, direction) == pytest.approx(closed, abs=4e-3)


def test_the_bayes_threshold_is_zero_and_the_best_threshold():
    grid = np.linspace(-0.9, 0.9, 181)
    accuracy = [T.robust_accuracy(t, 0.5, 0.0) for t in grid]
    assert grid[int(np.argmax(accuracy))] == pytest.approx(0.0, abs=1e-9)
    assert max(accuracy) == pytest.approx(0.75)


def test_two_class_targets_sls_and_sbls_coincide_and_als_keeps_one_hot_when_wrong():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0], [3.0, 0.5]])
    labels = torch.tensor([1, 1, 1])  # right, wrong, wrong
    sls = smooth_targets(logits, labels, "standard", 0.2)
    assert torch.equal(sls, smooth_targets(logits, labels, "second_best", 0.2))
    als = smooth_targets(logits, labels, "adversarial", 0.2)
    assert torch.allclose(als, torch.tensor([[0.2, 0.8], [0.0, 1.0], [0.0, 1.0]]))
    for method in ["standard", "adversarial", "boltzmann"]:  # the module's own formulas agree with the package
        expected = [T._target1(float(s), 1, method, 0.2, 1.0) for s in (logits[:, 1] - logits[:, 0])]
        assert smooth_targets(logits, labels, method, 0.2)[:, 1].tolist() == pytest.approx(expected)


def test_unsmoothed_fit_lands_on_the_infinite_sample_logistic_fit_not_on_bayes():
    """With many samples the 1-D logistic fit converges, but to its own population optimum (x < 0)."""
    x, y = T.sample(200_000, 0.5, np.random.default_rng(2))
    w, b = T.fit(x, y, "none", 0.0)
    pw, pb = T.population_fit(0.5, "none", 0.0)
    assert -b / w[0] == pytest.approx(-pb / pw, abs=0.01)
    assert -pb / pw == pytest.approx(-0.178, abs=0.002)
    assert T.robust_accuracy(-pb / pw, 0.5, 0.0) < 0.75 - 0.07  # misspecification costs about 8 points


def test_als_collapses_to_the_constant_model_at_large_alpha():
    x, y = T.sample(20_000, 0.5, np.random.default_rng(3))
    w, b = T.fit(x, y, "adversarial", 0.45)
    assert np.all(w == 0) and b == 0.0
    assert T.decision(0.0, 0.0) == (np.inf, 1)
    pw, _ = T.population_fit(0.5, "adversarial", 0.45)
    assert abs(pw) < 1e-6


@pytest.fixture(scope="module")
def small_study():
    """Both ends of gamma's range, ALS at the authors' alpha 0.1 and at the figure's 0.3 (no population fit)."""
    return T.study([0.5, 2 / 3], ["adversarial"], [0.1, 0.3], [0.0, 0.1, 0.2, 0.3], 1.0, 2_000, 2_000, 0,
                   population=False)


def test_the_authors_rows_are_drawn_from_the_file_at_the_nearest_gamma(small_study):
    theirs = authors.load()
    fig = T.figure(small_study, 0.3, theirs)
    for ax, gamma in zip(fig.axes[::2], [0.5, 2 / 3]):  # the accuracy panels
        drawn = authors_points(ax)
        mine = theirs[(theirs["dataset"] == "triangular") & np.isclose(theirs["gamma"], gamma, atol=0.01)]
        assert_points(sorted(p[:2] for p in drawn), sorted(zip(mine["eps"], mine["low"])))
        assert {p[4].split(": ")[1] for p in drawn} == {f"Bayes classifier 1[x > 0], gamma {mine['gamma'].iloc[0]:g}",
                                                        f"ALS, alpha 0.1, gamma {mine['gamma'].iloc[0]:g}"}
        ours = [line for line in ax.get_lines() if line.get_label() == "ALS, alpha = 0.1 (ours, at the authors' alpha)"]
        at = small_study[np.isclose(small_study.gamma, gamma) & (small_study.method == "adversarial")
                         & (small_study.alpha == 0.1)]
        assert len(ours) == 1 and list(ours[0].get_ydata()) == pytest.approx(list(at.analytic_accuracy))
    assert not authors_points(T.figure(small_study, 0.3).axes[0])  # without the file, nothing of theirs


def test_the_authors_rows_are_the_brief_s(small_study):
    toy = bullet("Triangular toy")
    fig = T.figure(small_study, 0.3, authors.load())
    eps = None
    for ax, gamma in zip(fig.axes[::2], ["0.5", "0.66"]):
        head = re.search(rf"at gamma = {gamma} (?:the )?Bayes(?: row is)? ([\d., ]+?)(?: at eps ([\d., ]+?))? and "
                         rf"ALS alpha 0.1(?: is)? ([\d., ]+)", toy)
        bayes, at_eps, als = ([float(v) for v in g.strip(" ,.").split(", ")] if g else None for g in head.groups())
        eps = at_eps or eps  # the second gamma's row is at the first one's eps
        drawn = authors_points(ax)
        assert_points([p[:2] for p in drawn if "Bayes" in p[4]], list(zip(eps, bayes)))
        assert_points([p[:2] for p in drawn if "ALS" in p[4]], list(zip(eps, als)))
