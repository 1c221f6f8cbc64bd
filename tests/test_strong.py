"""The strong evaluation: every strong attack beats FGSM on a trained model, APGD (torchattacks) agrees
with this package's PGD, AutoAttack keeps every point APGD-CE fools, transfer examples ignore the
target, the per-point worst case is never above any single attack, and the sanity checks flag a
deliberately masked model but not an ordinary one."""

import math
import statistics

import pandas as pd
import pytest
import torch
from torch import nn

from lsstudy import models
from lsstudy.attacks.autoattack import apgd, autoattack, square
from lsstudy.attacks.gradient import fgsm, pgd
from lsstudy.attacks.transfer import TransferSource, transfer
from lsstudy.evaluate import evaluate
from lsstudy.grid.units.evaluation import strong_specs
from lsstudy.report import sanity
from lsstudy.report.verdict import KEYS, verdict_table

EPS = 0.1
STRONG = {"eps": [EPS], "pgd": {"steps": 20, "restarts": 2}, "apgd_steps": 20, "square_queries": 300,
          "transfer": {"steps": 10, "restarts": 1}, "unbounded_eps": 0.5}
LINF = [{"attack": "fgsm", "eps": [EPS], "loss": loss} for loss in ["ce", "smoothed"]] + \
       [{"attack": "bim", "eps": [EPS], "loss": loss, "steps": 10} for loss in ["ce", "smoothed"]]


class Scaled(nn.Module):
    """A model whose logits are multiplied by a huge constant: same predictions, but the softmax
    saturates in float32, so the cross-entropy and its gradient are exactly 0 on correct points."""

    def __init__(self, model: nn.Module, factor: float = 1e4):
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x):
        return self.model(x) * self.factor


@pytest.fixture(scope="module")
def batch(mnist5k_test):
    x, y = mnist5k_test
    return x[:200], y[:200]


@pytest.fixture(scope="module")
def source():
    """An independently trained source: another seed's unsmoothed LeNet would do; an untrained one is
    enough to test the mechanics."""
    return TransferSource(models.build("lenet", "mnist5k", seed=7), steps=5)


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


@pytest.mark.parametrize("attack", [
    lambda m, x, y: pgd(m, x, y, EPS, steps=20, restarts=2, loss="ce"),
    lambda m, x, y: pgd(m, x, y, EPS, steps=20, restarts=2, loss="margin"),
    lambda m, x, y: apgd(m, x, y, EPS, steps=20, loss="ce"),
    lambda m, x, y: apgd(m, x, y, EPS, steps=20, loss="dlr"),
    # a random search needs its queries: at 300 it still trails FGSM on this model (0.85 against 0.80)
    lambda m, x, y: square(m, x, y, EPS, queries=1000),
], ids=["pgd-ce", "pgd-margin", "apgd-ce", "apgd-dlr", "square"])
def test_each_strong_attack_lowers_accuracy_at_least_as_much_as_fgsm(trained_lenet, batch, attack):
    x, y = batch[0][:100], batch[1][:100]
    torch.manual_seed(0)
    assert accuracy(trained_lenet, attack(trained_lenet, x, y), y) <= accuracy(trained_lenet, fgsm(trained_lenet, x, y, EPS), y)


@pytest.mark.parametrize("loss, pgd_loss", [("ce", "ce"), ("dlr", "margin")])
def test_apgd_is_at_least_as_strong_as_pgd_with_as_many_steps(trained_lenet, batch, loss, pgd_loss):
    """The cross-check of the torchattacks implementation: APGD, with its adaptive step, should not
    lose to fixed-step PGD on a comparable loss (allowing 2 points in 100 for the random starts)."""
    x, y = batch
    ours = pgd(trained_lenet, x, y, EPS, steps=20, loss=pgd_loss, generator=torch.Generator().manual_seed(0))
    theirs = apgd(trained_lenet, x, y, EPS, steps=20, loss=loss)
    assert accuracy(trained_lenet, theirs, y) <= accuracy(trained_lenet, ours, y) + 0.02


def fooled(model, x_adv, y) -> torch.Tensor:
    with torch.no_grad():
        return model(x_adv).argmax(dim=1) != y


