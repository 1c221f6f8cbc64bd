"""The paper's "fading Gaussian": d features carrying less and less signal, and a linear model on them.

Goibert & Dohmatob, arXiv 1906.11567, section 2. y = +-1 with probability 1/2 each; feature i
(i = 0, ..., d - 1) is x_i = y s_i^2 + s_i n_i with n_i ~ N(0, 1) and s_i = 1 - i / d, so feature i
has mean +-s_i^2 and standard deviation s_i: its signal-to-noise ratio s_i fades with i.

The log-likelihood ratio is sum_i 2 x_i: the Bayes classifier weighs every feature equally
(w_i = 2, b = 0), and a logistic model is well specified. An Linf attacker of size eps lowers the
margin y (w . x + b) of a linear model by exactly eps ||w||_1 (FGSM's step -eps y sign(w) is the
optimal attack; features are unbounded, so nothing is clipped). The margin of class y is Gaussian,
so the accuracy under attack has a closed form:

    accuracy(eps) = 1/2 sum_{y = +-1} Phi((w . s^2 + y b - eps ||w||_1) / sqrt(sum_i w_i^2 s_i^2)).

It depends only on the direction of (w, b): label smoothing can change robustness here only by
changing which features the weights rely on, not by shrinking them.
"""

import numpy as np
import pandas as pd
import torch
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from scipy import stats

from lsstudy.checks import check_positive_int
from lsstudy.report.style import COLORS, NAMES
from lsstudy.toys.linear import fit


def scales(d: int) -> np.ndarray:
    """s_i = 1 - i / d for i = 0, ..., d - 1."""
    check_positive_int(d, "d")
    return 1.0 - np.arange(d) / d


