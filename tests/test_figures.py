"""Figures on the small synthetic results table of synthetic_results.py, whose answers are planted:
titles and labels, intervals inside the range of what they measure, alpha axes fitted to the grid,
and words only for what is drawn."""

import re

import matplotlib

matplotlib.use("Agg")  # no display in tests

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from scipy import stats

from authors_reference import NUM, assert_points, authors_points, bullet
from lsstudy.baselines import BASELINES
from lsstudy.report import figures, verdict_figures
from lsstudy.report.reference import authors
from lsstudy.report.tables import best_alpha
from lsstudy.report.verdict import LADDER
from synthetic_results import ATTACK_PARAMS, MODELS, NOISE, PLANTED, make_history, make_results

COLUMNS = len({m for m, _, _ in MODELS})  # accuracy_vs_eps draws a column per model at its best alpha

WIDE_NOISE = (-0.1, 0.0, 0.1)  # seeds far apart: 95% t-intervals reach past 0 and 1


@pytest.fixture(scope="module")
def results():
    return make_results()


@pytest.fixture(scope="module")
def best(results):
    return best_alpha(results, "bim", "ce", 0.1)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _labels(fig) -> tuple[str, str]:
    """The figure's x and y labels: its sup labels, else those of its panels."""
    xs = [fig._supxlabel.get_text()] if fig._supxlabel else [ax.get_xlabel() for ax in fig.axes]
    ys = [fig._supylabel.get_text()] if fig._supylabel else [ax.get_ylabel() for ax in fig.axes]
    return " ".join(xs).strip(), " ".join(ys).strip()


def _words(fig) -> str:
    """Everything a reader sees in words: title, panel titles, legend and notes."""
    legend = [text.get_text() for text in fig.legends[0].get_texts()] if fig.legends else []
    return " | ".join([fig._suptitle.get_text(), *(ax.get_title() for ax in fig.axes), *legend,
                       *(text.get_text() for text in fig.texts)])


