"""The verdict: what survives of label smoothing's robustness once the evaluation is strong.

``verdict_table`` gives one row per (checkpoint, eps of ``attack.strong.eps``): clean accuracy, FGSM,
the paper's protocol, the robust accuracy (the per-point worst case over every attack: a point counts
only if every attack failed on it), for an affine model the exact robust accuracy beside it, what each attack
of the ladder added to the ones before it, and the sanity flags of ``lsstudy.report.sanity``. ``gains`` compares each
method's chosen configuration with the unsmoothed model of the same seed, on the same points, one step of the evaluation
ladder (``lsstudy.ladder``) at a time: the gain, its variance over seeds and points, a t-interval and a call corrected
within its family of calls (Holm; ``lsstudy.report.inference``); ``variance_components`` and ``power`` say where the
noise comes from and what the design can detect. ``reproduction`` is the paper's own choice and protocol on the grid's
points, labelled as such.

Over 300 lines by a few: the verdict is one computation (masks, ladder, gains, calls) that reads top to bottom.
"""

import numpy as np
import pandas as pd

from lsstudy.evaluate import points_mask
from lsstudy.ladder import EXACT, LADDER, ORDER, PAPER_PROTOCOL
from lsstudy.report import components, inference, sanity
from lsstudy.report.style import BASELINES, arch_order, eps_label, method_order

KEYS = ["dataset", "arch", "method", "alpha", "temperature", "seed", "checkpoint"]
VERDICT_COLUMNS = [*KEYS, "eps", "clean_accuracy", "fgsm_accuracy", "paper_protocol_accuracy",
                   "robust_accuracy", "exact_accuracy", "breaks", *sanity.FLAGS, "masking_suspected", "reasons"]


def _accuracy(rows: pd.DataFrame, attack: str, eps: float) -> float:
    """The accuracy of ``attack``'s one row at ``eps`` among one model's rows (NaN if absent)."""
    found = rows.loc[(rows["attack"] == attack) & np.isclose(rows["eps"], eps), "accuracy"]
    return float(found.iloc[0]) if len(found) else np.nan


def _points(rows: pd.DataFrame, attack: str, eps: float) -> str:
    """The robust_points of ``attack``'s one row at ``eps`` among one model's rows."""
    return rows.loc[(rows["attack"] == attack) & np.isclose(rows["eps"], eps), "robust_points"].iloc[0]


def _attacks_at(rows: pd.DataFrame, eps: float) -> dict[tuple[str, str], str]:
    """(attack, loss) -> robust_points of the ladder's attacks at ``eps`` (not the exact worst case: off it)."""
    at = rows[np.isclose(rows["eps"], eps) & (rows["attack"] != "clean")]
    return {(r.attack, r.loss): r.robust_points for r in at.itertuples() if (r.attack, r.loss) != EXACT}


def breaks(attacks: dict[tuple[str, str], str], clean: str) -> str:
    """How many points each attack of the ladder broke that every attack before it left robust (the first: that
    were correct ``clean``), in the ladder's order, as "bim (smoothed) 31, pgd (margin) 4" (attacks that broke
    none left out)."""
    left, counts = points_mask(clean).numpy(), []
    for pair in [pair for pair in ORDER if pair in attacks]:
        survived = left & points_mask(attacks[pair]).numpy()
        if broken := int(left.sum() - survived.sum()):
            counts.append(f"{pair[0]} ({pair[1]}) {broken}")
        left = survived
    return ", ".join(counts)


