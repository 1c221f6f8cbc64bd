"""The toy sections of params.yaml: each bad value is refused by name before any work."""

import copy
from pathlib import Path

import pytest

from lsstudy.params import load_params, validate
from lsstudy.stage import STAGES, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def params():
    return load_params(ROOT / "params.yaml")


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("toy_triangular", "gammas", [0.5, 0.7], r"toy_triangular\.gammas\[1\]=0\.7 .*\[1/2, 2/3\]"),
        ("toy_triangular", "alphas", [0.1, -0.1], r"toy_triangular\.alphas\[1\]=-0\.1 .*\[0, 1\]"),
        ("toy_triangular", "figure_alpha", 0.25, r"toy_triangular\.figure_alpha=0\.25 .*choose one of"),
        ("toy_triangular", "n_train", 0, r"toy_triangular\.n_train=0 .*integer >= 1"),
        ("toy_fading_gaussian", "methods", ["gaussian"], r"toy_fading_gaussian\.methods\[0\]='gaussian'"),
        ("toy_fading_gaussian", "temperature", 0.0, r"toy_fading_gaussian\.temperature=0\.0 .*> 0"),
        ("toy_fading_gaussian", "figure_eps", 0.15, r"toy_fading_gaussian\.figure_eps=0\.15 .*choose one of"),
        ("toy_gradient_gap", "dataset", "imagenet", r"toy_gradient_gap\.dataset='imagenet' .*choose one of"),
        ("toy_gradient_gap", "eps", [0.1, -0.1], r"toy_gradient_gap\.eps\[1\]=-0\.1 .*>= 0"),
        ("toy_logit_squeezing", "arch", "vgg", r"toy_logit_squeezing\.arch='vgg' .*choose one of"),
        ("toy_logit_squeezing", "formats", ["gif"], r"toy_logit_squeezing\.formats\[0\]='gif'"),
    ],
)
def test_bad_toy_values_are_refused_with_the_key(params, section, key, value, message):
    bad = copy.deepcopy(params)
    bad[section][key] = value
    with pytest.raises(ValueError, match=message):
        validate(bad, [section])


def test_every_toy_stage_checks_its_section_and_stops_before_papermill(tmp_path, monkeypatch, capsys):
    import yaml

    params = load_params(ROOT / "params.yaml")
    params["toy_gradient_gap"]["seed"] = -1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    assert main(["toy_gradient_gap"]) == 2
    assert "toy_gradient_gap.seed=-1 is not allowed" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()
    assert {f"toy_{name}" for name in ["triangular", "fading_gaussian", "gradient_gap", "logit_squeezing"]} <= set(STAGES)


def test_the_paper_scale_gradient_gap_stops_on_absent_full_mnist(tmp_path, monkeypatch, capsys):
    import yaml

    params = load_params(ROOT / "params.yaml")
    params["toy_gradient_gap"]["dataset"] = "mnist"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    assert main(["toy_gradient_gap"]) == 2
    assert "dataset 'mnist'" in capsys.readouterr().err
