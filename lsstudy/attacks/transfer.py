"""Transfer attacks: adversarial examples crafted on one model (the source), evaluated on another.

The source never sees the target's gradients, so a target that masks its own gradients gains
nothing against them (Carlini et al. 2019: white-box attacks must beat transfer ones).
"""

import hashlib

import torch
from torch import Tensor, nn

from lsstudy.attacks.gradient import pgd
from lsstudy.checks import check_eps, check_positive_int


class TransferSource:
    """A source model and how examples are crafted on it (PGD); crafts each (points, eps) once.

    The examples depend only on the source, so one source serves every target model of an arch:
    they are cached, keyed on eps and the bytes of the points.
    """

    def __init__(self, source: nn.Module, steps: int = 40, restarts: int = 1, loss: str = "ce", seed: int = 0):
        check_positive_int(steps, "steps")
        check_positive_int(restarts, "restarts")
        self.source, self.steps, self.restarts, self.loss, self.seed = source.eval(), steps, restarts, loss, seed
        self._cache: dict[tuple, Tensor] = {}

    def examples(self, x: Tensor, y: Tensor, eps: float) -> Tensor:
        """PGD examples for (x, y) at eps on the source model."""
        check_eps(eps)
        key = (float(eps), tuple(x.shape), hashlib.sha1(x.detach().cpu().numpy().tobytes()).hexdigest())
        if key not in self._cache:
            generator = torch.Generator(device=x.device).manual_seed(self.seed)
            self._cache[key] = pgd(self.source, x, y, eps, steps=self.steps, restarts=self.restarts, loss=self.loss,
                                   generator=generator).detach()
        return self._cache[key]


def _point_key(point: torch.Tensor) -> str:
    return hashlib.sha1(point.detach().cpu().numpy().tobytes()).hexdigest()


class CraftedExamples:
    """Transfer examples crafted beforehand on a source model (the pipeline crafts them once per arch, in a
    unit of work of their own), served to ``transfer`` like a ``TransferSource`` for any batch of the same
    points: each point is found by its bytes, so batching cannot misalign them."""

    def __init__(self, x: torch.Tensor, examples: dict[float, torch.Tensor]):
        self.index = {_point_key(point): i for i, point in enumerate(x)}
        self.by_eps = examples

    def examples(self, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        rows = [self.index[_point_key(point)] for point in x]
        return self.by_eps[float(eps)][rows].to(x.device)


def transfer(model: nn.Module, x: Tensor, y: Tensor, eps: float, source: TransferSource) -> Tensor:
    r"""Transfer attack: PGD examples crafted on ``source``'s model, whatever ``model`` is
    (Papernot et al., 'Transferability in Machine Learning' [https://arxiv.org/abs/1605.07277]).

    Distance Measure : Linf

    Arguments:
        model (nn.Module): the target; unused to craft the examples, by design.
        x (Tensor): images, shape (N, C, H, W), in the range [0, 1].
        y (Tensor): true labels, shape (N,).
        eps (float): maximum perturbation, in [0, 1] pixel units.
        source (TransferSource or CraftedExamples): the source model and its PGD settings, or examples
            crafted on it beforehand.

    Returns the adversarial images, shape (N, C, H, W), in [0, 1] and within eps of x.

    Examples::
        >>> source = TransferSource(plain_model, steps=40)
        >>> x_adv = transfer(smoothed_model, x, y, eps=0.1, source=source)
    """
    del model  # the point of a transfer attack: the target's gradients are never used
    return source.examples(x, y, eps)
