"""The authors' own results: the numbers this project transcribed from their public repository.

``authors.yaml``, beside this module, is the one place they are written: every number taken from
Goibert and Dohmatob's repository (MGoibert/Label_smoothing), from its result files and plots, with the
test set and the settings each was measured under. None is a number of the paper, whose tables could
not be read here. This module

- reads them: ``load``, one row per point, eps in the authors' units and in pixels of [0, 1];
- draws them beside ours: ``draw``, hollow markers with a bar over the range, one legend entry per
  source ("authors' result file, Oct 2019 (their test set, settings differ)");
- puts them beside ours in a table: ``table``, Markdown rows for the results page;
- writes the section of docs/paper.md that lists them: ``section``
  (``python -m lsstudy.report.reference.authors docs/paper.md`` rewrites it there).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lsstudy.files import write_text
from lsstudy.report.statistics import summarise
from lsstudy.report.style import SMOOTHING_METHODS, name
from lsstudy.report.tables import at_best

PATH = Path(__file__).with_suffix(".yaml")
# Keys a point may set or inherit from its source, with their defaults; "value" is the point's own.
DEFAULTS = {"dataset": None, "arch": None, "method": None, "alpha": None, "gamma": None, "attack": None,
            "metric": "accuracy", "eps": None, "uncertainty": 0.0, "n": None, "runs": None, "test_set": "", "note": ""}
SOURCE_KEYS = {"id", "what", "kind", "date", "provenance", "differs", "points"}
COLUMNS = ["source", "kind", "date", "dataset", "arch", "method", "alpha", "gamma", "attack", "metric", "eps_theirs",
           "eps", "eps_unit", "low", "high", "uncertainty", "n", "runs", "test_set", "note"]

# This project's datasets, by the authors' dataset each is (a part of); the others they did not run.
THEIR_DATASET = {"mnist5k": "mnist", "mnist25k": "mnist", "mnist": "mnist", "cifar10_5k": "cifar10",
                 "cifar10": "cifar10", "svhn": "svhn"}
SMOOTHINGS = [m for m in SMOOTHING_METHODS if m != "none"]
# Models of theirs that have no name in lsstudy.report.style.
THEIR_NAMES = {"smoothing": "each smoothing method", "fgsm_training": "FGSM training", "bayes": "Bayes classifier 1[x > 0]"}
METRICS = {"accuracy": "accuracy", "robust_accuracy": "accuracy under the optimal shift",
           "median_gap_l1": "median ||theta_i - theta_j||_1 (pixel units)"}
# What a value was measured on, for the legend: their test set, their training, their toy samples.
BASIS = {"accuracy": "their test set", "robust_accuracy": "their samples", "median_gap_l1": "their training"}
MARKERS = {"result file": "D", "plot read by eye": "s"}


def to_pixels(dataset: str, eps: float, input_ranges: dict) -> tuple[float, str]:
    """(eps, unit): ``eps`` in the authors' input units of ``dataset`` as pixels of [0, 1], divided by the width
    of their input range (MNIST's [-0.5, 0.5] keeps it, CIFAR-10's [-1, 1] halves it); a dataset with no such
    range (the triangular toy, whose input is x itself) keeps its eps, in units of x."""
    if dataset not in input_ranges:
        return eps, "x"
    low, high = input_ranges[dataset]
    return eps / (high - low), "pixels in [0, 1]"


def _file(path: str | Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def sources(path: str | Path = PATH) -> list[dict]:
    """The sources of the file in its order: id, what, kind, date, provenance, differs and their points as written."""
    return _file(path)["sources"]


def common(path: str | Path = PATH) -> list[str]:
    """The authors' settings true of every source (what differs from this project's)."""
    return _file(path)["common"]


def load(path: str | Path = PATH) -> pd.DataFrame:
    """One row per transcribed point (``COLUMNS``): what it is, eps in their units (``eps_theirs``) and in ours
    (``eps``, ``eps_unit``), the value as ``low`` and ``high`` (equal for a single number), the read-by-eye
    ``uncertainty`` (0 for a number read from a file), n, the test set and the source's kind and date.
    A key unknown to the file's layout stops with its name."""
    content = _file(path)
    rows = []
    for source in content["sources"]:
        unknown = set(source) - SOURCE_KEYS - set(DEFAULTS)
        if unknown:
            raise ValueError(f"{path}: source {source.get('id')!r} has unknown keys {sorted(unknown)}")
        for point in source["points"]:
            unknown = set(point) - set(DEFAULTS) - {"value"}
            if unknown:
                raise ValueError(f"{path}: a point of {source['id']!r} has unknown keys {sorted(unknown)}")
            row = {key: point.get(key, source.get(key, default)) for key, default in DEFAULTS.items()}
            value = point["value"]
            low, high = value if isinstance(value, list) else (value, value)
            eps, unit = (None, None) if row["eps"] is None else to_pixels(row["dataset"], row["eps"],
                                                                        content["input_ranges"])
            rows.append(row | {"source": source["id"], "kind": source["kind"], "date": source["date"],
                               "eps_theirs": row["eps"], "eps": eps, "eps_unit": unit,
                               "low": float(low), "high": float(high)})
    return pd.DataFrame(rows, columns=COLUMNS)


