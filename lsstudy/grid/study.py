"""What the drivers of a study share: its data, and the digests that key reused work.

The drivers (``lsstudy.grid.training``, ``lsstudy.grid.attacks``) reuse work per model, keyed by content: a
checkpoint by its recipe, the training data and the digest of the training code; an evaluation by the
checkpoint's bytes, the attack settings, the attacked points, the transfer examples and the digest of the
evaluation code. So adding an alpha trains and attacks only the new models, changing an attack setting
re-attacks every model and retrains none, and a stage stopped half-way (an interrupt, a crashed worker)
resumes where it stopped. Only the drivers write files; the units (``lsstudy.grid.units``) return results.
"""

import gzip
import hashlib
import io
import json
import pickle
from dataclasses import fields
from pathlib import Path

import pandas as pd
import torch

from lsstudy import data
from lsstudy.files import atomic_path
from lsstudy.grid.runs import RunConfig
from lsstudy.sources import ROOT, module_files


def code_digest(module: str) -> str:
    """SHA-256 of every lsstudy source file that importing ``module`` runs (followed through its imports),
    so no edit to code a unit runs can reuse a stale result."""
    digest = hashlib.sha256()
    for path in module_files(module):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def tensor_digest(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def json_digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def load_split(base: dict, data_settings: dict, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``split`` of the study's dataset; ``data.root`` is relative to the repository ``root``."""
    return data.load(base["dataset"], split, root=Path(root) / data_settings["root"], download=data_settings["download"])


def load_window(dataset: str, offset: int, size: int, data_settings: dict, root: Path
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Points [offset, offset + size) of the test split of ``dataset``; ``data.root`` is relative to ``root``."""
    return data.load_test_slice(dataset, offset, size, root=Path(root) / data_settings["root"],
                                download=data_settings["download"])


def test_split(base: dict, data_settings: dict, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Points [test_offset, test_offset + test_size) of the test split (the paper's test slices)."""
    return load_window(base["dataset"], base["test_offset"], base["test_size"], data_settings, root)


def settings_first(table: pd.DataFrame) -> pd.DataFrame:
    front = [field.name for field in fields(RunConfig)]
    return table[front + [c for c in table.columns if c not in front]]


def read_cache(path: Path, key: str) -> dict | None:
    """The value ``write_cache`` stored at ``path`` if its key is ``key``; None if absent, different or unreadable."""
    try:
        with gzip.open(path, "rb") as stream:
            cached = pickle.load(stream)
        if cached.get("key") != key:
            return None
        return {"key": key, **{name: pickle.loads(part) for name, part in cached["parts"].items()}}
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, KeyError, TypeError):
        return None  # absent, truncated or from other library versions: evaluate again


class _TensorsAsArrays(pickle.Pickler):
    """Pickles a tensor as its numpy array: torch's own reduction names each storage after its memory address,
    so the same tensor pickled by two processes gives different bytes. Unpickled, it is a tensor again."""

    def reducer_override(self, obj):
        if isinstance(obj, torch.Tensor):
            return torch.from_numpy, (obj.detach().cpu().numpy(),)
        return NotImplemented


def _same_bytes_pickle(part) -> bytes:
    buffer = io.BytesIO()
    _TensorsAsArrays(buffer).dump(part)
    return buffer.getvalue()


def write_cache(path: Path, value: dict) -> None:
    """Store ``value`` (its "key" and its parts) at ``path`` so that the same value gives the same bytes (the file
    is a DVC output, and dvc.lock records its hash): each part is pickled on its own (a pickle of several
    objects depends on which of their pieces happen to be shared), tensors as numpy arrays, and the gzip
    header has no time stamp."""
    parts = {name: _same_bytes_pickle(part) for name, part in value.items() if name != "key"}
    with (atomic_path(path) as tmp, open(tmp, "wb") as raw,
          gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as stream):  # no name, no time in the header
        pickle.dump({"key": value["key"], "parts": parts}, stream)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
