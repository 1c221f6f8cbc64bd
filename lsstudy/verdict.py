"""The verdict: what survives of label smoothing's robustness once the evaluation is strong.

``verdict_table`` gives one row per (checkpoint, eps of ``attack.strong.eps``): clean accuracy, FGSM,
the paper's protocol, the robust accuracy (the per-point worst case over every attack: a point counts
only if every attack failed on it), the single strongest attack and the sanity flags of
``lsstudy.sanity``. ``ladder`` and ``gains`` turn it into gains over no smoothing, mean and 95% interval
over seeds, one step of the evaluation protocol at a time.
"""

import numpy as np
import pandas as pd

from lsstudy import sanity
from lsstudy.statistics import half_width
from lsstudy.style import BASELINES

KEYS = ["dataset", "arch", "method", "alpha", "temperature", "seed", "checkpoint"]
PAPER_PROTOCOL = ("bim", "smoothed")  # the paper's strongest Linf attack, on the model's own smoothed loss

# The evaluation, made stronger one step at a time; each step is the per-point worst case over its
# attacks and those of every step before, so the accuracy can only go down the ladder.
LADDER = [
    ("paper: BIM on the smoothed loss", [PAPER_PROTOCOL]),
    ("+ BIM on cross-entropy", [("bim", "ce"), ("fgsm", "ce"), ("fgsm", "smoothed")]),
    ("+ PGD-CE, restarts, 2x steps", [("pgd", "ce"), ("pgd_more", "ce"), ("apgd", "ce")]),
    ("+ margin losses (PGD-CW, APGD-DLR)", sanity.MARGIN_LOSS),
    ("+ black box and transfer (all attacks)", sanity.BLACK_BOX),
]
VERDICT_COLUMNS = [*KEYS, "eps", "clean_accuracy", "fgsm_accuracy", "paper_protocol_accuracy",
                   "robust_accuracy", "strongest_attack", *sanity.FLAGS, "masking_suspected", "reasons"]


def _accuracy(rows: pd.DataFrame, attack: str, eps: float) -> float:
    """The accuracy of ``attack``'s one row at ``eps`` among one model's rows (NaN if absent)."""
    found = rows.loc[(rows["attack"] == attack) & np.isclose(rows["eps"], eps), "accuracy"]
    return float(found.iloc[0]) if len(found) else np.nan


def _attacks_at(rows: pd.DataFrame, eps: float) -> dict[tuple[str, str], str]:
    at = rows[np.isclose(rows["eps"], eps) & (rows["attack"] != "clean")]
    return {(r.attack, r.loss): r.robust_points for r in at.itertuples()}


def verdict_table(results: pd.DataFrame, strong: dict, tolerance: float, unbounded_max: float) -> pd.DataFrame:
    """One row per (checkpoint, eps of ``strong["eps"]``) of the attack table ``results``; columns
    ``VERDICT_COLUMNS``. ``strong`` is params.yaml's ``attack.strong``."""
    everything = results[results["class"] == "all"]
    rows = []
    for keys, model in everything.groupby(KEYS, sort=False):
        for eps in strong["eps"]:
            attacks = _attacks_at(model, eps)
            if not attacks:
                raise ValueError(f"eps={eps!r} of attack.strong.eps has no results for {keys[-1]}; rerun the attack stage")
            single = {pair: sanity.accuracy(attacks, [pair]) for pair in attacks}
            strongest = min(single, key=single.get)
            rows.append({
                **dict(zip(KEYS, keys)), "eps": eps,
                "clean_accuracy": _accuracy(model, "clean", 0.0),
                "fgsm_accuracy": single.get(("fgsm", "ce"), np.nan),
                "paper_protocol_accuracy": single.get(PAPER_PROTOCOL, np.nan),
                "robust_accuracy": sanity.accuracy(attacks, list(attacks)),
                "strongest_attack": f"{strongest[0]} ({strongest[1]})",
                **sanity.check(attacks, _accuracy(model, "unbounded", strong["unbounded_eps"]), tolerance, unbounded_max),
            })
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def ladder(results: pd.DataFrame, strong_eps: list[float]) -> pd.DataFrame:
    """Long table: per checkpoint, eps and step of ``LADDER``, the accuracy left by the worst case over
    that step's attacks and every earlier step's."""
    everything = results[results["class"] == "all"]
    rows = []
    for keys, model in everything.groupby(KEYS, sort=False):
        for eps in strong_eps:
            attacks = _attacks_at(model, eps)
            pairs: list[tuple[str, str]] = []
            for order, (step, step_pairs) in enumerate(LADDER):
                pairs += step_pairs
                rows.append({**dict(zip(KEYS, keys)), "eps": eps, "order": order, "step": step,
                             "accuracy": sanity.accuracy(attacks, pairs)})
    return pd.DataFrame(rows)


