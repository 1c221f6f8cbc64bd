"""What a pipeline notebook needs before its first real cell: its settings, checked, from params.yaml.

Every notebook has the same two parameters (papermill's ``parameters`` cell): ``study``, the study of
params.yaml it runs (the toy notebooks have none), and ``overrides``, settings changed for this run only,
as dotted keys inside the study (``{"train.epochs": 3}``) or the toy's section (``{"alphas": [0.1]}``).
``stage_settings`` finds the repository from wherever the notebook runs, merges and checks the settings,
and returns only the sections the stage reads (``lsstudy.pipeline.dvc.STAGES``), so no later cell can read a
setting the stage does not depend on. A bad setting, or a papermill ``-p`` name the notebook does not
have, stops with one line (``ParamsError``), in JupyterLab as under papermill or DVC.

    papermill notebooks/train.ipynb out.ipynb -p study cifar10_5k -y "overrides: {train.epochs: 3}"
"""

import ast
from dataclasses import dataclass
from pathlib import Path

from lsstudy.pipeline import params as schema
from lsstudy.pipeline.dvc import STAGES

PARAMETERS = {True: ["study", "overrides"], False: ["overrides"]}  # per study, toy
INJECTED_HEADER = "# Parameters"  # the first line of the cell papermill injects


@dataclass(frozen=True)
class Settings:
    """The checked settings of one stage: ``sections`` holds the sections it reads, by name."""

    stage: str
    study: str | None
    root: Path
    sections: dict
    engine: dict
    data: dict

    def __getattr__(self, name: str):
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(f"stage {self.__dict__.get('stage')!r} does not read section {name!r}; it reads "
                             f"{list(sections)}")


def _injected_names() -> list[str]:
    """Names papermill injected in this kernel (from its injected cell in IPython's history), if any."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    for source in reversed(shell.user_ns.get("In", []) if shell else []):
        if source.startswith(INJECTED_HEADER):
            tree = ast.parse(source)
            return [target.id for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)]
    return []


def check_parameters(stage: str) -> None:
    """Refuse papermill parameters the stage's notebook does not have (papermill only warns)."""
    allowed = PARAMETERS[STAGES[stage].per_study]
    unknown = [name for name in _injected_names() if name not in allowed]
    if unknown:
        example = "train.epochs: 3" if STAGES[stage].per_study else "alphas: [0.1]"
        raise schema.ParamsError(f"parameter {unknown[0]!r} is not one of this notebook's parameters {allowed}; "
                                 f"change a setting with -y \"overrides: {{{example}}}\"")


def apply(params: dict, stage: str, study: str | None, overrides: dict) -> dict:
    """``params`` with ``overrides`` (dotted keys inside the study, or the toy's section) set."""
    if not isinstance(overrides, dict):
        raise schema.ParamsError(f"overrides={overrides!r} is not allowed; it must be a mapping of dotted keys to "
                                 "values, e.g. {\"train.epochs\": 3}")
    prefix = f"studies.{study}" if STAGES[stage].per_study else stage
    if STAGES[stage].per_study and study not in (params.get("studies") or {}):
        return params  # the study check names the unknown study
    for key, value in overrides.items():
        params = schema.set_dotted(params, f"{prefix}.{key}", value)
    return params


def stage_settings(stage: str, study: str | None = None, overrides: dict | None = None,
                   params_file: str = "params.yaml", start: str | Path = ".") -> Settings:
    """The checked settings of ``stage`` (for ``study``), with ``overrides`` applied; raises ``ParamsError``."""
    if stage not in STAGES:
        raise schema.ParamsError(f"stage={stage!r} is not allowed; choose one of {list(STAGES)}")
    definition = STAGES[stage]
    check_parameters(stage)
    root = schema.find_root(start)
    params = apply(schema.load_params(root / params_file), stage, study, overrides or {})
    schema.check_engine(params)
    if definition.per_study:
        merged = schema.study(params, study)
        sections = {name: merged[name] for name in definition.sections}
    else:
        sections = {stage: schema.toy(params, stage)}
    return Settings(stage, study, root, sections, params["engine"], params["data"])
