"""A dress rehearsal of `make paper`: every study of params-paper.yaml (and the toys it sets) run end to end, at
tiny sizes, through the command `make paper` runs (`python -m lsstudy.pipeline.experiment run params-paper.yaml --name
paper`: the dataset check, then `dvc exp run -n paper` with the arguments of `python -m lsstudy.pipeline.params set-args
params-paper.yaml`), so a paper study that cannot run is found here and not after hours on a GPU. Opt-in
(`python -m pytest -q -m paper`, marker `paper`; .ci/run runs it after `make test`): about 24 minutes on one core
(1,412 s for the experiment, most of it training ResNet18s).

The rehearsal runs in a temporary copy of the repository: the working tree's files (tracked, and untracked ones
git does not ignore), in a fresh git repository with one commit (DVC's experiments need one). In the copy:

- params-paper.yaml is the repository's, each study with ``TINY`` (and its ``PER_STUDY`` entry) merged on top:
  1 epoch, one grid seed and two judging seeds, 30 test and 20 selection points, two alphas, attacks of 2 or 3
  steps (the CIFAR studies at the strong eps only), AutoAttack at 2 steps, one worker with one torch thread
  (``engine.workers``). Every other key is the paper's: archs, MNIST's and SVHN's eps grids, plain SGD at lr 0.01
  with the plateau schedule on the smoothed loss, the windows' offsets. The two studies on shipped data (mnist25k, cifar10_5k_resnet18) train on their full training sets,
  so there they train fewer methods (mnist and cifar10 run the same settings with every method);
  cifar10_5k_resnet18 also holds out half of its training set and judges on one seed (a ResNet18 epoch on the
  2,700 images left takes about 80 s on one core).
  Thirty test points hold every class in each test window: a model trained one epoch that answers one class for
  every image still classifies some of them, which the verdict's diagnostics figure needs (with 10 points, a
  cifar10 LeNet that classified none stopped verdict@cifar10: ValueError "arch='lenet' has no diagnostics").
- params.yaml is the repository's with its own studies left out, as if `make study` had already brought them up
  to date (DVC runs only the new studies then); its toy stages run, at their own sizes (seconds each).
- The full datasets, absent here, are stand-ins built from the shipped data, written under each dataset's own
  name in the files torchvision's class reads: mnist (``data/raw/mnist/MNIST/raw/``, unpacked IDX files) from
  mnist25k, its first 5,000 training digits and all 10,000 test digits; cifar10 (``cifar-10-batches-py/``:
  five pickled batches of 60 images, a test batch of 10,000, ``batches.meta``) and svhn
  (``{train,test}_32x32.mat``: 2,000 training images, 5,300 test images; X as (row, column, channel, image),
  labels 1-10 with 10 for the digit 0) from cifar10_5k, its test images repeated to fill the paper's test
  windows (CIFAR-10 test images 5,000-7,999, SVHN 5,000-5,299, the selection points before them).
- One deviation from the real path, as in tests/test_data.py: torchvision (and ``lsstudy.data``, which reads
  torchvision's lists) checks CIFAR-10 and SVHN files against the md5 of the official files, which stand-ins
  cannot match. A ``sitecustomize`` module on the stages' PYTHONPATH (outside the copy) replaces the expected
  md5 in torchvision's CIFAR10 and SVHN class attributes with the md5 of the files written here when torchvision
  first imports those classes, so the integrity check still runs, on these files.

Then every output dvc.yaml declares for every stage of every study (outs, metrics, plots) exists and holds
data, every figure opens and shows data (colours beyond the axes' greys), and the experiment is recorded.
"""

import gzip
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import yaml
from PIL import Image

from lsstudy.pipeline import params
from lsstudy.pipeline.params import merge

pytestmark = pytest.mark.paper

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data"