def verdict_table(results: pd.DataFrame, strong: dict, unbounded_max: float, level: float) -> pd.DataFrame:
    """One row per (checkpoint, eps of ``strong["eps"]``) of the attack table ``results``; columns
    ``VERDICT_COLUMNS``. ``strong`` is params.yaml's ``attack.strong``; the sanity checks compare each model with
    the unsmoothed models of the same arch and eps, its own seed left out, at one-sided ``level``."""
    everything = results[results["class"] == "all"]
    rows, measured = [], []  # the checks need every plain model's counts first
    for keys, model in everything.groupby(KEYS, sort=False):
        smaller = None  # the attacks at the next smaller eps: the checks across eps compare with it
        for eps in sorted(strong["eps"]):
            attacks, exact = _attacks_at(model, eps), _accuracy(model, EXACT[0], eps)
            if not attacks:
                raise ValueError(f"eps={eps!r} of attack.strong.eps has no results for {keys[-1]}; rerun the attack stage")
            rows.append({
                **dict(zip(KEYS, keys)), "eps": eps,
                "clean_accuracy": _accuracy(model, "clean", 0.0),
                "fgsm_accuracy": sanity.accuracy(attacks, [("fgsm", "ce")]),  # FGSM runs on every point
                "paper_protocol_accuracy": sanity.accuracy(attacks, [PAPER_PROTOCOL]),  # the ladder's first
                "robust_accuracy": sanity.accuracy(attacks, list(attacks)),
                "exact_accuracy": exact,
                "breaks": breaks(attacks, _points(model, "clean", 0.0)),
            })
            measured.append((attacks, smaller, _accuracy(model, "unbounded", strong["unbounded_eps"]),
                             sanity.counts(attacks, smaller)))
            smaller = attacks
    for row, (attacks, smaller, unbounded, _) in zip(rows, measured):
        reference = [plain for other, (*_, plain) in zip(rows, measured) if other["method"] == "none"
                     and other["checkpoint"] != row["checkpoint"] and (other["dataset"], other["arch"], other["eps"])
                     == (row["dataset"], row["arch"], row["eps"])]
        row.update(sanity.check(attacks, unbounded, unbounded_max, row["exact_accuracy"], smaller, reference, level))
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def ladder_masks(results: pd.DataFrame, strong_eps: list[float]) -> pd.DataFrame:
    """Long table: per model (checkpoint), eps and step of ``LADDER``, the points left robust by every
    attack of that step and of the steps before it (``robust``, a boolean array) and their share
    (``accuracy``). A step whose attacks were not run repeats the step before."""
    everything = results[results["class"] == "all"]
    rows = []
    for keys, model in everything.groupby(KEYS, sort=False):
        for eps in strong_eps:
            attacks = _attacks_at(model, eps)
            robust = None
            for order, (step, pairs) in enumerate(LADDER):
                for pair in pairs:
                    if pair in attacks:
                        mask = points_mask(attacks[pair]).numpy()
                        robust = mask if robust is None else robust & mask
                rows.append({**dict(zip(KEYS, keys)), "eps": eps, "order": order, "step": step, "robust": robust,
                             "accuracy": float(robust.mean()) if robust is not None else np.nan})
    return pd.DataFrame(rows)


CONFIGURATION = ["dataset", "arch", "method", "alpha", "temperature"]
FAMILIES = ("every attack", "paper's protocol", "baselines", "other methods")


def hypotheses(dataset: str, archs: list[str], primary: list[str], strong_eps: list[float]) -> pd.DataFrame:
    """The study's primary hypotheses, from its parameters alone (before any result): each method of
    ``primary`` (``verdict.primary``) at its chosen configuration against no smoothing, under every attack, at
    each eps of ``attack.strong.eps``, per arch. Holm corrects them as one family, "every attack"."""
    return pd.DataFrame([{"dataset": dataset, "arch": arch, "method": method, "eps": eps, "against": "none",
                          "evaluation": LADDER[-1][0]}
                         for arch in archs for eps in strong_eps for method in primary])


