"""The unit of evaluation: every attack of the study on one trained model (a pure function for the engine).

Also the unit that crafts the transfer examples on an arch's source model, once, before the models of
that arch are evaluated.
"""

import pandas as pd
import torch

from lsstudy import baselines, ladder, models
from lsstudy.attacks.exact import AFFINE_ARCHS
from lsstudy.attacks.gradient import pgd
from lsstudy.diagnostics import point_diagnostics
from lsstudy.evaluate import evaluate, row_key
from lsstudy.grid.runs import RunConfig
from lsstudy.runtime import default_device


def attack_specs(attack: dict) -> tuple[list[dict], list[dict]]:
    """(bounded Linf attacks over the eps grid, minimum-norm attacks) of params.yaml's ``attack`` section,
    as ``evaluate`` specs."""
    eps = attack["eps"]
    linf = []
    for loss in attack["protocols"]:
        linf.append({"attack": "fgsm", "eps": eps, "loss": loss})
        linf.append({"attack": "bim", "eps": eps, "loss": loss, "steps": attack["bim_steps"]})
    min_norm = [{"attack": "deepfool", **attack["deepfool"]}, {"attack": "cw_l2", **attack["cw_l2"]}]
    return linf, min_norm


def strong_specs(strong: dict, source=None) -> list[dict]:
    """The strong evaluation at each eps of ``attack.strong.eps``, as ``evaluate`` specs.

    Rows are named by attack and loss: pgd (ce, margin), pgd_more (ce, twice the steps: the
    convergence check), apgd (ce, dlr), square (margin, black box), transfer (ce, crafted on
    ``source``; None: the examples of the unit's context), and unbounded (PGD-CE at ``unbounded_eps``,
    where a working attack leaves ~0).
    """
    eps, budget = strong["eps"], strong["pgd"]
    return [
        {"attack": "pgd", "eps": eps, "loss": "ce", **budget},
        {"attack": "pgd", "eps": eps, "loss": "margin", **budget},
        {"attack": "pgd", "name": "pgd_more", "eps": eps, "loss": "ce", "steps": 2 * budget["steps"],
         "restarts": budget["restarts"]},
        {"attack": "apgd", "eps": eps, "loss": "ce", "steps": strong["apgd_steps"]},
        {"attack": "apgd", "eps": eps, "loss": "dlr", "steps": strong["apgd_steps"]},
        {"attack": "square", "eps": eps, "queries": strong["square_queries"]},
        {"attack": "transfer", "eps": eps, "source": source},
        {"attack": "pgd", "name": "unbounded", "eps": [strong["unbounded_eps"]], "loss": "ce", **budget},
    ]


def selection_specs(attack: dict) -> list[dict]:
    """What chooses each method's configuration: BIM on ``attack.selection.loss`` at each strong eps."""
    return [{"attack": "bim", "eps": attack["strong"]["eps"], "loss": attack["selection"]["loss"],
             "steps": attack["bim_steps"]}]


def grid_plan(attack: dict) -> dict:
    """What the attack stage runs on every model of the grid: the paper's attacks (FGSM and BIM over the eps
    grid under both protocols, the minimum-norm attacks on the first ``min_norm_size`` points) and the
    selection attack. The strong evaluation runs where the verdict is made (``confirm_plan``)."""
    linf, min_norm = attack_specs(attack)
    return {"linf": linf, "cascade": False, "min_norm": min_norm,
            "min_norm_size": attack["min_norm_size"], "selection": selection_specs(attack),
            "batch_size": attack["batch_size"]}


def autoattack_repeats(strong: dict, autoattack: dict) -> list[str]:
    """AutoAttack's components that the strong evaluation already runs with the same settings and seed: its
    APGD-CE (one restart) when ``apgd_steps`` equals its steps, its Square when ``square_queries`` equals its
    queries. A cascade that ran those need not run them again."""
    repeats = []
    if strong["apgd_steps"] == autoattack["steps"]:
        repeats.append("apgd-ce")
    if strong["square_queries"] == autoattack["queries"]:
        repeats.append("square")
    return repeats


