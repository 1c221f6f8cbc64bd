"""The pipeline's stages, in one place, and the dvc.yaml written from them.

Each stage is a notebook run by ``python -m lsstudy.pipeline.stage``. ``STAGES`` says which params.yaml sections a
stage reads, which outputs of earlier stages it reads and what it writes; nothing else repeats it. The
stages of a study run once per entry of params.yaml's ``studies`` (DVC's ``foreach``: train@mnist5k,
attack@cifar10_5k, ...); the toy stages run once.

A stage's code dependencies are not listed by hand: they are the lsstudy modules its notebook imports,
followed through every import (``code_files``), so DVC reruns exactly the stages a change touches.
``python -m lsstudy.pipeline`` prints dvc.yaml; tests check that the committed file is that output.
"""

from dataclasses import dataclass
from pathlib import Path

import yaml

from lsstudy.sources import ROOT, closure, imported

# The data shipped in the repository: stages that load data depend on it.
SHIPPED_DATA = ("data/mnist25k", "data/cifar10_5k.npz")


@dataclass(frozen=True)
class Stage:
    """One notebook of the pipeline. Paths may hold ``{study}`` (a study's name) or ``{stage}``."""

    name: str
    sections: tuple[str, ...]  # per study: the study's sections it reads; a toy: its own section
    inputs: tuple[str, ...] = ()  # outputs of earlier stages
    outputs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()  # small JSON files for `dvc metrics show`
    plots: tuple[str, ...] = ()  # folders of PNG figures for `dvc plots show` (images render offline)
    per_study: bool = True
    loads_data: bool = False
    runs_units: bool = False  # its results depend on engine.threads_per_unit (float summation order)
    trains: bool = False  # it trains models: its results depend on engine.stack too

    @property
    def notebook(self) -> str:
        return f"notebooks/{self.name}.ipynb"

    def writes(self, study: str | None) -> list[Path]:
        """Every path the stage writes for ``study``: its outputs, metrics, plots and executed notebook."""
        fill = {"study": study, "stage": self.name}
        return [Path(path.format(**fill)) for path in (*self.outputs, *self.metrics, *self.plots)] + [
            report(self.name, study if self.per_study else None)]


STAGES = {stage.name: stage for stage in [
    Stage("train", ("base", "train"), outputs=("models/{study}/grid", "results/{study}/train"),
          loads_data=True, runs_units=True, trains=True),
    Stage("attack", ("base", "train", "attack"), inputs=("models/{study}/grid",),
          outputs=("results/{study}/attack",), loads_data=True, runs_units=True),
    Stage("confirm", ("base", "train", "attack", "confirm"), inputs=("models/{study}/grid", "results/{study}/attack"),
          outputs=("models/{study}/confirm", "results/{study}/confirm"), loads_data=True, runs_units=True, trains=True),
    Stage("figures", ("base", "train", "attack", "figures"),
          inputs=("results/{study}/train", "results/{study}/attack"),
          outputs=("results/{study}/figures",), plots=("figures/{study}/paper",)),
    Stage("verdict", ("base", "train", "attack", "confirm", "figures", "verdict"),
          inputs=("results/{study}/attack", "results/{study}/confirm"),
          outputs=("results/{study}/verdict",), metrics=("results/{study}/metrics.json",),
          plots=("figures/{study}/verdict",)),
    Stage("toy_triangular", ("toy_triangular",), outputs=("results/{stage}",), plots=("figures/{stage}",),
          per_study=False),
    Stage("toy_fading_gaussian", ("toy_fading_gaussian",), outputs=("results/{stage}",), plots=("figures/{stage}",),
          per_study=False),
    Stage("toy_gradient_gap", ("toy_gradient_gap",), outputs=("results/{stage}",), plots=("figures/{stage}",),
          per_study=False, loads_data=True),
    Stage("toy_logit_squeezing", ("toy_logit_squeezing",), outputs=("results/{stage}",),
          plots=("figures/{stage}",), per_study=False, loads_data=True),
]}


def report(stage: str, study: str | None) -> Path:
    """Where the executed notebook of a stage goes: reports/<study>/<stage>.ipynb, or reports/<stage>.ipynb."""
    return Path("reports") / study / f"{stage}.ipynb" if study else Path("reports") / f"{stage}.ipynb"


# ---- code dependencies ----------------------------------------------------------------------------

def notebook_code(path: Path) -> str:
    """The Python of a notebook's code cells (IPython magics and shell lines left out)."""
    import json

    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            lines += [line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def code_files(stage: str, root: Path = ROOT) -> list[str]:
    """The lsstudy files stage ``stage``'s notebook runs, relative to ``root``."""
    source = notebook_code(root / STAGES[stage].notebook)
    return [str(p.relative_to(root)) for p in closure(imported(source, None, root), root)]


def data_files(code: list[str], root: Path = ROOT) -> list[str]:
    """The data files that the modules ``code`` read: a module keeps its own beside it, under its name
    (lsstudy/report/reference/authors.yaml for lsstudy/report/reference/authors.py)."""
    return [str(Path(f).with_suffix(".yaml")) for f in code if (root / f).with_suffix(".yaml").is_file()]


# ---- dvc.yaml -------------------------------------------------------------------------------------

def _stage_entry(stage: Stage, root: Path) -> dict:
    fill = {"study": "${key}", "stage": stage.name}
    study_arg = " --study ${key}" if stage.per_study else ""
    params = []
    if stage.runs_units:
        params.append("engine.threads_per_unit")
    if stage.trains:
        params.append("engine.stack")
    if stage.loads_data:
        params.append("data")
    if stage.per_study:
        params += [f"defaults.{section}" for section in stage.sections] + ["studies.${key}"]
    else:
        params += list(stage.sections)
    code = code_files(stage.name, root)
    deps = [stage.notebook, *code, *data_files(code, root)]
    deps += list(SHIPPED_DATA) if stage.loads_data else []
    deps += [path.format(**fill) for path in stage.inputs]
    outs = [{path.format(**fill): {"persist": True}} for path in stage.outputs]
    report_path = str(report(stage.name, "${key}" if stage.per_study else None))
    outs.append({report_path: {"persist": True}})
    entry = {"cmd": f"python -m lsstudy.pipeline.stage {stage.name}{study_arg}", "deps": deps, "params": params,
             "outs": outs}
    if stage.metrics:  # in DVC's cache like every output, so that each experiment keeps its own
        entry["metrics"] = [{path.format(**fill): {"persist": True}} for path in stage.metrics]
    if stage.plots:  # folders of PNG figures: `dvc plots show` embeds images, which need no network
        entry["plots"] = [{path.format(**fill): {"persist": True}} for path in stage.plots]
    return {"foreach": "${studies}", "do": entry} if stage.per_study else entry


HEADER = """\
# Written by `python -m lsstudy.pipeline > dvc.yaml` from lsstudy/pipeline/dvc.py: edit that file, not this one
# (tests/test_pipeline_definition.py checks that this file is up to date).
#
# Stages marked foreach run once per study of params.yaml (train@mnist5k, attack@cifar10_5k, ...). Every
# output persists: a stage stopped by a bad parameter or an interrupt leaves what earlier runs produced, and
# inside a stage checkpoints and per-model evaluations are reused by content, so only new work is done.
# deps list the notebook, every lsstudy file it imports (followed through imports), the data files those modules
# keep beside them and the data it reads.
"""


def dvc_yaml(root: Path = ROOT) -> str:
    stages = {name: _stage_entry(stage, root) for name, stage in STAGES.items()}
    return HEADER + yaml.safe_dump({"stages": stages}, sort_keys=False, width=120)

