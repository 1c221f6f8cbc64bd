"""The exact Linf robust accuracy of an affine model: the answer every attack on the linear model is measured against.

For logits ``A x + c`` the margin of class ``y`` over class ``j``, ``(A[y] - A[j]) . x + c[y] - c[j]``, is linear in
``x``, so its minimum over the box ``[max(0, x - eps), min(1, x + eps)]`` (the Linf ball intersected with the pixel
range) is separable: each pixel goes to the end of its interval that its weight difference points away from. A point
is robust exactly when every such minimum stays above 0; the worst perturbation exists in closed form and no attack
can find a lower accuracy. Computed in float64, so what is rounding in a float32 attack is not mistaken for a miss.
No library computes this for a model given as a torch module (verification tools such as auto_LiRPA bound general
networks and are exact here only with extra care), hence this file.
"""

import copy

import torch
from torch import Tensor, nn

from lsstudy.checks import check_eps

AFFINE_ARCHS = ("linear",)


def affine_map(model: nn.Module, shape: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """(A, c) in float64 with ``model(x) == x.flatten() @ A.T + c`` for inputs of ``shape`` (C, H, W), read off the
    model by its Jacobian; a ValueError if the model is not affine (checked at random points of the pixel box)."""
    model64 = _float64_copy(model)
    n = int(torch.tensor(shape).prod())
    with torch.no_grad():
        c = model64(torch.zeros(1, *shape, dtype=torch.float64))[0]
        # The logits of the basis images minus c are the columns of A: one batched forward, exact for an affine map.
        basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
        a = (model64(basis) - c).T
        probe = torch.rand(4, *shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        if not torch.allclose(model64(probe), probe.flatten(1) @ a.T + c, rtol=1e-9, atol=1e-9):
            raise ValueError("model is not affine in its input; the exact robust accuracy here is for affine models "
                             f"only (archs {list(AFFINE_ARCHS)})")
    return a, c


def _float64_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).double().eval()


def worst_margins(a: Tensor, c: Tensor, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """(N, K) float64: for each point and class ``j``, the smallest margin of the true class over ``j`` anywhere in
    the Linf ball of radius ``eps`` inside [0, 1] (``+inf`` for ``j == y``)."""
    flat = x.flatten(1).to(torch.float64)
    low, high = (flat - eps).clamp(0.0, 1.0), (flat + eps).clamp(0.0, 1.0)
    differences = a[y][:, None, :] - a[None, :, :]  # (N, K, d): weights of margin y over j
    margins = (torch.minimum(differences * low[:, None, :], differences * high[:, None, :]).sum(-1)
               + (c[y][:, None] - c[None, :]))
    margins[torch.arange(len(y)), y] = float("inf")
    return margins


def robust_points(model: nn.Module, x: Tensor, y: Tensor, eps: float, batch_size: int = 200) -> Tensor:
    """Bool (N,): whether each point is classified correctly at every image within Linf ``eps`` of it in [0, 1],
    for an affine ``model`` (a margin of exactly 0 counts as not robust: the attacker gets the tie).

    Example::
        >>> robust_points(linear_model, x, y, eps=0.1).float().mean()   # the exact robust accuracy
    """
    check_eps(eps)
    a, c = affine_map(model, tuple(x.shape[1:]))
    parts = [(worst_margins(a, c, x[i:i + batch_size], y[i:i + batch_size], eps) > 0).all(dim=1)
             for i in range(0, len(y), batch_size)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.bool)


def worst_case(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """The perturbed images that reach each point's smallest margin (over every wrong class): the attack that
    finds the exact worst case of an affine model (registered as "exact"), returned as images of ``x``'s dtype in
    [0, 1] within ``eps`` of ``x``. The model then judges them in its own precision, so a margin within float32
    rounding of 0 may go either way; ``robust_points`` decides in float64."""
    check_eps(eps)
    a, c = affine_map(model, tuple(x.shape[1:]))
    flat = x.flatten(1).to(torch.float64)
    low, high = (flat - eps).clamp(0.0, 1.0), (flat + eps).clamp(0.0, 1.0)
    worst_class = worst_margins(a, c, x, y, eps).argmin(dim=1)
    towards = a[y] - a[worst_class]  # lower the margin of y over its weakest rival: each pixel to its other end
    return torch.where(towards > 0, low, high).reshape(x.shape).to(x.dtype)