def _family(kind: str, method: str, order: int, first: int, last: int, primary: list[str]) -> str:
    """Which family of calls a row belongs to ("" for the ladder's steps between its ends, not called): the
    primary methods under every attack (the study's question), label smoothing under the paper's protocol (the
    reproduction), the baseline defences at both ends (the evaluation's controls), and smoothing methods left out
    of ``primary`` under every attack. Each family has its own Holm correction, so a question is not made harder
    to answer by calls of another kind."""
    if order not in (first, last):
        return ""
    if kind == "baseline defence":
        return "baselines"
    if order == last:
        return "every attack" if method in primary else "other methods"
    return "paper's protocol"


def _check_family(rows: list[dict], expected: pd.DataFrame) -> None:
    """The "every attack" family must be exactly the hypotheses fixed in advance: one with no data is an error,
    not a smaller family (which would make the others easier to call)."""
    found = {(r["arch"], r["method"], round(r["eps"], 9)) for r in rows if r["family"] == "every attack"}
    wanted = {(a, m, round(e, 9)) for a, m, e in expected[["arch", "method", "eps"]].itertuples(index=False)}
    if missing := sorted(wanted - found):
        raise ValueError(f"the primary hypotheses (verdict.primary) {missing} have no comparison with no smoothing "
                         "of the same seeds in the confirm stage's table; rerun the confirm stage")


def gains(masks: pd.DataFrame, chosen: pd.DataFrame, level: float, delta: float,
          primary: pd.DataFrame | None = None) -> pd.DataFrame:
    """For each method at its ``chosen`` configuration (columns of ``CONFIGURATION`` and eps), its gain over the
    unsmoothed model of the same arch and seed at each step of the ladder (``ladder_masks``): the gain in
    robust accuracy, its variance components over seeds and points, the (1 - ``level``) t-interval, the
    p-values of no difference and of a gain of ``delta`` or more (``lsstudy.report.inference``). The first step (the
    paper's protocol) and the last (every attack) are called, Holm-corrected within their ``family``
    (``FAMILIES``); the steps between show how the gain falls and are "not called". ``primary`` is the family
    fixed in advance (``hypotheses``; None: every smoothing method present). Seeds without an unsmoothed model
    are left out."""
    at = masks.merge(chosen[CONFIGURATION + ["eps"]], on=CONFIGURATION + ["eps"])
    plain = masks[masks["method"] == "none"].set_index(["arch", "eps", "order", "seed"])["robust"]
    first, last = masks["order"].min(), masks["order"].max()
    methods = list(primary["method"].unique()) if primary is not None else list(at["method"].unique())
    rows, pairs = [], []
    for (arch, method, alpha, temperature, eps, order, step), group in at[at["method"] != "none"].groupby(
            ["arch", "method", "alpha", "temperature", "eps", "order", "step"], sort=False):
        group = group[[(arch, eps, order, s) in plain.index for s in group["seed"]]].sort_values("seed")
        if group.empty:
            continue
        method_masks = np.stack(group["robust"].to_numpy())
        none_masks = np.stack([plain[(arch, eps, order, s)] for s in group["seed"]])
        pairs.append((method_masks, none_masks))
        kind = "baseline defence" if method in BASELINES else "label smoothing"
        rows.append({"dataset": group["dataset"].iloc[0], "arch": arch, "method": method, "alpha": alpha,
                     "temperature": temperature, "eps": eps, "order": order, "step": step,
                     "accuracy": method_masks.mean(), "accuracy_none": none_masks.mean(), "kind": kind,
                     "family": _family(kind, method, order, first, last, methods)})
    if not rows:
        raise ValueError("no method has an unsmoothed model of the same seed to compare with")
    if primary is not None:
        _check_family(rows, primary)
    stats: list = [None] * len(rows)
    for name in [*FAMILIES, ""]:
        members = [i for i, row in enumerate(rows) if row["family"] == name]
        if members:
            found = inference.family([pairs[i] for i in members], delta, level, called=[bool(name)] * len(members))
            for i, stat in zip(members, found):
                stats[i] = stat
    out = pd.DataFrame([{**row, **stat} for row, stat in zip(rows, stats)])
    rank = {method: i for i, method in enumerate(method_order(out["method"]))} | {
        arch: i for i, arch in enumerate(arch_order(out["arch"]))}
    return out.sort_values(["arch", "eps", "method", "order"], key=lambda c: c.map(rank) if c.name in ("arch", "method")
                           else c, ignore_index=True)


