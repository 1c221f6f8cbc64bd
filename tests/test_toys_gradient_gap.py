"""Gradient gap: pixel-unit weights, the linear bound never exceeded on a trained model, and the authors' medians
in the figure."""

import itertools
import re

import matplotlib

matplotlib.use("Agg")  # no display in tests

import pandas as pd
import pytest
import torch

from authors_reference import NUM, assert_points, authors_points, bullet
from lsstudy import models
from lsstudy.attacks.gradient import fgsm, pgd
from lsstudy.report.reference import authors
from lsstudy.toys import gradient_gap as G
from lsstudy.train import predict, train


@pytest.fixture(scope="module")
def als_linear(mnist5k_train):
    model = models.build("linear", "mnist5k", bias=False, seed=0)
    train(model, *mnist5k_train, method="adversarial", alpha=0.1, epochs=2, lr=0.05, seed=0, device="cpu",
          progress=False)
    return model.eval()


def test_pixel_weights_reproduce_the_logits_and_the_input_gradient(als_linear, mnist5k_test):
    x = mnist5k_test[0][:50]
    theta, offset = G.pixel_weights(als_linear)
    assert torch.allclose(x.flatten(1) @ theta.T + offset, predict(als_linear, x), atol=1e-4)
    jacobian = torch.autograd.functional.jacobian(lambda v: als_linear(v.view(1, 1, 28, 28))[0], x[0].flatten())
    assert torch.allclose(jacobian, theta, atol=1e-6)
    assert offset.abs().max() > 0  # the Normalize shift is an implicit bias of the "bias-free" model


def test_gaps_are_pairwise_l1_distances():
    theta = torch.tensor([[1.0, -2.0], [0.5, 1.0], [0.0, 0.0]])
    assert G.gaps(theta)[0, 1] == pytest.approx(3.5)
    assert G.gaps(theta)[1, 2] == pytest.approx(1.5)


@pytest.mark.parametrize("eps", [0.02, 0.05, 0.1])
def test_the_linear_bound_is_never_exceeded(als_linear, mnist5k_test, eps):
    x, y = mnist5k_test[0][:300], mnist5k_test[1][:300]
    theta, offset = G.pixel_weights(als_linear)
    certified = G.certified_correct(theta, offset, x, y, eps)
    worst = G.pair_attack_correct(theta, offset, x, y, eps)
    clean = predict(als_linear, x).argmax(1) == y
    for x_adv in [fgsm(als_linear, x, y, eps), pgd(als_linear, x, y, eps, steps=20, loss="margin",
                                                     generator=torch.Generator().manual_seed(0))]:
        survived = clean & (predict(als_linear, x_adv).argmax(1) == y)
        assert not (certified & ~survived).any()  # a certified point is never flipped
        assert not (worst & ~survived).any()      # the exact worst case is at least as strong as any attack
    assert not (certified & ~worst).any()
    assert certified.float().mean() < clean.float().mean()  # the bound bites at these eps


def test_without_clipping_the_pair_attack_attains_the_bound(als_linear, mnist5k_test):
    """Inputs far from 0 and 1: nothing is clipped, so certified == exact worst case."""
    x, y = 0.5 + 0.0 * mnist5k_test[0][:100], mnist5k_test[1][:100]
    theta, offset = G.pixel_weights(als_linear)
    y = (x.flatten(1) @ theta.T + offset).argmax(1)  # label every point with its prediction
    eps = 0.01
    assert torch.equal(G.certified_correct(theta, offset, x, y, eps), G.pair_attack_correct(theta, offset, x, y, eps))


def _tables(alphas: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Norms and accuracy tables in the layout of ``G.study``, without training: gaps 10 * (i + j + 1) per alpha."""
    pairs = list(itertools.combinations(range(10), 2))
    norms = pd.DataFrame([{"alpha": a, "kind": "gap_l1", "i": i, "j": j, "value": 10.0 * (i + j + 1)}
                          for a in alphas for i, j in pairs]
                         + [{"alpha": a, "kind": "theta_l2", "i": i, "j": None, "value": 1.0} for a in alphas
                            for i in range(10)])
    accuracy = pd.DataFrame([{"dataset": "mnist5k", "alpha": a, "eps": 0.1, "measure": m, "n": 150, "accuracy": 0.5}
                             for a in alphas for m in G.MEASURES])
    return norms, accuracy


def test_the_authors_medians_sit_at_the_box_of_their_alpha():
    theirs = authors.load()
    medians = theirs[theirs["metric"] == "median_gap_l1"]
    grid = [0.0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5]  # 0.4 left out: named in the legend, not drawn
    fig = G.figure(*_tables(grid), [0.1], theirs)
    drawn = authors_points(fig.axes[1])
    kept = medians[medians["alpha"] != 0.4]
    assert_points([p[:2] for p in drawn], [(grid.index(a), v) for a, v in zip(kept["alpha"], kept["low"])])
    assert drawn[0][4] == "authors' result file, Mar 2019 (their training, settings differ): median (alpha [0.4] not in this grid)"
    assert not authors_points(G.figure(*_tables(grid), [0.1]).axes[1])


def test_the_authors_medians_are_the_brief_s():
    gap = bullet("Gradient gap")
    found = re.search(rf"median {NUM} without smoothing, ALS alpha 0.1: {NUM}, 0.2: {NUM}, 0.3: {NUM}, 0.4: {NUM}, "
                      rf"0.5: {NUM}", gap)
    grid = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    drawn = authors_points(G.figure(*_tables(grid), [0.1], authors.load()).axes[1])
    assert_points([p[:2] for p in drawn], list(enumerate(float(v) for v in found.groups())))
