"""Figures of the study, drawn from the tidy table of the attack stage (``lsstudy.report.tables.load_results``).

Every function is pure: tables in, a matplotlib Figure out (``lsstudy.report.style.save`` writes it). Figures
that show one model per method take the arch to draw (one figure per arch) and the ``attack`` section
of params.yaml, whose settings go into the titles; "best alpha" is ``lsstudy.report.tables.best_alpha``.

Seeds: a line joins the means over seeds; the 95% Student-t interval of each mean
(``lsstudy.report.statistics``) is a band along eps (one or two lines a panel), and an error bar at each
grid point along alpha and temperature (side by side per method, so bars do not hide each other);
the training curves show means only. Intervals are
clipped to the range of what they measure: [0, 1] for accuracies and failure rates, [0, inf) for
norms. With one seed there is no interval.

Alpha axes span the grid (0, the unsmoothed model, to the largest alpha); the range where a method's
target stops favouring the true class is shaded only where it falls inside the grid.

Over 300 lines: every figure of the paper's, one function each, drawn with the panel helpers they share
(bands, error bars, the authors' points); split by figure they would import those helpers from a third module.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lsstudy.report.reference import authors
from lsstudy.report.statistics import summarise, t_interval
from lsstudy.report.style import (ACCURACY_LABEL, ALPHA_LABEL, ATTACKS, BASELINES, CLEAN_LABEL, EPS_LABEL,
                                  FAILURE_LABEL, L2_LABEL, LEFT_LABEL, PROTOCOLS, colors_for, eps_label, method_order,
                                  model_label, name)
from lsstudy.report.tables import alpha_grid, at_best, of_arch, require_eps, select

# The range of each value drawn: an interval is clipped to it (accuracies and rates are fractions, norms >= 0).
BOUNDS = {"accuracy": (0.0, 1.0), "failure_rate": (0.0, 1.0), "val_accuracy": (0.0, 1.0), "median_l2": (0.0, np.inf)}
FRACTION_LIMITS = (-0.02, 1.02)  # a fraction axis showing all of [0, 1], whole markers at both ends
REFERENCES = ["none", *BASELINES]  # models without an alpha: drawn at alpha 0 and across the alpha axis
REFERENCE_STYLES = {"none": "--", "pgd_training": "-.", "distillation": ":", "scaled_logits": (0, (1, 3))}
LABEL_GAP = 0.06  # the least distance between two labelled alphas, as a share of the alpha axis
DODGE = 0.012  # side-by-side offset between methods at one grid point, as a share of the axis span
INF_MARKER = {"marker": "^", "markersize": 7, "linestyle": "none"}  # an infinite median, at the top of its panel


def degenerate_from(method: str, num_classes: int) -> float | None:
    """The alpha from which a method's target gives the true class no more mass than some wrong class
    (None if there is no such alpha): SLS at (K - 1) / K, ALS and SBLS at 1 / 2."""
    return {"standard": (num_classes - 1) / num_classes, "adversarial": 0.5, "second_best": 0.5}.get(method)


def describe_attack(attack: str, attack_params: dict, loss: str | None = None) -> str:
    """An attack and its settings in words, e.g. "BIM 10 steps, Linf, attacking ce"."""
    deepfool, cw = attack_params["deepfool"], attack_params["cw_l2"]
    text = {
        "fgsm": "FGSM, Linf",
        "bim": f"BIM {attack_params['bim_steps']} steps, Linf",
        "deepfool": f"DeepFool {deepfool['steps']} steps, overshoot {deepfool['overshoot']:g}, L2",
        "cw_l2": f"CW-L2 {cw['steps']} steps x {cw['search_steps']} values of c, kappa {cw['kappa']:g}",
    }[attack]
    return f"{text}, attacking {loss}" if loss in PROTOCOLS else text


# ---- drawing helpers -----------------------------------------------------------------------------

def _figure(nrows: int, ncols: int, panel: tuple[float, float] = (4.0, 3.0), **share) -> tuple[Figure, np.ndarray]:
    # room on the right for the figure legend, so it never covers data
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols + 3.0, panel[1] * nrows + 1.2),
                             squeeze=False, layout="constrained", **share)
    return fig, axes


def _finish(fig: Figure, axes: np.ndarray, rows: pd.DataFrame, what: str, xlabel: str, ylabel: str | list[str],
            note: str = "", sample: str | None = None, interval: bool = True) -> Figure:
    """Axis labels (one for the figure, or ``ylabel`` as a list: one per row of panels), one legend for
    the figure, a title naming dataset, arch, what is shown, the sample (by default n test points of
    ``rows``) and the seeds, and an optional note under the panels."""
    for (i, j), ax in np.ndenumerate(axes):
        ax.set_xlabel("")  # seaborn's column-name labels give way to the figure's
        ax.set_ylabel(ylabel[i] if isinstance(ylabel, list) and j == 0 else "")
    fig.supxlabel(xlabel)
    if isinstance(ylabel, str):
        fig.supylabel(ylabel)
    _legend(fig)
    if sample is None:
        sample = f"n = {' / '.join(str(v) for v in sorted(rows['n'].unique()))} test points"
    seeds = rows["seed"].nunique()
    spread = (", mean and 95% t-interval over seeds" if interval else ", mean over seeds") if seeds > 1 else ""
    fig.suptitle(f"{rows['dataset'].iloc[0]}, {rows['arch'].iloc[0]}: {what}\n"
                 f"{sample}, {seeds} seed{'s' if seeds > 1 else ''}{spread}")
    if note:
        fig.text(0.0, -0.01, note, fontsize=8, va="top", wrap=True)
    return fig


def _legend(fig: Figure) -> None:
    """Gather the labelled artists of every panel into one legend outside the panels."""
    entries: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
        if ax.get_legend():
            ax.get_legend().remove()
    if entries:
        fig.legend(entries.values(), entries.keys(), loc="outside right center", fontsize=8)


def _band(value: str):
    """seaborn ``errorbar`` callable for ``value``: the t-interval, clipped to the value's range."""
    low, high = BOUNDS.get(value, (-np.inf, np.inf))
    return lambda values: tuple(np.clip(t_interval(values), low, high))


