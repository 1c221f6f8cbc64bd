"""params.yaml: its layout, the typed schema every stage checks before any work, and the settings of one study.

Layout of the file:

============  ======================================================================================
section       what it holds
============  ======================================================================================
engine        how the units of work run (``lsstudy.grid.engine``): executor, workers, threads per unit
data          where the torchvision datasets live, and whether they may be downloaded
defaults      base, train, attack, figures, verdict: the settings every study starts from
studies       study name -> overrides of ``defaults`` (mappings merge key by key, lists replace)
toy_*         the toy stages' own sections
============  ======================================================================================

The schema is pydantic's (strict types: no bool for a number, no "3" for 3; unknown keys refused). A bad
value stops with ``ParamsError``: one line per problem, naming the key as it is written in the file
(``studies.cifar10_5k.train.alphas[1]`` when the study overrides it, ``defaults.train.alphas[1]`` otherwise)
and what is allowed. Every key is required: the schema holds no hidden defaults.
"""

import argparse
import copy
import difflib
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from lsstudy import baselines, data, models, smoothing
from lsstudy.report.style import FORMATS
from lsstudy.train import PRECISIONS, SCHEDULES

PROTOCOLS = ["ce", "smoothed"]
EXECUTORS = ["local", "ray"]
STUDY_SECTIONS = ["base", "train", "attack", "confirm", "figures", "verdict"]
TOYS = ["toy_triangular", "toy_fading_gaussian", "toy_gradient_gap", "toy_logit_squeezing"]
TOP_LEVEL = ["engine", "data", "defaults", "studies", *TOYS]
STUDY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class ParamsError(ValueError):
    """Bad parameters: one line per problem. In a notebook it shows as those lines, not a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for how an exception is shown
        return [f"ParamsError: {self}"]


# ---- value rules: each check returns what is wrong ("it must be ..."), or None ---------------------

def _rule(ok: Callable[[Any], bool], allowed: str):
    def check(value):
        if not ok(value):
            raise ValueError(allowed)
        return value

    return AfterValidator(check)


def _choice(options: Callable[[], list]):
    """A value among ``options()`` (a callable: smoothing methods can be registered at run time)."""

    def check(value):
        if value not in options():
            raise ValueError(f"choose one of {options()}")
        return value

    return AfterValidator(check)


def _finite(v) -> bool:
    return math.isfinite(v)


Number = Annotated[float, _rule(_finite, "it must be a finite number")]
Alpha = Annotated[float, _rule(lambda v: _finite(v) and 0 <= v <= 1, "it must be a number in [0, 1]")]
Fraction = Alpha
Eps = Annotated[float, _rule(lambda v: _finite(v) and v >= 0, "it must be a finite number >= 0 (pixel units, inputs in [0, 1])")]
Positive = Annotated[float, _rule(lambda v: _finite(v) and v > 0, "it must be a finite number > 0")]
NonNegative = Annotated[float, _rule(lambda v: _finite(v) and v >= 0, "it must be a finite number >= 0")]
Count = Annotated[int, _rule(lambda v: v >= 1, "it must be an integer >= 1")]
Index = Annotated[int, _rule(lambda v: v >= 0, "it must be an integer >= 0")]
Rate = Annotated[float, _rule(lambda v: _finite(v) and 0 < v <= 10, "it must be a number in (0, 10]")]
GpuShare = Annotated[float, _rule(lambda v: _finite(v) and 0 < v <= 1, "it must be a number in (0, 1]")]
HoldOut = Annotated[float, _rule(lambda v: _finite(v) and 0 <= v <= 0.5, "it must be a number in [0, 0.5]")]
Dataset = Annotated[str, _choice(lambda: data.DATASETS)]
Arch = Annotated[str, _choice(lambda: models.ARCHS)]
Method = Annotated[str, _choice(smoothing.methods)]
Baseline = Annotated[str, _choice(lambda: baselines.BASELINES)]
Protocol = Annotated[str, _choice(lambda: PROTOCOLS)]
Format = Annotated[str, _choice(lambda: FORMATS)]
Executor = Annotated[str, _choice(lambda: EXECUTORS)]


def _non_empty(item):
    return Annotated[list[item], _rule(len, "it must be a non-empty list")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# ---- engine and data ------------------------------------------------------------------------------

class Engine(Section):
    executor: Executor
    workers: Annotated[int | str, _rule(lambda v: v == "auto" or (isinstance(v, int) and v >= 1),
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
    seeds: _non_empty(Index)
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
    archs: _non_empty(Arch)
    methods: _non_empty(Method)
    alphas: _non_empty(Alpha)
    temperature: Positive
    bls_alpha: Alpha
    bls_temperatures: _non_empty(Positive)
    baselines: list[Baseline]
    pgd_training: PgdTraining
    distillation: Distillation
    scaled_logits: ScaledLogitsControl
    transfer_seed: Index
    epochs: Count
    lr: Rate
    momentum: Annotated[float, _rule(lambda v: _finite(v) and 0 <= v <= 1, "it must be a number in [0, 1]")]
    batch_size: Count
    val_fraction: HoldOut
    patience: Count
    plateau_loss: Annotated[str, _choice(lambda: ["ce", "smoothed"])]
    schedule: Annotated[str, _choice(lambda: SCHEDULES)]
    precision: Annotated[str, _choice(lambda: PRECISIONS)]


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
    eps: _non_empty(Eps)
    pgd: Budget
    apgd_steps: Count
    square_queries: Count
    transfer: Budget
    unbounded_eps: Eps


class Selection(Section):
    offset: Index
    size: Count
    loss: Annotated[str, _choice(lambda: ["margin", "ce"])]


class Attack(Section):
    eps: _non_empty(Eps)
    protocols: _non_empty(Protocol)
    bim_steps: Count
    batch_size: Count
    min_norm_size: Count
    deepfool: DeepFool
    cw_l2: CarliniWagner
    strong: Strong
    selection: Selection


class Figures(Section):
    table_eps: Eps
    alpha_figure_eps: _non_empty(Eps)
    heatmap_eps: Eps
    formats: _non_empty(Format)


class Verdict(Section):
    unbounded_max: Fraction
    level: Annotated[float, _rule(lambda v: _finite(v) and 0 < v < 1, "it must be a number in (0, 1)")]
    delta: Annotated[float, _rule(lambda v: _finite(v) and 0 < v < 1, "it must be a number in (0, 1)")]
    primary: _non_empty(Method)


class AutoAttackBudget(Section):
    steps: Count
    targets: Annotated[int, _rule(lambda v: 1 <= v <= 9, "it must be an integer in [1, 9] (target classes)")]
    queries: Count


class Confirm(Section):
    seeds: _non_empty(Index)
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


def _study_rules(study: dict) -> list[tuple[tuple, object, str | None]]:
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
    gammas: _non_empty(Annotated[float, _rule(lambda v: _finite(v) and 0.5 <= v <= 2 / 3 + 1e-12,
                                              "it must be a number in [1/2, 2/3]")])
    methods: _non_empty(Method)
    alphas: _non_empty(Alpha)
    temperature: Positive
    eps: _non_empty(Eps)
    n_train: Count
    n_test: Count
    figure_alpha: Alpha
    seed: Index
    formats: _non_empty(Format)


class ToyFadingGaussian(Section):
    d: Count
    methods: _non_empty(Method)
    alphas: _non_empty(Alpha)
    temperature: Positive
    eps: _non_empty(Eps)
    n_train: Count
    n_test: Count
    figure_eps: Eps
    seed: Index
    formats: _non_empty(Format)


class ToyGradientGap(Section):
    dataset: Dataset
    test_offset: Index
    test_size: Count
    alphas: _non_empty(Alpha)
    eps: _non_empty(Eps)
    figure_eps: _non_empty(Eps)
    epochs: Count
    lr: Rate
    batch_size: Count
    seed: Index
    formats: _non_empty(Format)


class ToyLogitSqueezing(Section):
    dataset: Dataset
    test_offset: Index
    test_size: Count
    arch: Arch
    alphas: _non_empty(Alpha)
    epochs: Count
    lr: Rate
    batch_size: Count
    seed: Index
    formats: _non_empty(Format)


TOY_SCHEMAS = {"toy_triangular": ToyTriangular, "toy_fading_gaussian": ToyFadingGaussian,
               "toy_gradient_gap": ToyGradientGap, "toy_logit_squeezing": ToyLogitSqueezing}


def _toy_rules(name: str, toy: dict) -> list[tuple[tuple, object, str]]:
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


# ---- errors in the words of the file -------------------------------------------------------------

def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(schema: type[BaseModel], loc: tuple) -> list[str]:
    """The keys the schema allows in the mapping at ``loc``."""
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = schema.model_fields[part].annotation if part in schema.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        schema = annotation
    return list(schema.model_fields)


def _message(key: str, kind: str, value, allowed: str, known: list[str] | None = None) -> str:
    if kind == "missing":
        return f"{key} is missing"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(key.rsplit(".", 1)[-1], known or [], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{key} is not a known key{hint}; the keys here are {known}"
    return f"{key}={value!r} is not allowed; {allowed}"


_TYPE_WORDS = {"float_type": "it must be a number", "int_type": "it must be an integer", "bool_type":
               "it must be true or false", "string_type": "it must be a string", "list_type": "it must be a list",
               "dict_type": "it must be a mapping", "model_type": "it must be a mapping", "int_from_float":
               "it must be an integer"}


def _problems(schema: type[BaseModel], values: dict, rules=None) -> list[tuple[tuple, str, object, str, list]]:
    """(location, kind, value, allowed, known keys) for everything wrong with ``values``."""
    try:
        schema.model_validate(values)
    except ValidationError as error:
        out = []
        for err in error.errors():
            loc, kind = tuple(err["loc"]), err["type"]
            if kind == "value_error":
                allowed = str(err["ctx"]["error"])
            else:
                allowed = _TYPE_WORDS.get(kind, err["msg"])
            # pydantic names the branch of a union in the location (e.g. "int"): drop it
            loc = tuple(p for p in loc if not (isinstance(p, str) and p in {"int", "str", "float"}))
            known = _fields_at(schema, loc[:-1]) if kind == "extra_forbidden" else None
            out.append((loc, kind, err.get("input"), allowed, known))
        return out
    return [(loc, "missing" if allowed is None else "value_error", value, allowed, None)
            for loc, value, allowed in (rules(values) if rules else [])]


def _raise(lines: list[str]) -> None:
    if lines:
        raise ParamsError("\n".join(dict.fromkeys(lines)))


# ---- the file -------------------------------------------------------------------------------------

def find_root(start: str | Path = ".") -> Path:
    """The repository root: the first of ``start`` and its parents that holds params.yaml and dvc.yaml
    (so a notebook finds it from notebooks/ or from the root alike)."""
    start = Path(start).resolve()
    for folder in [start, *start.parents]:
        if (folder / "params.yaml").is_file() and (folder / "dvc.yaml").is_file():
            return folder
    raise ParamsError(f"no params.yaml with a dvc.yaml beside it in {start} or any folder above it; "
                      "run from inside the lsstudy repository")


def _duplicate_keys(node: yaml.Node, where: tuple = ()) -> list[str]:
    """A line for each key given twice in one mapping of the YAML tree ``node``: PyYAML keeps the last
    value, DVC refuses the file."""
    lines = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name, line = key.value, key.start_mark.line + 1
            if name in first and name != "<<":  # "<<" merges mappings (params-paper.yaml's anchors)
                lines.append(f"{_dotted((*where, name))} is given twice (lines {first[name]} and {line}); "
                             "DVC refuses such a file: keep one")
            first.setdefault(name, line)
            lines += _duplicate_keys(value, (*where, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines += _duplicate_keys(item, (*where, i))
    return lines


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"parameter file {path.resolve()} not found")
    try:
        text = path.read_text()
        _raise([f"{path.name}: {line}" for line in _duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))])
        params = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path.resolve()} is not valid YAML: {error}".replace("\n", " ")) from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path.resolve()} must be a mapping of sections {TOP_LEVEL}")
    return params


def merge(defaults: dict, overrides: dict) -> dict:
    """``defaults`` with ``overrides`` on top: mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _has(tree, loc: tuple) -> bool:
    for part in loc:
        if isinstance(tree, dict) and part in tree:
            tree = tree[part]
        elif isinstance(tree, list) and isinstance(part, int) and part < len(tree):
            tree = tree[part]
        else:
            return False
    return True