def calls(gains_table: pd.DataFrame, family: str = "every attack") -> int:
    """How many comparisons ``family`` calls (each is two tests in its Holm correction)."""
    return int((gains_table["family"] == family).sum())


def variance_components(gains_table: pd.DataFrame) -> pd.DataFrame:
    """Per comparison of the study's question (label smoothing under every attack): how much of its gain's
    variance comes from training seeds and how much from test points (``lsstudy.report.components``), as components
    and as shares of the variance of the mean gain of this design."""
    rows = gains_table[gains_table["family"] == "every attack"]
    out = rows[["dataset", "arch", "eps", "method", "alpha", "temperature", "seeds", "points", "gain", "se",
                "var_seed", "var_point", "var_residual"]].copy()
    variance = out["se"] ** 2
    out["share_seeds"] = (out["var_seed"] / out["seeds"]) / variance
    out["share_points"] = (out["var_point"] / out["points"]) / variance
    out["share_residual"] = (out["var_residual"] / (out["seeds"] * out["points"])) / variance
    return out.reset_index(drop=True)


def power(gains_table: pd.DataFrame, level: float, delta: float, points_available: int) -> pd.DataFrame:
    """Per dataset, arch and eps, for the calls of the study's question (label smoothing under every attack):
    the design (seeds x points), the median standard error over the methods, the smallest gain it detects with
    80% power at Holm's strictest step (``level`` / tests of the family) by the t approximation and the power a
    simulation of that design finds there (from the components of the comparison of median standard error,
    ``inference.simulated_power``), and the seeds a gain of ``delta`` would need at this many points and at all
    ``points_available``."""
    rows = gains_table[gains_table["family"] == "every attack"]
    strictest = level / (2 * len(rows))
    out = []
    for (dataset, arch, eps), group in rows.groupby(["dataset", "arch", "eps"], sort=False):
        typical = group.iloc[(group["se"] - group["se"].median()).abs().argsort().iloc[0]]
        c = components.Components(int(typical["seeds"]), int(typical["points"]), typical["gain"], typical["var_seed"],
                                  typical["var_point"], typical["var_residual"], typical["se"], typical["df"])
        detectable = inference.min_detectable_gain(c.se, c.df, strictest)
        out.append({"dataset": dataset, "arch": arch, "eps": eps, "seeds": c.seeds, "points": c.points,
                    "se": group["se"].median(), "tests_in_family": 2 * len(rows), "level_strictest": strictest,
                    "min_detectable_gain": detectable,
                    "simulated_power": inference.simulated_power(c, detectable, strictest, runs=1000),
                    "delta": delta, "seeds_for_delta": inference.seeds_needed(c, delta, c.points, strictest),
                    "points_available": points_available,
                    "seeds_for_delta_all_points": inference.seeds_needed(c, delta, points_available, strictest)})
    return pd.DataFrame(out)


def reproduction(masks: pd.DataFrame, level: float, delta: float) -> pd.DataFrame:
    """The paper's own evaluation on the grid, labelled as such: each method at the alpha (and BLS
    temperature) with the highest mean accuracy under the paper's protocol (the ladder's first step of
    ``masks``) on the very points then reported (the paper's choice: it flatters every method; ties go to
    the smaller alpha, then temperature), and its gain under that protocol, with its t-interval (not
    corrected, and not called: a choice made on the reported points is no evidence)."""
    configuration = CONFIGURATION + ["eps"]
    paper = masks[masks["order"] == 0]
    means = paper.groupby(configuration, as_index=False)["accuracy"].mean().sort_values(configuration)
    best = means.loc[means.groupby(["dataset", "arch", "method", "eps"])["accuracy"].idxmax()]
    table = gains(paper, best, level, delta)
    return table.drop(columns=["family", "p_holm", "p_below_holm", "largest_gain_not_excluded", "call"]).rename(
        columns={"step": "protocol"})


