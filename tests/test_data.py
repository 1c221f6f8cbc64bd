"""Dataset loading: the embedded mnist5k, the shipped mnist25k and cifar10_5k (against literal facts of the
official data, and byte for byte against ../shared/data when it is there), and the torchvision datasets
read from tiny files written in each dataset's official on-disk format, through the same code path as the
real files. Bad files (missing, empty, a bad IDX header, a failed md5 or sha256) stop with one message.

The one deviation from the real path: torchvision checks CIFAR-10 and SVHN files (and archives
before unpacking) against the md5 of the official files, which tiny files cannot match. Those tests
replace the expected md5 in torchvision's class attributes with the md5 of the tiny files, so
torchvision's integrity check still runs, on the files written here.
"""

import gzip
import hashlib
from pathlib import Path
import pickle
import shutil
import struct

import numpy as np
import pytest
import scipy.io
import torch
from torchvision import datasets as tv
from torchvision.datasets import utils as tv_utils

from lsstudy import data
from lsstudy.data import (
    EXPECTED_FILES, DataCorruptError, DataError, DataNotFoundError, check_available, load, load_test_slice, split_size,
)

TORCHVISION_DATASETS = ["mnist", "fashion_mnist", "cifar10", "svhn"]
N = {"train": 20, "test": 10}


def as_uint8(x: torch.Tensor) -> np.ndarray:
    return (x * 255).round().to(torch.uint8).numpy()


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def check_loaded(x, y, images_nchw: np.ndarray, labels: np.ndarray) -> None:
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.shape == images_nchw.shape and y.shape == labels.shape
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(as_uint8(x), images_nchw)
    np.testing.assert_array_equal(y.numpy(), labels)


# --- mnist5k ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist5k():
    return {split: load("mnist5k", split) for split in ("train", "test")}


