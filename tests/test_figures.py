"""Figures and tables on a small synthetic results table whose answers are planted."""

import json

import matplotlib

matplotlib.use("Agg")  # no display in tests

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lsstudy import figures

SMOOTHING = [m for m in figures.METHODS if m not in figures.BASELINES]  # the methods of this file's table
ATTACK_PARAMS = {"bim_steps": 10, "deepfool": {"steps": 50, "overshoot": 0.02},
                 "cw_l2": {"steps": 100, "search_steps": 5, "c": 1.0, "kappa": 0.0}}
# (method, alpha, temperature): the grid at T = 1 plus one BLS point of a temperature sweep
MODELS = ([("none", 0.0, 1.0)]
          + [(m, a, 1.0) for m in ["standard", "adversarial", "boltzmann", "second_best"] for a in [0.1, 0.5]]
          + [("boltzmann", 0.3, 0.1)])
NOISE = [-0.01, 0.0, 0.02]  # added to every accuracy of seed 0, 1, 2
BIM_BEST = {("standard", 0.5): 0.6, ("boltzmann", 0.3): 0.7}  # planted winners of BIM (ce) at eps 0.1
PLANTED = {("clean", "none"): 0.9, ("fgsm", "ce"): 0.5, ("fgsm", "smoothed"): 0.55, ("bim", "ce"): 0.4,
           ("bim", "smoothed"): 0.45, ("deepfool", "n/a"): 0.2, ("cw_l2", "n/a"): 0.6}
MEDIAN_L2 = {"deepfool": 1.5, "cw_l2": 0.8}


def planted(method, alpha, attack, loss, eps):
    if attack in ("fgsm", "bim") and eps == 0:
        return PLANTED[("clean", "none")]
    if (attack, loss, eps) == ("bim", "ce", 0.1):
        return BIM_BEST.get((method, alpha), PLANTED[(attack, loss)])
    return PLANTED[(attack, loss)]


def make_results(seeds=(0, 1, 2)) -> pd.DataFrame:
    jobs = [("clean", "none", 0.0)] + [(a, l, e) for a in ["fgsm", "bim"] for l in ["ce", "smoothed"] for e in [0.0, 0.1]]
    jobs += [("deepfool", "n/a", np.nan), ("cw_l2", "n/a", np.nan)]
    rows = []
    for method, alpha, temperature in MODELS:
        for seed in seeds:
            for attack, loss, eps in jobs:
                n = 100 if attack in MEDIAN_L2 else 500
                for cls in ["all", *map(str, range(10))]:
                    rows.append({
                        "dataset": "mnist5k", "arch": "lenet", "method": method, "alpha": alpha,
                        "temperature": temperature, "seed": seed, "attack": attack, "loss": loss, "eps": eps,
                        "class": cls, "n": n if cls == "all" else n // 10,
                        "accuracy": planted(method, alpha, attack, loss, eps) + NOISE[seed],
                        "median_l2": MEDIAN_L2.get(attack, np.nan), "mean_l2": MEDIAN_L2.get(attack, np.nan),
                        "checkpoint": f"models/{method}_{alpha}_{temperature}_{seed}.pt"})
    return pd.DataFrame(rows)


def make_history(seeds=(0, 1, 2)) -> pd.DataFrame:
    return pd.DataFrame([
        {"epoch": epoch, "lr": 0.05, "train_loss": 1.0 / epoch, "val_loss": 1.0 / epoch, "val_accuracy": 0.9 - 0.1 / epoch,
         "dataset": "mnist5k", "arch": "lenet", "method": m, "alpha": a, "temperature": t, "seed": s}
        for m, a, t in MODELS for s in seeds for epoch in [1, 2, 3]])


@pytest.fixture(scope="module")
def results():
    return make_results()


@pytest.fixture(scope="module")
def best(results):
    return figures.best_alpha(results, "bim", "ce", 0.1)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_best_alpha_picks_the_planted_winners(best):
    chosen = {row.method: (row.alpha, row.temperature) for row in best.itertuples()}
    assert chosen == {"none": (0.0, 1.0), "standard": (0.5, 1.0), "boltzmann": (0.3, 0.1),
                      # ties go to the smaller alpha
                      "adversarial": (0.1, 1.0), "second_best": (0.1, 1.0)}
    assert list(best["method"]) == SMOOTHING
    assert best.set_index("method").loc["boltzmann", "accuracy"] == pytest.approx(0.7 + np.mean(NOISE))
    assert "BIM" in best.attrs["criterion"] and "0.1" in best.attrs["criterion"]


def test_best_alpha_rejects_an_eps_that_was_not_attacked(results):
    with pytest.raises(ValueError, match="eps=0.3 was not attacked"):
        figures.best_alpha(results, "bim", "ce", 0.3)


def test_half_width_is_the_student_t_interval():
    values = [0.61, 0.59, 0.63]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert figures.half_width(values) == pytest.approx((high - low) / 2)
    assert np.isnan(figures.half_width([0.5]))