def metrics(verdict: pd.DataFrame, chosen: pd.DataFrame) -> dict:
    """The DVC metrics (``dvc metrics show``): per arch, eps and method at its chosen configuration, the mean
    over seeds of the clean and the robust accuracy (the per-point worst case over every attack). A few
    numbers a user compares across experiments; everything else stays in the tables."""
    at = verdict.merge(chosen[CONFIGURATION + ["eps"]], on=CONFIGURATION + ["eps"])
    means = at.groupby(["arch", "eps", "method"], sort=False)[["clean_accuracy", "robust_accuracy"]].mean()
    out: dict = {}
    for (arch, eps, method), row in means.iterrows():
        out.setdefault(arch, {}).setdefault(f"eps{eps:g}", {})[method] = {
            "clean": round(float(row["clean_accuracy"]), 4), "robust": round(float(row["robust_accuracy"]), 4)}
    return out


def _interval(row) -> str:
    return f"{row.gain:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]"


def _chosen(row, alphas: list[float]) -> str:
    """The chosen alpha (and BLS temperature), marked where it is the largest alpha of the grid: a larger one,
    never tried, might have done better."""
    text = f"{row['alpha']:g}" + (f" ({row['temperature']:g})" if row["method"] == "boltzmann" else "")
    at_edge = row["kind"] == "label smoothing" and np.isclose(row["alpha"], max(alphas))
    return text + (" (grid's edge)" if at_edge else "")


def summary(gains_table: pd.DataFrame, reproduced: pd.DataFrame, confirmed: pd.DataFrame,
            alphas: list[float]) -> pd.DataFrame:
    """The verdict in one table, per arch, eps and method: the paper's own choice and protocol
    (``reproduction``), then each method at its configuration chosen on the selection points: its gain under
    the paper's protocol and under every attack with AutoAttack (interval and call; where unresolved, the
    largest gain its family does not exclude), and how many of its seeds a sanity check flags (``confirmed``:
    ``verdict_table`` of the confirm stage). A choice at the largest of the grid's ``alphas`` is marked
    "(grid's edge)"."""
    first, last = gains_table["order"].min(), gains_table["order"].max()
    flagged = confirmed.groupby(CONFIGURATION + ["eps"], sort=False)["masking_suspected"].agg(["sum", "count"])
    rows = []
    for key, group in gains_table.groupby(["arch", "eps", "method"], sort=False):
        paper, every = group[group["order"] == first].iloc[0], group[group["order"] == last].iloc[0]
        repro = reproduced[(reproduced["arch"] == key[0]) & np.isclose(reproduced["eps"], key[1])
                           & (reproduced["method"] == key[2])]
        flags = flagged.loc[tuple(every[c] for c in CONFIGURATION) + (every["eps"],)]
        rows.append({
            "arch": key[0], "eps": eps_label(key[1]), "method": key[2],
            "paper's choice": f"{repro['alpha'].iloc[0]:g}" if len(repro) else "",
            "paper's gain (its choice, its protocol)": _interval(repro.iloc[0]) if len(repro) else "",
            "chosen alpha (T)": _chosen(every, alphas),
            "gain, paper's protocol": _interval(paper), "call (paper's protocol)": paper["call"],
            "gain, every attack + AutoAttack": _interval(every), "call": every["call"],
            "largest gain not excluded": (f"{every['largest_gain_not_excluded']:+.3f}"
                                          if every["call"] == "unresolved" else ""),
            "robust accuracy (none)": f"{every['accuracy']:.3f} ({every['accuracy_none']:.3f})",
            "seeds flagged": f"{int(flags['sum'])}/{int(flags['count'])}",
        })
    return pd.DataFrame(rows)