@pytest.mark.parametrize("settings", [
    pytest.param({"steps": 10, "queries": 200}, id="short"),
    pytest.param({}, id="standard", marks=pytest.mark.slow),  # about a minute on 2 cores
])
def test_autoattack_fools_every_point_apgd_ce_fools_and_beats_fgsm(trained_lenet, batch, settings):
    """APGD-CE runs first in AutoAttack, with the same seed: every point it fools stays fooled, and
    the later attacks may only add points."""
    x, y = batch[0][:40], batch[1][:40]
    ensemble = autoattack(trained_lenet, x, y, EPS, **settings)
    alone = apgd(trained_lenet, x, y, EPS, steps=settings.get("steps", 100), loss="ce")
    assert (fooled(trained_lenet, ensemble, y) >= fooled(trained_lenet, alone, y)).all()
    assert accuracy(trained_lenet, ensemble, y) <= accuracy(trained_lenet, fgsm(trained_lenet, x, y, EPS), y)
    assert (ensemble - x).abs().max() <= EPS + 1e-6 and ensemble.min() >= 0 and ensemble.max() <= 1


def test_transfer_examples_are_the_source_pgd_whatever_the_target(trained_lenet, batch, source):
    x, y = batch[0][:32], batch[1][:32]
    first = transfer(trained_lenet, x, y, EPS, source)
    other_target = transfer(models.build("mlp", "mnist5k", seed=0), x, y, EPS, source)
    assert other_target is first  # crafted once, whatever the target
    reference = pgd(source.source, x, y, EPS, steps=5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, reference)
    assert (first - x).abs().max() <= EPS + 1e-6 and first.min() >= 0 and first.max() <= 1


def _table(model, x, y, source, method) -> pd.DataFrame:
    """The attack table of one model, as the attack stage writes it."""
    rows = evaluate(model.eval(), x, y, LINF + strong_specs(STRONG, source),
                    smoothing={"method": "none", "alpha": 0.0, "temperature": 1.0}, progress=False)
    return rows.assign(dataset="mnist5k", arch="lenet", method=method, alpha=0.0, temperature=1.0, seed=0,
                       checkpoint=f"in-memory {method}")


@pytest.fixture(scope="module")
def verdicts(trained_lenet, batch, source):
    """The ordinary LeNet and its scaled-logits control, judged together: the ordinary one is the control's plain
    reference (the checks of sanity.NOISY); it has no other plain model, so those are not assessed on it."""
    x, y = batch[0][:100], batch[1][:100]
    tables = {"ordinary": _table(trained_lenet, x, y, source, "none"),
              "masked": _table(Scaled(trained_lenet), x, y, source, "scaled_logits")}
    judged = verdict_table(pd.concat(tables.values()), STRONG, unbounded_max=0.05, level=0.05)
    rows = {method: judged[judged["method"] == method].iloc[0] for method in ["none", "scaled_logits"]}
    return {"ordinary": (tables["ordinary"], rows["none"]), "masked": (tables["masked"], rows["scaled_logits"])}


def test_sanity_checks_flag_a_masked_model(verdicts):
    table, row = verdicts["masked"]
    assert row["masking_suspected"] and row["unbounded"] and row["margin_loss"]
    assert "PGD-CE at the unbounded eps leaves" in row["reasons"]
    # Only the gradient is hidden: the scale-free attacks (sign steps on the margin, DLR, the margin's
    # ranking for Square, and transfer) see the same function on both models, so the masked model's
    # worst case is no better than the ordinary one's under those attacks. CE attacks may still find
    # some extra points on the ordinary model, so its full worst case is not the reference.
    ordinary = verdicts["ordinary"][0]
    at_eps = ordinary[(ordinary["class"] == "all") & (ordinary["eps"] == EPS)]
    attacks = {(r.attack, r.loss): r.robust_points for r in at_eps.itertuples()}
    scale_free = [*sanity.MARGIN_LOSS, *sanity.BLACK_BOX]
    assert set(scale_free) <= set(attacks)
    assert row["robust_accuracy"] <= sanity.accuracy(attacks, scale_free) + 0.02
    assert row["robust_accuracy"] <= row["fgsm_accuracy"] - 0.2  # the strong evaluation sees through it
    assert row["paper_protocol_accuracy"] >= row["clean_accuracy"] - 0.02  # BIM finds nothing


def test_sanity_checks_do_not_flag_an_ordinary_model(verdicts):
    _, row = verdicts["ordinary"]
    assert not row["masking_suspected"], row["reasons"]
    assert row["reasons"] == ""


