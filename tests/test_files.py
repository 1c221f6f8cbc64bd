"""Atomic writes: a writer that fails half-way leaves the old file, and no temporary file, behind."""

import pytest

from lsstudy.files import atomic_path, write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_text(tmp_path / "table.csv", "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_a_finished_write_replaces_the_file_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "sub" / "figure.png"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == target.parent
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["figure.png"]


def test_outputs_get_the_usual_file_mode_not_a_private_one(tmp_path):
    import os
    mask = os.umask(0o022)
    try:
        path = write_text(tmp_path / "report.md", "shared\n")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
