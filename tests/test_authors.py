"""The authors' transcribed results: the one file against the brief's account of them, the conversion of their
epsilons, the section of docs/paper.md written from the file, and the rows that put ours beside theirs."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from authors_reference import bullet, numbers
from lsstudy import data
from lsstudy.pipeline import dvc
from lsstudy.report.reference import authors
from lsstudy.report.tables import best_alpha
from synthetic_results import NOISE, PLANTED, make_results

ROOT = Path(__file__).resolve().parents[1]
# Each source of the file, by the opening of the brief's bullet that describes it.
BULLETS = {"lenet_fgsm": "Undefended MNIST LeNet, FGSM", "best_alpha_plots": "Their April 2019 plots",
           "pgd_training": "PGD adversarial training", "fgsm_training": "FGSM adversarial training",
           "gradient_gap": "Gradient gap", "triangular": "Triangular toy"}
# Numbers the bullets write that are no result: CIFAR-10's "[-1, 1] units", "BIM falls to 0" (a trend, in words).
PROSE = {"best_alpha_plots": {1.0}, "fgsm_training": {0.0}}


@pytest.fixture(scope="module")
def theirs():
    return authors.load()


def _numbers_of(points) -> set[float]:
    """What the file says of these points, as numbers: values, read-by-eye uncertainties, eps (clean has none
    to say), the alphas of smoothed models and the gammas."""
    found = set(points["low"]) | set(points["high"]) | set(points["uncertainty"][points["uncertainty"] > 0])
    found |= set(points.loc[points["attack"] != "clean", "eps_theirs"].dropna())
    found |= set(points.loc[points["method"].isin(authors.SMOOTHINGS), "alpha"].dropna())
    return {abs(v) for v in found | set(points["gamma"].dropna())}


@pytest.mark.parametrize("source", list(BULLETS))
def test_every_number_of_a_source_is_the_brief_s_and_none_is_missing(theirs, source):
    points = theirs[theirs["source"] == source]
    written = numbers(bullet(BULLETS[source]))
    transcribed = _numbers_of(points)
    assert transcribed - written == set(), "in the file, not in the brief"
    assert written - transcribed - set(points["n"].dropna()) - PROSE.get(source, set()) == set(), "not transcribed"


def test_every_source_of_the_brief_is_in_the_file(theirs):
    assert list(theirs["source"].unique()) == list(BULLETS)


@pytest.mark.parametrize("ours, eps_theirs, eps", [("cifar10_5k", 0.05, 0.025), ("cifar10", 0.25, 0.125),
                                                   ("svhn", 0.1, 0.05), ("mnist5k", 0.05, 0.05), ("mnist", 0.3, 0.3)])
def test_their_eps_converts_to_pixels_as_our_models_normalise(ours, eps_theirs, eps):
    """Our models scale inputs as the authors did (a Normalize layer): x_theirs = (x - mean) / std, so a budget of
    e in their units is e * std in pixels of [0, 1]."""
    ranges = yaml.safe_load(authors.PATH.read_text())["input_ranges"]
    converted, unit = authors.to_pixels(authors.their_dataset(ours), eps_theirs, ranges)
    assert converted == pytest.approx(eps_theirs * data.spec(ours).std[0]) == pytest.approx(eps)
    assert unit == "pixels in [0, 1]"


def test_the_loaded_rows_carry_both_epsilons(theirs):
    cifar = theirs[(theirs["dataset"] == "cifar10") & (theirs["attack"] != "clean")]
    assert len(cifar) and np.allclose(cifar["eps"], cifar["eps_theirs"] / 2)  # [-1, 1]: half the budget
    mnist = theirs[theirs["dataset"] == "mnist"].dropna(subset=["eps"])
    assert np.array_equal(mnist["eps"], mnist["eps_theirs"])  # [-0.5, 0.5]: the same scale
    toy = theirs[theirs["dataset"] == "triangular"]
    assert (toy["eps_unit"] == "x").all() and np.array_equal(toy["eps"], toy["eps_theirs"])


def test_every_point_says_what_it_is_and_where_it_came_from(theirs):
    assert not theirs[["source", "kind", "date", "dataset", "method", "metric"]].isna().any().any()
    assert (theirs["low"] <= theirs["high"]).all()
    assert (theirs["test_set"] != "").all()
    read_by_eye = theirs["kind"] == "plot read by eye"
    assert (theirs.loc[read_by_eye, "uncertainty"] > 0).all() and (theirs.loc[~read_by_eye, "uncertainty"] == 0).all()
    for source in authors.sources():
        assert "MGoibert/Label_smoothing" in source["provenance"] and source["differs"], source["id"]


def test_a_key_the_layout_does_not_know_is_named(tmp_path):
    content = yaml.safe_load(authors.PATH.read_text())
    content["sources"][0]["points"][0]["epsilon"] = 0.1
    path = tmp_path / "authors.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ValueError, match=r"'lenet_fgsm' has unknown keys \['epsilon'\]"):
        authors.load(path)


def test_docs_paper_md_holds_the_section_written_from_the_file():
    text = (ROOT / "docs" / "paper.md").read_text()
    assert authors.section() in text, "run: python -m lsstudy.report.reference.authors docs/paper.md"
    assert "No number of the paper itself is available here" in text


def test_the_section_rewrites_only_its_own_lines(tmp_path):
    doc = tmp_path / "paper.md"
    doc.write_text(f"before\n{authors.BEGIN}\nstale\n{authors.END}\nafter\n")
    authors.write_section(doc)
    assert doc.read_text() == f"before\n{authors.section()}\nafter\n"


def test_the_stages_that_draw_them_depend_on_the_file():
    stages = yaml.safe_load(dvc.dvc_yaml())["stages"]
    for stage in ["figures", "toy_triangular", "toy_gradient_gap"]:
        entry = stages[stage].get("do", stages[stage])
        assert "lsstudy/report/reference/authors.yaml" in entry["deps"], stage


def _row(markdown: str, *cells: str) -> list[str]:
    """The cells of the one row of a Markdown table holding every one of ``cells``."""
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in markdown.splitlines()]
    (row,) = [row for row in rows if all(cell in row for cell in cells)]
    return row


def test_the_table_puts_ours_beside_theirs():
    results = make_results()  # mnist5k, lenet, eps 0 and 0.1; planted accuracies plus a noise per seed
    markdown = authors.table(results)
    bim = PLANTED[("bim", "ce")] + np.mean(NOISE)
    half = 4.303 * np.std(NOISE, ddof=1) / math.sqrt(3)  # t(0.975, 2 degrees of freedom)
    assert _row(markdown, "PGD training", "bim", "0.1")[-2:] == ["0.965 (Oct 2019, n = 1,000)",
                                                                f"{bim:.3f} ± {half:.3f} (n = 500, 3 seeds)"]
    assert _row(markdown, "no smoothing", "fgsm", "0.15")[-1] == "—"  # not in this grid
    assert _row(markdown, "each smoothing method, their best alpha", "fgsm", "0.3")[-1] == "—"  # no alpha chosen
    assert {row.split("|")[1].strip() for row in markdown.splitlines()[2:]} == {"lenet"}  # only the archs run here


def test_with_chosen_alphas_the_smoothed_models_get_ours_under_the_authors_protocol():
    results = make_results()
    results = pd.concat([results, results[results["eps"] == 0.1].assign(eps=0.3)])  # a grid up to their eps 0.3
    markdown = authors.table(results, best_alpha(results, "bim", "ce", 0.1))
    smoothed = PLANTED[("fgsm", "smoothed")] + np.mean(NOISE)  # the authors attacked the smoothed loss
    row = _row(markdown, "each smoothing method, their best alpha", "fgsm", "0.3")
    assert row[-1].startswith(f"{smoothed:.3f}-{smoothed:.3f} (range of 4 methods")
