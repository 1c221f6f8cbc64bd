"""Figures and tables of the study, drawn from the tidy table of the attack stage.

Every function is pure: the results table (``load_results("results/attacks.csv")``) in, a
matplotlib Figure or a DataFrame out; ``save`` writes a figure to disk. Figures that show one model
per method take the arch to draw (one figure per arch) and the ``attack`` section of params.yaml,
whose settings go into the titles.

Seeds: every line is the mean over seeds, with a band for the 95% Student-t interval of that mean,
mean +- t(0.975, n - 1) * s / sqrt(n) (``half_width``), the same interval as in the table. With one
seed there is no band. (seaborn's default bootstrap interval is unreliable with 2 to 5 seeds.)

Best alpha: ``best_alpha`` picks, per arch and method, the alpha (and BLS temperature) with the
highest mean accuracy under one attack at one eps. It chooses on the test set, as the paper did:
an optimistic protocol that flatters every method (the unsmoothed baseline has no alpha to choose).
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats

METHODS = ["none", "standard", "adversarial", "boltzmann", "second_best", "pgd_training", "distillation"]
NAMES = {"none": "no smoothing", "standard": "SLS", "adversarial": "ALS", "boltzmann": "BLS", "second_best": "SBLS",
         "pgd_training": "PGD training", "distillation": "distillation"}
# The defences of lsstudy.baselines: trained at alpha 0, so drawn as references in the alpha figures.
BASELINES = ["pgd_training", "distillation"]
ATTACKS = {"clean": "clean", "fgsm": "FGSM", "bim": "BIM", "deepfool": "DeepFool", "cw_l2": "CW-L2", "pgd": "PGD",
           "pgd_more": "PGD (2x steps)", "apgd": "APGD", "square": "Square", "transfer": "transfer",
           "unbounded": "PGD, unbounded eps"}
PROTOCOLS = {"ce": "ce: cross-entropy on the true label",
             "smoothed": "smoothed: the model's own smoothed loss (paper's protocol)"}
MODEL = ["dataset", "arch", "method", "alpha", "temperature"]  # one model, up to its seed
DIGITS = 6  # written tables: drops float32 noise (0.90499997 -> 0.905), far below 1 / n test points

EPS_LABEL = "eps (Linf, pixels in [0, 1])"
ALPHA_LABEL = "alpha (smoothing mass)"
ACCURACY_LABEL = "accuracy (correct clean and under attack)"
CLEAN_LABEL = "clean accuracy (fraction of test points)"
LEFT_LABEL = "accuracy left (points not flipped)"
L2_LABEL = "median L2 of successful perturbations\n(pixels in [0, 1])"
ALPHA_LIMITS = (-0.02, 1.02)  # whole markers at alpha = 0 and 1

# colorblind-safe, with SLS and BLS far apart and the unsmoothed baseline in near-black
_CB = sns.color_palette("colorblind")
COLORS = {"none": (0.15, 0.15, 0.15), "standard": _CB[0], "adversarial": _CB[2], "boltzmann": _CB[1],
          "second_best": _CB[4], "pgd_training": _CB[3], "distillation": _CB[7]}
EXTRA_COLORS = [_CB[i] for i in (5, 8, 9, 6)]


def load_results(path: str | Path) -> pd.DataFrame:
    """results/attacks.csv as the attack stage wrote it: ``class`` stays a string ("all", "0", ...)
    and the loss "n/a" of the minimum-norm attacks stays a string (pandas would read it as missing)."""
    blank = [""]
    return pd.read_csv(path, dtype={"class": str, "robust_points": str}, keep_default_na=False,
                       na_values={"eps": blank, "median_l2": blank, "mean_l2": blank})


def save(fig: Figure, stem: str, formats: list[str], folder: str | Path = "figures") -> list[Path]:
    """Write ``fig`` as <folder>/<stem>.<format> for each format; return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.{fmt}" for fmt in formats]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return paths


# ---- numbers -------------------------------------------------------------------------------------

