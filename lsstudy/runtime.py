"""Device choice and seeding: CUDA when present, else CPU; every run seeded.

The engine pins each worker to one device (``on_device``); ``default_device`` is then that device, so
units place their models and tensors on the worker's GPU without being told.
"""

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

_pinned: torch.device | None = None
PROGRESS_ENV = "LSSTUDY_PROGRESS"  # set by the stage runner: a file its terminal progress display reads


def progress_elsewhere() -> bool:
    """Whether the stage runner shows progress in the terminal: notebooks then draw no bars of their own, so the
    executed notebook records no timings and the same run gives the same report."""
    return bool(os.environ.get(PROGRESS_ENV))


def default_device() -> torch.device:
    """The device pinned by ``on_device``, else CUDA when present, else CPU."""
    if _pinned is not None:
        return _pinned
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def on_device(device: str | torch.device) -> Iterator[torch.device]:
    """Make ``device`` the default device inside the block."""
    global _pinned
    previous, _pinned = _pinned, torch.device(device)
    try:
        yield _pinned
    finally:
        _pinned = previous


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for data shuffling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