def confirm_plan(attack: dict, confirm: dict) -> dict:
    """What the confirm stage runs on the chosen configurations, as a cascade in the ladder's order
    (``lsstudy.ladder``): at each strong eps, BIM and FGSM (both protocols; FGSM on every point, so its own
    accuracy stays known), the strong evaluation and AutoAttack's ensemble at ``confirm.autoattack``'s budgets,
    less the components the strong evaluation already ran (``autoattack_repeats``); and, off the ladder, the
    exact worst case on every point, which ``evaluate_model`` runs on the affine models only."""
    eps = attack["strong"]["eps"]
    specs = [{"attack": "fgsm", "eps": eps, "loss": loss, "standalone": True} for loss in attack["protocols"]]
    specs += [{"attack": "bim", "eps": eps, "loss": loss, "steps": attack["bim_steps"]} for loss in attack["protocols"]]
    specs += strong_specs(attack["strong"])
    specs.append({"attack": "autoattack", "eps": eps, **confirm["autoattack"],
                  "skip": autoattack_repeats(attack["strong"], confirm["autoattack"])})
    specs.append({"attack": "exact", "eps": eps, "standalone": True})
    rank = {pair: i for i, pair in enumerate(ladder.ORDER)}
    linf = sorted(specs, key=lambda spec: rank.get(row_key(spec), len(rank)))  # off the ladder (unbounded): last
    return {"linf": linf, "cascade": True, "min_norm": [], "min_norm_size": 0, "selection": [],
            "batch_size": attack["batch_size"]}


def attacked_smoothing(run: RunConfig) -> dict:
    """The loss the paper's protocol attacks: the model's own smoothed loss; plain cross-entropy for the
    baselines, as they are deployed."""
    if run.method in baselines.BASELINES:
        return {"method": "none", "alpha": 0.0, "temperature": 1.0}
    return {"method": run.method, "alpha": run.alpha, "temperature": run.temperature}


def craft_transfer(payload: dict, context: dict) -> dict[float, torch.Tensor]:
    """PGD examples at each eps of ``payload["eps"]`` on the source model (``payload["meta"]``,
    ``payload["state_dict"]``), for the attacked test points ``context["test"]``; on the CPU."""
    source = models.from_state(payload["meta"], payload["state_dict"]).to(default_device())
    x, y = (t.to(default_device()) for t in context["test"])
    generator = torch.Generator(device=x.device).manual_seed(payload["seed"])
    return {float(eps): pgd(source, x, y, eps, steps=payload["steps"], restarts=payload["restarts"], loss="ce",
                            generator=generator).cpu() for eps in payload["eps"]}


def evaluate_model(payload: dict, context: dict) -> dict:
    """The attacks of ``payload["plan"]`` (``grid_plan`` or ``confirm_plan``) on the model of ``payload["run"]``
    (weights in ``payload["meta"]`` and ``payload["state_dict"]``).

    ``context``: {"test": (x, y), the attacked points; "selection": (x, y), the points that choose
    configurations; "transfer": {arch: CraftedExamples}, the examples ``craft_transfer`` made on each arch's
    source for the attacked points}.
    Returns {"attacks": evaluate's table, "selection": the selection attack's table (None without one),
    "diagnostics": point_diagnostics on the attacked points, "seconds": {(attack, loss, eps): seconds}}.
    """
    run: RunConfig = payload["run"]
    plan = payload["plan"]
    model = models.from_state(payload["meta"], payload["state_dict"]).to(default_device())
    x, y = context["test"]
    linf = [{**spec, "source": context["transfer"][run.arch]} if spec["attack"] == "transfer" else spec
            for spec in plan["linf"] if spec["attack"] != "exact" or run.arch in AFFINE_ARCHS]
    options = {"smoothing": attacked_smoothing(run), "batch_size": plan["batch_size"], "seed": run.seed,
               "progress": False}
    seconds: dict = {}
    tables = [evaluate(model, x, y, linf, timings=seconds, cascade=plan["cascade"], **options)]
    if plan["min_norm"]:
        n = plan["min_norm_size"]
        tables.append(evaluate(model, x[:n], y[:n], plan["min_norm"], timings=seconds, **options)
                      .query("attack != 'clean'"))
    selection = None
    if plan["selection"]:
        selection = evaluate(model, *context["selection"], plan["selection"], **options)
    return {"attacks": pd.concat(tables, ignore_index=True), "selection": selection,
            "diagnostics": point_diagnostics(model, x, y), "seconds": seconds}
