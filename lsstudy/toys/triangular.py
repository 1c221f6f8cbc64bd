"""The paper's 1-D example with overlapping classes ("triangular"), and a 1-D logistic model on it.

Goibert & Dohmatob, arXiv 1906.11567, section 2. With probability ``gamma`` in [1/2, 2/3] the label
is y = 1 and x has the density 1 - |x| on [-1, 1]; otherwise y = 0 and x has the density 2 (1 + x)
on [-1, 0]. For gamma <= 2/3 the Bayes-optimal classifier is 1[x > 0]: on x < 0 the posterior
P(y = 1 | x) = gamma / (2 - gamma) is at most 1/2, on x > 0 it is 1. Its accuracy is 1 - gamma / 2.

A threshold classifier 1[x > t] facing an attacker who may move x by up to eps (the best move is
eps toward the threshold) keeps a point iff it is on its correct side by more than eps, so

    robust_accuracy(t, eps) = gamma * P(X1 > t + eps) + (1 - gamma) * P(X0 < t - eps),

which at t = 0 is the Bayes curve (1 - gamma / 2)(1 - eps)^2.

The model is 1-D logistic regression written as two logits z = (w0 x + b0, w1 x + b1), so the
package's ``LabelSmoothingLoss`` trains it unchanged; its decision threshold is t = -b / w with
s = w x + b = z1 - z0. With K = 2 the methods collapse: SLS and SBLS both put alpha on the other
class, always (identical targets); ALS does the same when the model is right and keeps the one-hot
target when it is wrong; BLS puts alpha * sigmoid(-+s / T) on each class.

The model is misspecified: log P(y=1|x)/P(y=0|x) is a constant on x < 0 and +inf on x > 0, not
linear in x. ``population_fit`` solves the infinite-sample training equations by quadrature, so a
trained model can be compared with what infinitely many samples would give, which is not the Bayes
classifier.

Over 300 lines: the toy's closed forms, its fits, the Monte Carlo and quadrature that check them, and its
figure, which the stage runs together.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import integrate, optimize

from lsstudy.checks import check_choice
from lsstudy.report.reference import authors
from lsstudy.report.style import COLORS, NAMES, SMOOTHING_METHODS as METHODS  # no smoothing and the paper's four
from lsstudy.toys.linear import fit

GAMMA_RANGE = (0.5, 2.0 / 3.0)


def check_gamma(gamma: float, name: str = "gamma") -> None:
    low, high = GAMMA_RANGE
    ok = isinstance(gamma, (int, float)) and not isinstance(gamma, bool)
    if not (ok and low - 1e-12 <= gamma <= high + 1e-12):
        raise ValueError(f"{name}={gamma!r} is not allowed; it must be a number in [1/2, 2/3]")


# Distribution functions of the two classes: X1 ~ 1 - |x| on [-1, 1], X0 ~ 2 (1 + x) on [-1, 0].
def cdf1(u):
    u = np.clip(np.asarray(u, dtype=float), -1.0, 1.0)
    return np.where(u <= 0, (1 + u) ** 2 / 2, 1 - (1 - u) ** 2 / 2)


def cdf0(u):
    u = np.clip(np.asarray(u, dtype=float), -1.0, 0.0)
    return (1 + u) ** 2


def pdf1(x: float) -> float:
    return max(0.0, 1.0 - abs(x))


def pdf0(x: float) -> float:
    return 2.0 * (1.0 + x) if -1.0 <= x <= 0.0 else 0.0


def sample(n: int, gamma: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n draws (x, y) of the example, y in {0, 1}."""
    check_gamma(gamma)
    y = (rng.random(n) < gamma).astype(np.int64)
    x = np.where(y == 1, rng.triangular(-1.0, 0.0, 1.0, n), rng.triangular(-1.0, 0.0, 0.0, n))
    return x, y


def bayes_accuracy(gamma: float, eps) -> np.ndarray:
    """(1 - gamma / 2)(1 - eps)^2 for eps in [0, 1], 0 beyond: the Bayes classifier 1[x > 0] under attack."""
    eps = np.asarray(eps, dtype=float)
    return (1 - gamma / 2) * np.clip(1 - eps, 0.0, None) ** 2


def robust_accuracy(threshold: float, gamma: float, eps, direction: int = 1) -> np.ndarray:
    """Accuracy of 1[direction * (x - threshold) > 0] when each x may move by eps toward the threshold.

    A point counts if it is on its correct side by more than eps (at eps = 0: correctly classified).
    ``direction = -1`` is the classifier 1[x < threshold] (a model with w < 0).
    """
    eps = np.asarray(eps, dtype=float)
    if direction > 0:
        return gamma * (1 - cdf1(threshold + eps)) + (1 - gamma) * cdf0(threshold - eps)
    return gamma * cdf1(threshold - eps) + (1 - gamma) * (1 - cdf0(threshold + eps))