@pytest.mark.parametrize("name", ["ordinary", "masked"])
def test_worst_case_is_never_above_any_single_attack(verdicts, name):
    table, row = verdicts[name]
    at_eps = table[(table["class"] == "all") & (table["eps"] == EPS) & (table["attack"] != "clean")]
    assert len(at_eps) == 4 + 7  # FGSM and BIM under both protocols, and the 7 strong attacks
    # the table's accuracies are float32 means (0.77 is stored as 0.76999998): compare to float32 precision
    assert (row["robust_accuracy"] <= at_eps["accuracy"] + 1e-6).all()
    assert row["robust_accuracy"] <= row["clean_accuracy"] + 1e-6
    # what each attack added to the ones before it adds up to what the whole ladder removes
    counted = sum(int(part.rsplit(" ", 1)[1]) for part in row["breaks"].split(", ") if part)
    assert counted == round((row["clean_accuracy"] - row["robust_accuracy"]) * len(at_eps["robust_points"].iloc[0]))


def test_per_point_worst_case_by_hand():
    attacks = {("fgsm", "ce"): "1101", ("pgd", "ce"): "1011", ("square", "margin"): "1111"}
    assert sanity.accuracy(attacks, list(attacks)) == 0.5  # only points 0 and 3 survive all three
    assert sanity.accuracy(attacks, [("square", "margin")]) == 1.0
    assert sanity.accuracy(attacks, [("apgd", "dlr")]) != sanity.accuracy(attacks, [("apgd", "dlr")])  # NaN: absent
    # square comes after fgsm and pgd in the ladder: it adds nothing to the points they left (0 and 3)
    assert sanity.adds(attacks, [("square", "margin")]) == (0.5, 0.0)
    assert sanity.adds({**attacks, ("square", "margin"): "0111"}, [("square", "margin")]) == (0.5, 0.25)


def test_the_check_across_eps_fires_on_an_attack_that_does_not_fall_with_eps_and_only_then():
    paper = ("bim", "smoothed")
    # 20 points; at the smaller eps the paper's protocol leaves 16, every attack 10
    small = {paper: "1" * 16 + "0" * 4, ("pgd", "ce"): "1" * 10 + "0" * 10}
    falling = {paper: "1" * 12 + "0" * 8, ("pgd", "ce"): "1" * 6 + "0" * 14}  # a working evaluation
    plain = [sanity.counts(falling, small)] * 3  # three plain models that fall with eps: nothing found

    def judged(attacks, smaller=small):
        return sanity.check(attacks, 0.0, 0.05, smaller=smaller, reference=plain)

    ok = judged(falling)
    assert not ok["stuck"] and not ok["masking_suspected"], ok["reasons"]
    # the paper's protocol leaves as much at the larger eps while PGD breaks more: stuck
    stuck = judged({**falling, paper: small[paper]})
    assert stuck["stuck"] and "bim (smoothed) leaves 0.800 here and 0.800" in stuck["reasons"]
    # a stuck attack on a model robust at both eps is not flagged: nothing is left to break
    robust = {paper: "1" * 20, ("pgd", "ce"): "1" * 20}
    assert not judged(robust, robust)["stuck"]
    # the smallest eps has nothing to compare with
    assert not sanity.check({**falling, paper: small[paper]}, 0.0, 0.05, reference=plain)["stuck"]


def test_verdict_columns_are_the_documented_ones(verdicts):
    _, row = verdicts["ordinary"]
    assert list(row.index[:len(KEYS) + 1]) == [*KEYS, "eps"]
    for column in ["clean_accuracy", "fgsm_accuracy", "paper_protocol_accuracy", "robust_accuracy",
                   "breaks", *sanity.FLAGS, "masking_suspected", "reasons"]:
        assert column in row.index


def test_the_known_cases_count_each_check_on_each_control_and_skip_the_rest():
    row = dict.fromkeys([*sanity.FLAGS, "masking_suspected"], False)
    verdict = pd.DataFrame([{**row, "method": "distillation", "unbounded": True, "masking_suspected": True},
                            {**row, "method": "distillation", "unbounded": True, "margin_loss": True, "masking_suspected": True},
                            {**row, "method": "none"},
                            {**row, "method": "standard", "margin_loss": True, "masking_suspected": True}])
    table = sanity.known_cases(verdict).set_index("method")
    assert list(table.index) == ["none", "distillation"]  # in CONTROLS' order; no smoothing method, no absent control
    assert (table.loc["distillation", "unbounded"], table.loc["distillation", "margin_loss"]) == ("2/2", "1/2")
    assert (table.loc["none", "margin_loss"], table.loc["none", "masking_suspected"]) == ("0/1", "0/1")
    assert "masks gradients" in table.loc["distillation", "answer"]