def _top_level(params: dict) -> list[str]:
    lines = []
    for key in params:
        if key not in TOP_LEVEL:
            lines.append(_message(str(key), "extra_forbidden", None, "", TOP_LEVEL))
    for key in ["engine", "data", "defaults", "studies"]:
        if not isinstance(params.get(key), dict):
            lines.append(f"{key} is missing" if key not in params else _message(key, "", params[key],
                                                                                   "it must be a mapping"))
    for name in params["studies"] if isinstance(params.get("studies"), dict) else []:
        if not (isinstance(name, str) and STUDY_NAME.fullmatch(name)):
            lines.append(f"study name {name!r} (a key of studies) is not allowed; it must be letters, digits and "
                         "underscores, starting with a letter: it names folders, DVC stages (train@NAME) and goes "
                         "on each stage's command line")
    return lines


def check_engine(params: dict) -> None:
    _raise(_top_level(params))
    lines = []
    for name, schema in [("engine", Engine), ("data", Data)]:
        for loc, kind, value, allowed, known in _problems(schema, params[name]):
            lines.append(_message(_dotted((name, *loc)), kind, value, allowed, known))
    _raise(lines)


def study_names(params: dict) -> list[str]:
    return list(params.get("studies") or {})


def study(params: dict, name: str) -> dict:
    """The merged, checked settings of study ``name``: {base, train, attack, figures, verdict}."""
    check_engine(params)
    studies = params["studies"]
    if name not in studies:
        raise ParamsError(f"study={name!r} is not allowed; choose one of {list(studies)} (the keys of studies)")
    overrides = studies[name] if studies[name] is not None else {}
    if not isinstance(overrides, dict):
        raise ParamsError(_message(f"studies.{name}", "", overrides, f"it must be a mapping of {STUDY_SECTIONS}"))
    merged = merge(params["defaults"], overrides)

    def where(loc: tuple) -> str:  # the key as written in the file: the study's override, else defaults
        return _dotted(("studies", name, *loc)) if _has(overrides, loc) else _dotted(("defaults", *loc))

    lines = []
    for loc, kind, value, allowed, known in _problems(Study, merged, _study_rules):
        if kind == "missing":
            lines.append(f"{_dotted(('defaults', *loc))} is missing (study {name!r}; or set "
                         f"{_dotted(('studies', name, *loc))})")
        elif kind == "extra_forbidden":
            lines.append(_message(where(loc), kind, value, allowed, known))
        else:
            lines.append(_message(where(loc), kind, value, allowed) + (f" (study {name!r})" if not _has(overrides, loc)
                                                                        else ""))
    _raise(lines)
    return merged


