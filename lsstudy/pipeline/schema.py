"""The typed schema of params.yaml (pydantic, strict): its sections (engine, data, one study's base, train, attack,
confirm, figures and verdict, each toy's) and the rules across keys of one study or toy, each problem a location,
the value and what is allowed. ``lsstudy.pipeline.params`` checks the file with them.
"""

from typing import Annotated

from lsstudy import data
from lsstudy.pipeline.rules import (Alpha, Arch, Baseline, Count, Dataset, Eps, Executor, Format, Fraction, GpuShare,
                                    HoldOut, Index, Method, NonNegative, Positive, Protocol, Rate, Section, choice,
                                    finite, non_empty, rule)
from lsstudy.train import PRECISIONS, SCHEDULES


# ---- engine and data ------------------------------------------------------------------------------

class Engine(Section):
    executor: Executor
    workers: Annotated[int | str, rule(lambda v: v == "auto" or (isinstance(v, int) and v >= 1),
                                        "it must be an integer >= 1 or 'auto' (one per core)")]
    threads_per_unit: Count
    gpus_per_unit: GpuShare
    stack: Count


class Data(Section):
    root: str
    download: bool


# ---- one study ------------------------------------------------------------------------------------

class Base(Section):
    dataset: Dataset
    seeds: non_empty(Index)
    test_offset: Index
    test_size: Count


class PgdTraining(Section):
    eps: Eps
    steps: Count
    start_epoch: Count


class Distillation(Section):
    temperature: Positive
    lr: dict[str, Rate]


class ScaledLogitsControl(Section):
    scale: Positive


class Train(Section):
    archs: non_empty(Arch)
    methods: non_empty(Method)
    alphas: non_empty(Alpha)
    temperature: Positive
    bls_alpha: Alpha
    bls_temperatures: non_empty(Positive)
    baselines: list[Baseline]
    pgd_training: PgdTraining
    distillation: Distillation
    scaled_logits: ScaledLogitsControl
    transfer_seed: Index
    epochs: Count
    lr: Rate
    momentum: Annotated[float, rule(lambda v: finite(v) and 0 <= v <= 1, "it must be a number in [0, 1]")]
    batch_size: Count
    val_fraction: HoldOut
    patience: Count
    plateau_loss: Annotated[str, choice(lambda: ["ce", "smoothed"])]
    schedule: Annotated[str, choice(lambda: SCHEDULES)]
    precision: Annotated[str, choice(lambda: PRECISIONS)]


class DeepFool(Section):
    steps: Count
    overshoot: NonNegative


class CarliniWagner(Section):
    steps: Count
    search_steps: Count
    lr: Positive
    c: Positive
    kappa: NonNegative


class Budget(Section):
    steps: Count
    restarts: Count


class Strong(Section):
    eps: non_empty(Eps)
    pgd: Budget
    apgd_steps: Count
    square_queries: Count
    transfer: Budget
    unbounded_eps: Eps


class Selection(Section):
    offset: Index
    size: Count
    loss: Annotated[str, choice(lambda: ["margin", "ce"])]


class Attack(Section):
    eps: non_empty(Eps)
    protocols: non_empty(Protocol)
    bim_steps: Count
    batch_size: Count
    min_norm_size: Count
    deepfool: DeepFool
    cw_l2: CarliniWagner
    strong: Strong
    selection: Selection


class Figures(Section):
    table_eps: Eps
    alpha_figure_eps: non_empty(Eps)
    heatmap_eps: Eps
    formats: non_empty(Format)


class Verdict(Section):
    unbounded_max: Fraction
    level: Annotated[float, rule(lambda v: finite(v) and 0 < v < 1, "it must be a number in (0, 1)")]
    delta: Annotated[float, rule(lambda v: finite(v) and 0 < v < 1, "it must be a number in (0, 1)")]
    primary: non_empty(Method)


class AutoAttackBudget(Section):
    steps: Count
    targets: Annotated[int, rule(lambda v: 1 <= v <= 9, "it must be an integer in [1, 9] (target classes)")]
    queries: Count


class Confirm(Section):
    seeds: non_empty(Index)
    test_size: Count
    autoattack: AutoAttackBudget


class Study(Section):
    base: Base
    train: Train
    attack: Attack
    confirm: Confirm
    figures: Figures
    verdict: Verdict


def _window(start: int, size: int) -> str:
    return f"[{start}, {start + size})"