def _line(ax, rows: pd.DataFrame, x: str, y: str, color, label: str | None, linestyle: str = "-",
          interval: bool = True) -> None:
    """Mean of ``y`` over seeds against ``x``, with the 95% t band unless ``interval`` is False."""
    sns.lineplot(rows, x=x, y=y, ax=ax, color=color, label=label, linestyle=linestyle, marker="o",
                 markersize=4, estimator="mean", errorbar=_band(y) if interval else None)


def _bars(ax, rows: pd.DataFrame, x: str, y: str, positions, color, label: str | None, linestyle: str = "-") -> None:
    """Mean of ``y`` over seeds at each value of ``x`` (drawn at ``positions``, a function of those
    values), joined by a line, with the t-interval as an error bar; an infinite mean is a triangle
    at the top of the panel."""
    summary = summarise(rows, [x], y).sort_values(x)
    where = np.asarray(positions(summary[x].to_numpy(dtype=float)))
    mean = summary["mean"].to_numpy(dtype=float)
    half = summary["half_width"].fillna(0.0).to_numpy(dtype=float)
    low, high = np.clip([mean - half, mean + half], *BOUNDS.get(y, (-np.inf, np.inf)))
    infinite = np.isinf(mean)
    finite_mean = np.where(infinite, np.nan, mean)  # NaN breaks the line where the mean is infinite
    ax.errorbar(where, finite_mean, yerr=np.nan_to_num([finite_mean - low, high - finite_mean]), color=color,
                linestyle=linestyle, marker="o", markersize=4, capsize=2, linewidth=1.4, label=label)
    if infinite.any():
        ax.plot(where[infinite], np.ones(infinite.sum()), color=color, transform=ax.get_xaxis_transform(),
                clip_on=False, **INF_MARKER)