# Tiny sizes for every paper study, merged onto its settings (the paper's keys stay wherever these say nothing).
TINY = {
    "base": {"seeds": [0], "test_size": 30},
    "train": {"alphas": [0.1, 1.0], "epochs": 1, "bls_temperatures": [0.01],
              "pgd_training": {"steps": 1, "start_epoch": 1}},  # start_epoch 1: the PGD half runs in the one epoch
    "attack": {"bim_steps": 2, "min_norm_size": 4, "deepfool": {"steps": 3}, "cw_l2": {"steps": 3, "search_steps": 1},
               "strong": {"pgd": {"steps": 2, "restarts": 1}, "apgd_steps": 2, "square_queries": 5,
                          "transfer": {"steps": 2, "restarts": 1}},
               "selection": {"size": 20}},
    "confirm": {"seeds": [3, 4], "test_size": 30, "autoattack": {"steps": 2, "targets": 2, "queries": 5}},
}
CIFAR_EPS = {"attack": {"eps": [0.0, 0.025, 0.05]}, "figures": {"alpha_figure_eps": [0.025, 0.05]}}  # strong eps, 0
PER_STUDY = {
    "mnist": {},  # every method and baseline, the paper's 11 eps
    "mnist25k": {"train": {"methods": ["none", "adversarial"], "baselines": ["scaled_logits"]},
                 "verdict": {"primary": ["adversarial"]}},
    "cifar10": {**CIFAR_EPS, "train": {"methods": ["none", "adversarial", "boltzmann"], "alphas": [1.0]},
                "verdict": {"primary": ["adversarial", "boltzmann"]}},
    "cifar10_5k_resnet18": {**CIFAR_EPS, "train": {"methods": ["none", "standard"], "alphas": [0.1], "baselines": [],
                                                   "val_fraction": 0.5},
                            "confirm": {"seeds": [3]}, "verdict": {"primary": ["standard"]}},
    "svhn": {},
}
TINY_TOYS = {"toy_gradient_gap": {"test_size": 20, "epochs": 1}, "toy_logit_squeezing": {"test_size": 20, "epochs": 1}}
ENGINE = {"workers": 1, "threads_per_unit": 1}

# The stand-ins' sizes (see the module's docstring).
MNIST_TRAIN = 5000
CIFAR_TRAIN_PER_BATCH = 60
SVHN_TRAIN, SVHN_TEST = 2000, 5300
CIFAR_TEST = 10_000


def tiny_paper(paper: dict) -> dict:
    """params-paper.yaml with every study and toy at its tiny size, and the engine at one worker."""
    studies = {name: merge(merge(settings, TINY), PER_STUDY[name]) for name, settings in paper["studies"].items()}
    toys = {name: merge(paper[name], TINY_TOYS[name]) for name in params.TOYS if name in paper}
    return {"engine": ENGINE, "studies": studies, **toys}


# ---- the copy ---------------------------------------------------------------------------------------

