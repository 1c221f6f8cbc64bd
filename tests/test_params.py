"""The params.yaml schema: the shipped file is valid, and each bad value is refused by name."""

import copy
from pathlib import Path

import pytest
import yaml

from lsstudy.params import apply_overrides, load_params, set_param_args, validate
from lsstudy.study import grid

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def params():
    return load_params(ROOT / "params.yaml")


def test_shipped_params_are_valid(params):
    assert validate(params) is params


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("train", "alphas", [0.1, 1.5], r"train\.alphas\[1\]=1\.5 .*\[0, 1\]"),
        ("attack", "eps", [0.1, -0.05], r"attack\.eps\[1\]=-0\.05 .*>= 0"),
        ("train", "methods", ["none", "gaussian"], r"train\.methods\[1\]='gaussian' .*choose one of"),
        ("train", "archs", ["vgg"], r"train\.archs\[0\]='vgg' .*choose one of"),
        ("base", "dataset", "imagenet", r"base\.dataset='imagenet' .*choose one of"),
        ("train", "temperature", 0, r"train\.temperature=0 .*> 0"),
        ("train", "bls_temperatures", [1.0, 0.0], r"train\.bls_temperatures\[1\]=0\.0 .*> 0"),
        ("train", "epochs", 0, r"train\.epochs=0 .*integer >= 1"),
        ("attack", "protocols", ["pgd"], r"attack\.protocols\[0\]='pgd'"),
        ("base", "seeds", [], r"base\.seeds=\[\] .*non-empty list"),
        ("base", "download", "yes", r"base\.download='yes' .*true or false"),
        ("base", "test_offset", -1, r"base\.test_offset=-1 .*integer >= 0"),
        ("figures", "table_eps", 0.15, r"figures\.table_eps=0\.15 .*choose one of \[0\.0, 0\.05"),
        ("train", "baselines", ["mixup"], r"train\.baselines\[0\]='mixup' .*choose one of"),
        ("train", "transfer_seed", 1, r"train\.transfer_seed=1 .*differ from every base\.seeds"),
        ("train", "distillation", {"temperature": 100.0, "lr": {"linear": 1.0}}, r"train\.distillation\.lr\.mlp is missing"),
        ("train", "pgd_training", {"eps": 0.2, "steps": 0, "start_epoch": 2}, r"train\.pgd_training\.steps=0 .*integer >= 1"),
        ("verdict", "tolerance", 2, r"verdict\.tolerance=2 .*\[0\.0, 1\.0\]"),
    ],
)
def test_bad_values_are_refused_with_the_key_and_what_is_allowed(params, section, key, value, message):
    bad = copy.deepcopy(params)
    bad[section][key] = value
    with pytest.raises(ValueError, match=message):
        validate(bad)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("eps", [0.15], r"attack\.strong\.eps\[0\]=0\.15 .*choose one of \[0\.05, 0\.1"),
        ("pgd", {"steps": 20}, r"attack\.strong\.pgd\.restarts is missing"),
        ("square_queries", 0, r"attack\.strong\.square_queries=0 .*integer >= 1"),
        ("unbounded_eps", -1, r"attack\.strong\.unbounded_eps=-1 .*>= 0"),
    ],
)
def test_bad_strong_attack_values_are_refused_by_name(params, key, value, message):
    bad = copy.deepcopy(params)
    bad["attack"]["strong"][key] = value
    with pytest.raises(ValueError, match=message):
        validate(bad)


def test_a_missing_key_is_named(params):
    bad = copy.deepcopy(params)
    del bad["attack"]["bim_steps"]
    with pytest.raises(ValueError, match=r"attack\.bim_steps is missing"):
        validate(bad)


def test_grid_has_baseline_each_method_alpha_and_the_bls_temperature_sweep(params):
    base, train = params["base"], params["train"]
    runs = grid(base, train)
    per_arch = 1 + 4 * len(train["alphas"]) + len(set(train["bls_temperatures"]) - {train["temperature"]})
    if train["bls_alpha"] not in train["alphas"]:
        per_arch += 1  # the sweep's point at train.temperature is then a model of its own
    per_arch += len(train["baselines"])
    assert len(runs) == len(train["archs"]) * len(base["seeds"]) * per_arch
    assert len(set(runs)) == len(runs)
    assert {r.method for r in runs} == set(train["methods"]) | set(train["baselines"])
    assert {(r.method, r.alpha) for r in runs if r.method in train["baselines"]} == {(b, 0.0) for b in train["baselines"]}


@pytest.mark.parametrize("name", ["mnist", "cifar10", "svhn"])
def test_paper_scale_experiments_are_valid_and_their_set_args_reproduce_them(params, name):
    overrides = load_params(ROOT / "params-paper.yaml")[name]
    merged = validate(apply_overrides(params, overrides))
    assert merged["base"]["dataset"] == name
    # what `dvc exp run -S key=value` would set, parsed back as YAML, gives the same parameters
    args = set_param_args(overrides)
    assert args[::2] == ["-S"] * (len(args) // 2)
    parsed = {key: yaml.safe_load(text) for key, _, text in (arg.partition("=") for arg in args[1::2])}
    assert apply_overrides(params, parsed) == merged
