"""What an attack maximises: per-example losses of (logits, target), the target fixed per attack.

=========  ==========  =============================================================================
loss       target      per-example value (larger = closer to, or further past, a misclassification)
=========  ==========  =============================================================================
ce         y           cross-entropy on the true label
margin     y           Carlini-Wagner margin, max_{j != y} z_j - z_y (> 0 exactly when misclassified)
smoothed   q (N, K)    cross-entropy against the model's own smoothed target q (the paper's protocol)
=========  ==========  =============================================================================

``attack_target`` gives the target from the clean images, once per attack. For "smoothed" it is
q = smooth_targets(model(x), y, method, alpha, temperature) on the clean x, detached and kept fixed
for every step: the paper's authors ran FGSM and BIM this way. (Recomputing q from the adversarial
logits at each step is a different, weaker attack on SBLS-trained models.) It needs
``smoothing={"method", "alpha", "temperature"}`` as stored in checkpoint meta.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lsstudy.checks import check_choice
from lsstudy.smoothing import smooth_targets

LOSSES = ["ce", "margin", "smoothed"]
SMOOTHING_KEYS = ("method", "alpha", "temperature")

Objective = Callable[[Tensor, Tensor], Tensor]


def margin(logits: Tensor, labels: Tensor) -> Tensor:
    """max_{j != y} z_j - z_y per example: positive exactly when the example is misclassified."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    best_wrong = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
    return best_wrong - true


def _cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(logits, labels, reduction="none")


def _soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)


def attack_loss(loss: str) -> Objective:
    """The per-example objective ``loss`` as a callable ``(logits, target) -> (N,)``, where target is
    what ``attack_target`` returns for the same loss (see the module table)."""
    check_choice("loss", loss, LOSSES)
    return {"ce": _cross_entropy, "margin": margin, "smoothed": _soft_cross_entropy}[loss]


def attack_target(loss: str, model: nn.Module, x: Tensor, y: Tensor, smoothing: dict | None = None) -> Tensor:
    """The fixed target of objective ``loss`` on the clean images x: y itself, or for "smoothed" the
    model's smoothed target q (N, K) computed once from model(x), detached.

    Args:
        loss: "ce", "margin" or "smoothed" (see the module table).
        model, x, y: the model attacked, the clean images and their true labels.
        smoothing: the model's smoothing setting, a dict with keys method, alpha and temperature
            (a whole checkpoint meta dict works; other keys are ignored). Required by
            ``loss="smoothed"``, ignored otherwise.
    """
    check_choice("loss", loss, LOSSES)
    if loss != "smoothed":
        return y
    if smoothing is None or not all(key in smoothing for key in SMOOTHING_KEYS):
        raise ValueError(
            f"smoothing={smoothing!r} is not allowed with loss='smoothed'; "
            f"pass the model's smoothing as a dict with keys {list(SMOOTHING_KEYS)}"
        )
    with torch.no_grad():
        clean_logits = model(x)
    return smooth_targets(clean_logits, y, *(smoothing[key] for key in SMOOTHING_KEYS))