def _alpha_panel(ax, rows: pd.DataFrame, y: str, colors: dict, num_classes: int) -> None:
    """``y`` vs alpha per smoothing method, error bars side by side; no smoothing and the baseline
    defences at alpha 0 with a horizontal line at their mean; the degenerate range shaded where it
    falls inside the grid; the axis fitted to the grid's alphas."""
    methods = method_order(rows["method"])
    alphas = np.unique(np.append(rows["alpha"].to_numpy(dtype=float), 0.0))
    span = max(alphas.max(), 0.05)  # a grid of alpha 0 alone still gets a readable axis
    for method in methods:
        part = rows[rows["method"] == method]
        if part[y].isna().all():
            continue
        reference = method in REFERENCES
        group = [m for m in methods if (m in REFERENCES) == reference]  # side by side at the same alphas
        offset = (group.index(method) - (len(group) - 1) / 2) * DODGE * span
        _bars(ax, part, "alpha", y, lambda a: a + offset, colors[method], None if reference else name(method))
        mean = part[y].mean()
        if reference and np.isfinite(mean):
            ax.axhline(mean, color=colors[method], linestyle=REFERENCE_STYLES.get(method, "--"), linewidth=1.0,
                       label=name(method))
    pad = (len(methods) / 2 * DODGE + 0.04) * span
    _shade_degenerate(ax, [m for m in methods if m not in REFERENCES], num_classes, alphas.max(), alphas.max() + pad)
    ax.set_xlim(-pad, alphas.max() + pad)
    _alpha_ticks(ax, alphas)


def _alpha_ticks(ax, alphas: np.ndarray) -> None:
    """A tick at every alpha of the grid, labelled where its label has room: at least LABEL_GAP of the axis
    from the last labelled one (so the paper's 11 alphas, 0 to 1, are all labelled, and 0.01 next to 0 is not)."""
    labels, last = [], -np.inf
    for alpha in alphas:
        room = alpha - last >= LABEL_GAP * max(alphas.max(), 0.05)
        labels.append(f"{alpha:g}" if room else "")
        last = alpha if room else last
    ax.set_xticks(alphas, labels)


def _shade_degenerate(ax, methods: list[str], num_classes: int, largest: float, right: float) -> None:
    """Shade alpha from where each method's target stops favouring the true class, for the starts
    up to the ``largest`` alpha of the grid (one hatch per start)."""
    starts: dict[float, list[str]] = {}
    for method in methods:
        start = degenerate_from(method, num_classes)
        if start is not None and start <= largest + 1e-9:
            starts.setdefault(start, []).append(name(method))
    for (start, names), hatch in zip(sorted(starts.items()), ["", "//"]):
        ax.axvspan(start, right, facecolor=(0.55, 0.55, 0.55, 0.15), edgecolor="0.6", hatch=hatch, linewidth=0,
                   label=f"degenerate: {', '.join(names)} (alpha >= {start:.2g})")
        ax.axvline(start, color="0.4", linestyle=":", linewidth=0.8)


def _num_classes(rows: pd.DataFrame) -> int:
    """K, from the per-class rows (labels 0 .. K - 1); reading it here spares importing torch."""
    return int(rows.loc[rows["class"] != "all", "class"].astype(int).max()) + 1


def _best_labels(best: pd.DataFrame, arch: str) -> dict[str, str]:
    return {b.method: model_label(b.method, b.alpha, b.temperature) for b in best[best["arch"] == arch].itertuples()}


def _best_note(best: pd.DataFrame) -> str:
    criterion = best.attrs.get("criterion", "see best_alpha")
    return f"Each smoothing method at its chosen alpha (BLS: alpha and T): {criterion}."


# ---- figures ---------------------------------------------------------------------------------------

