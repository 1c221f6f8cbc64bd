"""The attack stage's results table, the best alpha of each method, and the summary tables drawn from them.

Every function is pure: the results table (``load_results("results/attacks.csv")``) in, a DataFrame
or a dict out. Values are means over seeds with their 95% Student-t half-width
(``lsstudy.report.statistics``).

Best alpha: ``best_alpha`` picks, per arch and method, the alpha (and BLS temperature) with the
highest mean accuracy under one attack at one eps, on the points of the table it is given. The study
chooses on its selection points, which no evaluation uses (``attack.selection``); choosing on the
evaluation points, as the paper did, flatters every method and is kept only as the paper's reproduction.

Minimum-norm attacks (DeepFool, CW-L2) report, per model, the median L2 norm needed to flip a
correct point, counting the points the attack failed to flip as infinitely far (so the median is
inf when it failed on half or more of them), and ``failure_rate``, the share of correct points it
failed to flip.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from lsstudy.report.statistics import summarise
from lsstudy.report.style import ATTACKS, arch_order, eps_label, method_order

MODEL = ["dataset", "arch", "method", "alpha", "temperature"]  # one model, up to its seed
DIGITS = 6  # written tables: drops float32 noise (0.90499997 -> 0.905), far below 1 / n test points


def load_results(path: str | Path) -> pd.DataFrame:
    """results/attacks.csv as the attack stage wrote it: ``class`` stays a string ("all", "0", ...),
    the loss "n/a" of the minimum-norm attacks stays a string (pandas would read it as missing), and
    the columns that only some attacks fill are NaN elsewhere ("inf" medians stay inf)."""
    blank = [""]
    return pd.read_csv(path, dtype={"class": str, "robust_points": str}, keep_default_na=False,
                       na_values={"eps": blank, "median_l2": blank, "failure_rate": blank})


def select(results: pd.DataFrame, attack: str, loss: str | None = None, eps: float | None = None,
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


def of_arch(results: pd.DataFrame, arch: str) -> pd.DataFrame:
    """The rows of ``arch``; a ValueError naming the archs present if it has none."""
    rows = results[results["arch"] == arch]
    if rows.empty:
        raise ValueError(f"arch={arch!r} has no results; choose one of {arch_order(results['arch'])}")
    return rows


def alpha_grid(results: pd.DataFrame, temperature: float) -> pd.DataFrame:
    """The models of the alpha grid: BLS only at the grid's ``temperature`` (not its temperature sweep)."""
    return results[(results["method"] != "boltzmann") | np.isclose(results["temperature"], temperature)]


def require_eps(results: pd.DataFrame, eps: float) -> None:
    """A ValueError naming the eps attacked if ``eps`` is not one of them."""
    attacked = np.unique(results["eps"].dropna())
    if not np.isclose(attacked, eps).any():
        raise ValueError(f"eps={eps!r} was not attacked; the results hold eps {[float(e) for e in attacked]} "
                         "(attack.eps in params.yaml)")


