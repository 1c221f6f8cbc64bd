"""What an attack maximises: per-example losses of (logits, labels).

=========  ====================================================================================
loss       per-example value (larger = closer to, or further past, a misclassification)
=========  ====================================================================================
ce         cross-entropy on the true label
margin     Carlini-Wagner margin, max_{j != y} z_j - z_y (> 0 exactly when misclassified)
smoothed   the model's own label-smoothing loss (the paper's protocol for FGSM and BIM); needs
           ``smoothing={"method", "alpha", "temperature"}`` as stored in checkpoint meta
=========  ====================================================================================
"""

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from lsstudy.checks import check_choice
from lsstudy.smoothing import LabelSmoothingLoss

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


def attack_loss(loss: str, smoothing: dict | None = None) -> Objective:
    """The per-example objective ``loss`` as a callable ``(logits, labels) -> (N,)``.

    Args:
        loss: "ce", "margin" or "smoothed" (see the module table).
        smoothing: the model's smoothing setting, a dict with keys method, alpha and temperature
            (a whole checkpoint meta dict works; other keys are ignored). Required by
            ``loss="smoothed"``, ignored otherwise.
    """
    check_choice("loss", loss, LOSSES)
    if loss == "ce":
        return _cross_entropy
    if loss == "margin":
        return margin
    if smoothing is None or not all(key in smoothing for key in SMOOTHING_KEYS):
        raise ValueError(
            f"smoothing={smoothing!r} is not allowed with loss='smoothed'; "
            f"pass the model's smoothing as a dict with keys {list(SMOOTHING_KEYS)}"
        )
    return LabelSmoothingLoss(*(smoothing[key] for key in SMOOTHING_KEYS), reduction="none")