def accuracy_vs_eps(results: pd.DataFrame, best: pd.DataFrame, arch: str, attack_params: dict,
                    theirs: pd.DataFrame | None = None) -> Figure:
    """FGSM and BIM accuracy vs eps (the paper's main curves), one row per attack and protocol in the results
    (cross-entropy on the true label; the model's own smoothed loss, the paper's), one panel per method at its
    best alpha, no smoothing first (with its interval) and repeated in every other panel as the reference.

    ``theirs`` (``lsstudy.report.reference.authors.load()``): the authors' own points of this dataset and arch are
    drawn, apart from ours, in the panels of the models without alpha (no smoothing, the baselines), where nothing was
    chosen and both protocols are cross-entropy: their clean accuracy at eps 0 and their accuracy under the row's
    attack, up to the largest eps of the results.
    """
    rows = at_best(of_arch(results, arch), best)
    colors, labels, methods = colors_for(rows["method"]), _best_labels(best, arch), method_order(rows["method"])
    losses = [loss for loss in PROTOCOLS if loss in set(rows["loss"])]
    panels = [(attack, loss) for attack in ["fgsm", "bim"] for loss in losses]
    fig, axes = _figure(len(panels), len(methods), panel=(2.5, 2.3), sharex=True, sharey=True)
    for row, (attack, loss) in zip(axes, panels):
        attacked = select(rows, attack, loss)
        plain = attacked[attacked["method"] == "none"]
        for ax, method in zip(row, methods):
            if method != "none":
                _line(ax, plain, "eps", "accuracy", colors["none"], f"{name('none')} (mean, in every panel)", "--",
                      interval=False)
            _line(ax, attacked[attacked["method"] == method], "eps", "accuracy", colors[method], None)
    for ax, method in zip(axes[0], methods):  # a column per method, a row per attack and protocol
        ax.set_title(labels[method], fontsize=9, color=colors[method])
    axes[0, 0].set_ylim(*FRACTION_LIMITS)  # shared by every panel
    theirs_note = "" if theirs is None else _authors_beside_eps(axes, panels, methods, rows, theirs)
    shown = " and ".join(describe_attack(attack, attack_params) for attack in ["fgsm", "bim"])
    fig = _finish(fig, axes, select(rows, "bim", losses[0]), f"accuracy vs eps, {shown}, attacking {' or '.join(losses)}",
                  EPS_LABEL, [f"{ATTACKS[attack]}, attacking {loss}" for attack, loss in panels],
                  " ".join([_best_note(best), *(f"{PROTOCOLS[loss]}." for loss in losses), theirs_note]))
    fig.supylabel(ACCURACY_LABEL)
    return fig


def _authors_beside_eps(axes: np.ndarray, panels: list[tuple[str, str]], methods: list[str], rows: pd.DataFrame,
                        theirs: pd.DataFrame) -> str:
    """Draw the authors' points of the models without alpha in their panels; say what was drawn and left out."""
    mine = theirs[(theirs["dataset"] == authors.their_dataset(rows["dataset"].iloc[0]))
                  & (theirs["arch"] == rows["arch"].iloc[0]) & theirs["method"].isin(set(REFERENCES) & set(methods))
                  & (theirs["metric"] == "accuracy")]
    beyond = mine[mine["eps"] > rows["eps"].max() + 1e-9]
    mine = mine.drop(beyond.index)
    for row, (attack, _) in zip(axes, panels):
        for ax, method in zip(row, methods):
            points = mine[(mine["method"] == method) & mine["attack"].isin(["clean", attack])]
            if len(points):
                authors.draw(ax, points, bounds=BOUNDS["accuracy"])
    if mine.empty:
        return ""
    left = "" if beyond.empty else (" Beyond the largest eps here, not drawn: " + "; ".join(
        f"{name(p.method)} {ATTACKS[p.attack]} eps {p.eps:g}" for p in beyond.itertuples()) + ".")
    return ("Hollow markers: the authors' own result files and plots (MGoibert/Label_smoothing; docs/paper.md), for "
            "the models without alpha, with a bar over their range: other test sets, epochs, learning rates and "
            "training data (the full training split), not our intervals." + left)


