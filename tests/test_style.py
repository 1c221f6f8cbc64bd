"""The one place for names, colours and orders, and byte-identical figure files."""

import ast
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display in tests

import matplotlib.pyplot as plt
import pytest
import seaborn as sns
from matplotlib.colors import to_hex

import lsstudy
from lsstudy.report import figures, style
from synthetic_results import ATTACK_PARAMS, make_results

PACKAGE = Path(lsstudy.__file__).parent
SHARED = {"METHODS", "NAMES", "COLORS", "BASELINES"}


def defined_names(path: Path) -> set[str]:
    """The names a module binds at its top level by assignment (imports do not count)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_style_is_the_only_module_defining_the_shared_lists():
    # the defences' list belongs to the defences themselves; style takes it from there
    definers = {str(p.relative_to(PACKAGE)): defined_names(p) & SHARED for p in sorted(PACKAGE.rglob("*.py"))}
    assert {module: names for module, names in definers.items() if names} == {
        "report/style.py": SHARED - {"BASELINES"}, "baselines.py": {"BASELINES"}}


def test_colours_are_seaborns_colorblind_palette():
    palette = [to_hex(c) for c in sns.color_palette("colorblind")]
    assert {style.COLORS[m] for m in style.METHODS if m != "none"} <= set(palette)
    assert set(style.EXTRA_COLORS) <= set(palette)
    used = [style.COLORS[m] for m in style.METHODS] + style.EXTRA_COLORS
    assert len(set(used)) == len(used)  # every method its own colour


def test_orders_put_the_known_first_then_the_rest_sorted():
    assert style.arch_order(["zz", "resnet18", "lenet", "aa", "linear", "mlp", "lenet"]) == [
        "linear", "mlp", "lenet", "resnet18", "aa", "zz"]
    assert style.method_order(["mine", "distillation", "none", "standard"]) == ["none", "standard", "distillation", "mine"]
    colors = style.colors_for(["mine", "none"])
    assert colors["none"] == style.COLORS["none"] and colors["mine"] == style.EXTRA_COLORS[0]


def test_models_are_named_without_an_alpha_they_do_not_have():
    assert style.model_label("pgd_training", 0.0, 1.0) == "PGD training"
    assert style.model_label("distillation", 0.0, 100.0) == "distillation, T 100"
    assert style.model_label("none", 0.0, 1.0) == "no smoothing"
    assert style.model_label("boltzmann", 0.3, 0.01) == "BLS, alpha 0.3, T 0.01"
    assert style.model_label("standard", 0.1, 1.0, sep="\n") == "SLS\nalpha 0.1"


def test_the_same_figure_saves_to_the_same_bytes(tmp_path):
    results = make_results()
    formats = ["png", "pdf", "svg"]
    for folder in ["first", "second"]:  # drawn afresh each time, as two runs of the stage would
        fig = figures.accuracy_vs_alpha(results, "lenet", [0.1], ATTACK_PARAMS, 1.0)
        paths = style.save(fig, "alpha", formats, tmp_path / folder)
        plt.close(fig)
        assert [p.name for p in paths] == ["alpha.png", "alpha.pdf", "alpha.svg"]
    for fmt in formats:
        first, second = (tmp_path / folder / f"alpha.{fmt}" for folder in ["first", "second"])
        assert first.read_bytes() == second.read_bytes(), fmt
    assert b"CreationDate" not in (tmp_path / "first" / "alpha.pdf").read_bytes()
    assert b"<dc:date>" not in (tmp_path / "first" / "alpha.svg").read_bytes()
    assert sorted(p.name for p in (tmp_path / "first").iterdir()) == ["alpha.pdf", "alpha.png", "alpha.svg"]  # no temp files


def test_save_names_a_format_it_cannot_write(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match=r"formats='eps' is not allowed"):
        style.save(fig, "x", ["png", "eps"], tmp_path)
    assert not list(tmp_path.iterdir())  # checked before writing anything
    plt.close(fig)
