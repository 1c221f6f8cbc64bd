"""Label-smoothing targets and loss, checked against an LP solver, torch's own label smoothing and
closed-form gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import linprog

from lsstudy.smoothing import LabelSmoothingLoss, methods, register_smoothing, smooth_targets

K = 10
BUILTIN = ["none", "standard", "adversarial", "boltzmann", "second_best"]


def random_batch(n=64, k=K, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * scale, torch.randint(0, k, (n,), generator=g)


def lp_worst_case(log_p: np.ndarray, label: int, alpha: float) -> tuple[float, np.ndarray]:
    """max over {q in simplex, q_y >= 1 - alpha} of -q.log p, solved by scipy's LP solver."""
    bounds = [(0.0, 1.0)] * len(log_p)
    bounds[label] = (1.0 - alpha, 1.0)
    res = linprog(c=log_p, A_eq=np.ones((1, len(log_p))), b_eq=[1.0], bounds=bounds, method="highs")
    assert res.status == 0
    return -res.fun, res.x


@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.3, 0.7, 1.0])
def test_als_is_the_lp_solution_of_the_inner_maximisation(alpha):
    logits, labels = random_batch()
    log_p = F.log_softmax(logits, dim=1)
    q = smooth_targets(logits, labels, "adversarial", alpha)
    loss = LabelSmoothingLoss("adversarial", alpha, reduction="none")(logits, labels)
    for i in range(len(labels)):
        value, q_lp = lp_worst_case(log_p[i].numpy(), int(labels[i]), alpha)
        assert loss[i].item() == pytest.approx(value, rel=1e-9, abs=1e-9)
        # random Gaussian logits have a unique minimum, so the maximiser is unique too
        np.testing.assert_allclose(q[i].numpy(), q_lp, atol=1e-8)


@pytest.mark.parametrize("method", BUILTIN)
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 1.0])
def test_targets_are_distributions_in_the_tv_ball(method, alpha):
    logits, labels = random_batch(seed=1)
    q = smooth_targets(logits, labels, method, alpha, temperature=0.5)
    assert (q >= 0).all()
    torch.testing.assert_close(q.sum(1), torch.ones(len(q), dtype=q.dtype))
    assert (q.gather(1, labels[:, None]).squeeze(1) >= 1 - alpha - 1e-12).all()


def test_als_ties_split_evenly_and_true_minimum_keeps_onehot():
    logits = torch.tensor([[2.0, -1.0, -1.0, 0.0], [-3.0, 1.0, 2.0, 0.0]])
    labels = torch.tensor([0, 0])
    q = smooth_targets(logits, labels, "adversarial", 0.2)
    torch.testing.assert_close(q[0], torch.tensor([0.8, 0.1, 0.1, 0.0]))
    torch.testing.assert_close(q[1], torch.tensor([1.0, 0.0, 0.0, 0.0]))


def test_sbls_puts_mass_on_the_most_likely_wrong_class():
    logits = torch.tensor([[5.0, 4.0, -2.0], [0.0, 1.0, 3.0]])
    q = smooth_targets(logits, torch.tensor([0, 2]), "second_best", 0.3)
    torch.testing.assert_close(q, torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.3, 0.7]]))


def test_bls_tends_to_als_as_temperature_goes_to_zero():
    logits, labels = random_batch(seed=2)
    als = smooth_targets(logits, labels, "adversarial", 0.4)
    gaps = [(smooth_targets(logits, labels, "boltzmann", 0.4, t) - als).abs().max().item() for t in [1.0, 0.1, 1e-3]]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-6


def test_bls_tends_to_uniform_over_all_classes_as_temperature_grows():
    logits, labels = random_batch(seed=3)
    q = smooth_targets(logits, labels, "boltzmann", 0.4, temperature=1e6)
    expected = 0.6 * F.one_hot(labels, K).double() + 0.4 / K
    torch.testing.assert_close(q, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.45, 0.9])
def test_sls_matches_torch_label_smoothing(alpha):
    # torch mixes onehot with uniform over all K classes: label_smoothing = alpha * K / (K - 1)
    logits, labels = random_batch(seed=4)
    ours = LabelSmoothingLoss("standard", alpha)(logits, labels)
    theirs = F.cross_entropy(logits, labels, label_smoothing=alpha * K / (K - 1))
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("method", BUILTIN)
def test_gradient_is_softmax_minus_target(method):
    """Targets come from detached logits: d loss / d z = (softmax(z) - q) / N in closed form."""
    logits, labels = random_batch(seed=5)
    logits.requires_grad_(True)
    LabelSmoothingLoss(method, 0.3, temperature=0.7)(logits, labels).backward()
    q = smooth_targets(logits, labels, method, 0.3, temperature=0.7)
    expected = (torch.softmax(logits.detach(), 1) - q) / len(labels)
    torch.testing.assert_close(logits.grad, expected)


@pytest.mark.parametrize("method", BUILTIN)
@pytest.mark.parametrize("temperature", [1e-4, 1.0])
def test_loss_and_gradient_stay_finite_for_huge_logits(method, temperature):
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], requires_grad=True)
    loss = LabelSmoothingLoss(method, 0.5, temperature)(logits, torch.tensor([0, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_user_method_is_usable_by_name():
    @register_smoothing("test_last_class")
    def last_class(logits, labels, temperature):
        return F.one_hot(torch.full_like(labels, logits.shape[1] - 1), logits.shape[1]).to(logits.dtype)

    assert "test_last_class" in methods()
    q = smooth_targets(torch.zeros(2, 4), torch.tensor([0, 1]), "test_last_class", 0.25)
    torch.testing.assert_close(q, torch.tensor([[0.75, 0, 0, 0.25], [0, 0.75, 0, 0.25]]))


@pytest.mark.parametrize(
    "kwargs, names",
    [
        ({"method": "gaussian", "alpha": 0.1}, "method"),
        ({"method": "standard", "alpha": 1.5}, "alpha"),
        ({"method": "standard", "alpha": -0.1}, "alpha"),
        ({"method": "boltzmann", "alpha": 0.1, "temperature": 0.0}, "temperature"),
        ({"method": "boltzmann", "alpha": 0.1, "temperature": -1.0}, "temperature"),
    ],
)
def test_bad_settings_raise_a_value_error_naming_the_argument(kwargs, names):
    with pytest.raises(ValueError, match=names):
        LabelSmoothingLoss(**kwargs)
    with pytest.raises(ValueError, match=names):
        smooth_targets(torch.zeros(1, 3), torch.tensor([0]), **kwargs)


def test_the_plug_in_example_in_the_module_docstring_runs():
    import doctest

    import lsstudy.smoothing

    result = doctest.testmod(lsstudy.smoothing)
    assert result.attempted > 0 and result.failed == 0