def half_width(values) -> float:
    """Half-width of the 95% Student-t interval of the mean of ``values`` (NaNs ignored); NaN below 2 values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return np.nan
    return stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))


def _interval(values) -> tuple[float, float]:
    """seaborn ``errorbar`` callable: the 95% t-interval, collapsed to the mean with one seed."""
    mean, half = np.nanmean(values), half_width(values)
    half = 0.0 if np.isnan(half) else half
    return mean - half, mean + half


def summarise(rows: pd.DataFrame, by: list[str], value: str = "accuracy") -> pd.DataFrame:
    """Per ``by`` group: the mean of ``value`` over seeds, its 95% t half-width, and the seeds counted."""
    return (rows.groupby(by, sort=False, dropna=False)[value]
            .agg(mean="mean", half_width=half_width, seeds="count").reset_index())


def _select(results: pd.DataFrame, attack: str, loss: str | None = None, eps: float | None = None,
            cls: str | None = "all") -> pd.DataFrame:
    """Rows of one attack (optionally one loss, one eps, one class; all classes with ``cls=None``)."""
    keep = results["attack"] == attack
    if loss is not None:
        keep &= results["loss"] == loss
    if eps is not None:
        keep &= np.isclose(results["eps"], eps)
    if cls is not None:
        keep &= results["class"] == cls
    return results[keep]


def _method_order(frame: pd.DataFrame) -> list[str]:
    """Methods present in ``frame``: the built-in ones in their usual order, then any others."""
    present = set(frame["method"])
    return [m for m in METHODS if m in present] + sorted(present - set(METHODS))


def _colors(frame: pd.DataFrame) -> dict[str, tuple]:
    # built-in methods keep the same colour in every figure, whatever else is present
    extra = [m for m in _method_order(frame) if m not in METHODS]
    return COLORS | dict(zip(extra, EXTRA_COLORS))


def _name(method: str) -> str:
    return NAMES.get(method, method)


def _arch(results: pd.DataFrame, arch: str) -> pd.DataFrame:
    rows = results[results["arch"] == arch]
    if rows.empty:
        raise ValueError(f"arch={arch!r} has no results; choose one of {sorted(results['arch'].unique())}")
    return rows


def _alpha_grid(results: pd.DataFrame, temperature: float) -> pd.DataFrame:
    """The models of the alpha grid: BLS only at the grid's ``temperature`` (not its temperature sweep)."""
    return results[(results["method"] != "boltzmann") | np.isclose(results["temperature"], temperature)]


def _require_eps(results: pd.DataFrame, eps: float) -> None:
    attacked = np.unique(results["eps"].dropna())
    if not np.isclose(attacked, eps).any():
        raise ValueError(f"eps={eps!r} was not attacked; the results hold eps {[float(e) for e in attacked]} "
                         "(attack.eps in params.yaml)")


def degenerate_from(method: str, num_classes: int) -> float | None:
    """The alpha from which a method's target gives the true class no more mass than some wrong class
    (None if there is no such alpha): SLS at (K - 1) / K, ALS and SBLS at 1 / 2."""
    return {"standard": (num_classes - 1) / num_classes, "adversarial": 0.5, "second_best": 0.5}.get(method)


# ---- best alpha and the table ----------------------------------------------------------------------

