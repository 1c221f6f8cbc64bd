"""Sanity checks of an evaluation (Carlini et al. 2019, 'On Evaluating Adversarial Robustness',
https://arxiv.org/abs/1902.06705), computed per model and eps from the attack table.

Most checks ask what some attacks add to every attack before them in the ladder's order (``lsstudy.ladder.ORDER``):
how many of the points every earlier attack left robust they break. Asked this way, a check reads the same from a
cascade (the confirm stage: each attack only on the points the earlier ones left) as from a table where every
attack saw every point. The model is flagged as likely masking gradients when that rate (of the points left to
find) is larger than what noise explains on plain models, not when a share passes a fixed constant
(``beyond_noise``): the unsmoothed models of the same arch and eps, the other seeds, are the reference of an
evaluation that works on a model that does not mask, and the model's rate must exceed theirs by more than the
test points' sampling noise (Fisher's exact test on the counts) and by more than their spread over seeds (a
one-sided prediction bound for one more model). A model with no plain model to compare with is not flagged by
these checks (not assessed, as an attack that was not run).

=================  ==================================================================================
flag               fails when
=================  ==================================================================================
unbounded          PGD-CE at the unbounded eps leaves more than ``unbounded_max`` accuracy: with eps
                   that large every image can be turned into any other, so a working attack wins
margin_loss        the scale-free losses (PGD on the CW margin, APGD-DLR) break points that every
                   cross-entropy attack left: the cross-entropy gradient is hidden by a saturated softmax
black_box          Square (score-based, no gradient) or the transfer attack breaks points that every
                   white-box gradient attack left
not_tight          on an affine model, the accuracy every attack leaves is more than ``TIGHT_MAX`` above
                   the exact robust accuracy (``lsstudy.attacks.exact``): the attacks miss examples that
                   exist (exact, so no noise: a fixed point of accuracy). A check of the evaluation
                   rather than of the model: on a plain linear model (tests/test_exact.py) untargeted
                   PGD, on cross-entropy or the margin, stops 1 to 3 points above exact, and
                   AutoAttack's targeted attack closes the gap
stuck              against the next smaller eps of ``attack.strong.eps``: an attack run on every point (the
                   paper's protocol, FGSM) leaves no less accuracy here than there, and the other attacks
                   break points it left: its result does not move with the budget (Carlini et al. 2019,
                   section 5.2: accuracy must fall as eps grows)
=================  ==================================================================================

Three checks of Carlini et al.'s list were dropped because none fired on a known masker (distillation, the
scaled-logits control) in either default study (docs/verdict.md, "What a check is worth"): FGSM breaking points
BIM left (``single_step``), PGD with twice the steps breaking points PGD left (``not_converged``), and points
robust at a larger eps but broken at a smaller one (``non_monotone``). The maskers here hide the gradient from
every cross-entropy attack at once, which those three cannot see; what each attack adds is still in the verdict
table's ``breaks`` column.

Every check but ``unbounded`` and ``not_tight`` is a rate compared with the plain models' (``NOISY``). ``stuck``
compares two eps, so it is asked at each eps but the smallest.
"""

import numpy as np
import pandas as pd
from scipy import stats

from lsstudy.evaluate import points_mask
from lsstudy.ladder import BLACK_BOX, MARGIN_LOSS, PAPER_PROTOCOL, before

FLAGS = ["unbounded", "margin_loss", "black_box", "not_tight", "stuck"]
EVERY_POINT = [PAPER_PROTOCOL, ("fgsm", "ce")]  # the attacks a cascade runs on every point: their accuracy compares across eps
TIGHT_MAX = 0.01  # one point of accuracy above the exact answer
# The models whose answer is known, and the answer: a check worth its name fires on the maskers, not on the others
CONTROLS = {"none": "plain training: not masking",
            "pgd_training": "robust by training (Madry et al. 2018): not masking",
            "distillation": "masks gradients (Carlini & Wagner 2016)",
            "scaled_logits": "masks gradients; the same answers as none"}
# What each check adds (after every attack before it in lsstudy.ladder.ORDER), and how its sentence names it
ADDED = {"margin_loss": (MARGIN_LOSS, "the margin losses"),
         "black_box": (BLACK_BOX, "black box and transfer")}
