"""How the study shows things: the one place for method names, colours and order, arch order, attack
names, axis labels, and writing a figure to disk.

Every figure and table (``lsstudy.report.figures``, ``lsstudy.report.tables``, ``lsstudy.report.verdict_figures``, the
toys) takes these from here, so a method keeps its name and colour everywhere. The defences' list and the arch
order are the code's own (``lsstudy.baselines.BASELINES``, ``lsstudy.models.ARCHS``): training never imports
this module, so changing a colour cannot retrain a model.

``save`` writes each format through ``lsstudy.files.atomic_path`` and leaves the date out of the
files (PDF and SVG would stamp the current time), so the same figure gives the same bytes.
"""

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from lsstudy.baselines import BASELINES
from lsstudy.checks import check_choice
from lsstudy.files import atomic_path
from lsstudy.models import ARCHS

# The built-in methods, in the order of every legend and table: no smoothing, the paper's four
# smoothings, then the defences of lsstudy.baselines (trained at alpha 0).
METHODS = ["none", "standard", "adversarial", "boltzmann", "second_best", "pgd_training", "distillation", "scaled_logits"]
SMOOTHING_METHODS = [m for m in METHODS if m not in BASELINES]
NAMES = {"none": "no smoothing", "standard": "SLS", "adversarial": "ALS", "boltzmann": "BLS", "second_best": "SBLS",
         "pgd_training": "PGD training", "distillation": "distillation", "scaled_logits": "scaled logits"}

# seaborn's "colorblind" palette, written out so that importing this module needs no seaborn: SLS and
# BLS far apart, the unsmoothed model in near-black; methods outside METHODS take EXTRA_COLORS in turn.
_COLORBLIND = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc",
               "#ca9161", "#fbafe4", "#949494", "#ece133", "#56b4e9"]
COLORS = {"none": "#262626", "standard": _COLORBLIND[0], "adversarial": _COLORBLIND[2], "boltzmann": _COLORBLIND[1],
          "second_best": _COLORBLIND[4], "pgd_training": _COLORBLIND[3], "distillation": _COLORBLIND[7],
          "scaled_logits": _COLORBLIND[5]}
EXTRA_COLORS = [_COLORBLIND[i] for i in (8, 9, 6)]

ATTACKS = {"clean": "clean", "fgsm": "FGSM", "bim": "BIM", "deepfool": "DeepFool", "cw_l2": "CW-L2", "pgd": "PGD",
           "pgd_more": "PGD (2x steps)", "apgd": "APGD", "square": "Square", "transfer": "transfer",
           "unbounded": "PGD, unbounded eps"}
PROTOCOLS = {"ce": "ce: cross-entropy on the true label",
             "smoothed": "smoothed: the model's own smoothed loss (paper's protocol)"}

EPS_LABEL = "eps (Linf, pixels in [0, 1])"
ALPHA_LABEL = "alpha (smoothing mass)"
ACCURACY_LABEL = "accuracy (correct clean and under attack)"
CLEAN_LABEL = "clean accuracy (fraction of test points)"
LEFT_LABEL = "accuracy left (points not flipped)"
L2_LABEL = "median L2 to flip a correct point\n(pixels in [0, 1])"
FAILURE_LABEL = "failure rate (correct points\nthe attack did not flip)"
GAIN_LABEL = "accuracy gain over no smoothing\n(fraction of test points, same seed)"

# Metadata that would write the current date into the file; PNG has none.
_UNDATED = {"png": {}, "pdf": {"CreationDate": None}, "svg": {"Date": None}}
FORMATS = list(_UNDATED)


def name(method: str) -> str:
    """The method's name in figures and tables (a registered method keeps its own)."""
    return NAMES.get(method, method)


def model_label(method: str, alpha: float, temperature: float, sep: str = ", ") -> str:
    """One trained model in words: "SLS, alpha 0.3", "BLS, alpha 0.3, T 0.01"; the unsmoothed model
    and the baselines by name (they have no alpha), distillation with its T."""
    if method == "none" or method in BASELINES:
        return name(method) + (f"{sep}T {temperature:g}" if method == "distillation" else "")
    label = f"{name(method)}{sep}alpha {alpha:g}"
    return f"{label}{sep}T {temperature:g}" if method == "boltzmann" else label


def method_order(methods) -> list[str]:
    """The distinct ``methods``: the built-in ones in the order of METHODS, then any others, sorted."""
    present = set(methods)
    return [m for m in METHODS if m in present] + sorted(present - set(METHODS))


def eps_label(eps: float) -> str:
    """An epsilon in words: "0.1", or "8/255" where the value is a whole number of 8-bit pixel levels that
    decimals would write long (0.0313725...)."""
    text, levels = f"{eps:g}", eps * 255
    return f"{round(levels)}/255" if len(text) > 6 and abs(levels - round(levels)) < 1e-6 else text


def arch_order(archs) -> list[str]:
    """The distinct ``archs``: those of ARCHS in its order, then any others, sorted."""
    present = set(archs)
    return [a for a in ARCHS if a in present] + sorted(present - set(ARCHS))


def colors_for(methods) -> dict[str, str]:
    """A colour per method: COLORS for the built-in ones, whatever else is present, so a method keeps
    its colour in every figure; EXTRA_COLORS for the others, in order."""
    extra = [m for m in method_order(methods) if m not in METHODS]
    return COLORS | dict(zip(extra, EXTRA_COLORS))


def save(fig: Figure, stem: str, formats: list[str], folder: str | Path = "figures") -> list[Path]:
    """Write ``fig`` as <folder>/<stem>.<format> for each of ``formats`` (png, pdf, svg); return the
    paths. The same figure gives byte-identical files: no dates, and SVG ids salted with ``stem``."""
    for fmt in formats:
        check_choice("formats", fmt, FORMATS)
    paths = [Path(folder) / f"{stem}.{fmt}" for fmt in formats]
    for path, fmt in zip(paths, formats):
        with atomic_path(path) as tmp, matplotlib.rc_context({"svg.hashsalt": stem}):
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight", metadata=_UNDATED[fmt])
    return paths