FIGURES = {  # name: (draw it from results and best, words its titles, legend and notes must hold)
    "accuracy_vs_eps": (lambda r, b: figures.accuracy_vs_eps(r, b, "lenet", ATTACK_PARAMS, authors.load()),
                        ["n = 500 test points, 3 seeds", "BIM 10 steps, Linf", "SLS, alpha 0.5", "PGD training",
                         "distillation, T 100", "no smoothing (mean, in every panel)", "attacking ce or smoothed",
                         "authors' result file, Oct 2019 (their test set, settings differ)"]),
    "accuracy_vs_alpha": (lambda r, b: figures.accuracy_vs_alpha(r, "lenet", [0.1], ATTACK_PARAMS, 1.0),
                          ["FGSM, Linf", "eps = 0.1", "PGD training"]),
    "bls_temperature": (lambda r, b: figures.bls_temperature(r, "lenet", 0.3, 0.1, ATTACK_PARAMS),
                        ["alpha 0.3", "BIM 10 steps"]),
    "min_norm": (lambda r, b: figures.min_norm(r, "lenet", ATTACK_PARAMS, 1.0),
                 ["n = 100 test points", "DeepFool 50 steps", "CW-L2 100 steps", "median L2 infinite"]),
    "per_class_heatmap": (lambda r, b: figures.per_class_heatmap(r, "lenet", 0.1, ATTACK_PARAMS, 1.0),
                          ["per-class", "eps = 0.1"]),
    "clean_vs_alpha": (lambda r, b: figures.clean_vs_alpha(r, "lenet", 1.0), ["clean accuracy"]),
    "protocol": (lambda r, b: figures.protocol(r, b, "lenet", ATTACK_PARAMS), ["BIM 10 steps", "SBLS, alpha 0.1"]),
    "training_curves": (lambda r, b: figures.training_curves(make_history(), b, "lenet"),
                        ["validation", "PGD training", "distillation, T 100"]),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_figures_are_titled_and_labelled(results, best, name):
    draw, words = FIGURES[name]
    fig = draw(results, best)
    assert isinstance(fig, matplotlib.figure.Figure)
    title = fig._suptitle.get_text()
    assert "mnist5k" in title and "lenet" in title
    shown = _words(fig)
    assert all(word in shown for word in words), shown
    assert "alpha 0" not in shown.replace("alpha 0.", "")  # no smoothing and the baselines have no alpha
    xlabel, ylabel = _labels(fig)
    assert xlabel and ylabel


def test_an_unknown_arch_is_named(results, best):
    with pytest.raises(ValueError, match="arch='resnet18' has no results"):
        figures.accuracy_vs_eps(results, best, "resnet18", ATTACK_PARAMS)


def _intervals(ax) -> list[tuple[float, float]]:
    """(low, high) of every interval drawn in ``ax``: seaborn's bands and matplotlib's error bars."""
    spans = []
    for collection in ax.collections:
        if isinstance(collection, PolyCollection):
            for path in collection.get_paths():
                spans.append((path.vertices[:, 1].min(), path.vertices[:, 1].max()))
    for container in ax.containers:
        for bars in getattr(container, "lines", (None, None, ()))[2]:
            for segment in bars.get_segments():
                spans.append((segment[:, 1].min(), segment[:, 1].max()))
    return spans


def test_accuracy_intervals_stay_in_0_1():
    noisy = make_results(noise=WIDE_NOISE)
    clean = [0.9 + noise for noise in WIDE_NOISE]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(clean), scale=stats.sem(clean))
    assert low < 0.9 - 0.2 and high > 1.1  # unclipped, the intervals would leave [0, 1]
    best = best_alpha(noisy, "bim", "ce", 0.1)
    drawn = {
        "accuracy_vs_eps": figures.accuracy_vs_eps(noisy, best, "lenet", ATTACK_PARAMS).axes,
        "accuracy_vs_alpha": figures.accuracy_vs_alpha(noisy, "lenet", [0.0, 0.1], ATTACK_PARAMS, 1.0).axes,
        "clean_vs_alpha": figures.clean_vs_alpha(noisy, "lenet", 1.0).axes,
        "bls_temperature": figures.bls_temperature(noisy, "lenet", 0.3, 0.1, ATTACK_PARAMS).axes,
        "protocol": figures.protocol(noisy, best, "lenet", ATTACK_PARAMS).axes,
        "min_norm rates": figures.min_norm(noisy, "lenet", ATTACK_PARAMS, 1.0).axes[2:],  # below the L2 row
    }
    for name, axes in drawn.items():
        spans = [span for ax in axes for span in _intervals(ax)]
        assert spans, name
        lowest, highest = min(low for low, _ in spans), max(high for _, high in spans)
        assert lowest >= 0.0 and highest <= 1.0, name
        assert lowest == 0.0 or highest == 1.0, name  # clipped, not dropped


def test_alpha_axes_fit_the_grid(results):
    grid = [0.0, 0.1, 0.5]  # the alpha grid of the synthetic table (no smoothing at 0)
    for fig in [figures.accuracy_vs_alpha(results, "lenet", [0.1], ATTACK_PARAMS, 1.0),
                figures.clean_vs_alpha(results, "lenet", 1.0), figures.min_norm(results, "lenet", ATTACK_PARAMS, 1.0)]:
        for ax in fig.axes:
            left, right = ax.get_xlim()
            assert -0.1 * 0.5 < left < 0.0 and 0.5 < right < 0.5 * 1.1
            assert list(ax.get_xticks()) == pytest.approx(grid)
        shown = _words(fig)
        assert "degenerate: ALS, SBLS (alpha >= 0.5)" in shown  # starts inside the grid are shaded
        assert "SLS (alpha >= 0.9)" not in shown  # those beyond its largest alpha are not


