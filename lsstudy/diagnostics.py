"""Per-point quantities that explain how a model resists (or seems to resist) gradient attacks.

- ``grad_l1``: ||d CE / dx||_1, the first-order rise of the cross-entropy under an Linf step of size
  eps is eps times this; a vanishing value on correctly classified points, with the margin still
  small, is the signature of gradient masking (a saturated softmax).
- ``margin``: z_y - max_{j != y} z_j, the logit margin (positive when correct); for a model that is
  linear around x, the Linf distance to the boundary is at least margin / ||grad of the margin||_1.
- ``margin_grad_l1``: ||d margin / dx||_1, the same first-order view for the margin (CW) loss, which
  does not saturate.
- ``spread``: max_j z_j - min_j z_j, what ALS penalises (the logit-squeezing view of the paper; docs/paper.md).
"""

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lsstudy.attacks.objectives import margin as wrong_minus_true


def logit_spread(logits: torch.Tensor) -> torch.Tensor:
    """max_j z_j - min_j z_j per example."""
    return logits.amax(dim=1) - logits.amin(dim=1)


def point_diagnostics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> pd.DataFrame:
    """One row per point of (x, y): correct, margin, spread, grad_l1, margin_grad_l1 (model in eval mode)."""
    device = next(model.parameters()).device
    parts = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device).requires_grad_(True)
        yb = y[start : start + batch_size].to(device)
        logits = model(xb)
        ce_grad = torch.autograd.grad(F.cross_entropy(logits, yb, reduction="sum"), xb, retain_graph=True)[0]
        margin = -wrong_minus_true(logits, yb)
        margin_grad = torch.autograd.grad(margin.sum(), xb)[0]
        logits = logits.detach()
        parts.append(pd.DataFrame({
            "correct": (logits.argmax(1) == yb).cpu().numpy(),
            "margin": margin.detach().cpu().numpy(),
            "spread": logit_spread(logits).cpu().numpy(),
            "grad_l1": ce_grad.flatten(1).abs().sum(1).cpu().numpy(),
            "margin_grad_l1": margin_grad.flatten(1).abs().sum(1).cpu().numpy(),
        }))
    return pd.concat(parts, ignore_index=True).rename_axis("point").reset_index()
