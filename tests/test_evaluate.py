"""The evaluation table: RobustBench accounting, per-class rows that add up, clear errors."""

import math

import pytest
import torch

from lsstudy import models
from lsstudy.attacks import deepfool
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


def test_l2_columns_summarise_the_successful_deepfool_perturbations(table, linear_model, mnist5k_test):
    x, y = mnist5k_test[0][:150], mnist5k_test[1][:150]
    _, l2 = deepfool(linear_model, x, y, steps=20)
    correct = predict(linear_model, x).argmax(1) == y
    flipped = l2[correct & torch.isfinite(l2)]
    row = table[(table["attack"] == "deepfool") & (table["class"] == "all")].iloc[0]
    assert row["median_l2"] == pytest.approx(flipped.median().item(), rel=1e-5)
    assert row["mean_l2"] == pytest.approx(flipped.mean().item(), rel=1e-5)
    assert math.isnan(table[table["attack"] == "fgsm"]["median_l2"].iloc[0])


@pytest.mark.parametrize("spec, name", [({"attack": "jsma", "eps": [0.1]}, "attack"),
                                        ({"attack": "fgsm", "eps": [-0.1]}, "eps"),
                                        ({"attack": "bim"}, "eps")])
def test_bad_attack_specs_are_refused_before_any_work(linear_model, spec, name):
    with pytest.raises(ValueError, match=name):
        evaluate(linear_model, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), [spec], progress=False)