def test_mnist5k_shapes_range_and_stratified_sizes(mnist5k):
    for split, n in (("train", 4000), ("test", 1000)):
        x, y = mnist5k[split]
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.min() >= 0.0 and x.max() == 1.0
        assert torch.bincount(y, minlength=10).tolist() == [n // 10] * 10


def test_mnist5k_is_deterministic(mnist5k):
    x, y = load("mnist5k", "test")
    assert torch.equal(x, mnist5k["test"][0]) and torch.equal(y, mnist5k["test"][1])


def test_test_slice_is_the_window_of_the_test_split(mnist5k):
    x, y = load_test_slice("mnist5k", 10, 20)
    assert torch.equal(x, mnist5k["test"][0][10:30]) and torch.equal(y, mnist5k["test"][1][10:30])


def test_mnist5k_splits_are_disjoint_and_shuffled(mnist5k):
    train_rows = {row.tobytes() for row in as_uint8(mnist5k["train"][0]).reshape(4000, -1)}
    assert not any(row.tobytes() in train_rows for row in as_uint8(mnist5k["test"][0]).reshape(1000, -1))
    for _, y in mnist5k.values():
        assert not torch.all(y[1:] >= y[:-1])  # the source rows are sorted by class


# --- shipped: mnist25k and cifar10_5k --------------------------------------------------------------

SHARED = Path(__file__).parents[2] / "shared" / "data"  # the verified originals, next to the checkout
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not there")

# Facts of the official datasets: split sizes, first ten labels, class counts of these prefixes.
SHIPPED_FACTS = {
    ("mnist25k", "train"): (25_206, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
                            [2489, 2873, 2470, 2614, 2471, 2252, 2486, 2623, 2409, 2519]),
    ("mnist25k", "test"): (10_000, [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
                           [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    ("cifar10_5k", "train"): (5_438, [6, 9, 9, 4, 1, 1, 2, 7, 8, 3],
                              [541, 564, 524, 529, 563, 523, 540, 548, 572, 534]),
    ("cifar10_5k", "test"): (1_017, [3, 8, 8, 0, 6, 6, 1, 6, 3, 1],
                             [105, 93, 100, 104, 92, 87, 114, 102, 110, 110]),
}
MNIST25K_FILES = [f"{prefix}-{kind}-ubyte" for prefix in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    # From another working directory: the shipped files are found from the package, not from the cwd.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("elsewhere"))
        return {key: load(*key) for key in SHIPPED_FACTS}


@pytest.mark.parametrize("key", SHIPPED_FACTS)
def test_shipped_split_has_the_official_size_labels_and_class_counts(key, shipped):
    n, first_labels, class_counts = SHIPPED_FACTS[key]
    channels, size = (1, 28) if key[0] == "mnist25k" else (3, 32)
    x, y = shipped[key]
    assert x.shape == (n, channels, size, size) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert y[:10].tolist() == first_labels and torch.bincount(y, minlength=10).tolist() == class_counts
    assert split_size(*key) == n


def test_split_size_of_mnist5k_is_what_loads(mnist5k):
    assert {split: split_size("mnist5k", split) for split in mnist5k} == {s: len(y) for s, (_, y) in mnist5k.items()}


def test_shipped_files_are_tracked_and_pass_the_check():
    for name in data.SHIPPED_DATASETS:
        check_available(name)  # sha256 of every file, as recorded in data.py


def idx_array(raw: bytes, ndim: int) -> np.ndarray:
    """The test's own IDX reader: the uint8 data after the header, shaped by the header."""
    dims = struct.unpack_from(f">{ndim}I", raw, 4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@needs_shared
@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist25k_is_byte_for_byte_the_shared_idx_files(split, shipped):
    prefix = "train" if split == "train" else "t10k"
    raw = {}
    for f in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"):
        raw[f] = (SHARED / "mnist" / "MNIST" / "raw" / f).read_bytes()
        assert gzip.decompress((data.SHIPPED_ROOT / "mnist25k" / f"{f}.gz").read_bytes()) == raw[f]
    images = idx_array(raw[f"{prefix}-images-idx3-ubyte"], 3)[:, None]
    check_loaded(*shipped["mnist25k", split], images, idx_array(raw[f"{prefix}-labels-idx1-ubyte"], 1).astype(np.int64))


@needs_shared
def test_cifar10_5k_is_byte_for_byte_the_shared_npz(shipped):
    assert (data.SHIPPED_ROOT / "cifar10_5k.npz").read_bytes() == (SHARED / "cifar10_subset.npz").read_bytes()
    with np.load(SHARED / "cifar10_subset.npz") as arrays:
        for split in ("train", "test"):
            images = arrays[f"x_{split}"].transpose(0, 3, 1, 2)  # HWC as stored
            check_loaded(*shipped["cifar10_5k", split], images, arrays[f"y_{split}"])


@pytest.mark.parametrize("f", [pytest.param(f, marks=pytest.mark.slow) if "images" in f else f for f in MNIST25K_FILES])
def test_mnist25k_gzip_is_deterministic(f):
    """Rebuilding from the unpacked bytes (level 9, mtime 0, no name) gives the shipped bytes (the image
    files take ~20 s to compress at level 9: slow)."""
    shipped_gz = (data.SHIPPED_ROOT / "mnist25k" / f"{f}.gz").read_bytes()
    assert gzip.compress(gzip.decompress(shipped_gz), compresslevel=9, mtime=0) == shipped_gz


# --- official on-disk formats ----------------------------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    """IDX format: big-endian magic 0x0800 + ndim (2051 for images, 2049 for labels), dims, uint8 data."""
    return struct.pack(f">{1 + array.ndim}I", 0x0800 + array.ndim, *array.shape) + array.tobytes()


def write_idx_split(raw, split: str, rng, gz: bool):
    prefix = "train" if split == "train" else "t10k"
    images = rng.integers(0, 256, (N[split], 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, len(images), dtype=np.uint8)
    raw.mkdir(parents=True, exist_ok=True)
    for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (raw / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))
        else:
            (raw / name).write_bytes(idx_bytes(array))
    return images[:, None], labels.astype(np.int64)


def write_mnist_like(folder, gz: bool = False):
    """Unpacked idx files as torchvision reads them, or the official .gz archives it downloads."""
    rng = np.random.default_rng(1)
    return {split: write_idx_split(folder, split, rng, gz) for split in ("train", "test")}


class Py2Pickler(pickle._Pickler):
    """Pickles bytes as Python 2 ``str`` (opcode BINSTRING), as the official CIFAR-10 batches were written:
    they unpickle to str keys with torchvision's encoding="latin1" and to b"data" with encoding="bytes"."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def write_py2_pickle(path, obj) -> None:
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)


CIFAR10_CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def write_cifar10(folder):
    """cifar-10-batches-py: 5 train batches of 4 images, a test batch of 10; rows are R, G, B planes."""
    rng = np.random.default_rng(2)
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    images, labels = {"train": [], "test": []}, {"train": [], "test": []}
    for name, split, n in [(f"data_batch_{i}", "train", 4) for i in range(1, 6)] + [("test_batch", "test", 10)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        targets = rng.integers(0, 10, n).tolist()
        write_py2_pickle(batches / name, {
            b"batch_label": name.encode(), b"labels": targets, b"data": data,
            b"filenames": [f"{name}_{i}.png".encode() for i in range(n)],
        })
        images[split].append(data.reshape(n, 3, 32, 32))
        labels[split] += targets
    meta = {b"num_cases_per_batch": 4, b"num_vis": 3072, b"label_names": CIFAR10_CLASSES}
    write_py2_pickle(batches / "batches.meta", meta)
    return {split: (np.concatenate(images[split]), np.array(labels[split], dtype=np.int64)) for split in images}


def write_svhn(folder):
    """{train,test}_32x32.mat: X uint8 (32, 32, 3, N) as (row, column, channel, image), y (N, 1) in 1..10, 10 for 0."""
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True)
    written = {}
    for split in ("train", "test"):
        X = rng.integers(0, 256, (32, 32, 3, N[split]), dtype=np.uint8)
        y = rng.integers(1, 11, (N[split], 1), dtype=np.uint8)
        y[0] = 10
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": X, "y": y})
        written[split] = (X.transpose(3, 2, 0, 1), np.where(y[:, 0] == 10, 0, y[:, 0]).astype(np.int64))
    return written


def accept_written_md5(monkeypatch, name, folder) -> None:
    """The documented deviation: expect the md5 of the tiny files instead of the official ones."""
    if name == "cifar10":
        batches = folder / "cifar-10-batches-py"
        for attr in ("train_list", "test_list"):
            monkeypatch.setattr(tv.CIFAR10, attr, [[f, md5(batches / f)] for f, _ in getattr(tv.CIFAR10, attr)])
        monkeypatch.setattr(tv.CIFAR10, "meta", {**tv.CIFAR10.meta, "md5": md5(batches / "batches.meta")})
    if name == "svhn":
        monkeypatch.setattr(tv.SVHN, "split_list", {
            split: [url, f, md5(folder / f) if (folder / f).exists() else checksum]
            for split, (url, f, checksum) in tv.SVHN.split_list.items()
        })


WRITERS = {"mnist": write_mnist_like, "fashion_mnist": write_mnist_like, "cifar10": write_cifar10, "svhn": write_svhn}
TORCHVISION_FOLDER = {"mnist": "MNIST/raw", "fashion_mnist": "FashionMNIST/raw", "cifar10": "", "svhn": ""}


@pytest.mark.parametrize("name", TORCHVISION_DATASETS)
def test_loads_official_format_exactly(name, tmp_path, monkeypatch):
    folder = tmp_path / name
    written = WRITERS[name](folder / TORCHVISION_FOLDER[name])
    accept_written_md5(monkeypatch, name, folder)
    for split in ("train", "test"):
        x, y = load(name, split, root=tmp_path)
        channels, size = (1, 28) if "mnist" in name else (3, 32)
        assert x.shape == (N[split], channels, size, size)
        check_loaded(x, y, *written[split])


def test_placed_mnist_archives_unpack_offline_with_download(tmp_path, monkeypatch):
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    written = write_mnist_like(raw, gz=True)
    monkeypatch.setattr(tv.MNIST, "resources", [(f, md5(raw / f)) for f, _ in tv.MNIST.resources])

    def no_network(*args, **kwargs):
        raise AssertionError("torchvision tried to go online")

    monkeypatch.setattr(tv_utils, "_get_redirect_url", no_network)
    monkeypatch.setattr(tv_utils, "_urlretrieve", no_network)
    check_loaded(*load("mnist", "test", root=tmp_path, download=True), *written["test"])


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TORCHVISION_DATASETS)
def test_missing_files_say_what_where_and_how_to_download(name, tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load(name, "test", root=tmp_path)
    assert isinstance(err.value, FileNotFoundError)
    message = str(err.value)
    assert repr(name) in message and str(tmp_path / name) in message
    assert all(f in message for f in EXPECTED_FILES[name]["test"])
    assert "download=True" in message and "data.download" in message
    assert not (tmp_path / name).exists()  # nothing downloaded or created


def test_missing_files_lists_only_the_missing_ones(tmp_path):
    write_idx_split(tmp_path / "mnist" / "MNIST" / "raw", "train", np.random.default_rng(0), gz=False)
    message = str(pytest.raises(DataNotFoundError, load, "mnist", "train", root=tmp_path).value)
    assert "missing MNIST/raw/t10k-images-idx3-ubyte, MNIST/raw/t10k-labels-idx1-ubyte." in message


def test_files_failing_md5_are_reported(tmp_path):
    write_cifar10(tmp_path / "cifar10")
    official_md5 = dict(tv.CIFAR10.train_list)["data_batch_1"]  # the value torchvision itself checks
    batch = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_1"
    with pytest.raises(DataCorruptError) as err:
        load("cifar10", "train", root=tmp_path)
    assert f"{batch} fails its md5 check (expected {official_md5}, found {md5(batch)})" in str(err.value)


def test_both_errors_are_data_errors():
    assert issubclass(DataNotFoundError, DataError) and issubclass(DataCorruptError, DataError)
    assert issubclass(DataNotFoundError, FileNotFoundError) and not issubclass(DataCorruptError, FileNotFoundError)


@pytest.mark.parametrize("name", TORCHVISION_DATASETS)
def test_empty_files_are_named_in_one_message(name, tmp_path):
    """Empty files where the dataset belongs (seven for CIFAR-10), given through a detour in the root."""
    folder = tmp_path / name
    files = list(dict.fromkeys(f for split in ("train", "test") for f in EXPECTED_FILES[name][split]))
    for f in files:
        (folder / f).parent.mkdir(parents=True, exist_ok=True)
        (folder / f).touch()
    detour = tmp_path / "notebooks" / ".."
    (tmp_path / "notebooks").mkdir()
    checks = [(lambda: check_available(name, detour), files),  # every file of the dataset
              (lambda: load(name, "test", root=detour), EXPECTED_FILES[name]["test"])]  # the split's files
    for check, named in checks:
        message = str(pytest.raises(DataCorruptError, check).value)
        assert message.startswith(f"dataset {name!r} has corrupt files:") and "notebooks" not in message
        assert all(f"{folder / f} is empty (0 bytes)" in message for f in named)
        assert message.count("is empty") == len(named)


def test_empty_cifar10_files_are_left_to_torchvision_when_downloading(tmp_path):
    # torchvision checks their md5 itself and fetches them again
    batches = tmp_path / "cifar10" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for f in EXPECTED_FILES["cifar10"]["train"]:
        (tmp_path / "cifar10" / f).touch()
    check_available("cifar10", tmp_path, download=True)


def garble(path, offset: int, garbage: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(garbage)] = garbage
    path.write_bytes(raw)


@pytest.mark.parametrize("download", [False, True])
def test_garbage_in_an_mnist_idx_header_is_named(download, tmp_path):
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    write_mnist_like(raw)
    garble(raw / "t10k-images-idx3-ubyte", 0, b"\xde\xad\xbe\xef")
    expected = f"{raw / 't10k-images-idx3-ubyte'} has IDX magic number {0xdeadbeef}, expected 2051"
    assert expected in str(pytest.raises(DataCorruptError, check_available, "mnist", tmp_path, download).value)
    # torchvision alone raises a bare AssertionError here; load stops first, with the same message
    assert expected in str(pytest.raises(DataCorruptError, load, "mnist", "train", tmp_path, download).value)


def test_idx_file_whose_size_disagrees_with_its_header_is_named(tmp_path):
    raw = tmp_path / "fashion_mnist" / "FashionMNIST" / "raw"
    write_mnist_like(raw)
    garble(raw / "train-labels-idx1-ubyte", 4, struct.pack(">I", 21))  # 21 labels declared, 20 there
    message = str(pytest.raises(DataCorruptError, load, "fashion_mnist", "test", tmp_path).value)
    assert f"{raw / 'train-labels-idx1-ubyte'} has 28 bytes, but its IDX header (21) needs 29" in message


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """A copy of the shipped files that the loader reads instead of the real data/."""
    copy = tmp_path / "data"
    shutil.copytree(data.SHIPPED_ROOT / "mnist25k", copy / "mnist25k")
    shutil.copy(data.SHIPPED_ROOT / "cifar10_5k.npz", copy)
    monkeypatch.setattr(data, "SHIPPED_ROOT", copy)
    return copy


def test_corrupted_shipped_file_fails_its_sha256(shipped_copy):
    labels = shipped_copy / "mnist25k" / "t10k-labels-idx1-ubyte.gz"
    garble(labels, 100, bytes([labels.read_bytes()[100] ^ 1]))
    recorded = data.SHIPPED_SHA256["mnist25k/t10k-labels-idx1-ubyte.gz"]
    found = hashlib.sha256(labels.read_bytes()).hexdigest()
    expected = f"{labels} fails its sha256 check (expected {recorded}, found {found})"
    for check in (lambda: check_available("mnist25k"), lambda: load("mnist25k", "test")):
        message = str(pytest.raises(DataCorruptError, check).value)
        assert expected in message and "git checkout" in message
    load("mnist25k", "train")  # the other split's files are intact


def test_missing_shipped_file_says_to_restore_it_from_git(shipped_copy):
    (shipped_copy / "cifar10_5k.npz").unlink()
    message = str(pytest.raises(DataNotFoundError, load, "cifar10_5k", "test").value)
    assert f"not available in {shipped_copy}: none of its files is there" in message and "git checkout" in message


def test_unknown_dataset_or_split_names_the_argument():
    with pytest.raises(ValueError, match="dataset='imagenet'"):
        load("imagenet", "train")
    with pytest.raises(ValueError, match="split='val'"):
        load("mnist5k", "val")
    with pytest.raises(ValueError, match="split='val'"):
        split_size("mnist25k", "val")