def robust_accuracy_mc(threshold: float, x: np.ndarray, y: np.ndarray, eps: float, direction: int = 1) -> float:
    """The same, measured on samples: move each correctly classified x by eps toward the threshold."""
    side = direction * (x - threshold)
    correct = (side > 0) == (y == 1)
    x_adv = x - eps * np.sign(x - threshold)
    still = (direction * (x_adv - threshold) > 0) == (y == 1)
    return float(np.mean(correct & still))


def _target1(s, y: int, method: str, alpha: float, temperature: float):
    """Target probability of class 1 for a point of class y at logit difference s = z1 - z0.

    Written from the definitions for K = 2 (independently of ``lsstudy.smoothing``).
    """
    right = s > 0 if y == 1 else s < 0
    if method == "none":
        other = 0.0
    elif method in ("standard", "second_best"):
        other = alpha
    elif method == "adversarial":  # r = onehot(smallest logit): the other class iff the model is right
        other = np.where(right, alpha, np.where(s == 0, alpha / 2, 0.0))
    else:  # boltzmann: r_j ~ exp(-z_j / T) over both classes
        r1 = 1 / (1 + np.exp(np.clip(s / temperature, -700, 700)))
        other = alpha * (r1 if y == 0 else 1 - r1)
    return 1 - other if y == 1 else other


def _softplus(s: float) -> float:
    return max(s, 0.0) + math.log1p(math.exp(-abs(s)))


def _population_loss(w: float, b: float, gamma: float, method: str, alpha: float) -> float:
    """Expected smoothed loss of s = w x + b for the methods whose loss is a fixed function of s.

    Per point of class y with margin m = s (y = 1) or -s (y = 0): cross-entropy is softplus(-m); SLS
    and SBLS add alpha (softplus(m) - softplus(-m)); ALS is (1 - alpha) CE + alpha max_j(-log p_j)
    = (1 - alpha) softplus(-m) + alpha softplus(|m|).
    """
    def loss(m: float) -> float:
        if method == "none":
            return _softplus(-m)
        if method in ("standard", "second_best"):
            return (1 - alpha) * _softplus(-m) + alpha * _softplus(m)
        return (1 - alpha) * _softplus(-m) + alpha * _softplus(abs(m))

    breaks = [0.0] + ([-b / w] if w != 0 and -1 < -b / w < 1 else [])
    total = gamma * integrate.quad(lambda x: pdf1(x) * loss(w * x + b), -1, 1, points=breaks, limit=200)[0]
    total += (1 - gamma) * integrate.quad(lambda x: pdf0(x) * loss(-(w * x + b)), -1, 1, points=breaks, limit=200)[0]
    return total


def _population_gradient(w: float, b: float, gamma: float, method: str, alpha: float, temperature: float) -> np.ndarray:
    """E[(sigmoid(s) - q1) (x, 1)]: the expected training gradient with the target q detached."""
    breaks = [0.0] + ([-b / w] if w != 0 and -1 < -b / w < 1 else [])
    out = np.zeros(2)
    for y, pdf, weight in [(1, pdf1, gamma), (0, pdf0, 1 - gamma)]:
        def residual(x, k):
            s = w * x + b
            p1 = 1 / (1 + math.exp(-max(min(s, 700), -700)))
            return pdf(x) * (p1 - float(_target1(s, y, method, alpha, temperature))) * (x if k == 0 else 1.0)
        for k in range(2):
            out[k] += weight * integrate.quad(residual, -1.0, 1.0, args=(k,), points=breaks, limit=200)[0]
    return out


def population_fit(gamma: float, method: str, alpha: float, temperature: float = 1.0,
                   start: tuple[float, float] = (3.0, 0.5)) -> tuple[float, float]:
    """(w, b) that training reaches with infinitely many samples, by quadrature on the two densities.

    For none, SLS, SBLS and ALS the smoothed loss is a fixed convex function of (w, b) (for ALS by the
    identity CE_ALS = (1 - alpha) CE + alpha max_j(-log p_j)): its expectation is minimised. For BLS
    the target moves with the logits, so training stops where the expected gradient with the target
    detached, E[(sigmoid(w x + b) - q1) (x, 1)], vanishes: that pair of equations is solved.
    """
    check_choice("method", method, METHODS)
    if method == "boltzmann":
        solution = optimize.root(lambda p: _population_gradient(*p, gamma, method, alpha, temperature),
                                 np.asarray(start, dtype=float), method="hybr")
        residual = np.max(np.abs(_population_gradient(*solution.x, gamma, method, alpha, temperature)))
        if not solution.success or residual > 1e-7:
            raise RuntimeError(f"population_fit({gamma}, {method}, {alpha}) did not converge: {solution.message}")
    else:
        solution = optimize.minimize(lambda p: _population_loss(*p, gamma, method, alpha), np.asarray(start, dtype=float),
                                     method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-13, "maxiter": 4000})
        if not solution.success:
            raise RuntimeError(f"population_fit({gamma}, {method}, {alpha}) did not converge: {solution.message}")
    return float(solution.x[0]), float(solution.x[1])