def test_panels_that_are_compared_share_their_y_axis(results, best):
    for fig in [figures.accuracy_vs_eps(results, best, "lenet", ATTACK_PARAMS),
                figures.accuracy_vs_alpha(results, "lenet", [0.0, 0.1], ATTACK_PARAMS, 1.0),
                figures.protocol(results, best, "lenet", ATTACK_PARAMS),
                figures.bls_temperature(results, "lenet", 0.3, 0.1, ATTACK_PARAMS)]:
        first = fig.axes[0]
        assert all(first.get_shared_y_axes().joined(first, ax) for ax in fig.axes)


def test_protocol_leaves_out_the_models_whose_protocols_coincide(results, best):
    titles = [ax.get_title() for ax in figures.protocol(results, best, "lenet", ATTACK_PARAMS).axes]
    assert len(titles) == 2 * 4  # FGSM and BIM x the four smoothing methods
    assert not [t for t in titles if "no smoothing" in t or "PGD training" in t or "distillation" in t]


def test_per_class_caption_says_only_what_is_drawn(results):
    fig = figures.per_class_heatmap(results, "lenet", 0.1, ATTACK_PARAMS, 1.0)
    assert "(ALS alpha >= 0.5, SBLS alpha >= 0.5)" in _words(fig)  # drawn at the grid's alpha 0.5
    small = results[results["alpha"] < 0.5]  # a grid with no alpha in a degenerate range
    assert "Dashed" not in _words(figures.per_class_heatmap(small, "lenet", 0.1, ATTACK_PARAMS, 1.0))


def test_min_norm_marks_an_infinite_median_at_the_top(results):
    fig = figures.min_norm(results, "lenet", ATTACK_PARAMS, 1.0)
    deepfool_l2 = fig.axes[0]
    marks = [line for line in deepfool_l2.get_lines() if line.get_marker() == "^" and len(line.get_xdata())]
    # SLS at alpha 0.5: two of three seeds have an infinite DeepFool median, so the mean over seeds is inf
    assert len(marks) == 1
    assert marks[0].get_xdata()[0] == pytest.approx(0.5, abs=0.05) and marks[0].get_ydata()[0] == 1.0
    assert np.isfinite(deepfool_l2.get_ylim()).all()


def _points(grad: dict[tuple[str, float], np.ndarray]) -> pd.DataFrame:
    """A diagnostics table: per (method, alpha) the CE gradient norms given, 2 seeds pooled."""
    temperatures = {(m, a): t for m, a, t in MODELS}
    frames = []
    for (method, alpha), values in grad.items():
        n = len(values)
        frames.append(pd.DataFrame({
            "dataset": "mnist5k", "arch": "lenet", "method": method, "alpha": alpha,
            "temperature": temperatures[(method, alpha)], "seed": np.arange(n) % 2, "point": np.arange(n) // 2,
            "correct": True, "grad_l1": values, "margin_grad_l1": np.geomspace(1, 100, n),
            "margin": np.geomspace(0.1, 10, n)}))
    return pd.concat(frames, ignore_index=True)


def test_diagnostics_say_where_gradients_are_zero_instead_of_drawing_them():
    rng = np.random.default_rng(0)
    points = _points({("none", 0.0): rng.uniform(0.1, 10, 40), ("distillation", 0.0): np.zeros(40),
                      ("adversarial", 0.1): np.r_[np.zeros(10), np.full(10, 1e-30), rng.uniform(0.1, 10, 20)]})
    fig = verdict_figures.diagnostics(points, "lenet", 1.0)
    gradient = fig.axes[0]
    assert "distillation, T 100: 0 on every point" in gradient.get_title(loc="left")
    assert "ALS, alpha 0.1: 50% of points (25% exactly 0)" in gradient.get_title(loc="left")
    assert gradient.get_ylim()[0] == verdict_figures.FLOOR
    assert fig.axes[1].get_title(loc="left") == ""  # nothing below the floor there


