"""A dress rehearsal of `make decisive`: every study of params-decisive.yaml run end to end through the command
`make decisive` runs (`python -m lsstudy.pipeline.experiment run params-decisive.yaml --name decisive`), at tiny sizes,
in a temporary git copy of the repository made as tests/test_paper_rehearsal.py makes it (its ``copy_repository``:
params.yaml with its own studies left out, as if `make study` had brought them up to date). Opt-in (marker
`paper`, which .ci/run runs after `make test`): the decisive studies train on all of mnist25k, the shipped data,
so no stand-in is needed.

The tiny file keeps what makes the decisive design what it is (mnist25k, the cosine schedule, judging seeds none of
the grid's, the judged window starting where the selection ends) and cuts the rest: 1 epoch, the unsmoothed model
and ALS with the scaled-logits control, 30 test points, attacks of 2 steps.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lsstudy import models
from lsstudy.pipeline import params
from lsstudy.pipeline.params import merge

from test_paper_rehearsal import TINY, copy_repository, environment

pytestmark = pytest.mark.paper

ROOT = Path(__file__).resolve().parents[1]
CUT = {"base": {"seeds": [0], "test_offset": 20},
       "train": {"methods": ["none", "adversarial"], "baselines": ["scaled_logits"], "epochs": 1},
       "confirm": {"seeds": [2, 3]}, "verdict": {"primary": ["adversarial"]}}


def decisive_studies() -> list[str]:
    return list(params.load_params(ROOT / "params-decisive.yaml")["studies"])


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    target = tmp_path_factory.mktemp("decisive")
    repo, hook = copy_repository(target / "repo"), target / "hook"
    hook.mkdir()
    decisive = params.load_params(ROOT / "params-decisive.yaml")
    tiny = {"engine": {"workers": 1, "threads_per_unit": 1},
            "studies": {name: merge(merge(study, TINY), CUT) for name, study in decisive["studies"].items()}}
    (repo / "params-decisive.yaml").write_text(yaml.safe_dump(tiny, sort_keys=False))
    run = subprocess.run([sys.executable, "-m", "lsstudy.pipeline.experiment", "run", "params-decisive.yaml", "--name",
                          "decisive"], cwd=repo, env=environment(repo, hook), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-6000:]
    return repo


def test_make_decisive_runs_every_decisive_study_to_its_verdict(repo):
    for name in decisive_studies():
        for output in ["verdict/summary.md", "verdict/power.csv", "verdict/variance.csv", "metrics.json"]:
            path = repo / "results" / name / output
            assert path.exists() and path.stat().st_size > 0, path.relative_to(repo)
        assert (repo / "reports" / name / "verdict.ipynb").exists()


def test_the_decisive_models_are_trained_on_mnist25k_with_the_cosine_schedule(repo):
    for name in decisive_studies():
        checkpoints = sorted((repo / "models" / name / "confirm").rglob("*.pt"))
        assert checkpoints, name
        for checkpoint in checkpoints:
            meta = models.read_meta(checkpoint)
            assert meta["dataset"] == "mnist25k" and meta["key"]["recipe"]["schedule"] == "cosine", checkpoint
            assert meta["seed"] in (2, 3)  # the judging seeds: none of the grid's
