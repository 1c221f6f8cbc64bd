"""What the tests compare the authors' transcribed results with: the project brief's own account of them
(../shared/PAPER.md, present on the project's machines, absent in a fresh clone: tests that need it skip), and
the authors' points as a figure drew them (shared by test_authors.py, test_figures.py and the toy tests)."""

import re
from pathlib import Path

import numpy as np
import pytest

PAPER = Path(__file__).resolve().parents[2] / "shared" / "PAPER.md"
SECTION = "## The authors' own result files"
NUM = r"(\d+(?:\.\d+)?)"  # a number in a regular expression, without the full stop that may end its sentence


def paper_bullets() -> list[str]:
    """The bullets of PAPER.md's section on the authors' result files, each on one line; skips if it is absent."""
    if not PAPER.is_file():
        pytest.skip(f"{PAPER} is not here: the transcription is checked against it where it is")
    section = PAPER.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    return [" ".join(bullet.split()) for bullet in section.split("\n- ")[1:]]


def bullet(opening: str) -> str:
    """The bullet that opens with ``opening``."""
    (found,) = [b for b in paper_bullets() if b.startswith(opening)]
    return found


def numbers(text: str) -> set[float]:
    """Every number written in ``text``, as a positive float: "0.82-0.83" is two, "9,000" is 9000, "+-0.02" is
    0.02; years ("Oct 2019") and digits inside names ("ResNet18", "CIFAR-10") are not numbers."""
    text = re.sub(r"\b(19|20)\d\d\b", " ", text)
    text = re.sub(r"(\d)-(\d)", r"\1 \2", text)
    return {abs(float(n.replace(",", ""))) for n in re.findall(r"(?<![\w.\-])-?\d[\d,]*(?:\.\d+)?", text)}


def authors_points(ax) -> list[tuple[float, float, float, float, str]]:
    """(x, marker y, bar low, bar high, legend label) of every authors' point drawn in ``ax`` by
    ``lsstudy.report.reference.authors.draw``, sorted by x."""
    points = []
    for container in ax.containers:
        if not str(container.get_label()).startswith("authors'"):
            continue
        line, _, (bars,) = container.lines
        for x, y, segment in zip(line.get_xdata(), line.get_ydata(), bars.get_segments()):
            points.append((float(x), float(y), float(segment[:, 1].min()), float(segment[:, 1].max()),
                           container.get_label()))
    return sorted(points)


def assert_points(drawn, expected) -> None:
    """Two lists of equal-length tuples of numbers are the same to float precision (pytest.approx takes flat ones)."""
    drawn, expected = np.asarray(drawn, dtype=float), np.asarray(expected, dtype=float)
    assert drawn.shape == expected.shape, (drawn, expected)
    np.testing.assert_allclose(drawn, expected, rtol=1e-9, atol=1e-12)