def best_alpha(results: pd.DataFrame, attack: str, loss: str, eps: float) -> pd.DataFrame:
    """Per (dataset, arch, method): the alpha and temperature whose mean accuracy over seeds under
    ``attack`` (attacking ``loss``) at ``eps`` is highest; ties go to the smaller alpha, then the
    smaller temperature.

    The choice is made on the test set, as in the paper: optimistic for every smoothing method.
    Returns columns dataset, arch, method, alpha, temperature, accuracy; ``attrs["criterion"]``
    says how the choice was made (the figures print it).
    """
    _require_eps(results, eps)
    scores = summarise(_select(results, attack, loss, eps), MODEL)
    if scores.empty:
        raise ValueError(f"no results for attack={attack!r}, loss={loss!r}, eps={eps!r}")
    scores = scores.sort_values(MODEL, ignore_index=True)  # idxmax keeps the first of ties
    best = scores.loc[scores.groupby(["dataset", "arch", "method"])["mean"].idxmax()]
    best = _sorted(best[MODEL + ["mean"]].rename(columns={"mean": "accuracy"}))
    best.attrs["criterion"] = f"highest mean {ATTACKS[attack]} accuracy ({loss}) at eps {eps:g}"
    return best


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by arch, then methods in their usual order."""
    rank = {m: i for i, m in enumerate(_method_order(frame))}
    return frame.sort_values(["arch", "method"], key=lambda c: c.map(rank) if c.name == "method" else c,
                             ignore_index=True)


def _at_best(results: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    return results.merge(best[MODEL], on=MODEL)


def _best_label(method: str, alpha: float, temperature: float) -> str:
    if method == "none":
        return _name(method)
    label = f"{_name(method)}, alpha {alpha:g}"
    return f"{label}, T {temperature:g}" if method == "boltzmann" else label


def _best_labels(best: pd.DataFrame, arch: str) -> dict[str, str]:
    return {b.method: _best_label(b.method, b.alpha, b.temperature) for b in best[best["arch"] == arch].itertuples()}


# The table's columns: (name, attack, loss (None: any), at the table's eps (else any eps), value column).
TABLE_COLUMNS = [
    ("clean", "clean", "none", False, "accuracy"),
    ("FGSM ce", "fgsm", "ce", True, "accuracy"),
    ("FGSM smoothed", "fgsm", "smoothed", True, "accuracy"),
    ("BIM ce", "bim", "ce", True, "accuracy"),
    ("BIM smoothed", "bim", "smoothed", True, "accuracy"),
    ("DeepFool accuracy", "deepfool", None, False, "accuracy"),
    ("DeepFool median L2", "deepfool", None, False, "median_l2"),
    ("CW-L2 accuracy", "cw_l2", None, False, "accuracy"),
    ("CW-L2 median L2", "cw_l2", None, False, "median_l2"),
]


def table(results: pd.DataFrame, best: pd.DataFrame, eps: float) -> pd.DataFrame:
    """Each method at its best alpha, next to no smoothing: clean accuracy, FGSM and BIM accuracy at
    ``eps`` under both protocols, DeepFool and CW-L2 accuracy left and median L2.

    One row per (arch, method, alpha, temperature, seeds); each value is the mean over seeds, and
    "<column> ±" its 95% t half-width (these columns only when some model has several seeds).
    Columns with no results (e.g. a protocol not run) are left out.
    """
    _require_eps(results, eps)
    rows = _at_best(results, best)
    index = ["arch", "method", "alpha", "temperature"]
    parts = []
    for name, attack, loss, at_eps, value in TABLE_COLUMNS:
        part = summarise(_select(rows, attack, loss, eps if at_eps else None), index, value)
        parts.append(part.set_index(index)[["mean", "half_width"]].rename(
            columns={"mean": name, "half_width": f"{name} ±"}))
    seeds = summarise(_select(rows, "clean"), index).set_index(index)["seeds"]
    summary = pd.concat([seeds, *parts], axis=1).dropna(axis=1, how="all").reset_index()
    return _sorted(summary.round(DIGITS))


def table_markdown(summary: pd.DataFrame, digits: int = 3) -> str:
    """``table`` as Markdown, each value written "mean ± half-width" where there is an interval."""
    shown = summary[[c for c in summary.columns if not c.endswith(" ±")]].copy()
    for name in [c[0] for c in TABLE_COLUMNS if c[0] in shown]:
        half = summary.get(f"{name} ±", pd.Series(np.nan, index=summary.index))
        shown[name] = [_plus_minus(m, h, digits) for m, h in zip(summary[name], half)]
    return shown.to_markdown(index=False)


def _plus_minus(mean: float, half: float, digits: int) -> str:
    if np.isnan(mean):
        return ""
    return f"{mean:.{digits}f}" if np.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def metrics(results: pd.DataFrame, best: pd.DataFrame, eps: float) -> dict:
    """The DVC metrics (results/figures/metrics.json): per arch and method, the best alpha and
    temperature, clean accuracy, and FGSM and BIM accuracy (ce) at ``eps``, means over seeds."""
    out: dict = {}
    for row in table(results, best, eps).to_dict("records"):
        values = {"alpha": row["alpha"], "temperature": row["temperature"], "seeds": row["seeds"],
                  "clean_accuracy": row["clean"], f"fgsm_accuracy_eps{eps:g}": row.get("FGSM ce", np.nan),
                  f"bim_accuracy_eps{eps:g}": row.get("BIM ce", np.nan)}
        out.setdefault(row["arch"], {})[row["method"]] = {k: _json_value(v) for k, v in values.items()}
    return out


def _json_value(value) -> int | float | None:
    """A plain int or float; NaN (no result) becomes None, since JSON has no NaN."""
    if pd.isna(value):
        return None
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def accuracy_vs_eps_wide(results: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """BIM (ce) accuracy vs eps, one column per method at its best alpha (mean over seeds), for
    lenet if present, else the last arch: the layout of dvc.yaml's plots section."""
    archs = list(results["arch"].unique())
    arch = "lenet" if "lenet" in archs else archs[-1]
    rows = _select(_at_best(_arch(results, arch), best), "bim", "ce")
    wide = rows.pivot_table(index="eps", columns="method", values="accuracy", aggfunc="mean")
    return wide[_method_order(rows)].round(DIGITS).reset_index().rename_axis(columns=None)