def accuracy_vs_alpha(results: pd.DataFrame, arch: str, eps_values: list[float], attack_params: dict,
                      temperature: float) -> Figure:
    """FGSM and BIM (ce) accuracy vs alpha per method, one column per eps of ``eps_values`` that was
    attacked (the others are named under the figure).

    BLS is drawn at its alpha-grid ``temperature`` (train.temperature).
    """
    rows = alpha_grid(of_arch(results, arch), temperature)
    colors, num_classes = colors_for(rows["method"]), _num_classes(rows)
    attacked = np.unique(rows["eps"].dropna())
    missing = [eps for eps in eps_values if not np.isclose(attacked, eps).any()]
    eps_values = [eps for eps in eps_values if eps not in missing]
    if not eps_values:
        require_eps(rows, missing[0])  # raises: none was attacked
    fig, axes = _figure(2, len(eps_values), sharex=True, sharey=True)
    for i, attack in enumerate(["fgsm", "bim"]):
        for ax, eps in zip(axes[i], eps_values):
            _alpha_panel(ax, select(rows, attack, "ce", eps), "accuracy", colors, num_classes)
            ax.set_title(f"{describe_attack(attack, attack_params, 'ce')}\neps = {eps_label(eps)}", fontsize=9)
    return _finish(fig, axes, select(rows, "bim", "ce"), f"accuracy vs alpha (BLS at T = {temperature:g})",
                   ALPHA_LABEL, ACCURACY_LABEL, f"Not attacked, left out: eps {missing}." if missing else "")


def clean_vs_alpha(results: pd.DataFrame, arch: str, temperature: float) -> Figure:
    """Clean accuracy vs alpha per method, no smoothing as the reference (the paper's claim 3)."""
    models = alpha_grid(of_arch(results, arch), temperature)
    rows = select(models, "clean")
    fig, axes = _figure(1, 1, panel=(5.5, 3.8))
    _alpha_panel(axes[0, 0], rows, "accuracy", colors_for(rows["method"]), _num_classes(models))
    return _finish(fig, axes, rows, f"clean accuracy vs alpha (BLS at T = {temperature:g})", ALPHA_LABEL, CLEAN_LABEL)


def bls_temperature(results: pd.DataFrame, arch: str, bls_alpha: float, eps: float, attack_params: dict,
                    attack: str = "bim", loss: str = "ce") -> Figure:
    """BLS at ``bls_alpha`` vs its temperature, under ``attack`` at ``eps`` and clean, with ALS and SLS
    at the same alpha as references: BLS tends to ALS as T -> 0 and to uniform smoothing over all K
    classes as T -> inf, which is SLS at alpha (K - 1) / K (SLS spreads alpha over the K - 1 wrong
    classes only). Each reference is a horizontal line with its interval drawn at the end of the
    temperature axis it is the limit of (no smoothing on the left)."""
    rows = of_arch(results, arch)
    require_eps(rows, eps)
    rows = rows[np.isclose(rows["alpha"], bls_alpha) | (rows["method"] == "none")]
    colors, num_classes = colors_for(rows["method"]), _num_classes(rows)
    temperatures = rows.loc[rows["method"] == "boltzmann", "temperature"]
    if temperatures.empty:
        raise ValueError(f"arch={arch!r} has no BLS model at alpha {bls_alpha:g}; train.methods must include "
                         "boltzmann (its temperature sweep is at train.bls_alpha)")
    low, high = temperatures.min() / 4, temperatures.max() * 4  # where the limits are drawn
    references = {"adversarial": ("T -> 0 limit", low),
                  "standard": (f"T -> inf limit is SLS at alpha {bls_alpha * (num_classes - 1) / num_classes:.2g}",
                               high),
                  "none": ("", low / 2)}
    fig, axes = _figure(1, 2, panel=(4.5, 3.5), sharey=True)
    panels = [(select(rows, attack, loss, eps), f"{describe_attack(attack, attack_params, loss)}, eps = {eps_label(eps)}"),
              (select(rows, "clean"), "clean (no attack)")]
    for ax, (panel, title) in zip(axes.flat, panels):
        _bars(ax, panel[panel["method"] == "boltzmann"], "temperature", "accuracy", lambda t: t, colors["boltzmann"],
              f"BLS, alpha {bls_alpha:g}")
        for method, (limit, at) in references.items():
            reference = panel[panel["method"] == method]
            if reference.empty:
                continue
            label = name(method) if method == "none" else f"{name(method)}, alpha {bls_alpha:g} ({limit})"
            ax.axhline(reference["accuracy"].mean(), color=colors[method], linestyle=REFERENCE_STYLES.get(method, "--"),
                       linewidth=1.0, label=label)
            _bars(ax, reference, "alpha", "accuracy", lambda a: np.full_like(a, at), colors[method], None)
        ax.set_xscale("log")
        ax.set_xlim(low / 3, high * 2)
        ax.set_title(title, fontsize=9)
    fig = _finish(fig, axes, panels[0][0], f"Boltzmann smoothing vs temperature at alpha {bls_alpha:g}",
                  "BLS temperature T (on logits, log scale)", [ACCURACY_LABEL],
                  "As T -> 0 BLS tends to ALS (its interval drawn on the left); as T -> inf to uniform smoothing over "
                  "all K classes, which is SLS (uniform over the K - 1 wrong classes) at alpha (K - 1) / K (on the "
                  "right). A reference is missing where its method was not trained at this alpha (add it to "
                  "train.alphas).")
    axes[0, 1].set_ylabel(CLEAN_LABEL)  # the right panel is not under attack: its own label and numbers
    axes[0, 1].tick_params(labelleft=True)
    return fig