def decision(w: float, b: float) -> tuple[float, int]:
    """(threshold, direction) of the classifier 1[w x + b > 0].

    A collapsed model (w = 0) has no threshold: with b <= 0 it predicts class 0 everywhere (torch's
    argmax breaks the tie z0 = z1 toward class 0), returned as threshold +inf, direction +1.
    """
    if abs(w) < 1e-9:
        return (-math.inf if b > 0 else math.inf), 1
    return -b / w, (1 if w > 0 else -1)


def study(gammas: list[float], methods: list[str], alphas: list[float], eps: list[float], temperature: float,
          n_train: int, n_test: int, seed: int, population: bool = True) -> pd.DataFrame:
    """Train one model per (gamma, method, alpha) and measure it; a tidy table, one row per eps.

    Columns: gamma, method, alpha, temperature, eps, accuracy (Monte Carlo on n_test fresh samples,
    optimal attack), analytic_accuracy (closed form at the learned threshold), bayes_accuracy,
    threshold (-b / w), direction (sign of w), population_threshold and population_accuracy (the
    infinite-sample fit, empty if ``population`` is false), n_train, n_test. ``none`` is trained
    once, at alpha = 0.
    """
    for i, gamma in enumerate(gammas):
        check_gamma(gamma, f"gammas[{i}]")
    rows = []
    eps_grid = np.asarray(eps, dtype=float)
    for g_index, gamma in enumerate(gammas):
        rng = np.random.default_rng([seed, g_index])
        x_train, y_train = sample(n_train, gamma, rng)
        x_test, y_test = sample(n_test, gamma, rng)
        runs = [("none", 0.0)] + [(m, a) for m in methods if m != "none" for a in alphas if a > 0]
        for method, alpha in runs:
            w, b = fit(x_train, y_train, method, alpha, temperature, seed=seed)
            w = float(w[0])
            threshold, direction = decision(w, b)
            analytic = robust_accuracy(threshold, gamma, eps_grid, direction)
            pop_threshold, pop_accuracy = math.nan, np.full(len(eps_grid), math.nan)
            if population:
                pop_threshold, pop_direction = decision(*population_fit(gamma, method, alpha, temperature,
                                                                        start=(w, b) if w else (1.0, 0.0)))
                pop_accuracy = robust_accuracy(pop_threshold, gamma, eps_grid, pop_direction)
            for k, e in enumerate(eps_grid):
                rows.append({
                    "gamma": gamma, "method": method, "alpha": alpha, "temperature": temperature, "eps": float(e),
                    "accuracy": robust_accuracy_mc(threshold, x_test, y_test, float(e), direction),
                    "analytic_accuracy": float(analytic[k]), "bayes_accuracy": float(bayes_accuracy(gamma, e)),
                    "threshold": threshold if math.isfinite(threshold) else math.nan, "direction": direction,
                    "collapsed": not math.isfinite(threshold),
                    "population_threshold": pop_threshold if math.isfinite(pop_threshold) else math.nan,
                    "population_accuracy": float(pop_accuracy[k]),
                    "n_train": n_train, "n_test": n_test,
                })
    return pd.DataFrame(rows)


def same_targets(method_a: str, method_b: str, rows: pd.DataFrame) -> bool:
    """Whether two methods gave the same thresholds everywhere (SLS and SBLS do, for K = 2)."""
    a = rows[rows.method == method_a].reset_index(drop=True)
    b = rows[rows.method == method_b].reset_index(drop=True)
    return len(a) == len(b) > 0 and np.allclose(a.threshold, b.threshold, equal_nan=True, atol=1e-9)


def _labels(rows: pd.DataFrame) -> dict[str, str]:
    labels = {m: NAMES[m] for m in METHODS}
    if same_targets("standard", "second_best", rows):
        labels["standard"] = "SLS = SBLS (same target when K = 2)"
        labels["second_best"] = None  # drawn once, under SLS
    labels["boltzmann"] = f"BLS (T = {rows.temperature.iloc[0]:g})"
    return labels


