"""The baseline defences: their losses against closed-form gradients, the schedule of PGD training, and
defensive distillation's known effect (huge logits, a vanishing cross-entropy gradient)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lsstudy import baselines, models
from lsstudy.attacks.gradient import pgd
from lsstudy.diagnostics import point_diagnostics
from lsstudy.train import train

T = 100.0


def logits_and_labels(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(16, 10, generator=generator) * 3, torch.randint(0, 10, (16,), generator=generator)


def test_tempered_loss_gives_the_logits_the_plain_cross_entropy_gradient():
    """d/dz of T * CE(z / T) = (softmax(z / T) - onehot) / N for a batch mean over N points."""
    z, y = logits_and_labels()
    z.requires_grad_(True)
    baselines.tempered_loss(T)(nn.Identity(), z, y, 1).backward()
    expected = (F.softmax(z.detach() / T, dim=1) - F.one_hot(y, 10)) / len(y)
    torch.testing.assert_close(z.grad, expected)


class FixedLogits(nn.Module):
    """A teacher that answers the same logits for any input."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits


def test_distillation_gradient_is_the_difference_of_tempered_softmaxes():
    """d/dz of -T * sum_j q_j log softmax(z / T)_j = (softmax(z / T) - q) / N, q the teacher's softmax at T."""
    z, y = logits_and_labels(0)
    teacher_logits, _ = logits_and_labels(1)
    z.requires_grad_(True)
    baselines.distillation_loss(FixedLogits(teacher_logits), T)(nn.Identity(), z, y, 1).backward()
    expected = (F.softmax(z.detach() / T, dim=1) - F.softmax(teacher_logits / T, dim=1)) / len(y)
    torch.testing.assert_close(z.grad, expected)


def test_pgd_training_crafts_in_eval_mode_and_gives_the_model_back_in_train_mode(trained_lenet, mnist5k_test):
    x, y = mnist5k_test[0][:32], mnist5k_test[1][:32]
    seen = []
    hook = trained_lenet.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    trained_lenet.train()
    try:
        baselines.pgd_training_loss(eps=0.2, steps=3, start_epoch=1)(trained_lenet, x, y, 1)
        assert trained_lenet.training
    finally:
        hook.remove()
        trained_lenet.eval()
    # clean loss in train mode, 3 PGD steps and the check of the start point in eval mode, adversarial loss in train mode
    assert seen[0] and seen[-1] and not any(seen[1:-1])


def test_pgd_training_loss_in_eval_mode_matches_its_formula(mnist5k_test):
    model = models.build("linear", "mnist5k", seed=0).eval()  # no dropout: the loss is deterministic
    x, y = mnist5k_test[0][:64], mnist5k_test[1][:64]
    clean = F.cross_entropy(model(x), y)
    assert baselines.pgd_training_loss(0.1, 3, start_epoch=3)(model, x, y, 2).item() == pytest.approx(clean.item())
    torch.manual_seed(0)
    later = baselines.pgd_training_loss(0.1, 3, start_epoch=3)(model, x, y, 3)
    torch.manual_seed(0)
    x_adv = pgd(model, x, y, 0.1, steps=3)
    expected = 0.5 * clean + 0.5 * F.cross_entropy(model(x_adv), y)
    assert later.item() == pytest.approx(expected.item(), rel=1e-6)


def test_distilled_model_has_huge_logits_and_a_vanishing_cross_entropy_gradient(mnist5k_train, mnist5k_test):
    """Carlini & Wagner's observation, the reason distillation is the sanity checks' positive control."""
    x, y = mnist5k_train
    settings = {"epochs": 2, "lr": 0.05, "momentum": 0.9, "batch_size": 100, "val_fraction": 0.1, "patience": 5}
    plain = models.build("linear", "mnist5k", seed=0)
    train(plain, x, y, progress=False, **settings)
    student, teacher = models.build("linear", "mnist5k", seed=0), models.build("linear", "mnist5k", seed=0)
    baselines.train_baseline("distillation", student, teacher, x, y, settings, temperature=T, lr=5.0)
    x_test, y_test = mnist5k_test[0][:200], mnist5k_test[1][:200]
    ours, theirs = point_diagnostics(student.eval(), x_test, y_test), point_diagnostics(plain.eval(), x_test, y_test)
    assert ours["correct"].mean() >= theirs["correct"].mean() - 0.05  # it does classify
    assert ours["spread"].median() > 20 * theirs["spread"].median()
    ours, theirs = ours[ours["correct"]], theirs[theirs["correct"]]
    assert ours["grad_l1"].median() < 1e-3 * theirs["grad_l1"].median()


def test_unknown_baseline_and_missing_teacher_are_refused(mnist5k_train):
    x, y = mnist5k_train
    model = models.build("linear", "mnist5k")
    with pytest.raises(ValueError, match=r"baseline='mixup' .*choose one of"):
        baselines.train_baseline("mixup", model, None, x, y, {})
    with pytest.raises(ValueError, match=r"teacher=None"):
        baselines.train_baseline("distillation", model, None, x, y, {}, temperature=T, lr=1.0)