def working_tree_files() -> list[str]:
    """The repository's files as they are now: tracked ones still there, and untracked ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    return sorted({f for f in listed if f and (ROOT / f).is_file()})


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=rehearsal", "-c", "user.email=rehearsal@example.com", *args], cwd=repo,
                   check=True, capture_output=True)


def copy_repository(target: Path) -> Path:
    for name in working_tree_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    current = params.load_params(ROOT / "params.yaml")
    (target / "params.yaml").write_text(yaml.safe_dump({**current, "studies": {}}, sort_keys=False))
    paper = params.load_params(ROOT / "params-paper.yaml")
    (target / "params-paper.yaml").write_text(yaml.safe_dump(tiny_paper(paper), sort_keys=False))
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "the repository, with the paper studies at tiny sizes")
    return target


# ---- the stand-in datasets, in torchvision's formats -----------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    """IDX: big-endian magic 0x0800 + ndim (2051 images, 2049 labels), the dimensions, then the uint8 data."""
    return np.array([0x0800 + array.ndim, *array.shape], ">u4").tobytes() + array.astype(np.uint8).tobytes()


def shipped_idx(name: str) -> np.ndarray:
    raw = gzip.decompress((SHIPPED / "mnist25k" / f"{name}.gz").read_bytes())
    ndim = raw[3]
    dims = np.frombuffer(raw[4: 4 * (1 + ndim)], ">u4")
    return np.frombuffer(raw[4 * (1 + ndim):], np.uint8).reshape(dims)


def write_mnist(root: Path) -> None:
    raw = root / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, size in [("train", MNIST_TRAIN), ("t10k", None)]:
        for kind in ["images-idx3", "labels-idx1"]:
            name = f"{prefix}-{kind}-ubyte"
            (raw / name).write_bytes(idx_bytes(shipped_idx(name)[:size]))


def cifar10_5k() -> dict[str, np.ndarray]:
    with np.load(SHIPPED / "cifar10_5k.npz") as arrays:  # uint8 NHWC images, int64 labels
        return {key: arrays[key] for key in arrays.files}


def repeated(array: np.ndarray, size: int) -> np.ndarray:
    return array[np.arange(size) % len(array)]


def write_cifar10(root: Path) -> dict[str, str]:
    """Python-pickled batches (torchvision reads ``data``, rows of R, G and B planes, and ``labels``); the md5 of
    each file."""
    arrays, folder = cifar10_5k(), root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(name: str, x: np.ndarray, y: np.ndarray) -> None:
        rows = x.transpose(0, 3, 1, 2).reshape(len(x), 3 * 32 * 32)
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": rows, "labels": y.tolist(),
                         "filenames": [f"{name}_{i}.png" for i in range(len(x))]}, f, protocol=2)

    n = CIFAR_TRAIN_PER_BATCH
    for i in range(5):
        batch(f"data_batch_{i + 1}", arrays["x_train"][i * n:(i + 1) * n], arrays["y_train"][i * n:(i + 1) * n])
    batch("test_batch", repeated(arrays["x_test"], CIFAR_TEST), repeated(arrays["y_test"], CIFAR_TEST))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"num_cases_per_batch": n, "num_vis": 3072, "label_names": names}, f, protocol=2)
    return {f.name: hashlib.md5(f.read_bytes()).hexdigest() for f in folder.iterdir()}


def write_svhn(root: Path) -> dict[str, str]:
    """{train,test}_32x32.mat: X uint8 (32, 32, 3, N), y (N, 1) in 1..10 (10 for the digit 0); the md5 of each."""
    arrays, folder = cifar10_5k(), root / "svhn"
    folder.mkdir(parents=True)
    for split, size in [("train", SVHN_TRAIN), ("test", SVHN_TEST)]:
        x, y = repeated(arrays[f"x_{split}"], size), repeated(arrays[f"y_{split}"], size)
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": x.transpose(1, 2, 3, 0),  # NHWC -> HWCN
                                                         "y": np.where(y == 0, 10, y).astype(np.uint8)[:, None]})
    return {f.name: hashlib.md5(f.read_bytes()).hexdigest() for f in folder.iterdir()}


SITECUSTOMIZE = '''\
"""The rehearsal's one deviation (tests/test_paper_rehearsal.py): when torchvision's CIFAR10 and SVHN classes are
first imported, expect the md5 of the stand-in files written by the test (md5.json beside this file)."""
import importlib.abc
import importlib.machinery
import json
import sys
from pathlib import Path

MD5 = json.loads((Path(__file__).parent / "md5.json").read_text())


def _patch(module):
    if module.__name__.endswith("cifar"):
        cls, md5 = module.CIFAR10, MD5["cifar10"]
        cls.train_list = [[f, md5[f]] for f, _ in cls.train_list]
        cls.test_list = [[f, md5[f]] for f, _ in cls.test_list]
        cls.meta = {**cls.meta, "md5": md5[cls.meta["filename"]]}
    else:
        cls, md5 = module.SVHN, MD5["svhn"]
        cls.split_list = {split: [url, f, md5.get(f, checksum)] for split, (url, f, checksum) in cls.split_list.items()}


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in ("torchvision.datasets.cifar", "torchvision.datasets.svhn"):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Finder())
'''


def write_datasets(repo: Path, hook: Path) -> None:
    root = repo / "data" / "raw"  # params.yaml's data.root, git-ignored
    write_mnist(root)
    md5 = {"cifar10": write_cifar10(root), "svhn": write_svhn(root)}
    hook.mkdir()
    (hook / "md5.json").write_text(json.dumps(md5))
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)


# ---- the run ----------------------------------------------------------------------------------------------

def environment(repo: Path, hook: Path) -> dict:
    """The venv first on PATH (as the Makefile does, so dvc runs each stage with its python), the copy's lsstudy
    and the md5 hook first on the path, one thread."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": f"{hook}{os.pathsep}{repo}", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def rehearse(target: Path) -> tuple[Path, subprocess.CompletedProcess, float]:
    """The copy with its stand-in data, then `make paper`'s command in it; (copy, the run, seconds)."""
    repo, hook = copy_repository(target / "repo"), target / "hook"
    write_datasets(repo, hook)
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "lsstudy.pipeline.experiment", "run", "params-paper.yaml", "--name",
                          "paper"], cwd=repo, env=environment(repo, hook), capture_output=True, text=True)
    return repo, run, time.perf_counter() - start


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    repo, run, seconds = rehearse(tmp_path_factory.mktemp("paper"))
    print(f"\nthe rehearsal of make paper took {seconds:.0f} s")
    return repo, run


@pytest.fixture(scope="module")
def repo(rehearsal):
    repo, run = rehearsal
    failed = sorted(str(p.relative_to(repo)) for p in (repo / "reports").glob("**/*.failed.ipynb"))
    assert run.returncode == 0, f"failed reports: {failed}\n" + run.stdout[-4000:] + run.stderr[-6000:]
    return repo


def paper_studies() -> list[str]:
    return list(params.load_params(ROOT / "params-paper.yaml")["studies"])