def toy(params: dict, name: str) -> dict:
    """The checked section of toy stage ``name``."""
    if name not in TOY_SCHEMAS:
        raise ParamsError(f"toy={name!r} is not allowed; choose one of {TOYS}")
    if not isinstance(params.get(name), dict):
        raise ParamsError(f"{name} is missing; it must be a mapping")
    lines = [_message(_dotted((name, *loc)), kind, value, allowed, known)
             for loc, kind, value, allowed, known in
             _problems(TOY_SCHEMAS[name], params[name], lambda values: _toy_rules(name, values))]
    _raise(lines)
    return copy.deepcopy(params[name])


def validate(params: dict) -> dict:
    """Check the whole file (every study and toy); return it unchanged when valid."""
    check_engine(params)
    lines = []
    checks = [lambda n=n: study(params, n) for n in study_names(params)]
    checks += [lambda t=t: toy(params, t) for t in TOYS if t in params]
    for check in checks:
        try:
            check()
        except ParamsError as error:
            lines.append(str(error))
    _raise(lines)
    return params


def set_dotted(params: dict, dotted: str, value) -> dict:
    """A copy of ``params`` with the key ``dotted`` (e.g. "studies.mnist5k.train.epochs") set to ``value``."""
    out = copy.deepcopy(params)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        if not isinstance(node.get(key, {}), dict):
            raise ParamsError(f"{dotted}: {key} is not a mapping")
        node = node.setdefault(key, {})
    node[last] = value
    return out