def test_diagnostics_of_models_that_miss_every_point_say_so_and_an_unknown_arch_is_refused():
    points = _points({("none", 0.0): np.ones(10)}).assign(correct=False)  # one-class models can miss every point
    fig = verdict_figures.diagnostics(points, "lenet", 1.0)
    assert "lenet: no test point is classified correctly" in fig.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match=r"arch='mlp' has no diagnostics; choose one of \['lenet'\]"):
        verdict_figures.diagnostics(points, "mlp", 1.0)


def test_verdict_gains_follow_the_arch_order():
    rows = [{"dataset": "mnist5k", "arch": arch, "method": method, "alpha": 0.1, "temperature": 1.0, "eps": 0.1,
             "order": order, "step": step, "gain": 0.01 * order, "ci_low": 0.01 * order - 0.02,
             "ci_high": 0.01 * order + 0.02, "call": "unresolved", "p_holm": 0.5, "seeds": 3, "points": 150}
            for arch in ["lenet", "custom", "linear"] for method in ["distillation", "standard"]
            for order, (step, _) in enumerate(LADDER)]
    fig = verdict_figures.verdict_gains(pd.DataFrame(rows), 0.1, delta=0.03)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["linear", "lenet", "custom"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["SLS\nalpha 0.1", "distillation\nT 1"]
    assert all(fig.axes[0].get_shared_y_axes().joined(fig.axes[0], ax) for ax in fig.axes)


def _with_eps(results: pd.DataFrame, eps_values: list[float], dataset: str = "mnist5k") -> pd.DataFrame:
    """The synthetic table of ``dataset`` with its eps-0.1 rows repeated at each of ``eps_values`` (a longer grid)."""
    attacked = results[results["eps"] == 0.1]
    return pd.concat([results, *(attacked.assign(eps=e) for e in eps_values)]).assign(dataset=dataset)


def test_accuracy_vs_eps_draws_both_protocols(results, best):
    fig = figures.accuracy_vs_eps(results, best, "lenet", ATTACK_PARAMS)
    rows = [ax.get_ylabel() for ax in fig.axes[::COLUMNS]]  # the first panel of each row (one column a model)
    assert rows == ["FGSM, attacking ce", "FGSM, attacking smoothed", "BIM, attacking ce", "BIM, attacking smoothed"]
    for ax, (attack, loss) in zip(fig.axes[::COLUMNS], [("fgsm", "ce"), ("fgsm", "smoothed"), ("bim", "ce"), ("bim", "smoothed")]):
        line = ax.get_lines()[0]  # no smoothing: the planted accuracy at eps 0.1, mean over the 3 seeds
        assert line.get_ydata()[list(line.get_xdata()).index(0.1)] == pytest.approx(PLANTED[(attack, loss)] + np.mean(NOISE))
    only_ce = results[results["loss"] != "smoothed"]
    assert len(figures.accuracy_vs_eps(only_ce, best, "lenet", ATTACK_PARAMS).axes) == 2 * COLUMNS  # the protocols run


def _drawn(fig, column: int) -> dict[str, list[tuple]]:
    """Per row (its label, on the first panel), the authors' points drawn in the panels of one column (one model)."""
    return {first.get_ylabel(): authors_points(ax) for first, ax in zip(fig.axes[::COLUMNS], fig.axes[column::COLUMNS])}


def test_the_authors_points_are_the_file_s_beside_the_models_without_alpha(best):
    fig = figures.accuracy_vs_eps(_with_eps(make_results(), [0.05, 0.2, 0.3]), best, "lenet", ATTACK_PARAMS,
                                  authors.load())
    theirs = authors.load()
    mnist_lenet = theirs[(theirs["dataset"] == "mnist") & (theirs["arch"] == "lenet")]
    for column, method in [(0, "none"), (5, "pgd_training")]:
        for row, points in _drawn(fig, column).items():
            attack = row.split(",")[0].lower()
            wanted = mnist_lenet[(mnist_lenet["method"] == method) & mnist_lenet["attack"].isin(["clean", attack])
                                 & (mnist_lenet["eps"] <= 0.3)]
            expected = sorted(zip(wanted["eps"], (wanted["low"] + wanted["high"]) / 2,
                                  np.clip(wanted["low"] - wanted["uncertainty"], 0, 1),
                                  np.clip(wanted["high"] + wanted["uncertainty"], 0, 1)))
            assert_points([p[:4] for p in points], expected)
    for column in range(1, 5):  # the smoothing methods: their alpha was chosen otherwise, nothing drawn
        assert not any(_drawn(fig, column).values())
    assert "Beyond the largest eps here, not drawn: no smoothing FGSM eps 0.5." in _words(fig)
    assert not [ax for ax in fig.axes if any(c.get_label().startswith("authors'") and c.lines[0].get_linestyle() != "None"
                                             for c in ax.containers)]  # markers only, never joined as our lines are


def test_the_authors_points_are_the_brief_s(best):
    fig = figures.accuracy_vs_eps(_with_eps(make_results(), [0.05, 0.2, 0.3]), best, "lenet", ATTACK_PARAMS,
                                  authors.load())
    undefended = bullet("Undefended MNIST LeNet, FGSM")
    clean = float(re.search(rf"clean {NUM}", undefended).group(1))
    runs = [tuple(map(float, run)) for run in re.findall(rf"{NUM}: {NUM}-{NUM}", undefended)]
    fgsm = [p for p in _drawn(fig, 0)["FGSM, attacking ce"] if "result file" in p[4]]
    assert_points([p[:1] + p[2:4] for p in fgsm], [(0.0, clean, clean), *runs])
    pgd = bullet("PGD adversarial training")
    eps = [float(e) for e in re.search(rf"BIM at eps {NUM} / {NUM} / {NUM}", pgd).groups()]
    lenet = [float(v) for v in re.search(rf"MNIST LeNet {NUM} / {NUM} / {NUM}", pgd).groups()]
    assert_points([p[:2] for p in _drawn(fig, 5)["BIM, attacking ce"]], list(zip(eps, lenet)))
    # CIFAR-10: their [-1, 1] inputs, so their eps 0.05 is 0.025 in pixels of [0, 1]
    cifar = figures.accuracy_vs_eps(_with_eps(make_results(), [0.0125, 0.025, 0.05], "cifar10_5k"),
                                    best.assign(dataset="cifar10_5k"), "lenet", ATTACK_PARAMS, authors.load())
    eps_theirs, low, high = map(float, re.search(rf"CIFAR-10 LeNet \(clean [^)]*\) at {NUM}: {NUM}-{NUM}", pgd).groups())
    attacked = [p for p in _drawn(cifar, 5)["BIM, attacking ce"] if p[0] > 0]
    assert_points([p[:1] + p[2:4] for p in attacked], [(eps_theirs / 2, low, high)])
    assert attacked[0][0] == pytest.approx(0.025)  # the brief's own example


def test_eleven_alphas_are_all_labelled_without_overlap():
    """The paper studies' grid: alpha 0 (no smoothing) and 0.1 to 1."""
    alphas = [round(0.1 * i, 1) for i in range(1, 11)]
    models = [("none", 0.0, 1.0)] + [(m, a, 1.0) for m in ["standard", "adversarial", "boltzmann", "second_best"]
                                     for a in alphas] + [m for m in MODELS if m[0] in BASELINES]
    results = make_results(models=models)
    for fig in [figures.accuracy_vs_alpha(results, "lenet", [0.1], ATTACK_PARAMS, 1.0),
                figures.clean_vs_alpha(results, "lenet", 1.0), figures.min_norm(results, "lenet", ATTACK_PARAMS, 1.0)]:
        fig.canvas.draw()
        ax = fig.axes[-1]
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert [t.get_text() for t in labels] == ["0", *(f"{a:g}" for a in alphas)]
        boxes = [t.get_window_extent() for t in labels]
        assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:]))  # readable: no label touches the next
