"""Best alpha, the summary table, the DVC metrics and the results loader, on the synthetic table of
synthetic_results.py whose answers are planted."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lsstudy.report import tables
from lsstudy.report.style import METHODS
from synthetic_results import FAILURE_RATE, NOISE, PLANTED, make_results


@pytest.fixture(scope="module")
def results():
    return make_results()


@pytest.fixture(scope="module")
def best(results):
    return tables.best_alpha(results, "bim", "ce", 0.1)


def t_half(values) -> float:
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    return (high - low) / 2


def test_best_alpha_picks_the_planted_winners(best):
    chosen = {row.method: (row.alpha, row.temperature) for row in best.itertuples()}
    assert chosen == {"none": (0.0, 1.0), "standard": (0.5, 1.0), "boltzmann": (0.3, 0.1),
                      # ties go to the smaller alpha
                      "adversarial": (0.1, 1.0), "second_best": (0.1, 1.0),
                      "pgd_training": (0.0, 1.0), "distillation": (0.0, 100.0),
                      "scaled_logits": (0.0, 1.0)}
    assert list(best["method"]) == METHODS
    assert best.set_index("method").loc["boltzmann", "accuracy"] == pytest.approx(0.7 + np.mean(NOISE))
    assert "BIM" in best.attrs["criterion"] and "0.1" in best.attrs["criterion"]


def test_best_alpha_rejects_an_eps_that_was_not_attacked(results):
    with pytest.raises(ValueError, match="eps=0.3 was not attacked"):
        tables.best_alpha(results, "bim", "ce", 0.3)


def test_table_holds_the_planted_numbers(results, best):
    summary = tables.table(results, best, 0.1).set_index("method")
    values = [0.6 + noise for noise in NOISE]  # SLS at its best alpha 0.5, BIM (ce) at eps 0.1
    sls = summary.loc["standard"]
    assert (sls["alpha"], sls["seeds"]) == (0.5, 3)
    assert sls["BIM ce"] == pytest.approx(np.mean(values), abs=1e-6)
    assert sls["BIM ce ±"] == pytest.approx(t_half(values), abs=1e-6)
    for column, (attack, loss) in [("clean", ("clean", "none")), ("FGSM ce", ("fgsm", "ce")),
                                   ("FGSM smoothed", ("fgsm", "smoothed")), ("BIM smoothed", ("bim", "smoothed"))]:
        assert summary.loc["none", column] == pytest.approx(PLANTED[(attack, loss)] + np.mean(NOISE), abs=1e-6), column
    assert not any(c.startswith(("DeepFool accuracy", "CW-L2 accuracy")) for c in summary.columns)  # unbounded attacks
    assert summary.loc["none", "DeepFool median L2"] == pytest.approx(1.5)
    assert summary.loc["none", "CW-L2 median L2"] == pytest.approx(0.8)
    assert summary.loc["none", "CW-L2 failure rate"] == pytest.approx(FAILURE_RATE["cw_l2"])
    assert "mean_l2" not in " ".join(summary.columns)
    assert f"{np.mean(values):.3f} ± {t_half(values):.3f}" in tables.table_markdown(summary.reset_index())


def test_an_infinite_median_stays_infinite_with_no_interval(results, best):
    summary = tables.table(results, best, 0.1).set_index("method")
    sls = summary.loc["standard"]  # DeepFool failed on 60% of the points for two of three seeds
    assert sls["DeepFool median L2"] == np.inf
    assert np.isnan(sls["DeepFool median L2 ±"])
    failures = [FAILURE_RATE["deepfool"], 0.6, 0.6]
    assert sls["DeepFool failure rate"] == pytest.approx(np.mean(failures))
    assert sls["DeepFool failure rate ±"] == pytest.approx(t_half(failures))
    row = tables.table_markdown(summary.reset_index()).splitlines()[3]  # header, rule, none, standard
    assert "| standard" in row and "| inf " in row


def test_table_with_one_seed_has_no_intervals():
    one = make_results(seeds=(0,))
    summary = tables.table(one, tables.best_alpha(one, "bim", "ce", 0.1), 0.1)
    assert not [c for c in summary.columns if c.endswith("±")]
    assert (summary["seeds"] == 1).all()
    assert "±" not in tables.table_markdown(summary)


def test_rows_follow_the_arch_order_not_the_alphabet():
    one = make_results(seeds=(0,))
    three = pd.concat([one.assign(arch=arch) for arch in ["custom", "lenet", "linear"]], ignore_index=True)
    summary = tables.table(three, tables.best_alpha(three, "bim", "ce", 0.1), 0.1)
    assert list(dict.fromkeys(summary["arch"])) == ["linear", "lenet", "custom"]
    assert list(summary.loc[summary["arch"] == "linear", "method"]) == METHODS


def test_metrics_structure(results, best):
    metrics = tables.metrics(results, best, 0.1)
    assert list(metrics) == ["lenet"]
    assert list(metrics["lenet"]) == METHODS
    sls = metrics["lenet"]["standard"]
    assert set(sls) == {"alpha", "temperature", "seeds", "clean_accuracy", "fgsm_accuracy_eps0.1", "bim_accuracy_eps0.1"}
    assert sls["alpha"] == 0.5 and sls["seeds"] == 3
    assert sls["bim_accuracy_eps0.1"] == pytest.approx(0.6 + np.mean(NOISE))
    json.dumps(metrics, allow_nan=False)  # plain numbers only


def test_accuracy_vs_eps_wide_is_the_dvc_plot_layout(results, best):
    wide = tables.accuracy_vs_eps_wide(results, best)
    assert list(wide.columns) == ["eps", *METHODS]
    assert list(wide["eps"]) == [0.0, 0.1]
    assert wide.loc[1, "boltzmann"] == pytest.approx(0.7 + np.mean(NOISE))


def test_load_results_keeps_the_string_columns_and_infinite_medians(results, tmp_path):
    path = tmp_path / "attacks.csv"
    results.to_csv(path, index=False)
    loaded = tables.load_results(path)
    assert set(loaded.loc[loaded["attack"] == "deepfool", "loss"]) == {"n/a"}
    assert set(loaded["class"]) == {"all", *map(str, range(10))}
    assert loaded.loc[loaded["attack"] == "deepfool", "eps"].isna().all()
    assert np.isinf(loaded["median_l2"]).sum() == np.isinf(results["median_l2"]).sum() > 0
    assert loaded.loc[loaded["attack"] == "bim", ["median_l2", "failure_rate"]].isna().all().all()
