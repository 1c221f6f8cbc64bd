"""AutoAttack (Croce & Hein 2020) and its attacks through torchattacks: APGD-CE, APGD-DLR, Square
and the standard ensemble.

These are the attacks of the RobustBench protocol. torchattacks ports the authors' code faithfully
and keeps it maintained, so it is used as is rather than re-written here; the wrappers only give
them this package's calling convention (a function of model, x, y, eps) and a reproducible seed.
tests/test_strong.py cross-checks them against this package's PGD and FGSM.

torchattacks.AutoAttack(version="standard") runs its classes' default 10 iterations for APGD-CE,
APGD-T and FAB-T, where the authors' standard version runs 100 (torchattacks issue #196), so
``autoattack`` assembles the ensemble from the same torchattacks classes with the authors' settings.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torchattacks
from torch import Tensor, nn

from lsstudy.checks import check_choice, check_eps, check_positive_int

APGD_LOSSES = ["ce", "dlr"]


def apgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 100, loss: str = "ce", restarts: int = 1,
         seed: int = 0) -> Tensor:
    r"""APGD in the paper 'Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks' [https://arxiv.org/abs/2003.01690]

    PGD with a step size that adapts to the progress of the loss and a momentum term; no step size
    to tune. With loss="dlr" it ascends the difference-of-logits ratio, which is invariant to the
    scale of the logits, so a saturated softmax does not hide the gradient.

    Distance Measure : Linf

    Arguments:
        model (nn.Module): model to attack; returns logits; put it in eval mode.
        x (Tensor): images, shape (N, C, H, W), in the range [0, 1].
        y (Tensor): true labels, shape (N,).
        eps (float): maximum perturbation, in [0, 1] pixel units.
        steps (int): iterations per restart. (Default: 100)
        loss (str): "ce" (APGD-CE) or "dlr" (APGD-DLR). (Default: "ce")
        restarts (int): runs from fresh random starts, each on the points not fooled yet. (Default: 1)
        seed (int): seed of the random starts (torchattacks reseeds torch's global RNG with it). (Default: 0)

    Returns the adversarial images, shape (N, C, H, W), in [0, 1] and within eps of x.

    Examples::
        >>> x_adv = apgd(model, x, y, eps=0.3, steps=100, loss="dlr")
    """
    check_eps(eps)
    check_positive_int(steps, "steps")
    check_positive_int(restarts, "restarts")
    check_choice("loss", loss, APGD_LOSSES)
    attack = torchattacks.APGD(model, norm="Linf", eps=eps, steps=steps, n_restarts=restarts, seed=seed, loss=loss)
    return attack(x, y)


def square(model: nn.Module, x: Tensor, y: Tensor, eps: float, queries: int = 5000, restarts: int = 1,
           seed: int = 0) -> Tensor:
    r"""Square in the paper 'Square Attack: a query-efficient black-box adversarial attack via random
    search' [https://arxiv.org/abs/1912.00049]

    Score-based black box: it only reads the logits (margin loss) and never a gradient, so gradient
    masking cannot stop it.

    Distance Measure : Linf

    Arguments:
        model (nn.Module): model to attack; returns logits; put it in eval mode.
        x (Tensor): images, shape (N, C, H, W), in the range [0, 1].
        y (Tensor): true labels, shape (N,).
        eps (float): maximum perturbation, in [0, 1] pixel units.
        queries (int): model evaluations per point and restart. (Default: 5000)
        restarts (int): runs, each on the points not fooled yet. (Default: 1)
        seed (int): seed of the random search (torchattacks reseeds torch's global RNG with it). (Default: 0)

    Returns the adversarial images, shape (N, C, H, W), in [0, 1] and within eps of x.

    Examples::
        >>> x_adv = square(model, x, y, eps=0.3, queries=1000)
    """
    check_eps(eps)
    check_positive_int(queries, "queries")
    check_positive_int(restarts, "restarts")
    attack = torchattacks.Square(model, norm="Linf", eps=eps, n_queries=queries, n_restarts=restarts, seed=seed,
                                 loss="margin")
    return attack(x, y)


@contextmanager
def _input_gradients_only(model: nn.Module) -> Iterator[None]:
    """Parameters frozen for the duration: torchattacks' FAB calls backward(), which would otherwise
    add to the model's parameter .grad (this package's attacks leave them untouched)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def autoattack_components(model: nn.Module, eps: float, num_classes: int, steps: int = 100, queries: int = 5000,
                          seed: int = 0, targets: int | None = None) -> dict[str, torchattacks.attack.Attack]:
    """The four attacks of standard AutoAttack (Linf), in the order the ensemble runs them, as
    torchattacks objects with the authors' settings: one restart each, ``steps`` iterations for the
    white-box ones, ``targets`` target classes for the targeted ones (the most likely wrong classes;
    None: all ``num_classes - 1``, the standard version), ``queries`` for Square."""
    check_eps(eps)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} is not allowed; it must be an integer >= 2")
    check_positive_int(steps, "steps")
    check_positive_int(queries, "queries")
    targets = num_classes - 1 if targets is None else targets
    if isinstance(targets, bool) or not isinstance(targets, int) or not 1 <= targets <= num_classes - 1:
        raise ValueError(f"targets={targets!r} is not allowed; it must be an integer in [1, {num_classes - 1}]")
    common = {"norm": "Linf", "eps": eps, "n_restarts": 1, "seed": seed}
    # torchattacks targets the n_classes - 1 most likely wrong classes: n_classes sets how many
    return {
        "apgd-ce": torchattacks.APGD(model, steps=steps, loss="ce", **common),
        "apgd-t": torchattacks.APGDT(model, steps=steps, n_classes=targets + 1, **common),
        "fab-t": torchattacks.FAB(model, steps=steps, multi_targeted=True, n_classes=targets + 1, **common),
        "square": torchattacks.Square(model, n_queries=queries, loss="margin", **common),
    }


def autoattack(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 100, queries: int = 5000,
               seed: int = 0, targets: int | None = None, skip: list[str] | tuple[str, ...] = ()) -> Tensor:
    r"""AutoAttack, standard version, in the paper 'Reliable evaluation of adversarial robustness
    with an ensemble of diverse parameter-free attacks' [https://arxiv.org/abs/2003.01690]

    APGD-CE, then APGD-T (DLR loss, towards each of the K - 1 most likely wrong classes), then
    FAB-T (minimal perturbation, same targets), then Square (black box, margin loss); each attack
    runs only on the points that every earlier one left robust, and a point's result is the first
    success, else x. The RobustBench protocol; with the default steps and queries it is the
    authors' standard version (torchattacks' own AutoAttack class runs 10 iterations instead), and
    ``lsstudy.evaluate`` labels its rows with loss "standard": change them only for quick checks.

    Distance Measure : Linf

    Arguments:
        model (nn.Module): model to attack; returns logits; put it in eval mode.
        x (Tensor): images, shape (N, C, H, W), in the range [0, 1], on the model's device.
        y (Tensor): true labels, shape (N,).
        eps (float): maximum perturbation, in [0, 1] pixel units.
        steps (int): iterations of APGD-CE, APGD-T and FAB-T (per target class). (Default: 100)
        queries (int): model evaluations per point of Square. (Default: 5000)
        targets (int): target classes of APGD-T and FAB-T, the most likely wrong ones. (Default: None,
            all K - 1, as the standard version)
        seed (int): seed of every random start and search (each of the four torchattacks classes
            reseeds torch's global RNG with it, on CPU and CUDA). (Default: 0)
        skip (list of str): components not to run ("apgd-ce", "apgd-t", "fab-t", "square"), because the
            same attack with the same settings and seed already ran on these points (in a cascade,
            ``lsstudy.evaluate``): the result is then the ensemble's only together with that run. (Default: ())

    Returns the adversarial images, shape (N, C, H, W), in [0, 1] and within eps of x.

    Examples::
        >>> x_adv = autoattack(model, x, y, eps=0.3)
    """
    with torch.no_grad():
        num_classes = model(x[:1]).shape[1]  # the target classes of APGD-T and FAB-T
    components = autoattack_components(model, eps, num_classes, steps, queries, seed, targets)
    for name in skip:
        check_choice("skip", name, list(components))
    if set(skip) >= set(components):
        raise ValueError(f"skip={list(skip)!r} is not allowed; it leaves none of {list(components)} to run")
    ensemble = torchattacks.MultiAttack([attack for name, attack in components.items() if name not in skip])
    with _input_gradients_only(model):
        return ensemble(x, y)
