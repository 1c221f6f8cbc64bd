"""The params.yaml schema (pydantic): the shipped files are valid, and each bad value is refused with one line
that names the key as written in the file and what is allowed."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from dvc.utils.serialize import YAMLFileCorruptedError, parse_yaml

from lsstudy.grid.runs import grid
from lsstudy.pipeline import params

ROOT = Path(__file__).resolve().parents[1]


def refused(tiny: dict, where: str, value, message: str, study: str = "digits") -> None:
    """Set the dotted key ``where`` to ``value`` and check the study (or toy) check names it."""
    bad = params.set_dotted(tiny, where, value)
    with pytest.raises(params.ParamsError, match=message):
        if where.split(".")[0] in params.TOYS:
            params.toy(bad, where.split(".")[0])
        else:
            params.study(bad, study)


def test_the_shipped_parameter_files_are_valid():
    shipped = params.load_params(ROOT / "params.yaml")
    assert params.validate(shipped) is shipped
    paper = params.merge(shipped, params.load_params(ROOT / "params-paper.yaml"))
    assert {"mnist", "mnist25k", "cifar10", "svhn", "cifar10_5k_resnet18"} <= set(params.study_names(paper))
    params.validate(paper)


def test_the_decisive_studies_judge_every_free_test_point_of_mnist25k_with_fresh_seeds():
    shipped = params.load_params(ROOT / "params.yaml")
    extra = params.load_params(ROOT / "params-decisive.yaml")
    merged = params.validate(params.merge(shipped, extra))
    archs = []
    for name in params.study_names(extra):
        study = params.study(merged, name)
        selection = study["attack"]["selection"]
        assert study["base"]["dataset"] == "mnist25k" and study["train"]["schedule"] == "cosine"
        # every one of the 10,000 test points the selection window does not hold is judged
        assert selection["offset"] + selection["size"] == study["base"]["test_offset"]
        assert study["base"]["test_offset"] + study["confirm"]["test_size"] == 10_000
        assert not set(study["confirm"]["seeds"]) & set(study["base"]["seeds"])
        archs += study["train"]["archs"]
    assert sorted(archs) == ["lenet", "linear", "mlp"]


@pytest.mark.parametrize("where, value, message", [
    # out of range
    ("defaults.train.alphas", [0.1, 1.5], r"^defaults\.train\.alphas\[1\]=1\.5 is not allowed; it must be a number in \[0, 1\]"),
    ("defaults.attack.eps", [0.0, 0.1, -0.05], r"^defaults\.attack\.eps\[2\]=-0\.05 is not allowed; .*>= 0"),
    ("defaults.train.epochs", 0, r"^defaults\.train\.epochs=0 is not allowed; it must be an integer >= 1"),
    ("defaults.verdict.unbounded_max", 2, r"^defaults\.verdict\.unbounded_max=2 is not allowed; .*\[0, 1\]"),
    ("defaults.train.temperature", float("nan"), r"^defaults\.train\.temperature=nan is not allowed; .*finite"),
    # wrong type
    ("defaults.train.epochs", "3", r"^defaults\.train\.epochs='3' is not allowed; it must be an integer"),
    ("defaults.train.lr", True, r"^defaults\.train\.lr=True is not allowed; it must be a number"),
    ("data.download", "yes", r"^data\.download='yes' is not allowed; it must be true or false"),
    ("defaults.attack.strong.pgd", [20, 2], r"^defaults\.attack\.strong\.pgd=\[20, 2\] is not allowed; it must be a mapping"),
    # unknown key, with the known ones and the likely intended one
    ("defaults.train.epoch", 3, r"^defaults\.train\.epoch is not a known key \(did you mean 'epochs'\?\); the keys here are"),
    ("studies.digits.attack.bim_step", 3, r"^studies\.digits\.attack\.bim_step is not a known key \(did you mean 'bim_steps'\?\)"),
    ("engine.worker", 2, r"^engine\.worker is not a known key \(did you mean 'workers'\?\)"),
    # unknown method, arch, dataset, format
    ("studies.digits.train.methods", ["none", "gaussian"], r"^studies\.digits\.train\.methods\[1\]='gaussian' is not allowed; choose one of"),
    ("defaults.train.archs", ["vgg"], r"^defaults\.train\.archs\[0\]='vgg' is not allowed; choose one of \['linear'"),
    ("studies.digits.base.dataset", "imagenet", r"^studies\.digits\.base\.dataset='imagenet' is not allowed; choose one of"),
    ("defaults.figures.formats", ["gif"], r"^defaults\.figures\.formats\[0\]='gif' is not allowed; choose one of"),
    ("engine.executor", "dask", r"^engine\.executor='dask' is not allowed; choose one of \['local', 'ray'\]"),
    ("defaults.train.schedule", "step", r"^defaults\.train\.schedule='step' is not allowed; choose one of \['plateau', 'cosine'\]"),
    # cross-field rules
    ("defaults.attack.strong.eps", [0.15], r"^defaults\.attack\.strong\.eps\[0\]=0\.15 is not allowed; choose one of \[0\.1\]"),
    ("defaults.train.transfer_seed", 1, r"^defaults\.train\.transfer_seed=1 is not allowed; it must differ from every base\.seeds"),
    ("defaults.figures.table_eps", 0.0, r"^defaults\.figures\.table_eps=0\.0 is not allowed; choose one of \[0\.1\] \(attack\.strong\.eps"),
    ("defaults.figures.heatmap_eps", 0.2, r"^defaults\.figures\.heatmap_eps=0\.2 is not allowed; choose one of \[0\.0, 0\.1\]"),
    # the selection points never overlap the evaluated ones
    ("defaults.attack.selection.offset", 40, r"^defaults\.attack\.selection\.offset=40 is not allowed; the selection window \[40, 70\) must share no point with the evaluated window \[30, 80\)"),
    ("defaults.confirm.seeds", [1, 5], r"^defaults\.confirm\.seeds\[0\]=1 is not allowed; it must differ from every base\.seeds"),
    ("defaults.verdict.primary", ["none"], r"^defaults\.verdict\.primary\[0\]='none' is not allowed; choose among the smoothing methods of train\.methods \['standard',"),
    ("defaults.confirm.test_size", 20, r"^defaults\.confirm\.test_size=20 is not allowed; it must be at least base\.test_size \(40\)"),
    ("defaults.train.distillation.lr", {"mlp": 1.0}, r"^defaults\.train\.distillation\.lr\.linear is missing"),
    # the test window must fit the dataset's test split (mnist5k: 1,000 test points)
    ("studies.digits.base.test_offset", 990, r"^studies\.digits\.base\.test_offset=990 is not allowed; the test window \[test_offset, test_offset \+ test_size\) = \[990, 1040\) must fit the 1000 test points of 'mnist5k'"),
    # empty list
    ("defaults.base.seeds", [], r"^defaults\.base\.seeds=\[\] is not allowed; it must be a non-empty list"),
    ("toy_triangular.gammas", [0.5, 0.7], r"^toy_triangular\.gammas\[1\]=0\.7 is not allowed; .*\[1/2, 2/3\]"),
    ("toy_fading_gaussian.figure_eps", 0.15, r"^toy_fading_gaussian\.figure_eps=0\.15 is not allowed; choose one of"),
    ("toy_gradient_gap.test_size", 2000, r"^toy_gradient_gap\.test_offset=0 is not allowed; the test window .* must fit the 1000 test points"),
    ("toy_logit_squeezing.arch", "vgg", r"^toy_logit_squeezing\.arch='vgg' is not allowed; choose one of"),
])
def test_bad_values_are_refused_by_the_key_as_written_in_the_file(tiny_params, where, value, message):
    refused(tiny_params, where, value, message)


def test_a_missing_key_is_named_where_it_belongs(tiny_params):
    bad = copy.deepcopy(tiny_params)
    del bad["defaults"]["attack"]["bim_steps"]
    with pytest.raises(params.ParamsError, match=r"^defaults\.attack\.bim_steps is missing \(study 'digits'; or set "
                                                 r"studies\.digits\.attack\.bim_steps\)"):
        params.study(bad, "digits")


def test_a_default_that_one_study_cannot_use_names_the_study(tiny_params):
    # 600 attacked points fit mnist5k's 1,000 but not cifar10_5k's 1,017 from offset 500
    bad = params.set_dotted(params.set_dotted(tiny_params, "defaults.base.test_offset", 500),
                            "studies.objects.base.test_size", 600)
    params.study(bad, "digits")
    with pytest.raises(params.ParamsError, match=r"studies\.objects\.base\.test_offset|defaults\.base\.test_offset=500 .*\(study 'objects'\)"):
        params.study(bad, "objects")


def test_every_problem_is_one_line_and_all_are_reported(tiny_params):
    bad = params.set_dotted(params.set_dotted(tiny_params, "defaults.train.epochs", 0), "defaults.train.lr", -1)
    with pytest.raises(params.ParamsError) as error:
        params.study(bad, "digits")
    lines = str(error.value).splitlines()
    assert len(lines) == 2 and lines[0].startswith("defaults.train.epochs=0") and lines[1].startswith("defaults.train.lr=-1")


def test_unknown_top_level_sections_and_studies_are_named(tiny_params):
    with pytest.raises(params.ParamsError, match=r"^toy_triangle is not a known key \(did you mean 'toy_triangular'\?\)"):
        params.validate({**tiny_params, "toy_triangle": {}})
    with pytest.raises(params.ParamsError, match=r"^study='letters' is not allowed; choose one of \['digits', 'objects'\]"):
        params.study(tiny_params, "letters")


def test_studies_merge_mappings_key_by_key_and_replace_lists(tiny_params):
    objects = params.study(tiny_params, "objects")
    assert objects["base"]["dataset"] == "cifar10_5k" and objects["base"]["seeds"] == [0]
    assert objects["train"]["methods"] == ["none", "adversarial"]  # replaced, not appended to
    assert objects["train"]["epochs"] == tiny_params["defaults"]["train"]["epochs"]  # from defaults
    assert objects["attack"]["strong"]["pgd"] == tiny_params["defaults"]["attack"]["strong"]["pgd"]  # merged


def test_grid_has_baseline_each_method_alpha_and_the_bls_temperature_sweep(tiny_params):
    study = params.study(tiny_params, "digits")
    base, train = study["base"], study["train"]
    runs = grid(base, train)
    per_arch = 1 + 4 * len(train["alphas"]) + len(set(train["bls_temperatures"]) - {train["temperature"]})
    if train["bls_alpha"] not in train["alphas"]:
        per_arch += 1  # the sweep's point at train.temperature is then a model of its own
    per_arch += len(train["baselines"])
    assert len(runs) == len(train["archs"]) * len(base["seeds"]) * per_arch
    assert len(set(runs)) == len(runs)
    assert {r.method for r in runs} == set(train["methods"]) | set(train["baselines"])


def test_set_args_add_new_keys_and_set_existing_ones_and_reproduce_the_file(tiny_params):
    extra = {"studies": {"letters": {"base": {"dataset": "mnist25k"}}}, "defaults": {"train": {"epochs": 4}}}
    args = params.set_param_args(tiny_params, extra)
    assert args == ["-S", "+studies.letters.base.dataset=mnist25k", "-S", "defaults.train.epochs=4"]
    # what `dvc exp run -S` would set, parsed back as YAML, gives the merged parameters
    parsed = tiny_params
    for arg in args[1::2]:
        key, _, text = arg.lstrip("+").partition("=")
        parsed = params.set_dotted(parsed, key, yaml.safe_load(text))
    assert parsed == params.merge(tiny_params, extra)


def test_a_key_given_twice_is_refused_by_name_as_dvc_refuses_the_file(tmp_path, capsys):
    text = (ROOT / "tests" / "fixtures" / "params.yaml").read_text().replace("    epochs: 1\n", "    epochs: 1\n    epochs: 3\n")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert yaml.safe_load(text)["defaults"]["train"]["epochs"] == 3  # PyYAML keeps the last value
    with pytest.raises(YAMLFileCorruptedError):  # DVC's reader refuses the file
        parse_yaml(text, str(path))
    assert params.main(["--params", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert err == "error: params.yaml: defaults.train.epochs is given twice (lines 19 and 20); DVC refuses such a file: keep one\n"


@pytest.mark.parametrize("name", ["mnist/5k b", "5k", "two.parts", "-x", "digits;rm"])
def test_a_study_name_that_would_break_the_stage_command_is_refused(tiny_params, name):
    # "mnist/5k b" passed before, then split dvc.yaml's `--study ${key}` in two; "two.parts" is two levels of
    # `-S studies.two.parts...`; "-x" reads as an option
    bad = params.merge(tiny_params, {"studies": {name: {"base": {"dataset": "mnist5k"}}}})
    with pytest.raises(params.ParamsError, match=rf"^study name {re.escape(repr(name))} \(a key of studies\) is not "
                                                 r"allowed; it must be letters, digits and underscores, starting with a letter"):
        params.validate(bad)


def test_a_practical_margin_outside_0_1_is_refused_by_name(tiny_params):
    refused(tiny_params, "defaults.verdict.delta", 0, r"^defaults\.verdict\.delta=0 is not allowed; it must be a number in \(0, 1\)")
