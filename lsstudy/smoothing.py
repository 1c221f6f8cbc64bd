"""Label-smoothing targets and the loss that trains against them.

Goibert & Dohmatob, "Adversarial Robustness via Label-Smoothing", arXiv 1906.11567, section 3.
Every method trains with cross-entropy against the soft target

    q = (1 - alpha) * onehot(y) + alpha * r(z, y),

where r is a distribution over the K classes computed from the (detached) logits z. Every such q
has q_y >= 1 - alpha: it lies in the total-variation ball of radius alpha around onehot(y).

Built-in r (``method`` names):

=============  =====  ======================================================================
method         paper  r
=============  =====  ======================================================================
none           --     onehot(y): plain cross-entropy whatever alpha
standard       SLS    uniform over the K - 1 wrong classes
adversarial    ALS    all mass on the smallest logit (ties split evenly); the exact maximiser
                      of cross-entropy over the TV ball
boltzmann      BLS    softmin of the logits at temperature T over all K classes,
                      r_j ~ exp(-z_j / T): T -> 0 gives ALS, T -> inf uniform over K
second_best    SBLS   all mass on the wrong class with the largest logit (ties split evenly)
=============  =====  ======================================================================

Your own r is one function away (the paper's "construct your own")::

    >>> import torch
    >>> from lsstudy.smoothing import register_smoothing, LabelSmoothingLoss
    >>> @register_smoothing("top2_wrong")
    ... def top2_wrong(logits, labels, temperature):
    ...     # half the mass on each of the two most likely wrong classes
    ...     wrong = logits.scatter(1, labels[:, None], float("-inf"))
    ...     top2 = wrong.topk(2, dim=1).indices
    ...     return torch.zeros_like(logits).scatter(1, top2, 0.5)
    >>> loss = LabelSmoothingLoss("top2_wrong", alpha=0.2)
    >>> float(loss(torch.zeros(1, 3), torch.tensor([0]))) > 0
    True

After registration the name works everywhere a method is accepted (training, attacks with the
paper's protocol, params.yaml).
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lsstudy.checks import check_alpha, check_choice, check_temperature

# r(logits, labels, temperature) -> (N, K) rows that are distributions over classes.
SmoothingDistribution = Callable[[Tensor, Tensor, float], Tensor]

_DISTRIBUTIONS: dict[str, SmoothingDistribution] = {}


def register_smoothing(name: str) -> Callable[[SmoothingDistribution], SmoothingDistribution]:
    """Decorator that makes ``fn(logits, labels, temperature) -> r`` available as method ``name``."""

    def decorate(fn: SmoothingDistribution) -> SmoothingDistribution:
        _DISTRIBUTIONS[name] = fn
        return fn

    return decorate


def methods() -> list[str]:
    """Names of every registered smoothing method, built-in and user-defined."""
    return list(_DISTRIBUTIONS)


def _even_split(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Rows of a boolean mask as distributions: ties share the mass evenly."""
    mask = mask.to(dtype)
    return mask / mask.sum(dim=1, keepdim=True)


@register_smoothing("none")
def _onehot(logits: Tensor, labels: Tensor, temperature: float) -> Tensor:
    return F.one_hot(labels, logits.shape[1]).to(logits.dtype)


@register_smoothing("standard")
def _uniform_wrong(logits: Tensor, labels: Tensor, temperature: float) -> Tensor:
    wrong = 1.0 - F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    return wrong / (logits.shape[1] - 1)


@register_smoothing("adversarial")
def _smallest_logit(logits: Tensor, labels: Tensor, temperature: float) -> Tensor:
    return _even_split(logits == logits.min(dim=1, keepdim=True).values, logits.dtype)


@register_smoothing("boltzmann")
def _softmin(logits: Tensor, labels: Tensor, temperature: float) -> Tensor:
    # The paper's formula keeps the true class in the softmin, which makes T -> 0 exactly ALS.
    return torch.softmax(-logits / temperature, dim=1)


@register_smoothing("second_best")
def _largest_wrong_logit(logits: Tensor, labels: Tensor, temperature: float) -> Tensor:
    wrong = logits.scatter(1, labels[:, None], float("-inf"))
    return _even_split(wrong == wrong.max(dim=1, keepdim=True).values, logits.dtype)


def check_smoothing(method: str, alpha: float, temperature: float) -> None:
    """Raise ValueError naming the argument if a smoothing setting is not allowed."""
    check_choice("method", method, methods())
    check_alpha(alpha)
    check_temperature(temperature)


def smooth_targets(logits: Tensor, labels: Tensor, method: str, alpha: float, temperature: float = 1.0) -> Tensor:
    """Soft targets q = (1 - alpha) onehot(y) + alpha r, one row per sample.

    Args:
        logits: (N, K) model outputs; detached here, since a target is not a path for gradients.
        labels: (N,) true classes.
        method: a registered method name (see ``methods()``).
        alpha: smoothing mass in [0, 1].
        temperature: Boltzmann temperature on logits, > 0 (used by ``boltzmann`` and user methods).
    """
    check_smoothing(method, alpha, temperature)
    logits = logits.detach()
    onehot = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    r = _DISTRIBUTIONS[method](logits, labels, float(temperature)).to(logits.dtype)
    return (1.0 - alpha) * onehot + alpha * r


class LabelSmoothingLoss(nn.Module):
    """Cross-entropy against the smoothed targets of ``smooth_targets``, via log_softmax.

    Stays finite for logits of +-1e4 and temperatures down to 1e-4. ``reduction`` is "mean"
    (training), "sum" or "none" (per-example, for attacks).
    """

    def __init__(self, method: str = "none", alpha: float = 0.0, temperature: float = 1.0, reduction: str = "mean"):
        super().__init__()
        check_smoothing(method, alpha, temperature)
        check_choice("reduction", reduction, ["mean", "sum", "none"])
        self.method, self.alpha, self.temperature, self.reduction = method, float(alpha), float(temperature), reduction

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        # -(q . log p) with q = (1 - alpha) onehot(y) + alpha r, without building q or onehot(y):
        # this is the training hot path (settings were checked once, in __init__).
        log_p = F.log_softmax(logits, dim=1)
        r = _DISTRIBUTIONS[self.method](logits.detach(), labels, self.temperature).to(log_p.dtype)
        true_class = log_p.gather(1, labels[:, None]).squeeze(1)
        per_example = -(1.0 - self.alpha) * true_class - self.alpha * (r * log_p).sum(dim=1)
        if self.reduction == "none":
            return per_example
        return per_example.sum() if self.reduction == "sum" else per_example.mean()

    def extra_repr(self) -> str:
        return f"method={self.method!r}, alpha={self.alpha}, temperature={self.temperature}"