@pytest.mark.parametrize("flag, attack", [("margin_loss", ("apgd", "dlr")), ("black_box", ("square", "margin"))])
def test_each_check_fires_when_its_attack_breaks_more_than_on_plain_models_and_only_then(flag, attack):
    # 20 points: BIM and PGD-CE leave the first 10; the attack under test leaves 10 (a subset: it adds nothing)
    # or 7 of them (it breaks 3 of the 10 they left, against 0 of 30 on three plain models)
    earlier = {("bim", "smoothed"): "1" * 10 + "0" * 10, ("bim", "ce"): "1" * 10 + "0" * 10, ("pgd", "ce"): "1" * 10 + "0" * 10}
    adds_nothing = {**earlier, attack: "1" * 10 + "0" * 10}
    plain = [sanity.counts(adds_nothing)] * 3
    assert not sanity.check(adds_nothing, 0.0, 0.05, reference=plain)["masking_suspected"]
    breaks_three = sanity.check({**earlier, attack: "1" * 7 + "0" * 13}, 0.0, 0.05, reference=plain)
    assert [name for name in sanity.FLAGS if breaks_three[name]] == [flag]
    assert "break 0.150 of the points the attacks before left (0.500)" in breaks_three["reasons"]
    # the same three points are not evidence when the plain models' attack breaks as many (the old fixed
    # tolerance of 0.03 flagged it), nor with no plain model to compare with
    as_plain = [sanity.counts({**earlier, attack: f"{'1' * k}{'0' * (20 - k)}"}) for k in (6, 7, 8)]
    assert not sanity.check({**earlier, attack: "1" * 7 + "0" * 13}, 0.0, 0.05, reference=as_plain)[flag]
    assert not sanity.check({**earlier, attack: "1" * 7 + "0" * 13}, 0.0, 0.05)[flag]


def _fisher_tail(count: int, points: int, plain_count: int, plain_points: int) -> float:
    """P(at least ``count`` of the broken points fall on the model's ``points``), every ordering of the
    ``count + plain_count`` broken points among all points equally likely: the hypergeometric tail, by hand."""
    broken, total = count + plain_count, points + plain_points
    return sum(math.comb(points, k) * math.comb(plain_points, broken - k)
               for k in range(count, min(points, broken) + 1)) / math.comb(total, broken)


@pytest.mark.parametrize("count", range(0, 8))
def test_point_noise_is_fishers_exact_tail_against_the_plain_models(count):
    # five plain models that found nothing of 150 points each: the seed bound is 0, only the points' noise decides
    plain = [(0, 150)] * 5
    fired, bound = sanity.beyond_noise(count, 150, plain, 0.05)
    assert bound == 0.0
    assert fired == (count > 0 and _fisher_tail(count, 150, 0, 750) < 0.05)
    assert (count, fired) != (1, True) and (count, fired) != (3, False)  # by hand: 1 in 900 lands on the model 1/6


def test_seed_noise_is_the_plain_models_prediction_bound():
    rates = [0.10, 0.12, 0.08, 0.11, 0.09]  # of 1000 points each: their counts are far beyond the points' noise
    plain = [(round(r * 1000), 1000) for r in rates]
    t_95_4 = 2.131847  # the t distribution's 0.95 quantile, 4 degrees of freedom (printed tables)
    bound = statistics.mean(rates) + t_95_4 * statistics.stdev(rates) * math.sqrt(1 + 1 / 5)
    assert sanity.beyond_noise(130, 1000, plain, 0.05) == (False, pytest.approx(bound, abs=1e-6))
    assert round(bound * 1000) == 137 and sanity.beyond_noise(138, 1000, plain, 0.05)[0]
    # counts of the points left to find: 3 of a model's 10 are no evidence against the 0 of 1 that each of five
    # plain models left (all 3 of 15 falling on the model's 10 has chance C(10,3) / C(15,3) = 0.26)
    assert sanity.beyond_noise(3, 10, [(0, 1)] * 5, 0.05) == (False, 0.0)
    assert sanity.beyond_noise(0, 0, plain, 0.05) == (False, pytest.approx(float("nan"), nan_ok=True))  # nothing to find
    assert sanity.beyond_noise(500, 1000, [(0, 0)], 0.05)[0] is False  # no plain model to compare with: not assessed