def min_norm(results: pd.DataFrame, arch: str, attack_params: dict, temperature: float) -> Figure:
    """DeepFool and CW-L2 vs alpha per method: the median L2 norm that flips a correct point (top; a
    triangle where it is infinite), the share of correct points the attack failed to flip (middle),
    and the accuracy the bounded attacks leave (bottom; the paper's DeepFool numbers)."""
    rows = alpha_grid(of_arch(results, arch), temperature)
    colors, num_classes = colors_for(rows["method"]), _num_classes(rows)
    values = [("median_l2", L2_LABEL), ("failure_rate", FAILURE_LABEL), ("accuracy", LEFT_LABEL)]
    fig, axes = _figure(len(values), 2, panel=(4.5, 2.6), sharex=True, sharey="row")
    for j, attack in enumerate(["deepfool", "cw_l2"]):
        for i, (value, _) in enumerate(values):
            _alpha_panel(axes[i, j], select(rows, attack), value, colors, num_classes)
        axes[0, j].set_title(describe_attack(attack, attack_params), fontsize=9)
    for ax in axes[1:, 0]:  # rates: all of [0, 1], so a row of zeros reads as zero
        ax.set_ylim(*FRACTION_LIMITS)
    if np.isinf(select(rows, "deepfool")["median_l2"]).any() or np.isinf(select(rows, "cw_l2")["median_l2"]).any():
        axes[0, 0].plot([], [], color="0.3", label="median L2 infinite: failed on half or more", **INF_MARKER)
    return _finish(fig, axes, select(rows, "deepfool"), f"minimum-norm attacks vs alpha (BLS at T = {temperature:g})",
                   ALPHA_LABEL, [label for _, label in values],
                   "Median L2 over the points correct clean, a point the attack failed to flip counted as infinitely "
                   "far. Failure rate: share of those points not flipped within the attack's iterations. Accuracy "
                   "left: points correct and not flipped (the paper's DeepFool numbers).")