def _beside_authors(ax, at: pd.DataFrame, gamma: float, figure_alpha: float, theirs: pd.DataFrame) -> None:
    """The authors' Bayes and ALS rows at ``gamma`` (theirs within 0.01: their 0.66 beside 2/3), and our model at
    their alpha where it was trained and is not the panel's ``figure_alpha``."""
    mine = theirs[(theirs.dataset == "triangular") & np.isclose(theirs.gamma, gamma, atol=0.01)]
    for method, part in mine.groupby("method", sort=False):
        alpha = part.alpha.iloc[0]
        authors.draw(ax, part, color="k" if method == "bayes" else COLORS[method], bounds=(0.0, 1.0),
                     suffix=f": {authors.model_name(method, alpha)}, gamma {part.gamma.iloc[0]:g}")
        ours = at[(at.method == method) & np.isclose(at.alpha, alpha)]
        if method != "bayes" and not np.isclose(alpha, figure_alpha) and len(ours):
            ax.plot(ours.eps, ours.analytic_accuracy, ":", color=COLORS[method], lw=1.5,
                    label=f"{NAMES[method]}, alpha = {alpha:g} (ours, at the authors' alpha)")


def figure(rows: pd.DataFrame, figure_alpha: float, theirs: pd.DataFrame | None = None) -> Figure:
    """Per gamma: accuracy vs eps (Bayes curve, alpha = 0, each method at ``figure_alpha``), and the
    learned threshold vs alpha per method (markers: trained; lines: infinitely many samples).

    ``theirs`` (``lsstudy.report.reference.authors.load()``): the authors' own Bayes and ALS rows are drawn beside the
    accuracy curves, as hollow markers.
    """
    gammas = sorted(rows.gamma.unique())
    labels = _labels(rows)
    fig, axes = plt.subplots(len(gammas), 2, figsize=(10.5, (5.4 if theirs is not None else 3.6) * len(gammas)),
                             squeeze=False, layout="constrained")
    for row, gamma in zip(axes, gammas):
        at = rows[np.isclose(rows.gamma, gamma)]
        ax = row[0]
        bayes = at[at.method == "none"]
        ax.plot(bayes.eps, bayes.bayes_accuracy, "k--", lw=2, label="Bayes 1[x > 0]: (1 - gamma/2)(1 - eps)^2")
        for method in METHODS:
            label = labels[method]
            sel = at[(at.method == method) & (np.isclose(at.alpha, 0.0 if method == "none" else figure_alpha))]
            if sel.empty or label is None:
                continue
            name = label if method == "none" else f"{label}, alpha = {figure_alpha:g}"
            if sel.collapsed.iloc[0]:
                name += " (collapsed: constant model)"
            ax.plot(sel.eps, sel.analytic_accuracy, color=COLORS[method], lw=1.2)
            ax.plot(sel.eps, sel.accuracy, "o", color=COLORS[method], ms=3.5, label=name)
        if theirs is not None:
            _beside_authors(ax, at, gamma, figure_alpha, theirs)
        ax.set(xlabel="eps (shift of x toward the threshold, x units)", ylabel="robust accuracy",
               title=f"gamma = {gamma:.3g}: accuracy under the optimal eps-shift", ylim=(0, 1))
        if theirs is None:
            ax.legend(fontsize=7, loc="upper right")
        else:  # below the panel: the authors' entries would cover the curves
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16))
        ax = row[1]
        ax.axhline(0.0, color="k", ls="--", lw=2, label="Bayes threshold 0")
        thresholds = at.drop_duplicates(["method", "alpha"])
        for method in METHODS:
            sel = thresholds[thresholds.method == method]
            if sel.empty or labels[method] is None:
                continue
            start = thresholds[thresholds.method == "none"]  # every method starts from alpha = 0
            line = pd.concat([start, sel]) if method != "none" else sel
            ax.plot(line.alpha, line.population_threshold, "-", color=COLORS[method], lw=1.2)
            label = labels[method]
            if sel.collapsed.any():
                label += f" (constant model from alpha = {sel[sel.collapsed].alpha.min():g})"
            ax.plot(sel.alpha, sel.threshold, "o", color=COLORS[method], ms=5, label=label)
        ax.set(xlabel="alpha (smoothing mass)", ylabel="decision threshold -b / w (x units)",
               title=f"gamma = {gamma:.3g}: learned threshold vs alpha")
        ax.legend(fontsize=7, loc="best")
    n_train, n_test = rows.n_train.iloc[0], rows.n_test.iloc[0]
    fig.suptitle("Triangular overlapping classes, 1-D logistic model with label smoothing\n"
                 f"markers: trained on {n_train:,} samples, measured on {n_test:,}; lines: closed form at the "
                 "learned threshold (left), infinite-sample fit (right); missing markers: collapsed models",
                 fontsize=9)
    return fig
