"""params.yaml: loading and the schema every pipeline stage checks before it does any work.

A bad value stops with one ValueError that names the key (as a dotted path, e.g. ``train.alphas[2]``)
and what is allowed, before a model is trained or an output touched.
"""

import argparse
import copy
import json
import sys
from pathlib import Path

import yaml

from lsstudy import baselines, data, models, smoothing
from lsstudy.checks import (check_alpha, check_choice, check_eps, check_non_negative, check_positive,
                            check_positive_int, check_temperature)

PROTOCOLS = ["ce", "smoothed"]


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"parameter file {path} not found (run from the repository root)")
    return yaml.safe_load(path.read_text())


def _section(params: dict, name: str) -> dict:
    if not isinstance(params.get(name), dict):
        raise ValueError(f"params: section {name!r} is missing; it must be a mapping (see params.yaml)")
    return params[name]


def _require(section: dict, prefix: str, keys: list[str]) -> None:
    missing = [k for k in keys if k not in section]
    if missing:
        raise ValueError(f"params: {prefix}.{missing[0]} is missing")


def _each(values, key: str, check, may_be_empty: bool = False) -> None:
    if not isinstance(values, list) or not (values or may_be_empty):
        raise ValueError(f"{key}={values!r} is not allowed; it must be a {'' if may_be_empty else 'non-empty '}list")
    for i, value in enumerate(values):
        check(value, f"{key}[{i}]")


def _mapping(section: dict, prefix: str, key: str, keys: list[str]) -> dict:
    """``section[key]``, a mapping holding ``keys``."""
    if not isinstance(section.get(key), dict):
        raise ValueError(f"{prefix}.{key}={section.get(key)!r} is not allowed; it must be a mapping with keys {keys}")
    _require(section[key], f"{prefix}.{key}", keys)
    return section[key]