def their_dataset(dataset: str) -> str | None:
    """The authors' dataset that this project's ``dataset`` is (a part of); None if they did not run it."""
    return THEIR_DATASET.get(dataset)


def model_name(method: str, alpha: float | None = None) -> str:
    """A model of theirs in words: "ALS, alpha 0.1", "ALS, their best alpha", "no smoothing", "FGSM training"."""
    text = THEIR_NAMES.get(method) or name(method)
    if method in SMOOTHINGS or method == "smoothing":
        text += ", their best alpha" if alpha is None or np.isnan(alpha) else f", alpha {alpha:g}"
    return text


def label(point) -> str:
    """The legend entry of a point's source: "authors' result file, Oct 2019 (their test set, settings differ)"."""
    kind = f"{point.kind} (±{point.uncertainty:g})" if point.uncertainty else point.kind
    return f"authors' {kind}, {point.date} ({BASIS[point.metric]}, settings differ)"


def value_text(point) -> str:
    """A point's value as transcribed: "0.965", "0.82-0.83", "0.69 ± 0.02, by eye"."""
    text = f"{point.low:g}" if point.low == point.high else f"{point.low:g}-{point.high:g}"
    return f"{text} ± {point.uncertainty:g}, by eye" if point.uncertainty else text


def draw(ax, points: pd.DataFrame, x=None, color: str = "0.15", bounds: tuple[float, float] = (-np.inf, np.inf),
         suffix: str = "") -> None:
    """``points`` in ``ax`` at ``x`` (by default their eps in our units), one legend entry per source (its
    ``label`` and ``suffix``): a hollow marker at the middle of the value, no line, and a bar over the value's
    range widened by its read-by-eye uncertainty, clipped to ``bounds`` (the range of what it measures)."""
    x = points["eps"] if x is None else pd.Series(np.asarray(x, dtype=float), index=points.index)
    for _, part in points.groupby("source", sort=False):
        first = part.iloc[0]
        middle = (part["low"] + part["high"]).to_numpy() / 2
        low = np.clip(part["low"] - part["uncertainty"], *bounds).to_numpy()
        high = np.clip(part["high"] + part["uncertainty"], *bounds).to_numpy()
        ax.errorbar(x[part.index], middle, yerr=[middle - low, high - middle], fmt=MARKERS[first.kind], color=color,
                    markerfacecolor="white", markersize=6, markeredgewidth=1.3, capsize=3, linewidth=1.1, zorder=5,
                    label=label(first) + suffix)


# ---- ours beside theirs -----------------------------------------------------------------------------

def _ours(results: pd.DataFrame, best: pd.DataFrame | None, point, digits: int) -> str:
    """Our mean over seeds of the model, attack and eps of ``point`` under the authors' protocol, or "—"."""
    smoothing = point.method in SMOOTHINGS or point.method == "smoothing"
    if smoothing and best is None:
        return "—"
    loss = "none" if point.attack == "clean" else "smoothed" if smoothing else "ce"
    rows = results[(results["arch"] == point.arch) & (results["class"] == "all") & (results["attack"] == point.attack)
                   & (results["loss"] == loss) & np.isclose(results["eps"], point.eps)]
    rows = rows[rows["method"].isin(SMOOTHINGS if point.method == "smoothing" else [point.method])]
    if best is not None:
        rows = at_best(rows, best)
    if rows.empty:
        return "—"
    means = summarise(rows, ["method", "alpha"])
    n, seeds = f"{rows['n'].iloc[0]:,}", means["seeds"].max()
    if len(means) > 1:
        return f"{means['mean'].min():.{digits}f}-{means['mean'].max():.{digits}f} (range of {len(means)} methods, " \
               f"n = {n}, {seeds} seeds)"
    method, mean, half, alpha = means.iloc[0][["method", "mean", "half_width", "alpha"]]
    text = f"{mean:.{digits}f}" + ("" if np.isnan(half) else f" ± {half:.{digits}f}")
    at = (f"{name(method)} " if point.method == "smoothing" else "") + (f"alpha {alpha:g}, " if smoothing else "")
    return f"{text} ({at}n = {n}, {seeds} seed{'s' if seeds > 1 else ''})"