def sort_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by arch, then method, each in the order of ``lsstudy.report.style``."""
    ranks = {"arch": arch_order(frame["arch"]), "method": method_order(frame["method"])}
    return frame.sort_values(["arch", "method"], key=lambda c: c.map({v: i for i, v in enumerate(ranks[c.name])}),
                             ignore_index=True)


def best_alpha(results: pd.DataFrame, attack: str, loss: str, eps: float, points: str = "the test points"
               ) -> pd.DataFrame:
    """Per (dataset, arch, method): the alpha and temperature whose mean accuracy over seeds under
    ``attack`` (attacking ``loss``) at ``eps`` is highest on the points of ``results``; ties go to the
    smaller alpha, then the smaller temperature.

    ``points`` says in words which points chose (the figures print it). Returns columns dataset, arch,
    method, alpha, temperature, accuracy; ``attrs["criterion"]`` says how the choice was made.
    """
    require_eps(results, eps)
    scores = summarise(select(results, attack, loss, eps), MODEL)
    if scores.empty:
        raise ValueError(f"no results for attack={attack!r}, loss={loss!r}, eps={eps!r}")
    scores = scores.sort_values(MODEL, ignore_index=True)  # idxmax keeps the first of ties
    best = scores.loc[scores.groupby(["dataset", "arch", "method"])["mean"].idxmax()]
    best = sort_rows(best[MODEL + ["mean"]].rename(columns={"mean": "accuracy"}))
    best.attrs["criterion"] = f"highest mean {ATTACKS[attack]} accuracy ({loss}) at eps {eps_label(eps)} on {points}"
    return best


def selection_points(attack: dict) -> str:
    """The selection points, in words."""
    selected = attack["selection"]
    return f"the selection points [{selected['offset']}, {selected['offset'] + selected['size']})"


def chosen(selection: pd.DataFrame, attack: dict) -> pd.DataFrame:
    """Per (dataset, arch, method) and eps of ``attack.strong.eps``: the configuration with the highest mean
    accuracy over seeds under the selection attack (BIM on ``attack.selection.loss``) on the selection
    points (the attack stage's selection table). Methods with one configuration (no smoothing, the
    baselines) are chosen as they are."""
    selected, points = attack["selection"], selection_points(attack)
    frames = [best_alpha(selection, "bim", selected["loss"], eps, points).assign(eps=eps) for eps in attack["strong"]["eps"]]
    table = pd.concat(frames, ignore_index=True).rename(columns={"accuracy": "selection_accuracy"})
    table.attrs["criterion"] = (f"highest mean BIM accuracy ({selected['loss']}) at the same eps on {points}")
    return table


def at_best(results: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``results`` whose model is one of ``best`` (each method at its best alpha)."""
    return results.merge(best[MODEL], on=MODEL)


# The table's columns: (name, attack, loss (None: any), at the table's eps (else any eps), value column).
# DeepFool and CW-L2 are unbounded: what compares is the size of what they need (median L2) and how often they
# fail; their "accuracy" (points correct and not flipped) only restates the failure rate, so it is left out.
TABLE_COLUMNS = [
    ("clean", "clean", "none", False, "accuracy"),
    ("FGSM ce", "fgsm", "ce", True, "accuracy"),
    ("FGSM smoothed", "fgsm", "smoothed", True, "accuracy"),
    ("BIM ce", "bim", "ce", True, "accuracy"),
    ("BIM smoothed", "bim", "smoothed", True, "accuracy"),
    ("DeepFool median L2", "deepfool", None, False, "median_l2"),
    ("DeepFool failure rate", "deepfool", None, False, "failure_rate"),
    ("CW-L2 median L2", "cw_l2", None, False, "median_l2"),
    ("CW-L2 failure rate", "cw_l2", None, False, "failure_rate"),
]


def table(results: pd.DataFrame, best: pd.DataFrame, eps: float) -> pd.DataFrame:
    """Each method at its best alpha, next to no smoothing: clean accuracy, FGSM and BIM accuracy at
    ``eps`` under both protocols, and for DeepFool and CW-L2 the median L2 to flip a correct point and
    the failure rate.

    One row per (arch, method, alpha, temperature, seeds); each value is the mean over seeds, and
    "<column> ±" its 95% t half-width (these columns only when some model has several seeds). A
    median L2 is inf when some seed's is (that attack failed on half or more of the points), with no
    half-width. Columns with no results (e.g. a protocol not run) are left out.
    """
    require_eps(results, eps)
    rows = at_best(results, best)
    index = ["arch", "method", "alpha", "temperature"]
    parts = []
    for name, attack, loss, at_eps, value in TABLE_COLUMNS:
        part = summarise(select(rows, attack, loss, eps if at_eps else None), index, value)
        parts.append(part.set_index(index)[["mean", "half_width"]].rename(
            columns={"mean": name, "half_width": f"{name} ±"}))
    seeds = summarise(select(rows, "clean"), index).set_index(index)["seeds"]
    summary = pd.concat([seeds, *parts], axis=1).dropna(axis=1, how="all").reset_index()
    return sort_rows(summary.round(DIGITS))


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
    lenet if present, else the largest arch (the last in ``style.ARCHS`` order): the layout of
    dvc.yaml's plots section."""
    archs = arch_order(results["arch"])
    arch = "lenet" if "lenet" in archs else archs[-1]
    rows = select(at_best(of_arch(results, arch), best), "bim", "ce")
    wide = rows.pivot_table(index="eps", columns="method", values="accuracy", aggfunc="mean")
    return wide[method_order(rows["method"])].round(DIGITS).reset_index().rename_axis(columns=None)
