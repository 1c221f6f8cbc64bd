"""params.yaml: its layout, the settings of one study or toy, checked before any work, merging and dotted keys, and
the command line (``python -m lsstudy.pipeline.params check`` or ``set-args FILE``).

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
and what is allowed. Every key is required: the schema holds no hidden defaults. The schema is
``lsstudy.pipeline.schema``, its value rules ``lsstudy.pipeline.rules``, the lines ``lsstudy.pipeline.messages``.
"""

import argparse
import copy
import json
import re
import sys
from pathlib import Path

import yaml

from lsstudy.pipeline.messages import ParamsError, dotted_key, message, problems, raise_lines
from lsstudy.pipeline.schema import TOY_SCHEMAS, Data, Engine, Study, study_rules, toy_rules

STUDY_SECTIONS = ["base", "train", "attack", "confirm", "figures", "verdict"]
TOYS = ["toy_triangular", "toy_fading_gaussian", "toy_gradient_gap", "toy_logit_squeezing"]
TOP_LEVEL = ["engine", "data", "defaults", "studies", *TOYS]
STUDY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


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
                lines.append(f"{dotted_key((*where, name))} is given twice (lines {first[name]} and {line}); "
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
        raise_lines([f"{path.name}: {line}" for line in _duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))])
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
            lines.append(message(str(key), "extra_forbidden", None, "", TOP_LEVEL))
    for key in ["engine", "data", "defaults", "studies"]:
        if not isinstance(params.get(key), dict):
            lines.append(f"{key} is missing" if key not in params else message(key, "", params[key],
                                                                                   "it must be a mapping"))
    for name in params["studies"] if isinstance(params.get("studies"), dict) else []:
        if not (isinstance(name, str) and STUDY_NAME.fullmatch(name)):
            lines.append(f"study name {name!r} (a key of studies) is not allowed; it must be letters, digits and "
                         "underscores, starting with a letter: it names folders, DVC stages (train@NAME) and goes "
                         "on each stage's command line")
    return lines


def check_engine(params: dict) -> None:
    raise_lines(_top_level(params))
    lines = []
    for name, schema in [("engine", Engine), ("data", Data)]:
        for loc, kind, value, allowed, known in problems(schema, params[name]):
            lines.append(message(dotted_key((name, *loc)), kind, value, allowed, known))
    raise_lines(lines)


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
        raise ParamsError(message(f"studies.{name}", "", overrides, f"it must be a mapping of {STUDY_SECTIONS}"))
    merged = merge(params["defaults"], overrides)

    def where(loc: tuple) -> str:  # the key as written in the file: the study's override, else defaults
        return dotted_key(("studies", name, *loc)) if _has(overrides, loc) else dotted_key(("defaults", *loc))

    lines = []
    for loc, kind, value, allowed, known in problems(Study, merged, study_rules):
        if kind == "missing":
            lines.append(f"{dotted_key(('defaults', *loc))} is missing (study {name!r}; or set "
                         f"{dotted_key(('studies', name, *loc))})")
        elif kind == "extra_forbidden":
            lines.append(message(where(loc), kind, value, allowed, known))
        else:
            lines.append(message(where(loc), kind, value, allowed) + (f" (study {name!r})" if not _has(overrides, loc)
                                                                        else ""))
    raise_lines(lines)
    return merged


def toy(params: dict, name: str) -> dict:
    """The checked section of toy stage ``name``."""
    if name not in TOY_SCHEMAS:
        raise ParamsError(f"toy={name!r} is not allowed; choose one of {TOYS}")
    if not isinstance(params.get(name), dict):
        raise ParamsError(f"{name} is missing; it must be a mapping")
    lines = [message(dotted_key((name, *loc)), kind, value, allowed, known)
             for loc, kind, value, allowed, known in
             problems(TOY_SCHEMAS[name], params[name], lambda values: toy_rules(name, values))]
    raise_lines(lines)
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
    raise_lines(lines)
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