def test_table_holds_the_planted_numbers(results, best):
    summary = figures.table(results, best, 0.1).set_index("method")
    values = [0.6 + noise for noise in NOISE]  # SLS at its best alpha 0.5, BIM (ce) at eps 0.1
    t_half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
    sls = summary.loc["standard"]
    assert (sls["alpha"], sls["seeds"]) == (0.5, 3)
    assert sls["BIM ce"] == pytest.approx(np.mean(values), abs=1e-6)
    assert sls["BIM ce ±"] == pytest.approx(t_half, abs=1e-6)
    for column, (attack, loss) in [("clean", ("clean", "none")), ("FGSM ce", ("fgsm", "ce")),
                                   ("FGSM smoothed", ("fgsm", "smoothed")), ("BIM smoothed", ("bim", "smoothed")),
                                   ("DeepFool accuracy", ("deepfool", "n/a")), ("CW-L2 accuracy", ("cw_l2", "n/a"))]:
        assert summary.loc["none", column] == pytest.approx(PLANTED[(attack, loss)] + np.mean(NOISE), abs=1e-6), column
    assert summary.loc["none", "DeepFool median L2"] == pytest.approx(1.5)
    assert summary.loc["none", "CW-L2 median L2"] == pytest.approx(0.8)
    assert f"{np.mean(values):.3f} ± {t_half:.3f}" in figures.table_markdown(summary.reset_index())


def test_table_with_one_seed_has_no_intervals():
    one = make_results(seeds=(0,))
    summary = figures.table(one, figures.best_alpha(one, "bim", "ce", 0.1), 0.1)
    assert not [c for c in summary.columns if c.endswith("±")]
    assert (summary["seeds"] == 1).all()
    assert "±" not in figures.table_markdown(summary)


def test_metrics_structure(results, best):
    metrics = figures.metrics(results, best, 0.1)
    assert list(metrics) == ["lenet"]
    assert list(metrics["lenet"]) == SMOOTHING
    sls = metrics["lenet"]["standard"]
    assert set(sls) == {"alpha", "temperature", "seeds", "clean_accuracy", "fgsm_accuracy_eps0.1", "bim_accuracy_eps0.1"}
    assert sls["alpha"] == 0.5 and sls["seeds"] == 3
    assert sls["bim_accuracy_eps0.1"] == pytest.approx(0.6 + np.mean(NOISE))
    json.dumps(metrics, allow_nan=False)  # plain numbers only


def test_accuracy_vs_eps_wide_is_the_dvc_plot_layout(results, best):
    wide = figures.accuracy_vs_eps_wide(results, best)
    assert list(wide.columns) == ["eps", *SMOOTHING]
    assert list(wide["eps"]) == [0.0, 0.1]
    assert wide.loc[1, "boltzmann"] == pytest.approx(0.7 + np.mean(NOISE))


def test_load_results_keeps_the_string_columns(results, tmp_path):
    path = tmp_path / "attacks.csv"
    results.to_csv(path, index=False)
    loaded = figures.load_results(path)
    assert set(loaded.loc[loaded["attack"] == "deepfool", "loss"]) == {"n/a"}
    assert set(loaded["class"]) == {"all", *map(str, range(10))}
    assert loaded.loc[loaded["attack"] == "deepfool", "eps"].isna().all()


def _labels(fig) -> tuple[str, str]:
    """The figure's x and y labels: its sup labels, else those of its panels."""
    xs = [fig._supxlabel.get_text()] if fig._supxlabel else [ax.get_xlabel() for ax in fig.axes]
    ys = [fig._supylabel.get_text()] if fig._supylabel else [ax.get_ylabel() for ax in fig.axes]
    return " ".join(xs).strip(), " ".join(ys).strip()


FIGURES = {  # name: (draw it from results and best, words its titles and legend must hold)
    "accuracy_vs_eps": (lambda r, b: figures.accuracy_vs_eps(r, b, "lenet", ATTACK_PARAMS),
                        ["n = 500 test points, 3 seeds", "BIM 10 steps, Linf", "SLS, alpha 0.5"]),
    "accuracy_vs_alpha": (lambda r, b: figures.accuracy_vs_alpha(r, "lenet", [0.1], ATTACK_PARAMS, 1.0),
                          ["FGSM, Linf", "eps = 0.1"]),
    "bls_temperature": (lambda r, b: figures.bls_temperature(r, "lenet", 0.3, 0.1, ATTACK_PARAMS),
                        ["alpha 0.3", "BIM 10 steps"]),
    "min_norm": (lambda r, b: figures.min_norm(r, "lenet", ATTACK_PARAMS, 1.0),
                 ["n = 100 test points", "DeepFool 50 steps", "CW-L2 100 steps"]),
    "per_class_heatmap": (lambda r, b: figures.per_class_heatmap(r, "lenet", 0.1, ATTACK_PARAMS, 1.0),
                          ["per-class", "eps = 0.1"]),
    "clean_vs_alpha": (lambda r, b: figures.clean_vs_alpha(r, "lenet", 1.0), ["clean accuracy"]),
    "protocol": (lambda r, b: figures.protocol(r, b, "lenet", ATTACK_PARAMS), ["BIM 10 steps", "SBLS, alpha 0.1"]),
    "training_curves": (lambda r, b: figures.training_curves(make_history(), b, "lenet"), ["validation"]),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_figures_are_titled_and_labelled(results, best, name):
    draw, words = FIGURES[name]
    fig = draw(results, best)
    assert isinstance(fig, matplotlib.figure.Figure)
    title = fig._suptitle.get_text()
    assert "mnist5k" in title and "lenet" in title
    legend = [text.get_text() for text in fig.legends[0].get_texts()] if fig.legends else []
    words_shown = " ".join([title, *(ax.get_title() for ax in fig.axes), *legend])
    assert all(word in words_shown for word in words), words_shown
    xlabel, ylabel = _labels(fig)
    assert xlabel and ylabel


def test_an_unknown_arch_is_named(results, best):
    with pytest.raises(ValueError, match="arch='resnet18' has no results"):
        figures.accuracy_vs_eps(results, best, "resnet18", ATTACK_PARAMS)


def test_save_writes_every_format(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    paths = figures.save(fig, "line", ["png", "pdf"], tmp_path / "figures")
    assert [p.name for p in paths] == ["line.png", "line.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)