# ---- drawing helpers -----------------------------------------------------------------------------

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


def _line(ax, rows: pd.DataFrame, x: str, y: str, color, label: str | None, linestyle: str = "-") -> None:
    """Mean of ``y`` over seeds against ``x``, with the 95% t band."""
    sns.lineplot(rows, x=x, y=y, ax=ax, color=color, label=label, linestyle=linestyle, marker="o",
                 markersize=4, estimator="mean", errorbar=_interval)


def _method_lines(ax, rows: pd.DataFrame, x: str, y: str, colors: dict, labels: dict[str, str] | None = None) -> None:
    for method in _method_order(rows):
        _line(ax, rows[rows["method"] == method], x, y, colors[method], (labels or {}).get(method, _name(method)))


def _reference(ax, values: pd.Series, color, label: str, linestyle: str = "--") -> None:
    """A horizontal line at the mean of ``values`` (over seeds), with its 95% t band."""
    low, high = _interval(values)
    ax.axhline(np.nanmean(values), color=color, linestyle=linestyle, linewidth=1.2, label=label)
    if high > low:
        ax.axhspan(low, high, color=color, alpha=0.15, linewidth=0)


def _shade_degenerate(ax, methods: list[str], num_classes: int) -> None:
    """Shade alpha from where each method's target stops favouring the true class (one hatch per
    start, darker where more methods are degenerate)."""
    starts: dict[float, list[str]] = {}
    for method in methods:
        start = degenerate_from(method, num_classes)
        if start is not None:
            starts.setdefault(start, []).append(_name(method))
    for (start, names), hatch in zip(sorted(starts.items()), ["", "//"]):
        ax.axvspan(start, ALPHA_LIMITS[1], facecolor=(0.55, 0.55, 0.55, 0.15), edgecolor="0.6", hatch=hatch, linewidth=0,
                   label=f"degenerate: {', '.join(names)} (alpha >= {start:.2g})")
        ax.axvline(start, color="0.4", linestyle=":", linewidth=0.8)
    ax.set_xlim(*ALPHA_LIMITS)


def _alpha_panel(ax, rows: pd.DataFrame, y: str, colors: dict, num_classes: int) -> None:
    """``y`` vs alpha per smoothing method; no smoothing and the baseline defences as horizontal
    references; degenerate range shaded."""
    smoothed = rows[~rows["method"].isin(["none", *BASELINES])]
    _method_lines(ax, smoothed, "alpha", y, colors)
    for method, linestyle in zip(["none", *BASELINES], ["--", "-.", ":"]):
        reference = rows.loc[rows["method"] == method, y]
        if reference.notna().any():
            _reference(ax, reference, colors[method], _name(method), linestyle)
    _shade_degenerate(ax, _method_order(smoothed), num_classes)


