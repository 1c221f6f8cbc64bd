"""Figures of the verdict: gains over no smoothing along the evaluation ladder, and the diagnostics
(input-gradient norms and logit margins vs alpha) that explain them.

Pure functions, tables in and a matplotlib Figure out, like ``lsstudy.figures`` (whose names,
colours and ``save`` they share).
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from lsstudy.figures import BASELINES, COLORS, METHODS, NAMES
from lsstudy.verdict import LADDER

FLOOR = 1e-8  # where the diagnostics figure draws gradient norms of exactly 0
GAIN_LABEL = "accuracy gain over no smoothing\n(fraction of test points, same seed)"


def _method_label(row) -> str:
    if row.method in BASELINES:
        return NAMES[row.method] + (f"\nT {row.temperature:g}" if row.method == "distillation" else "")
    label = f"{NAMES.get(row.method, row.method)}\nalpha {row.alpha:g}"
    return label + (f", T {row.temperature:g}" if row.method == "boltzmann" else "")


def verdict_gains(gains: pd.DataFrame, eps: float) -> Figure:
    """Per arch, each method's gain over no smoothing at ``eps`` under each step of the evaluation
    ladder (``lsstudy.verdict.LADDER``), mean and 95% t-interval over seeds; filled markers where the
    interval excludes 0."""
    rows = gains[np.isclose(gains["eps"], eps)]
    if rows.empty:
        raise ValueError(f"eps={eps!r} has no gains; choose one of {sorted(gains['eps'].unique())}")
    archs = list(dict.fromkeys(rows["arch"]))
    steps = [step for step, _ in LADDER]
    palette = dict(zip(steps, sns.color_palette("rocket_r", len(steps) + 1)[1:]))
    fig, axes = plt.subplots(len(archs), 1, figsize=(11, 3.4 * len(archs) + 1.2), squeeze=False, layout="constrained")
    width = 0.8 / len(steps)
    for ax, arch in zip(axes[:, 0], archs):
        panel = rows[rows["arch"] == arch]
        order = [m for m in METHODS if m in set(panel["method"])] + sorted(set(panel["method"]) - set(METHODS))
        first = panel[panel["order"] == 0].set_index("method").loc[order].reset_index()
        for i, step in enumerate(steps):
            part = panel[panel["step"] == step].set_index("method").reindex(order)
            x = np.arange(len(order)) + (i - (len(steps) - 1) / 2) * width
            significant = (part["call"] != "no gain").to_numpy() & part["half_width"].notna().to_numpy()
            ax.errorbar(x, part["gain"], yerr=part["half_width"].fillna(0), fmt="none", ecolor=palette[step], capsize=2)
            ax.scatter(x[significant], part["gain"][significant], color=palette[step], s=30, zorder=3, label=step)
            ax.scatter(x[~significant], part["gain"][~significant], facecolor="white", edgecolor=palette[step], s=30,
                       zorder=3)
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.set_xticks(np.arange(len(order)), [_method_label(r) for r in first.itertuples()], fontsize=8)
        for tick, method in zip(ax.get_xticklabels(), order):
            tick.set_color(COLORS.get(method, "black"))
        ax.set_title(f"{arch}", fontsize=10, loc="left")
        ax.set_ylabel(GAIN_LABEL, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, title="evaluation (cumulative)")
    seeds = int(rows["seeds"].max())
    fig.suptitle(f"{rows['dataset'].iloc[0]}: does the robustness gain survive a stronger evaluation? Linf eps = "
                 f"{eps:g} (pixels in [0, 1])\nmean and 95% t-interval over {seeds} seeds; filled: interval excludes 0; "
                 "each method at the alpha the paper's protocol favours")
    fig.text(0.0, -0.01, "Each step is the per-point worst case over its attacks and all earlier ones: a point "
             "counts as robust only if every attack so far failed on it.", fontsize=8, va="top")
    return fig


def diagnostics(points: pd.DataFrame, arch: str, temperature: float) -> Figure:
    """Distributions over correctly classified test points of the CE input-gradient norm, the
    margin-loss gradient norm and the logit margin, vs alpha, per smoothing method (all seeds
    pooled; BLS at the grid's ``temperature``; the baselines at alpha 0)."""
    rows = points[(points["arch"] == arch) & points["correct"]]
    rows = rows[(rows["method"] != "boltzmann") | np.isclose(rows["temperature"], temperature)]
    if rows.empty:
        raise ValueError(f"arch={arch!r} has no diagnostics; choose one of {sorted(points['arch'].unique())}")
    # a saturated softmax gives a gradient of exactly 0, which a log axis would drop: drawn at FLOOR
    rows = rows.assign(alpha_label=[f"{a:g}" for a in rows["alpha"]],
                       method_name=[NAMES.get(m, m) for m in rows["method"]],
                       grad_l1=rows["grad_l1"].clip(lower=FLOOR), margin_grad_l1=rows["margin_grad_l1"].clip(lower=FLOOR))
    hue_order = [NAMES[m] for m in METHODS if m in set(rows["method"])]
    palette = {NAMES[m]: COLORS[m] for m in METHODS if m in set(rows["method"])}
    order = [f"{a:g}" for a in sorted(rows["alpha"].unique())]
    # every panel on a log scale: the margin is > 0 on correct points
    panels = [("grad_l1", f"||d CE / dx||_1 (log scale; 0 drawn at {FLOOR:g})"),
              ("margin_grad_l1", "||d margin / dx||_1 (log scale)"),
              ("margin", "logit margin z_y - max_j z_j (log scale)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.2), layout="constrained")
    for ax, (column, label) in zip(axes, panels):
        sns.boxplot(rows, x="alpha_label", y=column, hue="method_name", order=order, hue_order=hue_order,
                    palette=palette, ax=ax, fliersize=1, linewidth=0.7, log_scale=True)
        ax.set(xlabel="alpha (smoothing mass); 0: no smoothing and the baselines", ylabel=label)
        ax.get_legend().remove()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.suptitle(f"{rows['dataset'].iloc[0]}, {arch}: input gradients and logit margins on correctly classified "
                 f"test points\n{rows['point'].nunique()} points x {rows['seed'].nunique()} seeds pooled; BLS at "
                 f"T = {temperature:g}")
    return fig
