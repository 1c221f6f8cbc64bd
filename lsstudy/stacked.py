"""Many models of one architecture as one computation: a stack.

The M models' parameters are stacked along a new first dimension; the linear layers are batched matmuls
(``torch.baddbmm``: model m's rows by model m's weights) and the LeNets' convolutions grouped convolutions (group m
is model m), so a training step or an attack step of M small models is one call per layer instead of M: on a GPU,
where small models are bound by kernel launches, that is most of their time (benchmarks/stacked.py,
benchmarks/gpu_stacked.py measure it).

Model m computes what it computes alone, up to float noise (the batched kernels add in their own order; tested
in tests/test_stacked.py), with its own dropout masks: ``Stack.forward`` takes one generator per model, which draws
what the global generator draws in one model's ``lsstudy.train.train`` (Dropout2d's mask, then dropout's).

``Stack``: (M, n, C, H, W) -> (M, n, K); ``StackedModel``: the same on the M chunks of a (M n, C, H, W) batch, model m
on chunk m, so an attack that attacks the whole batch at every call runs on it unchanged (FGSM, BIM, PGD with one
restart, its random starts by ``point_seeds``; not attacks that call the model on the points still unbroken only, as
PGD's later restarts do: the chunks are then lost).
"""

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lsstudy.models import LeNetCIFAR, LeNetMNIST, Normalize

STACKABLE = ["linear", "mlp", "lenet"]
DROPOUT = 0.5  # F.dropout's default, which the MNIST LeNet uses after fc1


