"""The unit of evaluation: every attack of the study on one trained model (a pure function for the engine).

Also the unit that crafts the transfer examples on an arch's source model, once, before the models of
that arch are evaluated.
"""

import pandas as pd
import torch

from lsstudy import baselines, models
from lsstudy.attacks.gradient import pgd
from lsstudy.diagnostics import point_diagnostics
from lsstudy.evaluate import evaluate
from lsstudy.grid import RunConfig
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


def strong_specs(strong: dict, source) -> list[dict]:
    """The strong evaluation at each eps of ``attack.strong.eps``, as ``evaluate`` specs.

    Rows are named by attack and loss: pgd (ce, margin), pgd_more (ce, twice the steps: the
    convergence check), apgd (ce, dlr), square (margin, black box), transfer (ce, crafted on
    ``source``), and unbounded (PGD-CE at ``unbounded_eps``, where a working attack leaves ~0).
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
    """Every attack of ``payload["attack"]`` (params.yaml's attack section) on the model of
    ``payload["run"]`` (weights in ``payload["meta"]``, ``payload["state_dict"]``).

    ``context``: {"test": (x, y), the attacked test points; "transfer": {arch: CraftedExamples}}, the
    examples ``craft_transfer`` made on each arch's source.
    Returns {"attacks": evaluate's table with the model's settings, "diagnostics": point_diagnostics,
    "seconds": {(attack, loss, eps): seconds}}.
    """
    run: RunConfig = payload["run"]
    attack = payload["attack"]
    model = models.from_state(payload["meta"], payload["state_dict"]).to(default_device())
    x, y = context["test"]
    linf, min_norm = attack_specs(attack)
    options = {"smoothing": attacked_smoothing(run), "batch_size": attack["batch_size"], "seed": run.seed,
               "progress": False}
    seconds: dict = {}
    n = attack["min_norm_size"]
    rows = pd.concat([
        evaluate(model, x, y, linf + strong_specs(attack["strong"], context["transfer"][run.arch]), timings=seconds,
                 **options),
        evaluate(model, x[:n], y[:n], min_norm, timings=seconds, **options).query("attack != 'clean'"),
    ], ignore_index=True)
    return {"attacks": rows, "diagnostics": point_diagnostics(model, x, y), "seconds": seconds}
