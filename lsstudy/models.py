"""The paper's architectures, with input normalisation inside the model.

Inputs are images in [0, 1]; each model starts with the paper's per-dataset scaling (MNIST-like data
shifted to [-0.5, 0.5], CIFAR-10 and SVHN mapped to [-1, 1]), so attacks and epsilons stay in pixel
units. Every model returns logits.

=========  ==========================  ===============================================================
arch       datasets                    layers (docs/paper.md, "Settings")
=========  ==========================  ===============================================================
linear     any                         softmax regression: flatten, one affine map (``bias`` optional)
mlp        any                         flatten, 500, 256, K with ReLU (the paper's MNIST MLP)
lenet      1-channel 28x28 (MNIST)     conv 10 k5, pool, conv 20 k5, dropout, pool, fc 50, dropout, fc K
lenet      3-channel 32x32 (CIFAR)     conv 6 k5, pool, conv 16 k5, pool, fc 120, fc 84, fc K
resnet18   any                         CIFAR-style ResNet18: 3x3 stem, no max-pool, [2, 2, 2, 2] blocks
=========  ==========================  ===============================================================
"""

import io
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import lsstudy
from lsstudy.checks import check_choice
from lsstudy.conv_pool import conv_pool, max_pool
from lsstudy.data import DATASETS, spec
from lsstudy.files import write_bytes

ARCHS = ["linear", "mlp", "lenet", "resnet18"]


class Normalize(nn.Module):
    """(x - mean) / std per channel; lives in the model so attacks work in [0, 1] pixel space."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ScaledLogits(nn.Module):
    """Logits times a constant: the same predictions, a saturated softmax (the ``scaled_logits`` control)."""

    def __init__(self, scale: float):
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits * self.scale


def with_logit_scale(model: nn.Sequential, scale: float) -> nn.Sequential:
    """``model`` (from ``build``) with its logits multiplied by ``scale``, as ``build(..., logit_scale=scale)``
    lays it out, so that its checkpoint rebuilds."""
    return nn.Sequential(*model, ScaledLogits(scale))


class LeNetMNIST(nn.Module):
    """The MNIST LeNet of the authors' code (PyTorch's MNIST example network), with its pools by ``conv_pool``
    and ``max_pool`` (the same function, faster on a CPU)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(conv_pool(x, self.conv1))
        x = F.relu(max_pool(self.conv2_drop(self.conv2(x))))
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(F.dropout(x, training=self.training))


class LeNetCIFAR(nn.Module):
    """The CIFAR-10/SVHN LeNet of the authors' code (PyTorch's CIFAR tutorial network), with its pools by
    ``conv_pool`` and ``max_pool``, the first ReLU after its pool: max-pooling commutes with a ReLU, values and
    gradients alike (both are monotone, and a window the ReLU zeroes has a zero gradient either way)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv1, _, _, conv2, relu, _ = self.features  # conv_pool and max_pool do the pools, the first after its ReLU
        x = F.relu(conv_pool(x, conv1))
        return self.classifier(max_pool(relu(conv2(x))))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet18 for small images (He et al. 2016, CIFAR variant: 3x3 stem, no max-pool).

    torchvision's resnet18 is the ImageNet variant (7x7 stride-2 stem and max-pool), which shrinks a
    32x32 image to 1x1 too early, hence this short re-implementation.
    """

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers, in_planes = [], 64
        for planes, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)]
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1)
        return self.fc(out.flatten(1))


def build(arch: str, dataset: str, bias: bool = True, seed: int | None = None,
          logit_scale: float | None = None) -> nn.Module:
    """The paper's ``arch`` for ``dataset``, normalisation first, logits out.

    ``bias`` only applies to ``linear`` (the gradient-gap study uses a bias-free softmax regression).
    ``seed`` fixes the initial weights without touching the global random state. ``logit_scale`` multiplies
    the logits (``with_logit_scale``).
    """
    if logit_scale is not None:
        return with_logit_scale(build(arch, dataset, bias, seed), logit_scale)
    check_choice("arch", arch, ARCHS)
    check_choice("dataset", dataset, DATASETS)
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build(arch, dataset, bias)
    s = spec(dataset)
    n_inputs = s.channels * s.size * s.size
    if arch == "linear":
        body = nn.Sequential(nn.Flatten(), nn.Linear(n_inputs, s.num_classes, bias=bias))
    elif arch == "mlp":
        body = nn.Sequential(
            nn.Flatten(), nn.Linear(n_inputs, 500), nn.ReLU(), nn.Linear(500, 256), nn.ReLU(), nn.Linear(256, s.num_classes),
        )
    elif arch == "lenet":
        body = LeNetMNIST(s.num_classes) if (s.channels, s.size) == (1, 28) else LeNetCIFAR(s.num_classes)
    else:
        body = ResNet18(s.channels, s.num_classes)
    return nn.Sequential(Normalize(s.mean, s.std), body)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read back (truncated, empty, not a checkpoint)."""


def save(model: nn.Module, path: str | Path, **meta) -> Path:
    """Write a checkpoint that rebuilds its own model: ``meta`` must hold ``arch`` and ``dataset``.

    Also stored: any other keyword (method, alpha, temperature, seed, clean accuracy, ...) and the
    lsstudy version. ``meta`` must be JSON-like (dicts, lists, strings, numbers, bools, None).

    The same model and meta give the same bytes, whichever process computed them: the meta is rebuilt from
    JSON first (pickle's output depends on which values happen to be shared objects) and the archive is
    named "archive" (torch names it after the file). Written to a temporary file and renamed, so a kill
    mid-write never leaves half a checkpoint.
    """
    missing = {"arch", "dataset"} - set(meta)
    if missing:
        raise ValueError(f"save() needs meta keys {sorted(missing)} to rebuild the model")
    meta = json.loads(json.dumps({"bias": True, **meta, "lsstudy_version": lsstudy.__version__}))
    buffer = io.BytesIO()
    torch.save({"meta": meta, "state_dict": model.state_dict()}, buffer)
    return write_bytes(path, buffer.getvalue())


def _read(path: Path, device, mmap: bool) -> dict:
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True, mmap=mmap)
        if not (isinstance(checkpoint, dict) and {"meta", "state_dict"} <= set(checkpoint)):
            raise ValueError("it holds no lsstudy checkpoint (meta and state_dict)")
    except FileNotFoundError:
        raise
    except Exception as error:  # torch reports a truncated zip, an empty file or a text file in its own words
        size = path.stat().st_size if path.exists() else 0
        raise CheckpointError(f"checkpoint {path.resolve()} cannot be read ({size} bytes; "
                              f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None
    return checkpoint


def read_meta(path: str | Path) -> dict:
    """The meta dict of a checkpoint, without reading its weights into memory (memory-mapped)."""
    return _read(Path(path), "cpu", mmap=True)["meta"]


def from_state(meta: dict, state_dict: dict) -> nn.Module:
    """The model a checkpoint's ``meta`` describes, with ``state_dict`` loaded, in eval mode."""
    model = build(meta["arch"], meta["dataset"], bias=meta.get("bias", True), logit_scale=meta.get("logit_scale"))
    model.load_state_dict(state_dict)
    return model.eval()


def load(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model saved by ``save``; returns (model in eval mode, meta).

    Raises ``CheckpointError`` naming the file when it cannot be read.
    """
    checkpoint = _read(Path(path), device, mmap=False)
    return from_state(checkpoint["meta"], checkpoint["state_dict"]).to(device), checkpoint["meta"]
