"""Linf gradient-sign attacks: FGSM, BIM and PGD, all on one loop of signed-gradient steps against a
target fixed on the clean images (``lsstudy.attacks.objectives``)."""

import torch
from torch import Tensor, nn

from lsstudy.attacks.objectives import Objective, attack_loss, attack_target
from lsstudy.checks import check_eps, check_positive_int


def _project(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """Back onto the Linf ball of radius eps around x, then into the valid range [0, 1]."""
    return torch.clamp(x_adv, x - eps, x + eps).clamp(0.0, 1.0)


def _sign_ascent(model: nn.Module, x: Tensor, target: Tensor, start: Tensor, eps: float, steps: int,
                 step_size: float, objective: Objective) -> Tensor:
    """``steps`` signed-gradient ascent steps on ``objective`` against the fixed ``target`` from
    ``start``, projected after each."""
    x, x_adv = x.detach(), start.detach()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        # Gradient w.r.t. the input only: the model's parameter .grad stay untouched.
        grad = torch.autograd.grad(objective(model(x_adv), target).sum(), x_adv)[0]
        x_adv = _project(x_adv.detach() + step_size * grad.sign(), x, eps)
    return x_adv


def _uniform_start(x: Tensor, eps: float, generator: torch.Generator | list[torch.Generator] | None) -> Tensor:
    """A uniform random point of the eps ball around x, clamped to [0, 1]; ``generator`` is one generator for the
    batch, or one per point (each point's start then depends on its own generator only)."""
    if isinstance(generator, list):
        noise = torch.stack([torch.rand(x.shape[1:], generator=g, dtype=x.dtype) for g in generator]).to(x.device)
    else:
        device = generator.device if generator is not None else x.device
        noise = torch.rand(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
    return _project(x + (2 * noise - 1) * eps, x, eps)


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float, loss: str = "ce", smoothing: dict | None = None) -> Tensor:
    r"""FGSM in the paper 'Explaining and Harnessing Adversarial Examples'
    [https://arxiv.org/abs/1412.6572]

    Distance Measure : Linf

    Arguments:
        model (nn.Module): model to attack; returns logits; left in the mode the caller set (use eval).
        x (Tensor): images, shape (N, C, H, W), in the range [0, 1].
        y (Tensor): true labels, shape (N,).
        eps (float): maximum perturbation, in [0, 1] pixel units.
        loss (str): objective to ascend, "ce", "margin" or "smoothed" (the model's own smoothed loss,
            its target computed once on the clean x and fixed, as the paper ran it; see
            ``lsstudy.attacks.objectives``). (Default: "ce")
        smoothing (dict): the model's {method, alpha, temperature}, for loss="smoothed". (Default: None)

    Returns the adversarial images, shape (N, C, H, W), in [0, 1] and within eps of x.

    Examples::
        >>> x_adv = fgsm(model, x, y, eps=0.1)
        >>> x_adv = fgsm(model, x, y, eps=0.1, loss="smoothed", smoothing=meta)
    """
    check_eps(eps)
    objective = attack_loss(loss)
    return _sign_ascent(model, x, attack_target(loss, model, x, y, smoothing), x, eps, 1, eps, objective)


def bim(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 10, step_size: float | None = None,
        loss: str = "ce", smoothing: dict | None = None) -> Tensor:
    r"""BIM in the paper 'Adversarial Examples in the Physical World'
    [https://arxiv.org/abs/1607.02533]

    Iterated FGSM as the label-smoothing paper ran it: no random start, each step projected on the
    eps ball and [0, 1].

    Distance Measure : Linf

    Arguments:
        model (nn.Module): model to attack; returns logits; left in the mode the caller set (use eval).
        x (Tensor): images, shape (N, C, H, W), in the range [0, 1].
        y (Tensor): true labels, shape (N,).
        eps (float): maximum perturbation, in [0, 1] pixel units.
        steps (int): number of steps. (Default: 10)
        step_size (float): size of each signed step. (Default: None, meaning eps / steps)
        loss (str): objective to ascend, "ce", "margin" or "smoothed" (the model's own smoothed loss,
            its target computed once on the clean x and fixed, as the paper ran it; see
            ``lsstudy.attacks.objectives``). (Default: "ce")
        smoothing (dict): the model's {method, alpha, temperature}, for loss="smoothed". (Default: None)

    Returns the adversarial images, shape (N, C, H, W), in [0, 1] and within eps of x.

    Examples::
        >>> x_adv = bim(model, x, y, eps=0.1, steps=10)
        >>> x_adv = bim(model, x, y, eps=0.1, loss="smoothed", smoothing=meta)
    """
    check_eps(eps)
    check_positive_int(steps, "steps")
    if step_size is not None:
        check_eps(step_size, "step_size")
    objective = attack_loss(loss)
    target = attack_target(loss, model, x, y, smoothing)
    return _sign_ascent(model, x, target, x, eps, steps, eps / steps if step_size is None else step_size, objective)


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 40, step_size: float | None = None,
        restarts: int = 1, loss: str = "ce", smoothing: dict | None = None, random_start: bool = True,
        generator: torch.Generator | None = None, point_seeds: Tensor | None = None) -> Tensor:
    r"""PGD in the paper 'Towards Deep Learning Models Resistant to Adversarial Attacks'
    [https://arxiv.org/abs/1706.06083]

    Each restart starts at a uniform random point of the eps ball. Per example, the result is the
    first restart's end point that is misclassified, else the last restart's; later restarts only
    attack the examples not fooled yet.

    Distance Measure : Linf

    Arguments:
        model (nn.Module): model to attack; returns logits; left in the mode the caller set (use eval).
        x (Tensor): images, shape (N, C, H, W), in the range [0, 1].
        y (Tensor): true labels, shape (N,).
        eps (float): maximum perturbation, in [0, 1] pixel units.
        steps (int): number of steps per restart. (Default: 40)
        step_size (float): size of each signed step. (Default: None, meaning 2.5 * eps / steps)
        restarts (int): number of runs from fresh random starts. (Default: 1)
        loss (str): objective to ascend, "ce", "margin" or "smoothed" (the model's own smoothed loss,
            its target computed once on the clean x and fixed, as the paper ran it; see
            ``lsstudy.attacks.objectives``). (Default: "ce")
        smoothing (dict): the model's {method, alpha, temperature}, for loss="smoothed". (Default: None)
        random_start (bool): start at a random point of the eps ball instead of x. (Default: True)
        generator (torch.Generator): source of the random starts. (Default: None, torch's global RNG)
        point_seeds (Tensor): one integer seed per example, shape (N,), instead of ``generator``: each
            example's random starts come from its own seed, so they do not depend on which examples share
            the batch. (Default: None)

    Returns the adversarial images, shape (N, C, H, W), in [0, 1] and within eps of x.

    Examples::
        >>> x_adv = pgd(model, x, y, eps=0.3, steps=40, restarts=5, loss="margin")
        >>> x_adv = pgd(model, x, y, eps=0.3, generator=torch.Generator().manual_seed(0))
    """
    check_eps(eps)
    check_positive_int(steps, "steps")
    check_positive_int(restarts, "restarts")
    if step_size is not None:
        check_eps(step_size, "step_size")
    if point_seeds is not None:
        if generator is not None:
            raise ValueError("pass generator or point_seeds, not both")
        if point_seeds.shape != (len(x),):
            raise ValueError(f"point_seeds has shape {tuple(point_seeds.shape)}; it must be ({len(x)},), one per example")
    objective = attack_loss(loss)
    step_size = 2.5 * eps / steps if step_size is None else step_size
    per_point = None if point_seeds is None else [torch.Generator().manual_seed(int(s)) for s in point_seeds]

    x = x.detach()
    target = attack_target(loss, model, x, y, smoothing)  # from the clean x, whatever the random start
    x_adv = x.clone()
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for _ in range(restarts):
        todo = (~fooled).nonzero().squeeze(1)
        xs, ys = x[todo], y[todo]
        generators = generator if per_point is None else [per_point[i] for i in todo.tolist()]
        start = _uniform_start(xs, eps, generators) if random_start else xs
        x_adv[todo] = _sign_ascent(model, xs, target[todo], start, eps, steps, step_size, objective)
        with torch.no_grad():
            fooled[todo] = model(x_adv[todo]).argmax(dim=1) != ys
        if fooled.all():
            break
    return x_adv