def _num_classes(rows: pd.DataFrame) -> int:
    """K, from the per-class rows (labels 0 .. K - 1); reading it here spares importing torch."""
    return int(rows.loc[rows["class"] != "all", "class"].astype(int).max()) + 1


def _best_note(best: pd.DataFrame) -> str:
    criterion = best.attrs.get("criterion", "see best_alpha")
    return (f"Each method at its best alpha (BLS: alpha and T): {criterion}, chosen on the test set as in the "
            "paper (optimistic for smoothing).")


# ---- figures ---------------------------------------------------------------------------------------

def accuracy_vs_eps(results: pd.DataFrame, best: pd.DataFrame, arch: str, attack_params: dict) -> Figure:
    """FGSM and BIM (ce) accuracy vs eps, each method at its best alpha (the paper's main curves)."""
    rows = _at_best(_arch(results, arch), best)
    fig, axes = _figure(1, 2, sharey=True)
    for ax, attack in zip(axes.flat, ["fgsm", "bim"]):
        _method_lines(ax, _select(rows, attack, "ce"), "eps", "accuracy", _colors(rows), _best_labels(best, arch))
        ax.set_title(describe_attack(attack, attack_params, "ce"))
    return _finish(fig, axes, _select(rows, "bim", "ce"), "accuracy vs eps", EPS_LABEL, ACCURACY_LABEL,
                   _best_note(best))


def accuracy_vs_alpha(results: pd.DataFrame, arch: str, eps_values: list[float], attack_params: dict,
                      temperature: float) -> Figure:
    """FGSM and BIM (ce) accuracy vs alpha per method, one column per eps of ``eps_values`` that was
    attacked (the others are named under the figure).

    BLS is drawn at its alpha-grid ``temperature`` (train.temperature).
    """
    rows = _alpha_grid(_arch(results, arch), temperature)
    colors, num_classes = _colors(rows), _num_classes(rows)
    attacked = np.unique(rows["eps"].dropna())
    missing = [eps for eps in eps_values if not np.isclose(attacked, eps).any()]
    eps_values = [eps for eps in eps_values if eps not in missing]
    if not eps_values:
        _require_eps(rows, missing[0])  # raises: none was attacked
    fig, axes = _figure(2, len(eps_values), sharex=True, sharey=True)
    for i, attack in enumerate(["fgsm", "bim"]):
        for ax, eps in zip(axes[i], eps_values):
            _alpha_panel(ax, _select(rows, attack, "ce", eps), "accuracy", colors, num_classes)
            ax.set_title(f"{describe_attack(attack, attack_params, 'ce')}\neps = {eps:g}", fontsize=9)
    return _finish(fig, axes, _select(rows, "bim", "ce"), f"accuracy vs alpha (BLS at T = {temperature:g})",
                   ALPHA_LABEL, ACCURACY_LABEL, f"Not attacked, left out: eps {missing}." if missing else "")


def clean_vs_alpha(results: pd.DataFrame, arch: str, temperature: float) -> Figure:
    """Clean accuracy vs alpha per method, no smoothing as the reference (the paper's claim 3)."""
    models = _alpha_grid(_arch(results, arch), temperature)
    rows = _select(models, "clean")
    fig, axes = _figure(1, 1, panel=(5.5, 3.8))
    _alpha_panel(axes[0, 0], rows, "accuracy", _colors(rows), _num_classes(models))
    return _finish(fig, axes, rows, f"clean accuracy vs alpha (BLS at T = {temperature:g})", ALPHA_LABEL, CLEAN_LABEL)


