"""DeepFool (L2, multi-class), batched: one forward and K backward passes per iteration for the batch."""

import torch
from torch import Tensor, nn

from lsstudy.checks import check_non_negative, check_positive_int

# Guards the divisions by ||w||: a zero gradient difference gives no step instead of a NaN.
_TINY = 1e-12


def _logit_gradients(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """Logits (N, K) at x and the input gradient of every logit, flattened to (N, K, D).

    One backward pass per class on the summed logit: examples do not interact in an eval-mode
    model, so the gradient of the sum w.r.t. each image is that image's own gradient.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    num_classes = logits.shape[1]
    grads = [torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k < num_classes - 1)[0]
             for k in range(num_classes)]
    return logits.detach(), torch.stack(grads, dim=1).flatten(2)


def _step_to_nearest_boundary(x: Tensor, logits: Tensor, grads: Tensor, y: Tensor) -> Tensor:
    """The smallest L2 step (N, D) from x (N, D) onto the nearest linearised boundary of class y.

    Pixels at 0 or 1 cannot move further out: their gradient components pointing out of [0, 1] are
    dropped, so the step is not clamped away and really reaches the linearised boundary.
    """
    rows = torch.arange(len(y), device=y.device)
    f = logits - logits[rows, y][:, None]  # z_k - z_y: negative for every k != y while y is predicted
    w = grads - grads[rows, y][:, None]
    blocked = ((x <= 0)[:, None] & (w < 0)) | ((x >= 1)[:, None] & (w > 0))
    w = w.masked_fill(blocked, 0.0)
    distance = f.abs() / w.norm(dim=2).clamp_min(_TINY)
    distance[rows, y] = float("inf")
    nearest = distance.argmin(dim=1)
    w_nearest = w[rows, nearest]
    scale = f[rows, nearest].abs() / w_nearest.pow(2).sum(dim=1).clamp_min(_TINY)
    return scale[:, None] * w_nearest


def deepfool(model: nn.Module, x: Tensor, y: Tensor, steps: int = 50, overshoot: float = 0.02) -> tuple[Tensor, Tensor]:
    r"""DeepFool in the paper 'DeepFool: a simple and accurate method to fool deep neural networks'
    [https://arxiv.org/abs/1511.04599]

    Each iteration linearises the model at the current point and moves (1 + overshoot) times the
    smallest step onto the nearest class boundary, clamped to [0, 1]; pixels already at 0 or 1 are
    not pushed further out, so the step is not lost to the clamp. An example stops moving as soon as
    it is misclassified. The whole batch moves at once (no loop over images).

    Distance Measure : L2

    Arguments:
        model (nn.Module): model to attack; returns logits; left in the mode the caller set (use eval).
        x (Tensor): images, shape (N, C, H, W), in the range [0, 1].
        y (Tensor): true labels, shape (N,).
        steps (int): maximum number of iterations. (Default: 50)
        overshoot (float): relative extra length of each step, to land past the boundary. (Default: 0.02)

    Returns (x_adv, l2): the adversarial images, in [0, 1], and the per-example L2 norms
    ||x_adv - x||_2; l2 is 0 for examples misclassified at the start and +inf where the attack failed
    (x_adv is then the last iterate).

    Examples::
        >>> x_adv, l2 = deepfool(model, x, y, steps=50, overshoot=0.02)
        >>> robust_accuracy = l2.isinf().float().mean()
    """
    check_positive_int(steps, "steps")
    check_non_negative(overshoot, "overshoot")
    x = x.detach()
    x_adv = x.clone()
    correct = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(steps):
        idx = correct.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        logits, grads = _logit_gradients(model, x_adv[idx])
        still = logits.argmax(dim=1) == y[idx]
        correct[idx[~still]] = False
        idx = idx[still]
        step = _step_to_nearest_boundary(x_adv[idx].flatten(1), logits[still], grads[still], y[idx])
        x_adv[idx] = (x_adv[idx] + (1 + overshoot) * step.view_as(x[idx])).clamp(0.0, 1.0)
    if correct.any():
        with torch.no_grad():
            idx = correct.nonzero().squeeze(1)
            correct[idx] = model(x_adv[idx]).argmax(dim=1) == y[idx]
    l2 = (x_adv - x).flatten(1).norm(dim=1)
    return x_adv, l2.masked_fill(correct, float("inf"))