def _check_number(value, key: str, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (ok and (low < value if low_open else low <= value) and value <= high):
        bracket = "(" if low_open else "["
        raise ValueError(f"{key}={value!r} is not allowed; it must be a number in {bracket}{low}, {high}]")


def check_base(params: dict) -> None:
    base = _section(params, "base")
    _require(base, "base", ["dataset", "data_root", "download", "seeds", "test_offset", "test_size"])
    check_choice("base.dataset", base["dataset"], data.DATASETS)
    if not isinstance(base["download"], bool):
        raise ValueError(f"base.download={base['download']!r} is not allowed; it must be true or false")
    _each(base["seeds"], "base.seeds", _check_seed)
    _check_seed(base["test_offset"], "base.test_offset")
    check_positive_int(base["test_size"], "base.test_size")


def _check_seed(value, key: str) -> None:
    """An integer >= 0 (seeds, offsets)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key}={value!r} is not allowed; it must be an integer >= 0")


def check_train(params: dict) -> None:
    train = _section(params, "train")
    _require(train, "train", ["archs", "methods", "alphas", "temperature", "bls_temperatures", "bls_alpha",
                              "baselines", "pgd_training", "distillation", "transfer_seed",
                              "epochs", "lr", "momentum", "batch_size", "val_fraction", "patience"])
    _each(train["archs"], "train.archs", lambda v, k: check_choice(k, v, models.ARCHS))
    _each(train["methods"], "train.methods", lambda v, k: check_choice(k, v, smoothing.methods()))
    _each(train["alphas"], "train.alphas", lambda v, k: check_alpha(v, k))
    check_temperature(train["temperature"], "train.temperature")
    _each(train["bls_temperatures"], "train.bls_temperatures", lambda v, k: check_temperature(v, k))
    check_alpha(train["bls_alpha"], "train.bls_alpha")
    _each(train["baselines"], "train.baselines", lambda v, k: check_choice(k, v, baselines.BASELINES), may_be_empty=True)
    pgd_training = _mapping(train, "train", "pgd_training", ["eps", "steps", "start_epoch"])
    check_eps(pgd_training["eps"], "train.pgd_training.eps")
    check_positive_int(pgd_training["steps"], "train.pgd_training.steps")
    check_positive_int(pgd_training["start_epoch"], "train.pgd_training.start_epoch")
    distillation = _mapping(train, "train", "distillation", ["temperature", "lr"])
    check_temperature(distillation["temperature"], "train.distillation.temperature")
    rates = _mapping(distillation, "train.distillation", "lr", train["archs"])
    for arch in train["archs"]:
        _check_number(rates[arch], f"train.distillation.lr.{arch}", 0.0, 10.0, low_open=True)
    _check_seed(train["transfer_seed"], "train.transfer_seed")
    seeds = _section(params, "base").get("seeds", [])
    if train["transfer_seed"] in seeds:  # the source must be independent of every model it attacks
        raise ValueError(f"train.transfer_seed={train['transfer_seed']!r} is not allowed; it must differ from "
                         f"every base.seeds value {seeds}")
    check_positive_int(train["epochs"], "train.epochs")
    check_positive_int(train["batch_size"], "train.batch_size")
    check_positive_int(train["patience"], "train.patience")
    _check_number(train["lr"], "train.lr", 0.0, 10.0, low_open=True)
    _check_number(train["momentum"], "train.momentum", 0.0, 1.0)
    _check_number(train["val_fraction"], "train.val_fraction", 0.0, 0.5)


def check_attack(params: dict) -> None:
    attack = _section(params, "attack")
    _require(attack, "attack", ["eps", "protocols", "bim_steps", "min_norm_size", "deepfool", "cw_l2", "batch_size"])
    _each(attack["eps"], "attack.eps", lambda v, k: check_eps(v, k))
    _each(attack["protocols"], "attack.protocols", lambda v, k: check_choice(k, v, PROTOCOLS))
    check_positive_int(attack["bim_steps"], "attack.bim_steps")
    check_positive_int(attack["min_norm_size"], "attack.min_norm_size")
    check_positive_int(attack["batch_size"], "attack.batch_size")
    check_positive_int(attack["deepfool"]["steps"], "attack.deepfool.steps")
    check_non_negative(attack["deepfool"]["overshoot"], "attack.deepfool.overshoot")
    for key in ["steps", "search_steps"]:
        check_positive_int(attack["cw_l2"][key], f"attack.cw_l2.{key}")
    for key in ["lr", "c"]:
        check_positive(attack["cw_l2"][key], f"attack.cw_l2.{key}")
    check_non_negative(attack["cw_l2"]["kappa"], "attack.cw_l2.kappa")
    check_strong(attack)


def check_strong(attack: dict) -> None:
    """attack.strong: its eps must be attacked by FGSM and BIM too (they join the per-point worst case)."""
    strong = _mapping(attack, "attack", "strong",
                      ["eps", "pgd", "apgd_steps", "square_queries", "transfer", "unbounded_eps"])
    _each(strong["eps"], "attack.strong.eps", lambda v, k: check_choice(k, v, [e for e in attack["eps"] if e > 0]))
    for key in ["pgd", "transfer"]:
        settings = _mapping(strong, "attack.strong", key, ["steps", "restarts"])
        for name in ["steps", "restarts"]:
            check_positive_int(settings[name], f"attack.strong.{key}.{name}")
    check_positive_int(strong["apgd_steps"], "attack.strong.apgd_steps")
    check_positive_int(strong["square_queries"], "attack.strong.square_queries")
    check_eps(strong["unbounded_eps"], "attack.strong.unbounded_eps")


def check_figures(params: dict) -> None:
    figures = _section(params, "figures")
    _require(figures, "figures", ["table_eps", "alpha_figure_eps", "heatmap_eps", "formats"])
    check_eps(figures["table_eps"], "figures.table_eps")
    check_eps(figures["heatmap_eps"], "figures.heatmap_eps")
    _each(figures["alpha_figure_eps"], "figures.alpha_figure_eps", lambda v, k: check_eps(v, k))
    _each(figures["formats"], "figures.formats", lambda v, k: check_choice(k, v, ["png", "pdf", "svg"]))
    attacked = _section(params, "attack").get("eps", [])
    for key in ["table_eps", "heatmap_eps"]:  # these figures need results at exactly that eps
        check_choice(f"figures.{key}", figures[key], attacked)


def check_verdict(params: dict) -> None:
    verdict = _section(params, "verdict")
    _require(verdict, "verdict", ["tolerance", "unbounded_max"])
    _check_number(verdict["tolerance"], "verdict.tolerance", 0.0, 1.0)
    _check_number(verdict["unbounded_max"], "verdict.unbounded_max", 0.0, 1.0)


SECTION_CHECKS = {"base": check_base, "train": check_train, "attack": check_attack, "figures": check_figures,
                  "verdict": check_verdict}


# The paper's toy and linear-model arguments (lsstudy/toys): one section and one stage each.
def _check_toy_common(section: dict, name: str, keys: list[str]) -> None:
    _require(section, name, keys + ["seed", "formats"])
    _check_seed(section["seed"], f"{name}.seed")
    _each(section["formats"], f"{name}.formats", lambda v, k: check_choice(k, v, ["png", "pdf", "svg"]))
    for key in ["n_train", "n_test", "d", "epochs", "batch_size"]:
        if key in keys:
            check_positive_int(section[key], f"{name}.{key}")
    if "methods" in keys:  # two classes: smoothing needs a wrong class, which every built-in has for K = 2
        _each(section["methods"], f"{name}.methods", lambda v, k: check_choice(k, v, smoothing.methods()))
    if "alphas" in keys:
        _each(section["alphas"], f"{name}.alphas", lambda v, k: check_alpha(v, k))
    if "temperature" in keys:
        check_temperature(section["temperature"], f"{name}.temperature")
    if "eps" in keys:
        _each(section["eps"], f"{name}.eps", lambda v, k: check_eps(v, k))
    if "lr" in keys:
        _check_number(section["lr"], f"{name}.lr", 0.0, 10.0, low_open=True)


def check_toy_triangular(params: dict) -> None:
    toy = _section(params, "toy_triangular")
    _check_toy_common(toy, "toy_triangular", ["gammas", "methods", "alphas", "temperature", "eps", "n_train",
                                              "n_test", "figure_alpha"])

    def gamma(value, key):  # the example needs gamma <= 2/3 for 1[x > 0] to be Bayes-optimal
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (ok and 0.5 <= value <= 2 / 3 + 1e-12):
            raise ValueError(f"{key}={value!r} is not allowed; it must be a number in [1/2, 2/3]")

    _each(toy["gammas"], "toy_triangular.gammas", gamma)
    check_choice("toy_triangular.figure_alpha", toy["figure_alpha"], toy["alphas"])


def check_toy_fading_gaussian(params: dict) -> None:
    toy = _section(params, "toy_fading_gaussian")
    _check_toy_common(toy, "toy_fading_gaussian", ["d", "methods", "alphas", "temperature", "eps", "n_train",
                                                   "n_test", "figure_eps"])
    check_choice("toy_fading_gaussian.figure_eps", toy["figure_eps"], toy["eps"])


def check_toy_gradient_gap(params: dict) -> None:
    toy = _section(params, "toy_gradient_gap")
    _check_toy_common(toy, "toy_gradient_gap", ["dataset", "alphas", "eps", "epochs", "lr", "batch_size",
                                                "figure_eps"])
    check_choice("toy_gradient_gap.dataset", toy["dataset"], data.DATASETS)
    _each(toy["figure_eps"], "toy_gradient_gap.figure_eps",
          lambda v, k: check_choice(k, v, toy["eps"]))


def check_toy_logit_squeezing(params: dict) -> None:
    toy = _section(params, "toy_logit_squeezing")
    _check_toy_common(toy, "toy_logit_squeezing", ["dataset", "arch", "alphas", "epochs", "lr", "batch_size"])
    check_choice("toy_logit_squeezing.dataset", toy["dataset"], data.DATASETS)
    check_choice("toy_logit_squeezing.arch", toy["arch"], models.ARCHS)


SECTION_CHECKS.update({"toy_triangular": check_toy_triangular, "toy_fading_gaussian": check_toy_fading_gaussian,
                       "toy_gradient_gap": check_toy_gradient_gap, "toy_logit_squeezing": check_toy_logit_squeezing})


def validate(params: dict, sections: list[str] | None = None) -> dict:
    """Check ``sections`` of ``params`` (all by default); return ``params`` unchanged when valid."""
    for name in sections or list(SECTION_CHECKS):
        SECTION_CHECKS[name](params)
    return params


def _leaves(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) for every leaf of a nested mapping; lists are leaves."""
    out = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        out += _leaves(value, dotted + ".") if isinstance(value, dict) else [(dotted, value)]
    return out


def apply_overrides(params: dict, overrides: dict) -> dict:
    """A copy of ``params`` with each leaf of ``overrides`` set (what ``dvc exp run -S`` does)."""
    merged = copy.deepcopy(params)
    for dotted, value in _leaves(overrides):
        *parents, last = dotted.split(".")
        node = merged
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return merged


def set_param_args(overrides: dict) -> list[str]:
    """``dvc exp run`` arguments ``-S key=value`` setting each leaf of ``overrides``.

    Values are compact JSON (no spaces, so a shell can split the arguments on white space).
    """
    args = []
    for dotted, value in _leaves(overrides):
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        args += ["-S", f"{dotted}={text}"]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check params.yaml, or print dvc exp run -S arguments for an experiment.")
    parser.add_argument("--params", default="params.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate every section of --params")
    names = sub.add_parser("experiments", help="print the experiment names of a file such as params-paper.yaml")
    names.add_argument("experiments_file")
    exp = sub.add_parser("set-args", help="validate params + an experiment's overrides, print its -S arguments")
    exp.add_argument("experiments_file", help="e.g. params-paper.yaml")
    exp.add_argument("name", help="an experiment (top-level key) of that file, e.g. mnist")
    args = parser.parse_args(argv)
    try:
        if args.command == "experiments":
            print(" ".join(load_params(args.experiments_file)))
            return 0
        params = load_params(args.params)
        if args.command == "check":
            validate(params)
            print(f"{args.params}: valid")
            return 0
        experiments = load_params(args.experiments_file)
        check_choice("name", args.name, list(experiments))
        validate(apply_overrides(params, experiments[args.name]))
        print(" ".join(set_param_args(experiments[args.name])))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
