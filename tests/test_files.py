"""Atomic writes: a writer that fails half-way leaves the old file, and no temporary file, behind; a full disk is
named by its folder."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    mask = os.umask(0o022)
    try:
        path = write_text(tmp_path / "report.md", "shared\n")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="mounts a tiny file system: needs root")
def test_a_full_disk_is_named_by_its_folder_and_leaves_no_temporary(tmp_path):
    disk, script = tmp_path / "disk", tmp_path / "write.py"
    disk.mkdir()
    script.write_text(f"from lsstudy.files import write_bytes\nwrite_bytes({str(disk / 'models' / 'm.pt')!r}, bytes(1 << 20))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    # a 64 KiB file system of its own, in a private mount namespace: a megabyte does not fit
    shell = f"mount -t tmpfs -o size=64k tmpfs {disk} && {sys.executable} {script}; ls -A {disk / 'models'}"
    result = subprocess.run(["unshare", "-m", "sh", "-c", shell], env=env, capture_output=True, text=True)
    assert result.stderr.splitlines()[-1] == (f"OSError: [Errno 28] No space left on device: no room for m.pt in "
                                              f"{disk / 'models'}; free some space there, then run again (finished "
                                              "work is kept)")
    assert result.stdout == ""  # no temporary file left in the folder
