"""Figures of the verdict: gains over no smoothing along the evaluation ladder, and the diagnostics
(input-gradient norms and logit margins vs alpha) that explain them.

Pure functions, tables in and a matplotlib Figure out, like ``lsstudy.report.figures``; names, colours and
orders come from ``lsstudy.report.style`` (whose ``save`` writes them).
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from lsstudy.report.style import GAIN_LABEL, arch_order, colors_for, eps_label, method_order, model_label, name
from lsstudy.report.verdict import LADDER

# Below this a gradient norm or margin is rounding residue (a saturated float32 softmax gives norms of
# 1e-30 and exactly 0): the log axes stop here, and the values below are counted in words.
FLOOR = 1e-8


def verdict_gains(gains: pd.DataFrame, eps: float, delta: float, criterion: str = "") -> Figure:
    """Per arch, each method's gain over no smoothing at ``eps`` under each step of the evaluation ladder
    (``lsstudy.report.verdict.LADDER``), with its 95% t-interval over seeds and points; filled markers where the
    call is "gain" or "loss", a dotted line at the practical margin ``delta`` ("no gain above delta" is a call
    that rejects gains of ``delta`` or more). ``criterion``: how each method's configuration was chosen
    (printed under the title)."""
    rows = gains[np.isclose(gains["eps"], eps)]
    if rows.empty:
        raise ValueError(f"eps={eps!r} has no gains; choose one of {sorted(gains['eps'].unique())}")
    archs = arch_order(rows["arch"])
    steps = [step for step, _ in LADDER]
    palette = dict(zip(steps, sns.color_palette("rocket_r", len(steps) + 1)[1:]))
    fig, axes = plt.subplots(len(archs), 1, figsize=(11, 3.4 * len(archs) + 1.2), squeeze=False, layout="constrained",
                             sharey=True)
    width = 0.8 / len(steps)
    for ax, arch in zip(axes[:, 0], archs):
        panel = rows[rows["arch"] == arch]
        order = method_order(panel["method"])
        first = panel[panel["order"] == 0].set_index("method").loc[order].reset_index()
        for i, step in enumerate(steps):
            part = panel[panel["step"] == step].set_index("method").reindex(order)
            x = np.arange(len(order)) + (i - (len(steps) - 1) / 2) * width
            significant = part["call"].isin(["gain", "loss"]).to_numpy()
            errors = np.vstack([part["gain"] - part["ci_low"], part["ci_high"] - part["gain"]])
            ax.errorbar(x, part["gain"], yerr=errors, fmt="none", ecolor=palette[step], capsize=2)
            ax.scatter(x[significant], part["gain"][significant], color=palette[step], s=30, zorder=3, label=step)
            ax.scatter(x[~significant], part["gain"][~significant], facecolor="white", edgecolor=palette[step], s=30,
                       zorder=3)
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.axhline(delta, color="0.3", linewidth=0.8, linestyle=":")
        ax.set_xticks(np.arange(len(order)), [model_label(r.method, r.alpha, r.temperature, sep="\n")
                                              for r in first.itertuples()], fontsize=8)
        colors = colors_for(order)
        for tick, method in zip(ax.get_xticklabels(), order):
            tick.set_color(colors[method])
        ax.set_title(f"{arch}", fontsize=10, loc="left")
        ax.set_ylabel(GAIN_LABEL, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, title="evaluation (cumulative)")
    seeds, points = int(rows["seeds"].max()), int(rows["points"].max())
    fig.suptitle(f"{rows['dataset'].iloc[0]}: does the robustness gain survive a stronger evaluation? Linf eps = "
                 f"{eps_label(eps)} (pixels in [0, 1])\n{seeds} seeds x {points} test points, 95% t-interval from the "
                 f"variance over both; filled: called a gain or loss (Holm within each family of calls: the first\n"
                 f"and the last step of each method; the steps between are not called); dotted: delta = {delta:g}"
                 + (f"\neach method's configuration: {criterion}" if criterion else ""))
    fig.text(0.0, -0.01, "Each step is the per-point worst case over its attacks and all earlier ones: a point "
             "counts as robust only if every attack so far failed on it.", fontsize=8, va="top")
    return fig


def diagnostics(points: pd.DataFrame, arch: str, temperature: float) -> Figure:
    """Distributions over correctly classified test points of the CE input-gradient norm, the
    margin-loss gradient norm and the logit margin, vs alpha, per smoothing method (all seeds
    pooled; BLS at the grid's ``temperature``; the baselines at alpha 0), on log axes. The axes stop at
    ``FLOOR``: the values below it (a saturated softmax gives a CE gradient of exactly 0) count in the
    boxes' quartiles but are not drawn, and each panel's title says which models had them, on what
    share of the points, and how many were exactly 0."""
    if arch not in set(points["arch"]):
        raise ValueError(f"arch={arch!r} has no diagnostics; choose one of {arch_order(points['arch'])}")
    rows = points[(points["arch"] == arch) & points["correct"]]
    rows = rows[(rows["method"] != "boltzmann") | np.isclose(rows["temperature"], temperature)]
    if rows.empty:  # models that answer one class (an epoch of a rehearsal) can miss every point: say so, not fail
        fig, ax = plt.subplots(figsize=(8, 2), layout="constrained")
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"{arch}: no test point is classified correctly, so there is no gradient or "
                "margin to draw", ha="center", va="center")
        return fig
    rows = rows.assign(alpha_label=[f"{a:g}" for a in rows["alpha"]], method_name=[name(m) for m in rows["method"]])
    methods = method_order(rows["method"])
    hue_order = [name(m) for m in methods]
    palette = {name(m): color for m, color in colors_for(methods).items() if m in methods}
    order = [f"{a:g}" for a in sorted(rows["alpha"].unique())]
    panels = [("grad_l1", "||d CE / dx||_1 (log scale)"),
              ("margin_grad_l1", "||d margin / dx||_1 (log scale)"),
              ("margin", "logit margin z_y - max_j z_j (log scale)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.2), layout="constrained")
    for ax, (column, label) in zip(axes, panels):
        # below the axis, but still ranked: a log scale cannot take 0, and its quartiles would move
        shown = rows.assign(**{column: rows[column].where(rows[column] >= FLOOR, FLOOR / 100)})
        with warnings.catch_warnings():  # seaborn's boxplot passes matplotlib an argument it deprecates: not ours
            warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
            sns.boxplot(shown, x="alpha_label", y=column, hue="method_name", order=order, hue_order=hue_order,
                        palette=palette, ax=ax, fliersize=1, linewidth=0.7, log_scale=True, legend=False)
        ax.set(xlabel="alpha (smoothing mass); 0: no smoothing and the baselines", ylabel=label)
        below = _below_floor(rows, column)
        if below:
            ax.set_ylim(bottom=FLOOR)
            ax.set_title(f"below {FLOOR:g}, the axis' end (not drawn):\n" + "\n".join(below), fontsize=7, loc="left")
    fig.legend([Patch(facecolor=palette[n], edgecolor="0.3", label=n) for n in hue_order], hue_order,
               loc="outside right center", fontsize=8)
    fig.suptitle(f"{rows['dataset'].iloc[0]}, {arch}: input gradients and logit margins on correctly classified "
                 f"test points\n{rows['point'].nunique()} points x {rows['seed'].nunique()} seeds pooled; BLS at "
                 f"T = {temperature:g}")
    return fig


def _below_floor(rows: pd.DataFrame, column: str) -> list[str]:
    """Per model with values of ``column`` below FLOOR, in words: "distillation, T 100: 0 on every point"."""
    models = [rows["method"], rows["alpha"], rows["temperature"]]
    below = (rows[column] < FLOOR).groupby(models).mean()
    zero = (rows[column] == 0).groupby(models).mean()
    order = method_order(rows["method"])
    lines = []
    for (method, alpha, temperature), share in sorted(below[below > 0].items(),
                                                      key=lambda item: (order.index(item[0][0]), item[0][1])):
        zeros = zero[(method, alpha, temperature)]
        if zeros == 1:
            amount = "0 on every point"
        else:
            amount = "every point" if share == 1 else f"{share:.0%} of points"
            amount += f" ({zeros:.0%} exactly 0)" if zeros > 0 else ""
        lines.append(f"{model_label(method, alpha, temperature)}: {amount}")
    return lines
