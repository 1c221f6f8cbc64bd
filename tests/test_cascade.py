"""The cascaded evaluation: attacking, at each rung, only the points every earlier attack left robust gives the
same per-point worst case as attacking every point (exactly for this package's attacks, whose random starts are
drawn per point; up to the seeding for torchattacks' batch-wide random draws), and no attack runs twice."""

import numpy as np
import pytest
import torch
import torchattacks

from lsstudy import models
from lsstudy.attacks.gradient import pgd
from lsstudy.attacks.registry import ATTACKS
from lsstudy.attacks.transfer import CraftedExamples
from lsstudy.evaluate import evaluate, points_mask, point_seeds
from lsstudy.grid.units.evaluation import autoattack_repeats, confirm_plan
from lsstudy.ladder import ORDER
from lsstudy.train import train

EPS = [0.05, 0.1]
N = 120


@pytest.fixture(scope="module")
def mlp(mnist5k_train):
    model = models.build("mlp", "mnist5k", seed=0)
    train(model, *mnist5k_train, epochs=2, lr=0.05, seed=0, device="cpu", progress=False)
    return model.eval()


@pytest.fixture(scope="module")
def points(mnist5k_test):
    x, y = mnist5k_test
    return x[:N], y[:N]


def worst_case(table, eps: float, upto: int) -> np.ndarray:
    """The per-point worst case over the table's rows at ``eps`` of the first ``upto`` attacks of the ladder."""
    rows = table[(table["class"] == "all") & np.isclose(table["eps"], eps)]
    masks = {(r.attack, r.loss): points_mask(r.robust_points).numpy() for r in rows.itertuples()}
    present = [pair for pair in ORDER[:upto] if pair in masks]
    return np.logical_and.reduce([masks[pair] for pair in present])


def deterministic_specs(x, y, model) -> list[dict]:
    examples = {eps: pgd(model, x, y, eps, steps=3, generator=torch.Generator().manual_seed(5)) for eps in EPS}
    return [
        {"attack": "bim", "eps": EPS, "loss": "smoothed", "steps": 5},
        {"attack": "bim", "eps": EPS, "loss": "ce", "steps": 5},
        {"attack": "fgsm", "eps": EPS, "loss": "ce", "standalone": True},
        {"attack": "pgd", "eps": EPS, "loss": "ce", "steps": 5, "restarts": 2},
        {"attack": "pgd", "name": "pgd_more", "eps": EPS, "loss": "ce", "steps": 10, "restarts": 2},
        {"attack": "pgd", "eps": EPS, "loss": "margin", "steps": 5, "restarts": 2},
        {"attack": "transfer", "eps": EPS, "source": CraftedExamples(x, examples)},
    ]


SMOOTHING = {"method": "adversarial", "alpha": 0.1, "temperature": 1.0}


def test_cascade_gives_the_full_evaluations_worst_case_exactly_for_deterministic_attacks(mlp, points):
    x, y = points
    specs = deterministic_specs(x, y, mlp)
    full = evaluate(mlp, x, y, specs, smoothing=SMOOTHING, batch_size=50, seed=3, progress=False)
    cascade = evaluate(mlp, x, y, specs, smoothing=SMOOTHING, batch_size=50, seed=3, progress=False, cascade=True)
    for eps in EPS:
        for upto in range(1, len(ORDER) + 1):
            np.testing.assert_array_equal(worst_case(cascade, eps, upto), worst_case(full, eps, upto))
    # the cascade attacked fewer points, and each row's accuracy is then the worst case up to it
    rows = cascade[cascade["class"] == "all"].set_index(["attack", "loss", "eps"])
    full_rows = full[full["class"] == "all"].set_index(["attack", "loss", "eps"])
    assert rows["attacked"].sum() < full_rows["attacked"].sum()
    assert rows.loc[("pgd", "margin", 0.1), "accuracy"] == pytest.approx(worst_case(full, 0.1, ORDER.index(("pgd", "margin")) + 1).mean())
    # FGSM is standalone: its own accuracy, on every point correct clean
    assert rows.loc[("fgsm", "ce", 0.1), "attacked"] == round(full_rows.loc[("clean", "none", 0.0), "accuracy"] * N)
    assert rows.loc[("fgsm", "ce", 0.1), "robust_points"] == full_rows.loc[("fgsm", "ce", 0.1), "robust_points"]


def test_cascade_matches_the_full_evaluation_for_random_attacks_up_to_the_seeding(mlp, points):
    """APGD and Square (torchattacks) draw their randomness for the whole batch, so which points share it changes
    a point's result: the cascade's worst case differs from the full evaluation's by no more than two seeds of
    the full evaluation differ from each other (plus one point)."""
    x, y = points
    specs = [{"attack": "pgd", "eps": [0.1], "loss": "ce", "steps": 5},
             {"attack": "apgd", "eps": [0.1], "loss": "ce", "steps": 5},
             {"attack": "square", "eps": [0.1], "queries": 50}]

    def final(seed, cascade):
        table = evaluate(mlp, x, y, specs, seed=seed, progress=False, cascade=cascade)
        return worst_case(table, 0.1, len(ORDER))

    full = {seed: final(seed, False) for seed in (0, 1, 2)}
    seed_spread = max(abs(int(full[a].sum()) - int(full[b].sum())) for a in full for b in full)
    for seed in full:
        assert abs(int(final(seed, True).sum()) - int(full[seed].sum())) <= seed_spread + 1


