"""The LeNets' fast first layer (lsstudy.conv_pool) against the plain F.conv2d / F.max_pool2d networks.

Tolerance: 1e-5 of the largest magnitude, for logits and for gradients. Reordered float32 sums of at most 500
products differ by about 1e-7 relative (measured here: logits and weight gradients bit-identical, input
gradients 3e-7); a tied pooling window that sent its gradient to another pixel than max_pool2d does would
differ by the size of the gradient itself.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lsstudy import data, models
from lsstudy.conv_pool import conv_pool
from lsstudy.train import train

TOLERANCE = 1e-5


def plain_mnist(lenet: nn.Module, x):
    """PyTorch's MNIST example network, with the LeNet's parameters."""
    x = F.relu(F.max_pool2d(F.conv2d(x, lenet.conv1.weight, lenet.conv1.bias), 2))
    x = F.relu(F.max_pool2d(F.dropout2d(F.conv2d(x, lenet.conv2.weight, lenet.conv2.bias), training=lenet.training), 2))
    x = F.relu(F.linear(x.flatten(1), lenet.fc1.weight, lenet.fc1.bias))
    return F.linear(F.dropout(x, training=lenet.training), lenet.fc2.weight, lenet.fc2.bias)


def plain_cifar(lenet: nn.Module, x):
    """PyTorch's CIFAR-10 tutorial network, with the LeNet's parameters."""
    conv1, conv2 = lenet.features[0], lenet.features[3]
    x = F.max_pool2d(F.relu(F.conv2d(x, conv1.weight, conv1.bias)), 2)
    x = F.max_pool2d(F.relu(F.conv2d(x, conv2.weight, conv2.bias)), 2).flatten(1)
    fc1, fc2, fc3 = (m for m in lenet.classifier if isinstance(m, nn.Linear))
    return F.linear(F.relu(F.linear(F.relu(F.linear(x, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)), fc3.weight, fc3.bias)


PLAIN = {"mnist5k": plain_mnist, "cifar10_5k": plain_cifar}


class Plain(nn.Module):
    """A LeNet computed by the plain network above: the reference for training."""

    def __init__(self, model: nn.Module, dataset: str):
        super().__init__()
        self.normalize, self.lenet, self.forward_plain = model[0], model[1], PLAIN[dataset]

    def forward(self, x):
        return self.forward_plain(self.lenet, self.normalize(x))


def relative_gap(a, b) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.fixture(scope="module")
def points():
    """Test images, random points of an eps ball around them, and the images with a flat grey top half: flat
    patches (MNIST's background, the grey) give tied pooling windows."""
    generator = torch.Generator().manual_seed(0)
    out = {}
    for dataset, eps in [("mnist5k", 0.3), ("cifar10_5k", 8 / 255)]:
        x, y = data.load_test_slice(dataset, 0, 64)
        noisy = (x + eps * (2 * torch.rand(x.shape, generator=generator) - 1)).clamp(0, 1)
        flat = x.clone()
        flat[:, :, : x.shape[2] // 2] = 0.5
        out[dataset] = (torch.cat([x, noisy, flat]), torch.cat([y, y, y]))
    return out


@pytest.mark.parametrize("dataset", ["mnist5k", "cifar10_5k"])
def test_logits_and_input_gradients_are_the_plain_networks(dataset, points, trained_lenet):
    model = (trained_lenet if dataset == "mnist5k" else models.build("lenet", dataset, seed=0)).eval()
    x, y = points[dataset]
    conv1 = model[1].conv1 if dataset == "mnist5k" else model[1].features[0]
    outputs = F.conv2d(model[0](x), conv1.weight, conv1.bias)
    windows = outputs.unflatten(2, (-1, 2)).unflatten(4, (-1, 2))
    tied = ((windows == windows.amax((3, 5), keepdim=True)).sum((3, 5)) > 1).sum().item()
    assert tied > 1000  # ties are there to be broken the same way
    gradients = []
    for forward in [model, Plain(model, dataset)]:
        x_grad = x.clone().requires_grad_(True)
        logits = forward(x_grad)
        gradients.append((logits, torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x_grad)[0]))
    (logits, gradient), (plain_logits, plain_gradient) = gradients
    assert relative_gap(logits, plain_logits) <= TOLERANCE
    assert relative_gap(gradient, plain_gradient) <= TOLERANCE


@pytest.mark.parametrize("dataset", ["mnist5k", "cifar10_5k"])
def test_a_training_step_has_the_plain_networks_dropout_and_weight_gradients(dataset, points):
    model = models.build("lenet", dataset, seed=0).train()
    x, y = points[dataset]
    steps = []
    for forward in [model, Plain(model, dataset)]:
        torch.manual_seed(3)  # the same dropout masks, if both draw them alike
        logits = forward(x)
        steps.append((logits, torch.autograd.grad(F.cross_entropy(logits, y), list(model.parameters()))))
    (logits, grads), (plain_logits, plain_grads) = steps
    assert relative_gap(logits, plain_logits) <= TOLERANCE
    for name, grad, plain in zip([n for n, _ in model.named_parameters()], grads, plain_grads):
        assert relative_gap(grad, plain) <= TOLERANCE, name


def test_training_gives_the_plain_networks_checkpoint(mnist5k_train):
    # One epoch of the default recipe on 1,000 images, dropout on (9 SGD steps): bit-identical here. Kept short, as
    # longer training amplifies any float noise (3 epochs with 2 torch threads instead of 1: weights 6% apart).
    x, y = mnist5k_train[0][:1000], mnist5k_train[1][:1000]
    fast, plain = models.build("lenet", "mnist5k", seed=1), models.build("lenet", "mnist5k", seed=1)
    for model in [fast, Plain(plain, "mnist5k")]:
        train(model, x, y, epochs=1, lr=0.05, seed=1, device="cpu", progress=False)
    for (name, weight), reference in zip(fast.state_dict().items(), plain.state_dict().values()):
        assert relative_gap(weight, reference) <= TOLERANCE, name


@pytest.mark.parametrize("dataset", ["mnist5k", "cifar10_5k"])
def test_the_plain_path_other_devices_take_is_the_plain_network(dataset, points):
    model = models.build("lenet", dataset, seed=0).eval()
    conv1 = model[1].conv1 if dataset == "mnist5k" else model[1].features[0]
    z = model[0](points[dataset][0])
    torch.testing.assert_close(conv_pool(z, conv1, phases=False), F.max_pool2d(F.conv2d(z, conv1.weight, conv1.bias), 2),
                               rtol=0, atol=0)


@pytest.mark.parametrize("conv, shape, name", [(nn.Conv2d(1, 4, 5, padding=2), (2, 1, 28, 28), "conv"),
                                               (nn.Conv2d(1, 4, 3), (2, 1, 28, 28), "conv"),
                                               (nn.Conv2d(1, 4, 5), (2, 1, 30, 30), "x of shape")])
def test_what_conv_pool_cannot_compute_is_refused(conv, shape, name):
    with pytest.raises(ValueError, match=name):
        conv_pool(torch.rand(shape), conv, phases=True)