NOISY = [*ADDED, "stuck"]  # the checks that compare a rate with the plain models'


def _worst_case(attacks: dict[tuple[str, str], str]) -> np.ndarray:
    """The points that every attack of ``attacks`` left robust (a boolean array)."""
    return np.logical_and.reduce([points_mask(points).numpy() for points in attacks.values()])


def accuracy(attacks: dict[tuple[str, str], str], pairs: list[tuple[str, str]]) -> float:
    """Accuracy left by the per-point worst case over the ``pairs`` present in ``attacks``
    ((attack, loss) -> robust_points); NaN if none is present."""
    present = {pair: attacks[pair] for pair in pairs if pair in attacks}
    return float(_worst_case(present).mean()) if present else np.nan


def adds(attacks: dict[tuple[str, str], str], added: list[tuple[str, str]]) -> tuple[float, float]:
    """(accuracy left by every attack before the first of ``added`` in the ladder's order, the share of the
    points that ``added`` then breaks); NaN where no attack before, or none of ``added``, is present."""
    earlier = before(added[0])
    left = accuracy(attacks, earlier)
    if not any(pair in attacks for pair in added) or np.isnan(left):
        return left, np.nan
    return left, left - accuracy(attacks, earlier + added)


def _stuck(attacks: dict[tuple[str, str], str], smaller: dict[tuple[str, str], str]) -> tuple[int, int, str]:
    """(how many points the other attacks broke of those an every-point attack left here, how many it left, its
    sentence) for the every-point attack that leaves no fewer points here than at the smaller eps and the most to
    the others; with none stuck, (0, the points the first every-point attack left, "")."""
    robust = _worst_case(attacks).sum()
    present = [pair for pair in EVERY_POINT if pair in attacks and pair in smaller]
    if not present:
        return 0, 0, ""
    left = {pair: (points_mask(attacks[pair]).numpy().sum(), points_mask(smaller[pair]).numpy().sum())
            for pair in present}
    stuck = [pair for pair in present if left[pair][0] >= left[pair][1] and left[pair][0] > robust]
    if not stuck:
        return 0, int(left[present[0]][0]), ""
    points = len(attacks[present[0]])
    worst = max(stuck, key=lambda pair: left[pair][0] - robust)
    sentence = "; ".join(f"{pair[0]} ({pair[1]}) leaves {left[pair][0] / points:.3f} here and "
                         f"{left[pair][1] / points:.3f} at the smaller eps (every attack: {robust / points:.3f})"
                         for pair in stuck)
    return int(left[worst][0] - robust), int(left[worst][0]), sentence


def counts(attacks: dict[tuple[str, str], str], smaller: dict[tuple[str, str], str] | None = None) -> dict:
    """What each check of ``NOISY`` measures on one model at one eps: check -> (found, of, the sentence that says
    it): ``found`` points of the ``of`` points where the check could find any (those the earlier attacks left
    robust). A rate of the points that could be found, not a share of all points: a plain model with nothing left
    to break is no reference for a model with much left. (0, 0, "") where the check's attacks were not run, and for
    ``stuck`` with no ``smaller``."""
    points = len(next(iter(attacks.values())))
    measured = {}
    for flag, (added, name) in ADDED.items():
        left, broken = adds(attacks, added)
        measured[flag] = ((0, 0, "") if np.isnan(broken) else
                          (round(broken * points), round(left * points),
                           f"{name} break {broken:.3f} of the points the attacks before left ({left:.3f})"))
    measured["stuck"] = (0, 0, "") if smaller is None else _stuck(attacks, smaller)
    return measured


