"""The defences label smoothing is compared with, as in the authors' code.

- ``pgd_training``: PGD adversarial training (Madry et al. 2018, https://arxiv.org/abs/1706.06083) as
  the authors ran it: plain cross-entropy for the first epoch(s), then half clean and half PGD loss.
- ``distillation``: defensive distillation (Papernot et al. 2016, https://arxiv.org/abs/1511.04508):
  a teacher trained with its softmax at temperature T, then a student of the same arch trained at T on
  the teacher's soft labels, and deployed at temperature 1, so its logits come out about T times
  larger. Carlini & Wagner (2016) showed that this saturates the softmax and hides the gradient of the
  cross-entropy rather than removing adversarial examples: the known case of gradient masking that
  the sanity checks of ``lsstudy.report.sanity`` must catch.
- ``scaled_logits``: not a defence but a control whose answer is known: the unsmoothed recipe (the same weights as
  the unsmoothed model of the same seed), deployed with its logits multiplied by a large ``scale``
  (``lsstudy.models.with_logit_scale``). Every prediction, so the robust accuracy, is the unsmoothed model's, yet
  the softmax saturates and the cross-entropy gradient vanishes on every point it classifies with any margin:
  distillation's masking without distillation. A strong evaluation must find no gain in it.

Each baseline but the last is a per-batch loss for ``lsstudy.train.train`` (its ``batch_loss`` argument).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lsstudy.attacks.gradient import pgd
from lsstudy.checks import check_choice, check_eps, check_positive, check_positive_int
from lsstudy.train import BatchLoss, train

BASELINES = ["pgd_training", "distillation", "scaled_logits"]


def pgd_training_loss(eps: float, steps: int, start_epoch: int = 2) -> BatchLoss:
    """0.5 * CE(clean) + 0.5 * CE(PGD examples at eps) from ``start_epoch`` on (epochs count from 1);
    plain CE before, as in the authors' code."""
    check_eps(eps)
    check_positive_int(steps, "steps")
    check_positive_int(start_epoch, "start_epoch")

    def loss(model: nn.Module, x: Tensor, y: Tensor, epoch: int) -> Tensor:
        clean = F.cross_entropy(model(x), y)
        if epoch < start_epoch:
            return clean
        model.eval()  # craft against the deployed model: dropout noise would blur its gradient
        x_adv = pgd(model, x, y, eps, steps=steps)
        model.train()
        return 0.5 * clean + 0.5 * F.cross_entropy(model(x_adv), y)

    return loss


def tempered_loss(temperature: float) -> BatchLoss:
    """T times the cross-entropy of softmax(logits / T): the distillation teacher's loss.

    The factor T gives the logits the gradient plain cross-entropy would (softmax(z / T) - onehot),
    instead of 1 / T of it, with which the models of the default study do not train in 8 epochs.
    """
    check_positive(temperature, "temperature")
    return lambda model, x, y, epoch: temperature * F.cross_entropy(model(x) / temperature, y)


def distillation_loss(teacher: nn.Module, temperature: float) -> BatchLoss:
    """T times the cross-entropy of softmax(student logits / T) against the teacher's
    softmax(logits / T) (the factor T as in ``tempered_loss``)."""
    check_positive(temperature, "temperature")
    teacher.eval()

    def loss(model: nn.Module, x: Tensor, y: Tensor, epoch: int) -> Tensor:
        with torch.no_grad():
            soft = F.softmax(teacher(x) / temperature, dim=1)
        return -temperature * (soft * F.log_softmax(model(x) / temperature, dim=1)).sum(dim=1).mean()

    return loss


def train_baseline(baseline: str, model: nn.Module, teacher: nn.Module | None, x: Tensor, y: Tensor, settings: dict,
                   seed: int = 0, **options):
    """Train ``model`` in place with ``baseline``; returns the history of ``lsstudy.train.train``.

    Args:
        baseline: "pgd_training" (options eps, steps, start_epoch), "distillation" (options
            temperature and lr, which replaces the recipe's for teacher and student; ``teacher`` is a
            fresh model of the same arch, trained here first) or "scaled_logits" (option scale, applied by the
            caller to the trained model: here it trains as the unsmoothed model does).
        settings: the training recipe (epochs, lr, momentum, batch_size, val_fraction, patience).
    """
    check_choice("baseline", baseline, BASELINES)
    if baseline == "scaled_logits":
        return train(model, x, y, seed=seed, progress=False, **settings)
    if baseline == "pgd_training":
        return train(model, x, y, batch_loss=pgd_training_loss(**options), seed=seed, progress=False, **settings)
    if teacher is None:
        raise ValueError("teacher=None is not allowed for distillation; pass a fresh model of the student's arch")
    # The logits must grow about T times larger than usual, so the learning rate that works depends
    # on the depth (measured on mnist5k): a linear model needs a large one, and at the recipe's 0.05
    # the LeNet's ReLUs die on the way. Hence distillation's own learning rate, per arch.
    temperature, settings = options["temperature"], {**settings, "lr": options["lr"]}
    train(teacher, x, y, batch_loss=tempered_loss(temperature), seed=seed, progress=False, **settings)
    return train(model, x, y, batch_loss=distillation_loss(teacher, temperature), seed=seed, progress=False, **settings)
