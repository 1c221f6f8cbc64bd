"""Sanity checks of an evaluation (Carlini et al. 2019, 'On Evaluating Adversarial Robustness',
https://arxiv.org/abs/1902.06705), computed per model and eps from the attack table.

Each check names an attack that should not beat another and fails when it does by more than
``tolerance`` (accuracy, a fraction of the test points). A model that fails one is flagged as likely
masking gradients: the attacks that follow its gradient are not finding the adversarial examples
that exist.

=================  ==================================================================================
flag               fails when
=================  ==================================================================================
unbounded          PGD-CE at the unbounded eps leaves more than ``unbounded_max`` accuracy: with eps
                   that large every image can be turned into any other, so a working attack wins
single_step        FGSM beats every iterative attack on cross-entropy (BIM, PGD)
black_box          Square (score-based, no gradient) or the transfer attack beats every white-box
                   gradient attack
not_converged      PGD-CE run again with twice the steps breaks points the first run left, so
                   more steps still lower the accuracy
margin_loss        a scale-free loss (PGD on the CW margin, APGD-DLR) beats every attack on
                   cross-entropy: the cross-entropy gradient is hidden by a saturated softmax
=================  ==================================================================================
"""

import numpy as np
import pandas as pd

from lsstudy.evaluate import points_mask

FLAGS = ["unbounded", "single_step", "black_box", "not_converged", "margin_loss"]
# (attack, loss) pairs of the attack table, by role in the checks
CE_ITERATIVE = [("bim", "ce"), ("pgd", "ce"), ("pgd_more", "ce"), ("apgd", "ce")]
CE_GRADIENT = [("fgsm", "ce"), *CE_ITERATIVE]
MARGIN_LOSS = [("pgd", "margin"), ("apgd", "dlr")]
WHITE_BOX = [*CE_GRADIENT, ("fgsm", "smoothed"), ("bim", "smoothed"), *MARGIN_LOSS]
BLACK_BOX = [("square", "margin"), ("transfer", "ce")]


def accuracy(attacks: dict[tuple[str, str], str], pairs: list[tuple[str, str]]) -> float:
    """Accuracy left by the per-point worst case over the ``pairs`` present in ``attacks``
    ((attack, loss) -> robust_points); NaN if none is present."""
    masks = [points_mask(attacks[pair]) for pair in pairs if pair in attacks]
    if not masks:
        return np.nan
    return float(np.logical_and.reduce([m.numpy() for m in masks]).mean())


def best_single(attacks: dict[tuple[str, str], str], pairs: list[tuple[str, str]]) -> float:
    """The lowest accuracy any single one of ``pairs`` leaves (NaN if none is present)."""
    values = [accuracy(attacks, [pair]) for pair in pairs if pair in attacks]
    return min(values) if values else np.nan


def check(attacks: dict[tuple[str, str], str], unbounded_accuracy: float, tolerance: float,
          unbounded_max: float) -> dict:
    """The flags of one model at one eps, and ``reasons``: one sentence per failed check, with numbers.

    Args:
        attacks: (attack, loss) -> robust_points string, every attack of the table at this eps.
        unbounded_accuracy: accuracy PGD-CE left at the unbounded eps (NaN: not run, not flagged).
    """
    fgsm = accuracy(attacks, [("fgsm", "ce")])
    iterative = best_single(attacks, CE_ITERATIVE)
    white = best_single(attacks, WHITE_BOX)
    black = best_single(attacks, BLACK_BOX)
    pgd = accuracy(attacks, [("pgd", "ce")])
    pgd_both = accuracy(attacks, [("pgd", "ce"), ("pgd_more", "ce")])
    ce = best_single(attacks, CE_GRADIENT)
    margin = best_single(attacks, MARGIN_LOSS)
    failed = {
        "unbounded": (unbounded_accuracy > unbounded_max,
                      f"PGD-CE at the unbounded eps leaves {unbounded_accuracy:.3f} (> {unbounded_max:g})"),
        "single_step": (fgsm < iterative - tolerance, f"FGSM leaves {fgsm:.3f}, iterative CE attacks {iterative:.3f}"),
        "black_box": (black < white - tolerance, f"black box / transfer leave {black:.3f}, white box {white:.3f}"),
        "not_converged": (pgd_both < pgd - tolerance,
                          f"PGD-CE leaves {pgd:.3f}, {pgd_both:.3f} with a second run at twice the steps"),
        "margin_loss": (margin < ce - tolerance, f"margin losses leave {margin:.3f}, cross-entropy attacks {ce:.3f}"),
    }
    # a comparison with a missing attack (NaN) is False: not run is not flagged
    flags = {name: bool(fails) for name, (fails, _) in failed.items()}
    reasons = "; ".join(reason for name, (fails, reason) in failed.items() if flags[name])
    return {**flags, "masking_suspected": any(flags.values()), "reasons": reasons}


def flags_table(verdict: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per ``by`` group (a model up to its seed, and eps): for each flag, how many seeds fail it, as
    "k/n" (the table of the README and the verdict report)."""
    counts = verdict.groupby(by, sort=False)[[*FLAGS, "masking_suspected"]].agg(["sum", "count"])
    table = pd.DataFrame(index=counts.index)
    for flag in [*FLAGS, "masking_suspected"]:
        table[flag] = [f"{int(k)}/{int(n)}" for k, n in zip(counts[(flag, "sum")], counts[(flag, "count")])]
    return table.reset_index()
