"""The exact robust accuracy of an affine model against answers known independently: every corner of the box on a
tiny input (the margin is linear, so its minimum over a box is at a corner), the strongest attacks on a trained
linear model (none may go below exact), a model whose logits are scaled (same answer), and the verdict's check."""

import copy
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from lsstudy import evaluate, models
from lsstudy.attacks import exact
from lsstudy.attacks.autoattack import apgd, autoattack_components
from lsstudy.attacks.gradient import pgd
from lsstudy.ladder import AUTOATTACK
from lsstudy.report import sanity


class TinyAffine(nn.Module):
    """Logits A x + c on images of shape (1, 2, 2): 4 pixels, so the box around a point has 16 corners."""

    def __init__(self, generator: torch.Generator, classes: int = 3):
        super().__init__()
        self.linear = nn.Linear(4, classes)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(classes, 4, generator=generator))
            self.linear.bias.copy_(torch.randn(classes, generator=generator) * 0.3)

    def forward(self, x):
        return self.linear(x.flatten(1))


def brute_force_robust(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Robust iff every corner of [max(0, x - eps), min(1, x + eps)] is classified y (margin > 0 over every class)."""
    out = []
    for xi, yi in zip(x, y):
        low, high = (xi - eps).clamp(0, 1).flatten(), (xi + eps).clamp(0, 1).flatten()
        corners = torch.stack([torch.where(torch.tensor(bits, dtype=torch.bool), high, low)
                               for bits in itertools.product([0, 1], repeat=low.numel())]).double()
        with torch.no_grad():
            logits = copy.deepcopy(model).double()(corners.reshape(-1, *xi.shape))
        others = torch.cat([logits[:, :yi], logits[:, yi + 1:]], dim=1)
        out.append(bool((logits[:, yi:yi + 1] > others).all()))
    return torch.tensor(out)


@pytest.mark.parametrize("eps", [0.02, 0.05, 0.1])
def test_exact_is_every_corner_of_the_box_on_a_tiny_input(eps):
    generator = torch.Generator().manual_seed(0)
    model = TinyAffine(generator)
    x = torch.rand(300, 1, 2, 2, generator=generator)
    y = model(x).argmax(1)  # every point correct clean: robustness is the only question
    expected = brute_force_robust(model, x, y, eps)
    assert 0 < expected.sum() < len(y)  # both answers occur
    assert torch.equal(exact.robust_points(model, x, y, eps), expected)
    # the worst case it builds is a corner that reaches a margin of at most 0 exactly where a point is not robust
    x_worst = exact.worst_case(model, x, y, eps)
    assert (x_worst - x).abs().max() <= eps + 1e-6 and x_worst.min() >= 0 and x_worst.max() <= 1
    assert torch.equal(model(x_worst).argmax(1) == y, expected)


@pytest.fixture(scope="module")
def trained_linear(mnist5k_train, mnist5k_test):
    from lsstudy import models
    from lsstudy.train import train

    x, y = mnist5k_train
    model = models.build("linear", "mnist5k", seed=0)
    train(model, x[:2000], y[:2000], epochs=3, lr=0.05, seed=0, device="cpu", progress=False)
    model.eval()
    xt, yt = mnist5k_test
    return model, xt[:300], yt[:300]


def test_no_attack_goes_below_exact_and_the_exact_worst_case_reaches_it(trained_linear):
    model, x, y = trained_linear
    eps = 0.1
    correct = evaluate.predict(model, x).argmax(1) == y
    truth = exact.robust_points(model, x, y, eps)
    assert not (truth & ~correct).any()
    for x_adv in [pgd(model, x, y, eps, steps=20, restarts=1, loss="margin"), apgd(model, x, y, eps, loss="dlr", steps=20),
                  exact.worst_case(model, x, y, eps)]:
        attacked = (evaluate.predict(model, x_adv).argmax(1) == y) & correct
        assert not (truth & ~attacked).any()  # an attack can only break what exact says is breakable
    # the exact worst case, judged by the float32 model, breaks every point exact says is breakable
    assert torch.equal(attacked, truth)


def test_the_scaled_logits_control_keeps_every_answer_and_is_flagged(trained_linear):
    """The scaled_logits control (lsstudy.baselines): the same exact robust accuracy as the model it scales, yet
    its saturated softmax hides the cross-entropy gradient, so the margin loss breaks what cross-entropy cannot
    and PGD-CE at an eps that can turn any image into any other leaves accuracy: both checks fire."""
    model, x, y = trained_linear
    scaled = models.with_logit_scale(model, 1000.0).eval()
    assert torch.equal(exact.robust_points(scaled, x, y, 0.1), exact.robust_points(model, x, y, 0.1))

    def robust(m, x_adv):
        return evaluate.points_string((evaluate.predict(m, x_adv).argmax(1) == y) & (evaluate.predict(m, x).argmax(1) == y))

    def ladder(m):
        # untargeted PGD stops 1 to 3 points above exact on this plain model (on cross-entropy or the margin: the
        # top wrong class is not always the one with the nearest corner); APGD-T, AutoAttack's targeted attack
        # (the ladder's last rung), tries every class and reaches it, as the study's ladder does
        return {("pgd", "ce"): robust(m, pgd(m, x, y, 0.1, steps=20, restarts=1)),
                ("pgd", "margin"): robust(m, pgd(m, x, y, 0.1, steps=20, restarts=1, loss="margin")),
                AUTOATTACK: robust(m, autoattack_components(m, 0.1, 10, steps=20)["apgd-t"](x, y))}

    unbounded = evaluate.points_mask(robust(scaled, pgd(scaled, x, y, 0.5, steps=20, restarts=1))).float().mean().item()
    plain_shares = [sanity.counts(ladder(model))]  # the unsmoothed model is the scaled one's reference
    flagged = sanity.check(ladder(scaled), unbounded, 0.05, exact.robust_points(scaled, x, y, 0.1).float().mean().item(),
                           reference=plain_shares)
    assert flagged["margin_loss"] and flagged["unbounded"] and flagged["masking_suspected"]
    plain_unbounded = evaluate.points_mask(robust(model, pgd(model, x, y, 0.5, steps=20, restarts=1))).float().mean().item()
    plain_exact = exact.robust_points(model, x, y, 0.1).float().mean().item()
    plain_ladder = ladder(model)
    plain = sanity.check(plain_ladder, plain_unbounded, 0.05, plain_exact)
    assert not plain["masking_suspected"], plain["reasons"]
    # without the targeted attack the ladder misses examples that exist: what not_tight is there to see
    untargeted = {pair: points for pair, points in plain_ladder.items() if pair != AUTOATTACK}
    assert sanity.accuracy(untargeted, list(untargeted)) > plain_exact


def test_a_model_that_is_not_affine_is_refused_by_name():
    from lsstudy import models
    with pytest.raises(ValueError, match="not affine"):
        exact.robust_points(models.build("mlp", "mnist5k", seed=0), torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), 0.1)


def test_the_tightness_check_fails_an_evaluation_more_than_a_point_above_exact():
    attacks = {("pgd", "ce"): "1" * 90 + "0" * 10}  # 0.90 left by the attacks
    assert not sanity.check(attacks, 0.0, 0.05, exact_accuracy=0.895)["not_tight"]
    failed = sanity.check(attacks, 0.0, 0.05, exact_accuracy=0.88)
    assert failed["not_tight"] and failed["masking_suspected"] and "exact robust accuracy is 0.880" in failed["reasons"]
    assert not sanity.check(attacks, 0.0, 0.05)["not_tight"]  # not affine: no exact answer, no flag