def beyond_noise(found: int, of: int, reference: list[tuple[int, int]], level: float) -> tuple[bool, float]:
    """(whether ``found`` of ``of`` points is a larger rate than noise explains, the plain models' bound on the rate
    it was compared with). ``reference``: (found, of) of the plain models (other seeds, same arch and eps).

    Both noises must fail to explain it, each at one-sided ``level``: the points' (Fisher's exact test of the
    model's count against the plain models' pooled count: exact where the normal approximation fails, at counts
    of 0 to 5), and the seeds' (above the plain rates' mean plus a t quantile on len - 1 degrees of freedom times
    their standard deviation times sqrt(1 + 1 / len), the prediction bound of one more plain model; with one
    plain model, its rate). Nothing to find (``of`` 0) and no plain model with points to find are not flagged
    (False, NaN)."""
    known = [(k, n) for k, n in reference if n > 0]
    if of == 0 or not known:
        return False, np.nan
    rates = np.array([k / n for k, n in known])
    bound = rates.mean()
    if len(rates) > 1:
        bound += stats.t.ppf(1 - level, len(rates) - 1) * rates.std(ddof=1) * np.sqrt(1 + 1 / len(rates))
    plain_found, plain_of = sum(k for k, _ in known), sum(n for _, n in known)
    table = [[found, of - found], [plain_found, plain_of - plain_found]]
    points_explain = stats.fisher_exact(table, alternative="greater").pvalue >= level
    return bool(found / of > bound and not points_explain), float(bound)


def check(attacks: dict[tuple[str, str], str], unbounded_accuracy: float, unbounded_max: float,
          exact_accuracy: float = np.nan, smaller: dict[tuple[str, str], str] | None = None,
          reference: list[dict] = (), level: float = 0.05) -> dict:
    """The flags of one model at one eps, and ``reasons``: one sentence per failed check, with numbers.

    Args:
        attacks: (attack, loss) -> robust_points string, every attack of the ladder at this eps.
        unbounded_accuracy: accuracy PGD-CE left at the unbounded eps (NaN: not run, not flagged).
        exact_accuracy: the exact robust accuracy of an affine model (NaN: not affine, not flagged).
        smaller: ``attacks`` at the next smaller eps of the evaluation (None: this is the smallest).
        reference: ``counts`` of the plain models to compare with (other seeds of the unsmoothed model of the same
            arch, at the same eps); none: the checks of ``NOISY`` are not assessed.
        level: one-sided level of each comparison with the plain models (``beyond_noise``).
    """
    robust = accuracy(attacks, list(attacks))
    failed = {"unbounded": (unbounded_accuracy > unbounded_max,
                            f"PGD-CE at the unbounded eps leaves {unbounded_accuracy:.3f} (> {unbounded_max:g})"),
              "not_tight": (robust - exact_accuracy > TIGHT_MAX,
                            f"every attack leaves {robust:.3f}, the exact robust accuracy is {exact_accuracy:.3f}")}
    for flag, (found, of, sentence) in counts(attacks, smaller).items():
        fired, bound = beyond_noise(found, of, [plain[flag][:2] for plain in reference], level)
        failed[flag] = (fired, f"{sentence}: {found} of {of}, above the plain models' rate bound {bound:.3f}")
    # a comparison with a missing attack (NaN) is False: not run is not flagged
    flags = {name: bool(failed[name][0]) for name in FLAGS}
    reasons = "; ".join(failed[name][1] for name in FLAGS if flags[name])
    return {**flags, "masking_suspected": any(flags.values()), "reasons": reasons}


def flags_table(verdict: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per ``by`` group (a model up to its seed, and eps): for each flag, how many seeds fail it, as
    "k/n" (the table of the README and the verdict report)."""
    counts = verdict.groupby(by, sort=False)[[*FLAGS, "masking_suspected"]].agg(["sum", "count"])
    table = pd.DataFrame(index=counts.index)
    for flag in [*FLAGS, "masking_suspected"]:
        table[flag] = [f"{int(k)}/{int(n)}" for k, n in zip(counts[(flag, "sum")], counts[(flag, "count")])]
    return table.reset_index()


def known_cases(verdict: pd.DataFrame) -> pd.DataFrame:
    """How often each check fires on the models whose answer is known (``CONTROLS``), one row a control, over
    every arch, seed and eps of the verdict table ``verdict``: "k/n" of its (model, eps) rows. What a check
    firing on a smoothed model is worth is read from here: a check that fires as often on PGD training as on
    distillation does not tell masking from robustness."""
    known = flags_table(verdict[verdict["method"].isin(list(CONTROLS))], ["method"]).set_index("method")
    known = known.reindex([method for method in CONTROLS if method in known.index])
    return known.assign(answer=known.index.map(CONTROLS)).reset_index()[["method", "answer", *FLAGS, "masking_suspected"]]
