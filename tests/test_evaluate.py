"""The evaluation table: RobustBench accounting, minimum-norm accounting from the attack's own result,
per-class rows that add up, recorded timings, clear errors."""

import math

import numpy as np
import pytest
import torch

from lsstudy import models
from lsstudy.attacks.deepfool import deepfool
from lsstudy.attacks.registry import ATTACKS
from lsstudy.evaluate import COLUMNS, evaluate
from lsstudy.train import predict, train


@pytest.fixture(scope="module")
def linear_model(mnist5k_train):
    model = models.build("linear", "mnist5k", seed=0)
    train(model, *mnist5k_train, epochs=2, lr=0.05, seed=0, device="cpu", progress=False)
    return model


@pytest.fixture(scope="module")
def table(linear_model, mnist5k_test):
    x, y = mnist5k_test[0][:150], mnist5k_test[1][:150]
    specs = [{"attack": "fgsm", "eps": [0.0, 0.05, 0.1]},
             {"attack": "bim", "eps": [0.1], "steps": 5, "loss": "smoothed"},
             {"attack": "deepfool", "steps": 20}]
    smoothing = {"method": "adversarial", "alpha": 0.1, "temperature": 1.0}
    return evaluate(linear_model, x, y, specs, smoothing=smoothing, batch_size=64, progress=False)


def test_columns_and_rows(table):
    assert list(table.columns) == COLUMNS
    overall = table[table["class"] == "all"]
    assert list(zip(overall["attack"], overall["eps"].fillna(-1))) == [
        ("clean", 0.0), ("fgsm", 0.0), ("fgsm", 0.05), ("fgsm", 0.1), ("bim", 0.1), ("deepfool", -1)]
    assert overall.set_index("attack").loc["bim", "loss"] == "smoothed"


def test_per_class_rows_add_up_to_the_overall_row(table):
    for (attack, loss, eps), rows in table.groupby(["attack", "loss", "eps"], dropna=False):
        per_class = rows[rows["class"] != "all"]
        overall = rows[rows["class"] == "all"].iloc[0]
        assert per_class["n"].sum() == overall["n"] == 150
        weighted = (per_class["accuracy"] * per_class["n"]).sum() / per_class["n"].sum()
        assert weighted == pytest.approx(overall["accuracy"], abs=1e-6)


def test_robust_accuracy_never_exceeds_clean_and_zero_eps_is_clean(table, linear_model, mnist5k_test):
    overall = table[table["class"] == "all"].set_index(["attack", "eps"])["accuracy"]
    clean = overall.loc[("clean", 0.0)]
    assert clean == pytest.approx((predict(linear_model, mnist5k_test[0][:150]).argmax(1) == mnist5k_test[1][:150])
                                  .float().mean().item())
    assert overall.loc[("fgsm", 0.0)] == clean
    assert (overall <= clean + 1e-9).all()
    assert overall.loc[("fgsm", 0.1)] <= overall.loc[("fgsm", 0.05)] < clean


def test_l2_columns_summarise_deepfool_over_the_points_correct_clean(table, linear_model, mnist5k_test):
    x, y = mnist5k_test[0][:150], mnist5k_test[1][:150]
    _, l2 = deepfool(linear_model, x, y, steps=20)
    norms = l2[predict(linear_model, x).argmax(1) == y].numpy()
    row = table[(table["attack"] == "deepfool") & (table["class"] == "all")].iloc[0]
    assert row["median_l2"] == pytest.approx(np.median(norms), rel=1e-6)
    assert row["failure_rate"] == np.isinf(norms).mean()
    linf = table[table["attack"] == "fgsm"]
    assert linf["median_l2"].isna().all() and linf["failure_rate"].isna().all()


def test_minimum_norm_rows_count_the_attacks_own_successes_and_failures_as_infinite(linear_model, mnist5k_test,
                                                                                     monkeypatch):
    """A planted attack that returns x unchanged but claims successes: the table must follow its
    norms (not a second look at x_adv), and count its failures as +inf in the median."""
    x, y = mnist5k_test[0][:150], mnist5k_test[1][:150]
    planted = torch.where(torch.arange(150) % 3 == 0, math.inf, torch.arange(150) / 100)

    def claims(model, points, labels, **kwargs):  # each point's planted norm, whichever points it is given
        rows = [int((x == point).flatten(1).all(1).nonzero()[0]) for point in points]
        return points.clone(), planted[rows]

    monkeypatch.setitem(ATTACKS, "deepfool", claims)
    table = evaluate(linear_model, x, y, [{"attack": "deepfool"}], batch_size=150, progress=False)
    correct = (predict(linear_model, x).argmax(1) == y).numpy()
    norms = planted.numpy()
    for cls in range(10):
        row = table[(table["attack"] == "deepfool") & (table["class"] == str(cls))].iloc[0]
        mine = (y.numpy() == cls) & correct
        assert row["accuracy"] == pytest.approx((mine & np.isinf(norms)).sum() / (y.numpy() == cls).sum())
        assert row["failure_rate"] == pytest.approx(np.isinf(norms[mine]).mean())
        assert row["median_l2"] == pytest.approx(np.median(norms[mine]))  # inf where half or more resist
    overall = table[(table["attack"] == "deepfool") & (table["class"] == "all")].iloc[0]
    successes_only = np.median(norms[correct & np.isfinite(norms)])
    assert overall["median_l2"] > successes_only  # the failures pull the median up
    assert overall["robust_points"] == "".join("1" if r else "0" for r in correct & np.isinf(norms))


def test_timings_are_recorded_per_run_and_stay_out_of_the_table(linear_model, mnist5k_test):
    x, y = mnist5k_test[0][:60], mnist5k_test[1][:60]
    specs = [{"attack": "fgsm", "eps": [0.0, 0.1]}, {"attack": "pgd", "name": "pgd_short", "eps": [0.1], "steps": 2},
             {"attack": "deepfool", "steps": 3}]
    timings = {}
    timed = evaluate(linear_model, x, y, specs, progress=False, timings=timings)
    untimed = evaluate(linear_model, x, y, specs, progress=False)
    assert timed.to_csv(index=False) == untimed.to_csv(index=False)
    assert set(timings) == {("fgsm", "ce", 0.0), ("fgsm", "ce", 0.1), ("pgd_short", "ce", 0.1),
                            ("deepfool", "n/a", None)}
    assert all(seconds >= 0 for seconds in timings.values())


@pytest.mark.parametrize("spec, name", [({"attack": "jsma", "eps": [0.1]}, "attack"),
                                        ({"attack": "fgsm", "eps": [-0.1]}, "eps"),
                                        ({"attack": "bim"}, "eps")])
def test_bad_attack_specs_are_refused_before_any_work(linear_model, spec, name):
    with pytest.raises(ValueError, match=name):
        evaluate(linear_model, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), [spec], progress=False)