def test_a_points_random_start_does_not_depend_on_its_batch(mlp, points):
    x, y = points
    seeds = point_seeds(7, len(x))
    whole = pgd(mlp, x, y, 0.1, steps=3, restarts=3, point_seeds=seeds)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:40]  # other company, other order
    part = pgd(mlp, x[order], y[order], 0.1, steps=3, restarts=3, point_seeds=seeds[order])
    torch.testing.assert_close(part, whole[order], rtol=0, atol=0)
    # and the starts themselves are random: another seed per point gives other examples
    assert not torch.equal(pgd(mlp, x, y, 0.1, steps=3, point_seeds=point_seeds(8, len(x))), whole)


def test_point_seeds_refuse_a_generator_beside_them_and_a_wrong_shape(mlp, points):
    x, y = points
    with pytest.raises(ValueError, match="generator or point_seeds"):
        pgd(mlp, x, y, 0.1, generator=torch.Generator(), point_seeds=point_seeds(0, len(x)))
    with pytest.raises(ValueError, match="point_seeds"):
        pgd(mlp, x, y, 0.1, point_seeds=point_seeds(0, 3))


def counting(monkeypatch, names):
    calls = {name: 0 for name in names}
    for name in names:
        def counted(*args, _attack=ATTACKS[name], _name=name, **kwargs):
            calls[_name] += 1
            return _attack(*args, **kwargs)
        monkeypatch.setitem(ATTACKS, name, counted)
    return calls


@pytest.mark.parametrize("cascade", [False, True])
def test_the_papers_protocol_on_a_one_hot_target_is_the_cross_entropy_attack_run_once(mlp, points, monkeypatch,
                                                                                       cascade):
    """For the unsmoothed model (and the baselines) the smoothed target is one-hot: the paper's protocol is plain
    cross-entropy, so its rows come from the cross-entropy attack's one run, and are the same rows."""
    x, y = points
    specs = [{"attack": "bim", "eps": EPS, "loss": "smoothed", "steps": 5},
             {"attack": "bim", "eps": EPS, "loss": "ce", "steps": 5},
             {"attack": "fgsm", "eps": EPS, "loss": "ce", "standalone": True},
             {"attack": "fgsm", "eps": EPS, "loss": "smoothed", "standalone": True}]
    calls = counting(monkeypatch, ["bim", "fgsm"])
    none = {"method": "none", "alpha": 0.0, "temperature": 1.0}
    table = evaluate(mlp, x, y, specs, smoothing=none, progress=False, cascade=cascade).query("`class` == 'all'")
    assert calls == {"bim": len(EPS), "fgsm": len(EPS)}
    rows = table.set_index(["attack", "loss", "eps"])["robust_points"]
    for eps in EPS:
        assert rows[("bim", "ce", eps)] == rows[("bim", "smoothed", eps)]
        assert rows[("fgsm", "ce", eps)] == rows[("fgsm", "smoothed", eps)]
    # a smoothed model's own target is not one-hot: both protocols run
    evaluate(mlp, x, y, specs, smoothing=SMOOTHING, progress=False, cascade=cascade)
    assert calls == {"bim": 3 * len(EPS), "fgsm": 3 * len(EPS)}


def test_autoattack_in_the_confirm_plan_does_not_rerun_apgd_ce_and_square(mlp, points, monkeypatch):
    """The plan's AutoAttack leaves out the components the strong evaluation already ran with the same settings
    (count the torchattacks calls), and only where the settings are the same."""
    attack = {"strong": {"eps": [0.1], "pgd": {"steps": 3, "restarts": 1}, "apgd_steps": 4, "square_queries": 20,
                         "transfer": {"steps": 3, "restarts": 1}, "unbounded_eps": 0.5},
              "protocols": ["ce", "smoothed"], "bim_steps": 3, "batch_size": 500}
    same = {"steps": 4, "targets": 2, "queries": 20}
    assert autoattack_repeats(attack["strong"], same) == ["apgd-ce", "square"]
    assert autoattack_repeats(attack["strong"], {**same, "steps": 5, "queries": 30}) == []
    plan = confirm_plan(attack, {"autoattack": same})
    assert [(s.get("name", s["attack"]), s.get("loss")) for s in plan["linf"]][:2] == [("bim", "smoothed"), ("bim", "ce")]
    specs = [spec for spec in plan["linf"] if spec["attack"] not in ("transfer", "exact")]  # exact: affine models only
    calls = {"APGD": 0, "Square": 0, "APGDT": 0, "FAB": 0}
    for name in calls:
        cls = getattr(torchattacks, name)

        def forward(self, *args, _original=cls.forward, _name=name, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(cls, "forward", forward)
    x, y = points
    evaluate(mlp, x[:60], y[:60], specs, smoothing=SMOOTHING, progress=False, cascade=True)
    assert calls == {"APGD": 2, "Square": 1, "APGDT": 1, "FAB": 1}  # APGD-CE and APGD-DLR, once each