def declared_outputs(repo: Path) -> dict[str, list[Path]]:
    """Every path dvc.yaml declares (outs, metrics, plots) for every stage, per stage name (train@mnist, ...)."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, entry in stages.items():
        for key in (paper_studies() if "foreach" in entry else [None]):
            stage = entry["do"] if key else entry
            paths = [next(iter(item)) if isinstance(item, dict) else item
                     for kind in ["outs", "metrics", "plots"] for item in stage.get(kind, [])]
            out[f"{name}@{key}" if key else name] = [repo / p.replace("${key}", key or "") for p in paths]
    return out


def test_make_paper_runs_every_paper_study_as_one_experiment(repo):
    workspace = params.load_params(repo / "params.yaml")  # dvc exp run leaves the experiment's params in place
    assert set(workspace["studies"]) == set(paper_studies())
    tiny = params.load_params(repo / "params-paper.yaml")
    for name in paper_studies():
        assert params.study(workspace, name) == params.study(merge(workspace, tiny), name)
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=repo, capture_output=True,
                           text=True, env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                                                 f"{os.environ['PATH']}"})
    assert shown.returncode == 0, shown.stderr
    names = [rev.get("name") for entry in json.loads(shown.stdout) for experiment in entry.get("experiments") or []
             for rev in experiment["revs"]]
    assert "paper" in names, names


def test_every_stage_of_every_paper_study_writes_every_declared_output(repo):
    declared = declared_outputs(repo)
    assert {f"{stage}@{study}" for study in paper_studies() for stage in ["train", "attack", "confirm", "figures",
                                                                          "verdict"]} <= set(declared)
    for stage, paths in declared.items():
        for path in paths:
            assert path.exists(), f"{stage}: {path.relative_to(repo)} is missing"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            assert files, f"{stage}: {path.relative_to(repo)} is an empty folder"
            empty = [str(p.relative_to(repo)) for p in files if p.stat().st_size == 0]
            assert not empty, f"{stage}: empty files {empty}"


def test_every_arch_of_every_paper_study_is_trained_attacked_and_judged(repo):
    workspace = params.load_params(repo / "params.yaml")
    for name in paper_studies():
        settings = params.study(workspace, name)
        archs = set(settings["train"]["archs"])
        for table in ["attack/attacks.csv", "confirm/attacks.csv", "verdict/verdict.csv"]:
            found = pd.read_csv(repo / "results" / name / table)
            assert set(found["arch"]) == archs, (name, table)
        attacked = pd.read_csv(repo / "results" / name / "attack" / "attacks.csv")
        grid_eps = {round(e, 9) for e in attacked["eps"].dropna()}
        assert {round(e, 9) for e in settings["attack"]["eps"]} <= grid_eps, name
        metrics = json.loads((repo / "results" / name / "metrics.json").read_text())
        assert metrics and all(arch in json.dumps(metrics) for arch in archs), name


def saturated_pixels(rgb: np.ndarray) -> int:
    """Pixels of a colour (saturation over a third): the data of a figure, never its black, grey or white axes."""
    hsv = np.asarray(Image.fromarray(rgb).convert("HSV"))
    return int(((hsv[..., 1] > 85) & (hsv[..., 2] > 40)).sum())


def test_every_figure_opens_and_shows_data(repo):
    figures = sorted((repo / "figures").rglob("*.png"))
    for name in paper_studies():
        assert list((repo / "figures" / name / "paper").glob("*.png")), name
        assert list((repo / "figures" / name / "verdict").glob("*.png")), name
    blank = []
    for path in figures:
        with Image.open(path) as image:
            image.verify()
        rgb = np.asarray(Image.open(path).convert("RGB"))
        colours = len(np.unique(rgb.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], np.int32)))
        coloured = saturated_pixels(rgb)
        if colours < 16 or (rgb.min(axis=2) < 250).mean() < 0.01 or coloured < 50:
            blank.append((str(path.relative_to(repo)), colours, coloured))
    assert not blank, blank


def test_the_stand_ins_hold_the_shipped_data_where_torchvision_reads_it(repo):
    # checked through lsstudy.data in a process with the md5 hook, as the stages read them
    code = ("from lsstudy import data; import json; print(json.dumps({n: [list(data.load(n, s)[0].shape) for s in "
            "['train', 'test']] for n in ['mnist', 'cifar10', 'svhn']}))")
    shapes = json.loads(subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, capture_output=True,
                                       text=True, env=environment(repo, repo.parent / "hook")).stdout)
    assert shapes == {"mnist": [[MNIST_TRAIN, 1, 28, 28], [10_000, 1, 28, 28]],
                      "cifar10": [[5 * CIFAR_TRAIN_PER_BATCH, 3, 32, 32], [CIFAR_TEST, 3, 32, 32]],
                      "svhn": [[SVHN_TRAIN, 3, 32, 32], [SVHN_TEST, 3, 32, 32]]}