def _leaves(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) for every leaf of a nested mapping; lists are leaves."""
    out = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        out += _leaves(value, dotted + ".") if isinstance(value, dict) and value else [(dotted, value)]
    return out


def set_param_args(params: dict, overrides: dict) -> list[str]:
    """``dvc exp run`` arguments setting each leaf of ``overrides`` on ``params``: ``-S key=value`` for keys
    params.yaml has, ``-S +key=value`` for new ones (DVC's syntax for adding a key).

    Values are compact JSON (no spaces, so a shell can split the arguments on white space).
    """
    args = []
    for dotted, value in _leaves(overrides):
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        new = not _has(params, tuple(dotted.split(".")))
        args += ["-S", f"{'+' if new else ''}{dotted}={text}"]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check params.yaml, or print the dvc exp run arguments of a "
                                     "file of extra studies such as params-paper.yaml.")
    parser.add_argument("--params", default="params.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate every section of --params")
    extra = sub.add_parser("set-args", help="validate --params with the studies of FILE added; print -S arguments")
    extra.add_argument("file", help="e.g. params-paper.yaml: a mapping with `studies` (and optionally `defaults`)")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        if args.command == "check":
            validate(params)
            print(f"{args.params}: valid ({len(study_names(params))} studies: {', '.join(study_names(params))})")
            return 0
        overrides = load_params(args.file)
        validate(merge(params, overrides))
        print(" ".join(set_param_args(params, overrides)))
    except ParamsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