def per_class_heatmap(results: pd.DataFrame, arch: str, eps: float, attack_params: dict, temperature: float,
                      attack: str = "bim", loss: str = "ce") -> Figure:
    """Per-class accuracy under ``attack`` at ``eps``, class x alpha, one panel per smoothing method;
    the alpha-0 column is the unsmoothed model, the same in every panel."""
    require_eps(results, eps)
    every = select(alpha_grid(of_arch(results, arch), temperature), attack, loss, eps, cls=None)
    rows = every[every["class"] != "all"]
    num_classes = _num_classes(every)
    baseline = rows[rows["method"] == "none"]
    methods = [m for m in method_order(rows["method"]) if m not in REFERENCES]
    ncols = min(2, len(methods))
    fig, axes = _figure(-(-len(methods) // ncols), ncols, panel=(4.8, 3.8), sharey=True)
    lines = []  # the degenerate starts drawn, in words
    for ax, method in zip(axes.flat, methods):
        panel = pd.concat([baseline, rows[rows["method"] == method]])
        grid = panel.pivot_table(index="class", columns="alpha", values="accuracy", aggfunc="mean")
        grid = grid.sort_index(key=lambda c: c.astype(int))
        sns.heatmap(grid, ax=ax, vmin=0.0, vmax=1.0, cmap="viridis", annot=True, fmt=".2f",
                    annot_kws={"fontsize": 7}, cbar=False)
        ax.set_xticklabels([f"{a:g}" for a in grid.columns])
        ax.set(title=name(method), xlabel="", ylabel="")
        start = degenerate_from(method, num_classes)
        if start is not None and (grid.columns >= start).any():  # a line where the degenerate range begins
            ax.axvline(int(np.argmax(grid.columns >= start)), color="white", linestyle="--", linewidth=2)
            lines.append(f"{name(method)} alpha >= {start:.2g}")
    for ax in axes.flat[len(methods):]:
        ax.set_visible(False)
    fig.colorbar(axes[0, 0].collections[0], ax=axes, label=ACCURACY_LABEL, shrink=0.8)
    dashed = f" Dashed white line: the degenerate range starts ({', '.join(lines)})." if lines else ""
    return _finish(fig, axes, every[every["class"] == "all"],
                   f"per-class accuracy, {describe_attack(attack, attack_params, loss)}, eps = {eps_label(eps)}",
                   f"{ALPHA_LABEL}; 0 = no smoothing", "true class",
                   f"Cells: mean over seeds of the fraction of the class's test points correct clean and under "
                   f"attack. BLS at T = {temperature:g}.{dashed}", interval=False)


def protocol(results: pd.DataFrame, best: pd.DataFrame, arch: str, attack_params: dict) -> Figure:
    """FGSM and BIM accuracy vs eps when the attacker maximises cross-entropy (ce) or the model's own
    smoothed loss (the paper's protocol), each smoothing method at its best alpha: the gap between
    the two lines is what the choice of protocol adds to the apparent robustness. No smoothing and the
    baselines are left out: for them both protocols attack cross-entropy."""
    rows = at_best(of_arch(results, arch), best)
    colors, labels = colors_for(rows["method"]), _best_labels(best, arch)
    methods = [m for m in method_order(rows["method"]) if m not in REFERENCES]
    if not methods:
        raise ValueError(f"arch={arch!r} has no smoothing method in the results; the protocols differ only for those")
    styles = {"ce": "-", "smoothed": "--"}
    fig, axes = _figure(2, len(methods), panel=(3.0, 2.8), sharex=True, sharey=True)
    for i, attack in enumerate(["fgsm", "bim"]):
        for ax, method in zip(axes[i], methods):
            for loss, style in styles.items():
                _line(ax, select(rows[rows["method"] == method], attack, loss), "eps", "accuracy",
                      colors[method], None, style)
            ax.set_title(f"{ATTACKS[attack]}: {labels[method]}", fontsize=9, color=colors[method])
    axes[0, 0].set_ylim(*FRACTION_LIMITS)  # shared by every panel
    for loss, style in styles.items():  # legend entries only: the colour is the method's
        axes[0, 0].plot([], [], color="0.2", linestyle=style, label=PROTOCOLS[loss])
    return _finish(fig, axes, select(rows, "bim", "ce"),
                   f"attack protocol, ce vs smoothed loss (FGSM and {describe_attack('bim', attack_params)})",
                   EPS_LABEL, ACCURACY_LABEL, _best_note(best))


def training_curves(history: pd.DataFrame, best: pd.DataFrame, arch: str) -> Figure:
    """Validation accuracy per epoch, each method at its best alpha, mean over seeds: did the models
    converge?"""
    rows = at_best(of_arch(history, arch), best)
    fig, axes = _figure(1, 1, panel=(5.5, 3.8))
    colors, labels = colors_for(rows["method"]), _best_labels(best, arch)
    for method in method_order(rows["method"]):
        _line(axes[0, 0], rows[rows["method"] == method], "epoch", "val_accuracy", colors[method], labels[method],
              interval=False)
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(fig, axes, rows, "validation accuracy during training", "epoch", "validation accuracy",
                   _best_note(best), sample="validation: stratified hold-out of the training data", interval=False)