def table(results: pd.DataFrame, best: pd.DataFrame | None = None, theirs: pd.DataFrame | None = None,
          digits: int = 3) -> str:
    """Markdown rows, the authors' accuracies beside ours: every point of theirs on the dataset of ``results``
    (the attack stage's table; mnist5k and mnist25k are parts of their MNIST) for an arch ``results`` holds.

    Ours is the mean over seeds ± its 95% t half-width on the same model, attack and eps, attacked as the authors
    did (a smoothing method on its own smoothed loss, the other models on cross-entropy): no smoothing and the
    baselines as they are, a smoothing method at its chosen alpha in ``best`` (``lsstudy.report.tables.best_alpha``; no
    counterpart without it), the range of the four methods' means where theirs is a range over the four, and "—"
    where this study has no such model or eps. Their values keep their own test sets and settings (docs/paper.md).
    """
    theirs = load() if theirs is None else theirs
    dataset = results["dataset"].iloc[0]
    points = theirs[(theirs["dataset"] == their_dataset(dataset)) & (theirs["metric"] == "accuracy")
                    & theirs["arch"].isin(results["arch"].unique())]
    models = {method: i for i, method in enumerate(points["method"].unique())}  # in the order of the file
    points = points.sort_values(["arch", "method", "eps"], key=lambda c: c.map(models) if c.name == "method" else c,
                                kind="stable")
    lines = [{"arch": p.arch, "model (theirs)": model_name(p.method, p.alpha), "attack": p.attack,
              "eps (pixels; theirs)": "" if p.attack == "clean" else
              f"{p.eps:g}" + ("" if p.eps == p.eps_theirs else f" ({p.eps_theirs:g})"),
              "authors'": f"{value_text(p)} ({p.date}" + (f", n = {p.n:,.0f})" if pd.notna(p.n) else ")"),
              f"ours ({dataset})": _ours(results, best, p, digits)} for p in points.itertuples()]
    return pd.DataFrame(lines).to_markdown(index=False)


# ---- the section of docs/paper.md ---------------------------------------------------------------------

BEGIN = ("<!-- Written from lsstudy/report/reference/authors.yaml by "
         "`python -m lsstudy.report.reference.authors docs/paper.md`: "
         "edit that file, not this section (a test checks it is current). -->")
END = "<!-- End of the section written from lsstudy/report/reference/authors.yaml. -->"


def _points_table(points: pd.DataFrame, note: str) -> str:
    """One source's points as a Markdown table, with only the columns that it fills (a point's note where it
    is not the source's ``note``)."""
    rows = pd.DataFrame({
        "dataset": points["dataset"], "model": [model_name(p.method, p.alpha) for p in points.itertuples()],
        "arch": points["arch"].fillna(""), "gamma": points["gamma"].map(lambda g: "" if pd.isna(g) else f"{g:g}"),
        "attack": points["attack"].fillna(""),
        "eps (their units)": points["eps_theirs"].map(lambda e: "" if pd.isna(e) else f"{e:g}"),
        "eps (pixels of [0, 1])": [f"{p.eps:g}" if p.eps_unit == "pixels in [0, 1]" else "" for p in points.itertuples()],
        METRICS[points["metric"].iloc[0]]: [value_text(p) for p in points.itertuples()],
        "note": points["note"].where(points["note"] != note, "")})
    return rows.loc[:, (rows != "").any()].to_markdown(index=False)


def section(path: str | Path = PATH) -> str:
    """The generated part of docs/paper.md's section on the authors' results, between ``BEGIN`` and ``END``."""
    points = load(path)
    parts = [BEGIN, "", "Their settings in every source below, where they differ from this project's:", ""]
    parts += [f"- {line}" for line in common(path)]
    for source in sources(path):
        part = points[points["source"] == source["id"]]
        tests = "; ".join(dict.fromkeys(t for t in part["test_set"] if t))
        note = source.get("note", "")
        parts += ["", f"### {source['what'][0].upper()}{source['what'][1:]}", "",
                  f"From {source['provenance']}. Test set: {tests}. Their settings that differ: "
                  f"{'; '.join(source['differs'])}." + (f" {note[0].upper()}{note[1:]}." if note else ""), "",
                  _points_table(part, note)]
    return "\n".join([*parts, "", END])


def write_section(doc: str | Path, path: str | Path = PATH) -> Path:
    """Replace the text between ``BEGIN`` and ``END`` in ``doc`` with ``section``."""
    text = Path(doc).read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{doc} has no section to rewrite: it needs the lines {BEGIN!r} and {END!r}")
    head, rest = text.split(BEGIN, 1)
    return write_text(doc, head + section(path) + rest.split(END, 1)[1])


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(f"section written to {write_section(sys.argv[1])}")
    else:
        sys.stdout.write(section() + "\n")
