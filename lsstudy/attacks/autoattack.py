"""AutoAttack's attacks (Croce & Hein 2020) through torchattacks: APGD-CE, APGD-DLR and Square.

These are the attacks of the RobustBench protocol. torchattacks ports the authors' code faithfully
and keeps it maintained, so it is used as is rather than re-written here; the wrappers only give
them this package's calling convention (a function of model, x, y, eps) and a reproducible seed.
tests/test_strong_attacks.py cross-checks them against this package's PGD.
"""

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
