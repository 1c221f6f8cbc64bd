"""DVC experiments of the study: extra studies (params-paper.yaml) run as one experiment, and experiments compared.

    python -m lsstudy.pipeline.experiment run params-paper.yaml --name paper      # what `make paper` runs
    python -m lsstudy.pipeline.experiment compare                                 # every experiment, side by side

``run``: before anything changes, the extra file is checked together with params.yaml (``lsstudy.pipeline.params``),
and the datasets its studies and toys read must be in place under ``data.root`` (data/raw by default;
data/README.md says what goes there). Then ``dvc exp run -n NAME -S key=value ...`` writes its keys into
params.yaml and runs the pipeline; the default studies are up to date, so only the new ones run. DVC leaves
params.yaml rewritten when the run fails, and the next `make study` would then run the extra studies too: so a
run that fails or is interrupted puts params.yaml back as it was, and keeps the outputs it finished for the next
try. (Not ``dvc exp run --temp``: it runs in a clone of the repository under .dvc/tmp/exps, which lacks the
git-ignored data/raw, so the full datasets would never be found there.)

``compare``: the params and metrics that differ between experiments, one row each, the experiments in columns.
``dvc exp show`` has them the other way round, a column per metric: the default studies have 70 metrics with
names of some 30 characters, so at 120 columns it shows a few of them. Its options (``-A``, ``--rev``, ``-n``)
pass through.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from lsstudy import data
from lsstudy.files import write_bytes
from lsstudy.pipeline import params


def datasets(merged: dict, extra: dict) -> list[str]:
    """The datasets the studies and toys of ``extra`` read, with their settings from ``merged``."""
    studies = [params.study(merged, name)["base"]["dataset"] for name in params.study_names(extra)]
    toys = [params.toy(merged, name).get("dataset") for name in params.TOYS if name in extra]
    return list(dict.fromkeys(name for name in studies + toys if name))


def check(extra_file: str, params_file: str = "params.yaml") -> list[str]:
    """The ``dvc exp run`` arguments that add ``extra_file`` to ``params_file``, once both are valid together and
    every dataset they need is in place; raises ``ParamsError`` or ``DataError``."""
    current, extra = params.load_params(params_file), params.load_params(extra_file)
    merged = params.validate(params.merge(current, extra))
    root = Path(params_file).parent / merged["data"]["root"]  # relative to the repository, as in the stages
    for name in datasets(merged, extra):
        try:
            data.check_available(name, root, merged["data"]["download"])
        except data.DataError as error:
            raise type(error)(f"{error}\n{extra_file} needs it. Place the full datasets under data.root "
                              f"({merged['data']['root']}; see data/README.md), then run again.") from None
    return params.set_param_args(current, extra)


def run(extra_file: str, name: str, params_file: str = "params.yaml") -> int:
    """Check, then run ``dvc exp run -n name`` with the keys of ``extra_file``; return its exit code. Whatever
    the run's end but success, ``params_file`` is left as it was before."""
    args = check(extra_file, params_file)
    path = Path(params_file)
    before = path.read_bytes()
    code = 1  # until dvc says otherwise: an interrupt restores params.yaml too
    try:
        code = subprocess.run(["dvc", "exp", "run", "-n", name, *args]).returncode
    finally:
        if code != 0:
            write_bytes(path, before)
            print(f"{name}: the experiment did not finish; {params_file} is as it was before and the outputs "
                  "it finished are kept for the next try.", file=sys.stderr)
    return code


def _revisions(shown: list[dict]) -> list[dict]:
    """The workspace, each baseline commit and each of their experiments, from ``dvc exp show --json``."""
    return [rev for entry in shown
            for rev in [entry, *(r for experiment in entry.get("experiments") or [] for r in experiment["revs"])]]


def _values(rev: dict) -> dict:
    """One revision's params (by dotted key) and metrics (by study, then dotted key); a metrics file DVC could
    not read is left out (``dvc exp show`` writes "!")."""
    found = rev.get("data") or {}
    values = {}
    for content in found.get("params", {}).values():
        values |= pd.json_normalize(content.get("data", {})).iloc[0].to_dict()
    for path, content in found.get("metrics", {}).items():
        metrics = pd.json_normalize(content.get("data", {})).iloc[0].to_dict() if content.get("data") else {}
        values |= {f"{Path(path).parent.name}: {key}": value for key, value in metrics.items()}
    return values


def _label(rev: dict) -> str:
    return rev.get("name") or (rev["rev"] if rev["rev"] == "workspace" else rev["rev"][:7])


def compare(shown: list[dict]) -> pd.DataFrame:
    """A row for each param and metric that differs between the revisions of ``shown`` (``dvc exp show --json``),
    a column for each (an experiment or branch by name, a commit by short hash)."""
    table = pd.DataFrame({_label(rev): _values(rev) for rev in _revisions(shown)}).fillna("!")
    return table[table.astype(str).nunique(axis=1) > 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    paper = sub.add_parser("run", help="run the studies of FILE as one DVC experiment")
    paper.add_argument("file", help="a mapping with `studies` (and optionally `defaults` or toy sections), e.g. "
                       "params-paper.yaml")
    paper.add_argument("--name", default="paper", help="the experiment's name (dvc exp show)")
    paper.add_argument("--params", default="params.yaml")
    sub.add_parser("compare", help="the params and metrics that differ between experiments, side by side")
    args, rest = parser.parse_known_args(argv)
    if args.command == "compare":
        shown = subprocess.run(["dvc", "exp", "show", "--json", *rest], capture_output=True, text=True)
        if shown.returncode != 0:
            sys.stderr.write(shown.stderr)
            return shown.returncode
        print(compare(json.loads(shown.stdout)).to_string())
        return 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return run(args.file, args.name, args.params)
    except (params.ParamsError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