def sample(n: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n draws (x of shape (n, d), y in {0, 1}); y = 1 is the paper's +1."""
    s = scales(d)
    y = (rng.random(n) < 0.5).astype(np.int64)
    sign = 2.0 * y - 1.0
    return sign[:, None] * s**2 + s * rng.standard_normal((n, d)), y


def fgsm_accuracy(w: np.ndarray, b: float, eps) -> np.ndarray:
    """Closed-form accuracy of 1[w . x + b > 0] under the optimal Linf attack of size eps (see module doc)."""
    eps = np.asarray(eps, dtype=float)
    s = scales(len(w))
    if not np.any(w):
        return np.full(eps.shape, 0.5)  # a constant model is right on one class, and nothing moves it
    mean, spread = w @ s**2, np.sqrt(np.sum(w**2 * s**2))
    l1 = np.abs(w).sum()
    return 0.5 * sum(stats.norm.cdf((mean + sign * b - eps * l1) / spread) for sign in (1.0, -1.0))


def fgsm_accuracy_measured(w: np.ndarray, b: float, x: np.ndarray, y: np.ndarray, eps: float) -> float:
    """FGSM run for real (signed gradient of cross-entropy through autograd); correct clean and attacked."""
    weight = torch.tensor(np.stack([np.zeros_like(w), w]))
    bias = torch.tensor([0.0, b], dtype=torch.float64)
    xs, ys = torch.tensor(x, requires_grad=True), torch.tensor(y)
    loss = torch.nn.functional.cross_entropy(xs @ weight.T + bias, ys, reduction="sum")
    x_adv = xs + eps * torch.autograd.grad(loss, xs)[0].sign()
    with torch.no_grad():
        clean = (xs @ weight.T + bias).argmax(1) == ys
        attacked = (x_adv @ weight.T + bias).argmax(1) == ys
    return float((clean & attacked).double().mean())


def study(d: int, methods: list[str], alphas: list[float], eps: list[float], temperature: float, n_train: int,
          n_test: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train one model per (method, alpha) (``none`` once, at alpha 0).

    Returns (accuracy, weights): accuracy has one row per (method, alpha, eps) with the measured
    FGSM accuracy on n_test fresh points, the closed form at the learned weights and at the Bayes
    weights; weights has one row per (method, alpha, feature) with w_i, |w_i| / ||w||_1 and s_i.
    """
    rng = np.random.default_rng(seed)
    x_train, y_train = sample(n_train, d, rng)
    x_test, y_test = sample(n_test, d, rng)
    s = scales(d)
    bayes = fgsm_accuracy(np.full(d, 2.0), 0.0, eps)
    accuracy, weights = [], []
    for method, alpha in [("none", 0.0)] + [(m, a) for m in methods if m != "none" for a in alphas if a > 0]:
        w, b = fit(x_train, y_train, method, alpha, temperature, seed=seed)
        analytic = fgsm_accuracy(w, b, eps)
        l1 = np.abs(w).sum()
        for k, e in enumerate(eps):
            accuracy.append({"method": method, "alpha": alpha, "temperature": temperature, "eps": float(e),
                             "accuracy": fgsm_accuracy_measured(w, b, x_test, y_test, float(e)),
                             "analytic_accuracy": float(analytic[k]), "bayes_accuracy": float(bayes[k]),
                             "bias": b, "weight_l1": l1, "d": d, "n_train": n_train, "n_test": n_test})
        for i in range(d):
            weights.append({"method": method, "alpha": alpha, "feature": i, "s": s[i], "weight": w[i],
                            "share": abs(w[i]) / l1 if l1 else np.nan})
    return pd.DataFrame(accuracy), pd.DataFrame(weights)


def figure(accuracy: pd.DataFrame, weights: pd.DataFrame, figure_eps: float) -> Figure:
    """Weight share per feature (one panel per method, alpha as colour), and FGSM accuracy vs alpha
    at ``figure_eps`` (markers: measured; lines: closed form; dashed: Bayes weights)."""
    methods = [m for m in weights.method.unique() if m != "none"]
    fig, axes = plt.subplots(1, len(methods) + 1, figsize=(3.8 * (len(methods) + 1), 3.6), squeeze=False)
    axes = axes[0]
    alphas = sorted(weights.alpha.unique())
    cmap = plt.get_cmap("viridis")
    d = int(weights.feature.max()) + 1
    for ax, method in zip(axes, methods):
        for alpha in alphas:
            sel = weights[(weights.alpha == alpha) & (weights.method == ("none" if alpha == 0 else method))]
            if sel.empty:
                continue
            ax.plot(sel.feature, sel.share, "o-", ms=3, color=cmap(alpha / max(alphas)), label=f"alpha = {alpha:g}")
        ax.axhline(1 / d, color="k", ls="--", lw=1, label="Bayes: equal weights")
        ax.set(xlabel="feature i (signal-to-noise s_i = 1 - i/d)", ylabel="|w_i| / ||w||_1",
               title=f"{NAMES[method]}: weight share per feature", ylim=(0, 2 / d))
        ax.legend(fontsize=7)
    ax = axes[-1]
    at = accuracy[np.isclose(accuracy.eps, figure_eps)]
    base = at[at.method == "none"]
    for method in methods:
        sel = pd.concat([base, at[at.method == method]]).sort_values("alpha")
        ax.plot(sel.alpha, sel.analytic_accuracy, "-", color=COLORS[method])
        ax.plot(sel.alpha, sel.accuracy, "o", color=COLORS[method], ms=4, label=f"{NAMES[method]} (measured)")
    ax.axhline(base.bayes_accuracy.iloc[0], color="k", ls="--", lw=1, label="Bayes weights (closed form)")
    ax.set(xlabel="alpha (smoothing mass)", ylabel="accuracy (correct clean and under FGSM)",
           title=f"FGSM at eps = {figure_eps:g} (Linf, feature units)")
    middle = float(base.bayes_accuracy.iloc[0])
    ax.set_ylim(middle - 0.05, middle + 0.05)  # +-5 points: differences below 1 point are sampling noise
    ax.legend(fontsize=7)
    n = accuracy.n_train.iloc[0]
    fig.suptitle(f"Fading Gaussian, d = {d}: linear model trained on {n:,} samples, FGSM measured on "
                 f"{accuracy.n_test.iloc[0]:,} (lines: closed form at the learned weights)", fontsize=9)
    fig.tight_layout()
    return fig