def paper_alpha(verdict: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, method, eps): the alpha and temperature with the highest mean accuracy over
    seeds under the paper's protocol, the choice the paper's evaluation would make (ties: the smaller
    alpha, then temperature). The baselines and no smoothing have one configuration each."""
    model = ["dataset", "arch", "method", "eps", "alpha", "temperature"]
    means = verdict.groupby(model, as_index=False)["paper_protocol_accuracy"].mean().sort_values(model)
    best = means.loc[means.groupby(["dataset", "arch", "method", "eps"])["paper_protocol_accuracy"].idxmax()]
    return best[model].reset_index(drop=True)


def gains(ladder_rows: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """Gain in accuracy over no smoothing (same arch, seed and eps), per step of the ladder, for each
    method at its ``chosen`` alpha (``paper_alpha``): mean and 95% t-interval over seeds, and the
    call: "gain" or "loss" when the interval excludes 0, "no gain" otherwise (a gain smaller than
    its interval is no gain)."""
    at = ladder_rows.merge(chosen, on=list(chosen.columns))
    plain = ladder_rows[ladder_rows["method"] == "none"][["dataset", "arch", "seed", "eps", "step", "accuracy"]]
    paired = at[at["method"] != "none"].merge(plain, on=["dataset", "arch", "seed", "eps", "step"],
                                             suffixes=("", "_none"))
    paired["gain"] = paired["accuracy"] - paired["accuracy_none"]
    by = ["dataset", "arch", "method", "alpha", "temperature", "eps", "order", "step"]
    out = (paired.groupby(by, sort=False)
           .agg(accuracy=("accuracy", "mean"), accuracy_none=("accuracy_none", "mean"), gain=("gain", "mean"),
                half_width=("gain", half_width), seeds=("gain", "count"))
           .reset_index())
    low, high = out["gain"] - out["half_width"], out["gain"] + out["half_width"]
    out["call"] = np.select([low > 0, high < 0], ["gain", "loss"], "no gain")
    out.loc[out["half_width"].isna(), "call"] = "one seed: no interval"
    out["kind"] = np.where(out["method"].isin(BASELINES), "baseline defence", "label smoothing")
    return out.sort_values(["arch", "eps", "method", "order"], ignore_index=True)


def metrics(verdict: pd.DataFrame, chosen: pd.DataFrame) -> dict:
    """The DVC metrics (``dvc metrics show``): per arch, eps and method at its chosen alpha, the mean over
    seeds of the clean and the robust accuracy (the per-point worst case over every attack). A few numbers
    a user compares across experiments; everything else stays in the tables."""
    at = verdict.merge(chosen, on=list(chosen.columns))
    means = at.groupby(["arch", "eps", "method"], sort=False)[["clean_accuracy", "robust_accuracy"]].mean()
    out: dict = {}
    for (arch, eps, method), row in means.iterrows():
        out.setdefault(arch, {}).setdefault(f"eps{eps:g}", {})[method] = {
            "clean": round(float(row["clean_accuracy"]), 4), "robust": round(float(row["robust_accuracy"]), 4)}
    return out