def bls_temperature(results: pd.DataFrame, arch: str, bls_alpha: float, eps: float, attack_params: dict,
                    attack: str = "bim", loss: str = "ce") -> Figure:
    """BLS at ``bls_alpha`` vs its temperature, under ``attack`` at ``eps`` and clean, with ALS and SLS
    at the same alpha as references: BLS tends to ALS as T -> 0 and to uniform smoothing over all K
    classes as T -> inf, which is SLS at alpha (K - 1) / K (SLS spreads alpha over the K - 1 wrong
    classes only)."""
    rows = _arch(results, arch)
    _require_eps(rows, eps)
    rows = rows[np.isclose(rows["alpha"], bls_alpha) | (rows["method"] == "none")]
    colors, num_classes = _colors(rows), _num_classes(rows)
    limits = {"adversarial": "T -> 0 limit",
              "standard": f"T -> inf limit is SLS at alpha {bls_alpha * (num_classes - 1) / num_classes:.2g}"}
    fig, axes = _figure(1, 2, panel=(4.5, 3.5))
    panels = [(_select(rows, attack, loss, eps), f"{describe_attack(attack, attack_params, loss)}, eps = {eps:g}"),
              (_select(rows, "clean"), "clean (no attack)")]
    for ax, (panel, title) in zip(axes.flat, panels):
        bls = panel[panel["method"] == "boltzmann"]
        _line(ax, bls, "temperature", "accuracy", colors["boltzmann"], f"BLS, alpha {bls_alpha:g}")
        for method, limit in limits.items():
            reference = panel.loc[panel["method"] == method, "accuracy"]
            if len(reference):
                _reference(ax, reference, colors[method], f"{_name(method)}, alpha {bls_alpha:g} ({limit})")
        _reference(ax, panel.loc[panel["method"] == "none", "accuracy"], colors["none"], _name("none"), ":")
        ax.set_xscale("log")
        ax.set_title(title, fontsize=9)
    fig = _finish(fig, axes, panels[0][0], f"Boltzmann smoothing vs temperature at alpha {bls_alpha:g}",
                  "BLS temperature T (on logits, log scale)", [ACCURACY_LABEL],
                  "As T -> 0 BLS tends to ALS; as T -> inf to uniform smoothing over all K classes, which is SLS "
                  "(uniform over the K - 1 wrong classes) at alpha (K - 1) / K. A reference is missing where its "
                  "method was not trained at this alpha (add it to train.alphas).")
    axes[0, 1].set_ylabel(CLEAN_LABEL)  # the right panel is not under attack
    return fig


def min_norm(results: pd.DataFrame, arch: str, attack_params: dict, temperature: float) -> Figure:
    """DeepFool and CW-L2 vs alpha per method: median L2 of the successful perturbations (top) and
    the accuracy the bounded attacks leave (bottom; the paper's DeepFool numbers)."""
    rows = _alpha_grid(_arch(results, arch), temperature)
    colors, num_classes = _colors(rows), _num_classes(rows)
    fig, axes = _figure(2, 2, panel=(4.5, 3.0), sharex=True, sharey="row")
    for j, attack in enumerate(["deepfool", "cw_l2"]):
        for i, value in enumerate(["median_l2", "accuracy"]):
            _alpha_panel(axes[i, j], _select(rows, attack), value, colors, num_classes)
        axes[0, j].set_title(describe_attack(attack, attack_params), fontsize=9)
    return _finish(fig, axes, _select(rows, "deepfool"), f"minimum-norm attacks vs alpha (BLS at T = {temperature:g})",
                   ALPHA_LABEL, [L2_LABEL, LEFT_LABEL], "Median L2 over the points that were correct and that the "
                   "attack flipped; missing where it flipped none. Accuracy left: points correct and not flipped "
                   "within the attack's iterations (the paper's DeepFool numbers).")