class Stack(nn.Module):
    """M models of one architecture (``lsstudy.models.build``'s) as one module: its parameters are theirs, stacked."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("members=[] is not allowed; a stack needs at least one model")
        body = members[0][1]
        layout = [(name, tuple(p.shape)) for name, p in body.named_parameters()]
        if any([(n, tuple(p.shape)) for n, p in m[1].named_parameters()] != layout or type(m[1]) is not type(body)
               for m in members):
            raise ValueError("members of different architectures are not allowed; a stack holds models of one arch")
        if not isinstance(members[0][0], Normalize) or any(
                not (torch.equal(m[0].mean, members[0][0].mean) and torch.equal(m[0].std, members[0][0].std))
                for m in members):
            raise ValueError("members must be lsstudy.models.build's models of one dataset (the same normalisation)")
        self.normalize = copy.deepcopy(members[0][0])
        if isinstance(body, LeNetMNIST):
            self.kind, self.dropout_p = "lenet_mnist", (body.conv2_drop.p, DROPOUT)
        elif isinstance(body, LeNetCIFAR):
            self.kind = "lenet_cifar"
        elif isinstance(body, nn.Sequential) and all(isinstance(layer, (nn.Flatten, nn.Linear, nn.ReLU)) for layer in body):
            self.kind, self.layers = "sequential", [(str(i), type(layer)) for i, layer in enumerate(body)]
        else:
            raise ValueError(f"{type(body).__name__} is not allowed; a stack takes the archs {STACKABLE}")
        self.names = [name for name, _ in layout]
        self.weights = nn.ParameterList([
            nn.Parameter(torch.stack([dict(m[1].named_parameters())[name].detach() for m in members]))
            for name in self.names])

    def __len__(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: Tensor, dropout: list[torch.Generator] | None = None) -> Tensor:
        """Logits (M, n, K) of x (M, n, C, H, W), model m on x[m]. In train mode, ``dropout`` holds one generator
        per model (on the stack's device), which draws that model's dropout masks."""
        if self.training and self.kind == "lenet_mnist" and (dropout is None or len(dropout) != len(self)):
            raise ValueError(f"dropout={dropout!r} is not allowed in train mode; pass one generator per model ({len(self)})")
        p = dict(zip(self.names, self.weights))
        z = self.normalize(x.flatten(0, 1)).view(x.shape)
        if self.kind == "lenet_mnist":
            return self._lenet_mnist(p, z, dropout)
        if self.kind == "lenet_cifar":
            return self._lenet_cifar(p, z)
        return self._sequential(p, z)

    def _sequential(self, p: dict, x: Tensor) -> Tensor:
        """The linear model and the MLP: Flatten, Linear and ReLU layers."""
        x = x.flatten(2)
        for index, layer in self.layers:
            if layer is nn.Linear:
                x = _linear(x, p[f"{index}.weight"], p.get(f"{index}.bias"))
            elif layer is nn.ReLU:
                x = F.relu(x)
        return x

    def _lenet_mnist(self, p: dict, x: Tensor, dropout: list[torch.Generator] | None) -> Tensor:
        M, n = x.shape[:2]
        feature_p, p_fc = self.dropout_p
        h = F.relu(F.max_pool2d(_conv(_by_channel(x), p["conv1.weight"], p["conv1.bias"]), 2))
        h = _conv(h, p["conv2.weight"], p["conv2.bias"])
        if self.training:  # Dropout2d: one mask per image and channel, drawn as F.dropout2d draws it
            h = h * torch.cat([_mask((n, h.shape[1] // M, 1, 1), feature_p, g, h.device) for g in dropout], dim=1)
        h = F.relu(F.max_pool2d(h, 2))
        h = F.relu(_linear(_by_model(h, M), p["fc1.weight"], p["fc1.bias"]))
        if self.training:
            h = h * torch.stack([_mask(h.shape[1:], p_fc, g, h.device) for g in dropout])
        return _linear(h, p["fc2.weight"], p["fc2.bias"])

    def _lenet_cifar(self, p: dict, x: Tensor) -> Tensor:
        M = x.shape[0]
        h = F.max_pool2d(F.relu(_conv(_by_channel(x), p["features.0.weight"], p["features.0.bias"])), 2)
        h = F.max_pool2d(F.relu(_conv(h, p["features.3.weight"], p["features.3.bias"])), 2)
        h = F.relu(_linear(_by_model(h, M), p["classifier.1.weight"], p["classifier.1.bias"]))
        h = F.relu(_linear(h, p["classifier.3.weight"], p["classifier.3.bias"]))
        return _linear(h, p["classifier.5.weight"], p["classifier.5.bias"])

    def state_dicts(self) -> list[dict]:
        """Each model's state_dict (on the CPU), in the layout of ``lsstudy.models.build``'s."""
        buffers = {f"0.{name}": b.detach().cpu() for name, b in self.normalize.named_buffers()}
        return [{**buffers, **{f"1.{name}": w[m].detach().cpu().clone() for name, w in zip(self.names, self.weights)}}
                for m in range(len(self))]


class StackedModel(nn.Module):
    """A stack as one model of a (M n, C, H, W) batch: chunk m (rows m n to (m + 1) n) goes to model m."""

    def __init__(self, stack: Stack):
        super().__init__()
        self.stack = stack

    def forward(self, x: Tensor) -> Tensor:
        M = len(self.stack)
        if len(x) % M:
            raise ValueError(f"x of {len(x)} images is not allowed; a stack of {M} models takes {M} equal chunks")
        return self.stack(x.view(M, len(x) // M, *x.shape[1:])).flatten(0, 1)


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x (M, n, D), weight (M, K, D), bias (M, K) -> (M, n, K)."""
    if bias is None:
        return torch.bmm(x, weight.transpose(1, 2))
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _conv(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """x (n, M C, H, W), weight (M, O, C, k, k), bias (M, O) -> (n, M O, H', W'): group m is model m."""
    return F.conv2d(x, weight.flatten(0, 1), bias.flatten(), groups=weight.shape[0])


def _by_channel(x: Tensor) -> Tensor:
    """(M, n, C, H, W) -> (n, M C, H, W): the models side by side as channel groups."""
    M, n, C, H, W = x.shape
    return x.transpose(0, 1).reshape(n, M * C, H, W)


def _by_model(h: Tensor, M: int) -> Tensor:
    """(n, M C, H, W) -> (M, n, C H W): each model's flattened features, as its Flatten gives them."""
    return h.view(h.shape[0], M, -1).transpose(0, 1)


def _mask(shape: tuple, p: float, generator: torch.Generator, device: torch.device) -> Tensor:
    """Dropout's mask: bernoulli(1 - p) / (1 - p), as torch's dropout draws it (one draw per call)."""
    return torch.empty(shape, device=device).bernoulli_(1 - p, generator=generator).div_(1 - p)
