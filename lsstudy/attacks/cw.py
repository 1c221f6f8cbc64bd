"""Carlini-Wagner L2 with a per-example binary search over the trade-off constant c."""

import torch
from torch import Tensor, nn

from lsstudy.attacks.objectives import margin
from lsstudy.checks import check_non_negative, check_positive, check_positive_int

# x = (tanh(w) + 1) / 2 reaches 0 and 1 only at w = -+inf: shrink x slightly before atanh.
_TANH_SHRINK = 1 - 1e-6


def _to_tanh_space(x: Tensor) -> Tensor:
    return torch.atanh((2 * x - 1) * _TANH_SHRINK)


def _from_tanh_space(w: Tensor) -> Tensor:
    return (torch.tanh(w) + 1) / 2


def cw_l2(model: nn.Module, x: Tensor, y: Tensor, c: float = 1.0, kappa: float = 0.0, steps: int = 100,
          lr: float = 0.01, search_steps: int = 5) -> tuple[Tensor, Tensor]:
    r"""CW-L2 in the paper 'Towards Evaluating the Robustness of Neural Networks'
    [https://arxiv.org/abs/1608.04644]

    Minimises ||x' - x||_2^2 + c * max(z_y - max_{j != y} z_j, -kappa) over x' = (tanh(w) + 1) / 2
    with Adam, ``steps`` steps for each of ``search_steps`` values of c, starting from x and, for each
    new c, from where the previous one stopped. The search is per example: after a success c goes
    down to the middle of [lower bound, c], after a failure up to the middle of [c, upper bound], or
    times 10 while no upper bound is known. As in the authors' code, a search step stops early when
    the batch's cost has not decreased over a tenth of its steps. The smallest successful
    perturbation over all steps is kept.

    Pixels at 0 or 1 sit where tanh is flat, and Adam moves w by about lr a step: at the default
    lr 0.01 they move slowly, so the perturbations found are larger than with lr 0.1 (see
    benchmarks/results/attacks_vs_torchattacks.md).

    Distance Measure : L2

    Arguments:
        model (nn.Module): model to attack; returns logits; left in the mode the caller set (use eval).
        x (Tensor): images, shape (N, C, H, W), in the range [0, 1].
        y (Tensor): true labels, shape (N,).
        c (float): initial trade-off constant between distance and misclassification. (Default: 1.0)
        kappa (float): confidence: success needs max_{j != y} z_j - z_y > kappa. (Default: 0.0)
        steps (int): Adam steps per value of c. (Default: 100)
        lr (float): Adam learning rate, in tanh space. (Default: 0.01)
        search_steps (int): number of values of c tried per example. (Default: 5)

    Returns (x_adv, l2): the adversarial images, in [0, 1], and the per-example L2 norms
    ||x_adv - x||_2; l2 is 0 for examples misclassified at the start, and where the attack failed
    x_adv is x and l2 is +inf.

    Examples::
        >>> x_adv, l2 = cw_l2(model, x, y, c=1.0, steps=100, search_steps=5)
        >>> robust_accuracy = l2.isinf().float().mean()
    """
    check_positive(c, "c")
    check_non_negative(kappa, "kappa")
    check_positive_int(steps, "steps")
    check_positive(lr, "lr")
    check_positive_int(search_steps, "search_steps")
    x = x.detach()
    n = len(x)
    with torch.no_grad():
        misclassified = model(x).argmax(dim=1) != y
    best_adv = x.clone()
    best_l2 = torch.full((n,), float("inf"), dtype=x.dtype, device=x.device).masked_fill(misclassified, 0.0)
    const = torch.full((n,), float(c), dtype=x.dtype, device=x.device)
    lower, upper = torch.zeros_like(const), torch.full_like(const, float("inf"))
    w = _to_tanh_space(x).requires_grad_(True)
    check_every = max(steps // 10, 1)

    for _ in range(search_steps):
        # Each value of c starts where the previous one stopped (the authors restart from x): the
        # search steps then add up, which a small lr needs.
        optimizer = torch.optim.Adam([w], lr=lr)
        succeeded = torch.zeros(n, dtype=torch.bool, device=x.device)
        previous_cost = float("inf")
        for step in range(steps):
            x_adv = _from_tanh_space(w)
            gap = margin(model(x_adv), y)
            l2_squared = (x_adv - x).flatten(1).pow(2).sum(dim=1)
            cost = (l2_squared + const * (-gap).clamp_min(-kappa)).sum()
            # Gradient w.r.t. w only, so the model's parameter .grad stay untouched.
            w.grad = torch.autograd.grad(cost, w)[0]
            optimizer.step()

            fooled = gap.detach() > kappa
            l2 = l2_squared.detach().sqrt()
            improved = fooled & (l2 < best_l2)
            best_l2 = torch.where(improved, l2, best_l2)
            best_adv[improved] = x_adv.detach()[improved]
            succeeded |= fooled
            if step % check_every == 0:
                if cost.item() > 0.9999 * previous_cost:
                    break
                previous_cost = cost.item()

        upper = torch.where(succeeded, torch.minimum(upper, const), upper)
        lower = torch.where(succeeded, lower, torch.maximum(lower, const))
        const = torch.where(upper.isinf(), const * 10, (lower + upper) / 2)
    return best_adv, best_l2