def per_class_heatmap(results: pd.DataFrame, arch: str, eps: float, attack_params: dict, temperature: float,
                      attack: str = "bim", loss: str = "ce") -> Figure:
    """Per-class accuracy under ``attack`` at ``eps``, class x alpha, one panel per smoothing method;
    the alpha-0 column is the unsmoothed model, the same in every panel."""
    _require_eps(results, eps)
    every = _select(_alpha_grid(_arch(results, arch), temperature), attack, loss, eps, cls=None)
    rows = every[every["class"] != "all"]
    num_classes = _num_classes(every)
    baseline = rows[rows["method"] == "none"]
    methods = [m for m in _method_order(rows) if m not in ["none", *BASELINES]]
    ncols = min(2, len(methods))
    fig, axes = _figure(-(-len(methods) // ncols), ncols, panel=(4.8, 3.8), sharey=True)
    for ax, method in zip(axes.flat, methods):
        panel = pd.concat([baseline, rows[rows["method"] == method]])
        grid = panel.pivot_table(index="class", columns="alpha", values="accuracy", aggfunc="mean")
        grid = grid.sort_index(key=lambda c: c.astype(int))
        sns.heatmap(grid, ax=ax, vmin=0.0, vmax=1.0, cmap="viridis", annot=True, fmt=".2f",
                    annot_kws={"fontsize": 7}, cbar=False)
        ax.set_xticklabels([f"{a:g}" for a in grid.columns])
        ax.set(title=_name(method), xlabel="", ylabel="")
        start = degenerate_from(method, num_classes)
        if start is not None and (grid.columns >= start).any():  # a line where the degenerate range begins
            ax.axvline(int(np.argmax(grid.columns >= start)), color="white", linestyle="--", linewidth=2)
    for ax in axes.flat[len(methods):]:
        ax.set_visible(False)
    fig.colorbar(axes[0, 0].collections[0], ax=axes, label=ACCURACY_LABEL, shrink=0.8)
    return _finish(fig, axes, every[every["class"] == "all"],
                   f"per-class accuracy, {describe_attack(attack, attack_params, loss)}, eps = {eps:g}",
                   f"{ALPHA_LABEL}; 0 = no smoothing", "true class",
                   f"Cells: mean over seeds of the fraction of the class's test points correct clean and under "
                   f"attack. BLS at T = {temperature:g}. Dashed white line: the degenerate range starts "
                   f"(SLS alpha >= (K - 1) / K, ALS and SBLS alpha >= 0.5).", interval=False)


def protocol(results: pd.DataFrame, best: pd.DataFrame, arch: str, attack_params: dict) -> Figure:
    """FGSM and BIM accuracy vs eps when the attacker maximises cross-entropy (ce) or the model's own
    smoothed loss (the paper's protocol), each method at its best alpha: the gap between the two lines
    is what the choice of protocol adds to the apparent robustness."""
    rows = _at_best(_arch(results, arch), best)
    colors, labels, methods = _colors(rows), _best_labels(best, arch), _method_order(rows)
    styles = {"ce": "-", "smoothed": "--"}
    fig, axes = _figure(2, len(methods), panel=(3.0, 2.8), sharex=True, sharey=True)
    for i, attack in enumerate(["fgsm", "bim"]):
        for ax, method in zip(axes[i], methods):
            for loss, style in styles.items():
                _line(ax, _select(rows[rows["method"] == method], attack, loss), "eps", "accuracy",
                      colors[method], None, style)
            ax.set_title(f"{ATTACKS[attack]}: {labels[method]}", fontsize=9)
    for loss, style in styles.items():  # legend entries only: the colour is the method's
        axes[0, 0].plot([], [], color="0.2", linestyle=style, label=PROTOCOLS[loss])
    return _finish(fig, axes, _select(rows, "bim", "ce"),
                   f"attack protocol, ce vs smoothed loss (FGSM and {describe_attack('bim', attack_params)})",
                   EPS_LABEL, ACCURACY_LABEL, _best_note(best))


def training_curves(history: pd.DataFrame, best: pd.DataFrame, arch: str) -> Figure:
    """Validation accuracy per epoch, each method at its best alpha: did the models converge?"""
    rows = _at_best(_arch(history, arch), best)
    fig, axes = _figure(1, 1, panel=(5.5, 3.8))
    _method_lines(axes[0, 0], rows, "epoch", "val_accuracy", _colors(rows), _best_labels(best, arch))
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(fig, axes, rows, "validation accuracy during training", "epoch", "validation accuracy",
                   _best_note(best), sample="validation: stratified hold-out of the training data")
