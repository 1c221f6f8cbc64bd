"""Run one pipeline stage: check params.yaml, then execute the stage's notebook with papermill.

    python -m lsstudy.stage train        # what dvc.yaml runs for the stage "train"

The parameters, and the presence of the dataset's files, are checked here, before a kernel starts
or an output is touched, so a bad value costs seconds and loses nothing. The notebook then runs from notebooks/ (as in JupyterLab) with the
stage's params.yaml sections injected after its ``parameters`` cell, equivalent to
``papermill notebooks/train.ipynb reports/train.ipynb --cwd notebooks -y "<sections as YAML>"``.
"""

import argparse
import sys
from pathlib import Path

from lsstudy import data
from lsstudy.params import load_params, validate

# The params.yaml sections each stage reads (the same lists as its `params:` in dvc.yaml).
STAGES = {
    "train": ["base", "train"],
    "attack": ["base", "train", "attack"],
    "figures": ["base", "train", "attack", "figures"],
    "verdict": ["base", "train", "attack", "figures", "verdict"],
    # the paper's toy and linear-model arguments (lsstudy/toys)
    "toy_triangular": ["toy_triangular"],
    "toy_fading_gaussian": ["toy_fading_gaussian"],
    "toy_gradient_gap": ["base", "toy_gradient_gap"],
    "toy_logit_squeezing": ["base", "toy_logit_squeezing"],
}


def run(stage: str, params_file: str | Path = "params.yaml", root: str | Path = ".") -> Path:
    """Validate the stage's sections of ``params_file`` and execute notebooks/<stage>.ipynb.

    Returns the executed copy, reports/<stage>.ipynb.
    """
    import papermill

    if stage not in STAGES:
        raise ValueError(f"stage={stage!r} is not allowed; choose one of {list(STAGES)}")
    root = Path(root).resolve()
    params = validate(load_params(root / params_file), STAGES[stage])
    base = params["base"]
    for section in STAGES[stage]:  # every dataset the stage reads, from base's data root
        if "dataset" in params[section]:
            data.check_available(params[section]["dataset"], root / base["data_root"], base["download"])
    report = root / "reports" / f"{stage}.ipynb"
    report.parent.mkdir(exist_ok=True)
    papermill.execute_notebook(
        str(root / "notebooks" / f"{stage}.ipynb"),
        str(report),
        parameters={section: params[section] for section in STAGES[stage]},
        cwd=str(root / "notebooks"),
        progress_bar=False,
    )
    print(f"{stage}: executed notebook written to {report}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=list(STAGES))
    parser.add_argument("--params", default="params.yaml", help="parameter file, relative to the repository root")
    args = parser.parse_args(argv)
    try:
        run(args.stage, args.params)
    except (ValueError, data.DataNotFoundError) as error:  # a bad parameter or absent data: no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