def study_rules(study: dict) -> list[tuple[tuple, object, str | None]]:
    """Rules across keys of one (merged, type-checked) study: (location, value, what is allowed; None when
    the key is missing)."""
    base, train, attack, confirm, figures = (study[k] for k in ["base", "train", "attack", "confirm", "figures"])
    selection = attack["selection"]
    problems = []
    size = data.split_size(base["dataset"], "test")
    evaluated = max(base["test_size"], confirm["test_size"])
    if base["test_offset"] + evaluated > size:
        problems.append((("base", "test_offset"), base["test_offset"],
                         f"the test window [test_offset, test_offset + test_size) = "
                         f"{_window(base['test_offset'], evaluated)} must fit the {size} test points of "
                         f"{base['dataset']!r} (with confirm.test_size {confirm['test_size']})"))
    if selection["offset"] + selection["size"] > size:
        problems.append((("attack", "selection", "offset"), selection["offset"],
                         f"the selection window {_window(selection['offset'], selection['size'])} must fit the {size} "
                         f"test points of {base['dataset']!r}"))
    if selection["offset"] < base["test_offset"] + evaluated and base["test_offset"] < selection["offset"] + selection["size"]:
        problems.append((("attack", "selection", "offset"), selection["offset"],
                         f"the selection window {_window(selection['offset'], selection['size'])} must share no point "
                         f"with the evaluated window {_window(base['test_offset'], evaluated)}: a choice made on the "
                         "points it is then judged on flatters it"))
    if confirm["test_size"] < base["test_size"]:
        problems.append((("confirm", "test_size"), confirm["test_size"],
                         f"it must be at least base.test_size ({base['test_size']}): the verdict's points include the grid's"))
    if train["transfer_seed"] in base["seeds"] + confirm["seeds"]:  # the source must be independent
        problems.append((("train", "transfer_seed"), train["transfer_seed"],
                         f"it must differ from every base.seeds and confirm.seeds value "
                         f"{base['seeds'] + confirm['seeds']}"))
    for i, seed in enumerate(confirm["seeds"]):  # the seeds that chose a configuration do not judge it
        if seed in base["seeds"]:
            problems.append((("confirm", "seeds", i), seed, f"it must differ from every base.seeds value {base['seeds']} "
                                                          "(the seeds that chose the configuration)"))
    smoothing = [m for m in train["methods"] if m != "none"]
    for i, method in enumerate(study["verdict"]["primary"]):  # the study's question: methods it trains, against none
        if method not in smoothing:
            problems.append((("verdict", "primary", i), method,
                             f"choose among the smoothing methods of train.methods {smoothing}"))
    for arch in train["archs"]:
        if arch not in train["distillation"]["lr"]:
            problems.append((("train", "distillation", "lr", arch), None, None))  # None: missing
    attacked = [e for e in attack["eps"] if e > 0]
    for i, eps in enumerate(attack["strong"]["eps"]):  # FGSM and BIM join the per-point worst case there
        if eps not in attacked:
            problems.append((("attack", "strong", "eps", i), eps, f"choose one of {attacked} (the attack.eps > 0)"))
    if figures["table_eps"] not in attack["strong"]["eps"]:  # the figures show the configuration chosen there
        problems.append((("figures", "table_eps"), figures["table_eps"],
                         f"choose one of {attack['strong']['eps']} (attack.strong.eps, where each method's "
                         "configuration is chosen)"))
    if figures["heatmap_eps"] not in attack["eps"]:  # this figure needs results at exactly that eps
        problems.append((("figures", "heatmap_eps"), figures["heatmap_eps"], f"choose one of {attack['eps']} (attack.eps)"))
    return problems


# ---- the toys -------------------------------------------------------------------------------------

class ToyTriangular(Section):
    gammas: non_empty(Annotated[float, rule(lambda v: finite(v) and 0.5 <= v <= 2 / 3 + 1e-12,
                                              "it must be a number in [1/2, 2/3]")])
    methods: non_empty(Method)
    alphas: non_empty(Alpha)
    temperature: Positive
    eps: non_empty(Eps)
    n_train: Count
    n_test: Count
    figure_alpha: Alpha
    seed: Index
    formats: non_empty(Format)


class ToyFadingGaussian(Section):
    d: Count
    methods: non_empty(Method)
    alphas: non_empty(Alpha)
    temperature: Positive
    eps: non_empty(Eps)
    n_train: Count
    n_test: Count
    figure_eps: Eps
    seed: Index
    formats: non_empty(Format)


class ToyGradientGap(Section):
    dataset: Dataset
    test_offset: Index
    test_size: Count
    alphas: non_empty(Alpha)
    eps: non_empty(Eps)
    figure_eps: non_empty(Eps)
    epochs: Count
    lr: Rate
    batch_size: Count
    seed: Index
    formats: non_empty(Format)


class ToyLogitSqueezing(Section):
    dataset: Dataset
    test_offset: Index
    test_size: Count
    arch: Arch
    alphas: non_empty(Alpha)
    epochs: Count
    lr: Rate
    batch_size: Count
    seed: Index
    formats: non_empty(Format)


TOY_SCHEMAS = {"toy_triangular": ToyTriangular, "toy_fading_gaussian": ToyFadingGaussian,
               "toy_gradient_gap": ToyGradientGap, "toy_logit_squeezing": ToyLogitSqueezing}


def toy_rules(name: str, toy: dict) -> list[tuple[tuple, object, str]]:
    problems = []
    if name == "toy_triangular" and toy["figure_alpha"] not in toy["alphas"]:
        problems.append((("figure_alpha",), toy["figure_alpha"], f"choose one of {toy['alphas']} (alphas)"))
    if name == "toy_fading_gaussian" and toy["figure_eps"] not in toy["eps"]:
        problems.append((("figure_eps",), toy["figure_eps"], f"choose one of {toy['eps']} (eps)"))
    if name == "toy_gradient_gap":
        for i, eps in enumerate(toy["figure_eps"]):
            if eps not in toy["eps"]:
                problems.append((("figure_eps", i), eps, f"choose one of {toy['eps']} (eps)"))
    if "test_offset" in toy:
        size = data.split_size(toy["dataset"], "test")
        if toy["test_offset"] + toy["test_size"] > size:
            problems.append((("test_offset",), toy["test_offset"],
                             f"the test window [test_offset, test_offset + test_size) must fit the {size} test "
                             f"points of {toy['dataset']!r}"))
    return problems
