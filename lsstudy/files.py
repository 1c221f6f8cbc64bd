"""Writing outputs so that a kill mid-write never leaves a truncated file behind.

Every file the package writes (checkpoints, tables, figures, caches) goes through ``atomic_path``:
the writer fills a temporary file in the same folder, which is renamed over the target only once it
is complete. A rename within one file system is atomic, so readers see the old file or the new one,
never half of one. A SIGKILL runs no clean-up, so it can leave the temporary file: ``remove_leftovers``
removes those of a stage's outputs before the stage runs again.
"""

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix, so writers that pick a format from the
    suffix still work); on success it replaces ``path``, on error it is removed and ``path`` is left
    as it was. For example ``with atomic_path("results/table.csv") as tmp: frame.to_csv(tmp)``.
    """
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
        os.close(handle)
        tmp = Path(name)
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; outputs get the usual mode
        os.replace(tmp, path)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):  # the writer's own message names no file
            raise OSError(error.errno, f"{error.strerror}: no room for {path.name} in {path.parent.resolve()}; "
                          "free some space there, then run again (finished work is kept)") from None
        raise
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def remove_leftovers(path: str | Path) -> list[Path]:
    """Remove the temporary files of ``atomic_path`` that a kill left beside the file ``path``, or anywhere
    inside the folder ``path``; return them. Only for outputs that no other process is writing."""
    path = Path(path)
    found = sorted(path.rglob(".*.tmp*")) if path.is_dir() else sorted(path.parent.glob(f".{path.stem}.*.tmp{path.suffix}"))
    for leftover in found:
        leftover.unlink(missing_ok=True)
    return found


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path: str | Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def write_table(frame, path: str | Path) -> Path:
    """Write a DataFrame as CSV (no index) to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)
