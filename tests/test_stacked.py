"""A stack of models (lsstudy.stacked, lsstudy.train_stack) against the same models trained and attacked alone.

Tolerances, of each tensor's largest magnitude. Logits and input gradients: 1e-5 (measured 2e-7). Weights after 2
epochs: 1e-4. Measured here: the linear model and the MLP are bit-identical (the batched matmuls and the vectorised
SGD step add as addmm and SGD do); the LeNets' grouped convolutions add in another order, and training carries that
noise on: 2e-7 (MNIST) and 2e-5 (CIFAR) after 2 epochs of 300 images, as far as training the same models with 2
torch threads instead of 1 moves them (engine.threads_per_unit). Longer runs grow it as they grow any float noise
(benchmarks/results/stacked.md). Attacks: PGD's sign steps follow a gradient component within float noise of 0
either way, so a few points' examples differ: measured 0.3% to 0.7%, held to 2%.
"""

import pytest
import torch
import torch.nn.functional as F

from lsstudy import data, models
from lsstudy.attacks.gradient import bim, fgsm, pgd
from lsstudy.stacked import Stack, StackedModel
from lsstudy.train import train
from lsstudy.train_stack import train_stack

TOLERANCE = 1e-5
SETTINGS = [{"method": "none", "alpha": 0.0, "temperature": 1.0, "seed": 0},
            {"method": "adversarial", "alpha": 0.1, "temperature": 1.0, "seed": 1},
            {"method": "boltzmann", "alpha": 0.3, "temperature": 0.01, "seed": 2}]
# patience 0: the plateau schedule cuts a learning rate as soon as a hold-out loss stops falling
RECIPE = {"epochs": 2, "lr": 0.05, "momentum": 0.9, "batch_size": 100, "val_fraction": 0.1, "patience": 0,
          "plateau_loss": "smoothed"}
CASES = [("linear", "mnist5k"), ("mlp", "mnist5k"), ("lenet", "mnist5k"), ("lenet", "cifar10_5k")]


def relative_gap(a, b) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


@pytest.mark.parametrize("schedule", ["plateau", "cosine"])
@pytest.mark.parametrize("arch, dataset", CASES)
def test_a_stack_trains_each_model_as_train_trains_it_alone(arch, dataset, schedule):
    x, y = data.load(dataset, "train")
    x, y = x[:300], y[:300]
    alone = [models.build(arch, dataset, seed=s["seed"]) for s in SETTINGS]
    histories = [train(m, x, y, s["method"], s["alpha"], s["temperature"], seed=s["seed"], device="cpu", progress=False,
                       schedule=schedule, **RECIPE) for m, s in zip(alone, SETTINGS)]
    stacked = [models.build(arch, dataset, seed=s["seed"]) for s in SETTINGS]
    stacked_histories = train_stack(stacked, x, y, SETTINGS, device="cpu", schedule=schedule, **RECIPE)
    for single, member, history, stacked_history in zip(alone, stacked, histories, stacked_histories):
        for (name, weight), reference in zip(member.state_dict().items(), single.state_dict().values()):
            assert relative_gap(weight, reference) <= 1e-4, name
        assert list(stacked_history.columns) == list(history.columns)
        assert stacked_history["lr"].tolist() == history["lr"].tolist()
        assert (stacked_history[["train_loss", "val_loss"]] - history[["train_loss", "val_loss"]]).abs().max().max() <= 1e-5


def test_each_models_dropout_masks_come_from_its_own_seed_wherever_it_sits_in_the_stack():
    x, _ = data.load_test_slice("mnist5k", 0, 50)
    members = [models.build("lenet", "mnist5k", seed=s).train() for s in range(3)]
    alone = []
    for seed, member in enumerate(members):
        torch.manual_seed(seed)  # as lsstudy.train.train seeds the global generator
        alone.append(member(x))
    for order in [[0, 1, 2], [2, 0, 1]]:
        stack = Stack([members[i] for i in order]).train()
        logits = stack(x.expand(3, *x.shape), [torch.Generator().manual_seed(i) for i in order])
        for position, i in enumerate(order):
            assert relative_gap(logits[position], alone[i]) <= TOLERANCE


@pytest.mark.parametrize("arch, dataset", CASES)
def test_a_stacked_model_gives_each_model_its_own_logits_gradients_and_adversarial_examples(arch, dataset):
    x, y = data.load_test_slice(dataset, 0, 50)
    members = [models.build(arch, dataset, seed=s).eval() for s in range(3)]
    stacked = StackedModel(Stack(members)).eval()
    x_all, y_all = x.repeat(3, 1, 1, 1), y.repeat(3)
    x_grad = x_all.clone().requires_grad_(True)
    logits = stacked(x_grad)
    gradient = torch.autograd.grad(F.cross_entropy(logits, y_all, reduction="sum"), x_grad)[0]
    for m, member in enumerate(members):
        x_alone = x.clone().requires_grad_(True)
        alone = member(x_alone)
        rows = slice(m * len(x), (m + 1) * len(x))
        assert relative_gap(logits[rows], alone) <= TOLERANCE
        assert relative_gap(gradient[rows], torch.autograd.grad(F.cross_entropy(alone, y, reduction="sum"), x_alone)[0]) <= TOLERANCE
    seeds = torch.arange(len(x))  # PGD's random starts by point: each model's point i starts where it would alone
    for attack in [lambda m, a, b: fgsm(m, a, b, 0.1), lambda m, a, b: bim(m, a, b, 0.1, steps=5),
                   lambda m, a, b: pgd(m, a, b, 0.1, steps=5, point_seeds=seeds.repeat(len(a) // len(x)))]:
        alone = torch.cat([attack(member, x, y) for member in members])
        assert (attack(stacked, x_all, y_all) == alone).flatten(1).all(1).float().mean() >= 0.98


def test_what_a_stack_cannot_take_is_refused():
    lenets = [models.build("lenet", "mnist5k", seed=s) for s in range(2)]
    with pytest.raises(ValueError, match="different architectures"):
        Stack([lenets[0], models.build("mlp", "mnist5k")])
    with pytest.raises(ValueError, match="ResNet18"):
        Stack([models.build("resnet18", "cifar10")])
    with pytest.raises(ValueError, match="dropout"):
        Stack(lenets).train()(torch.rand(2, 4, 1, 28, 28))
    with pytest.raises(ValueError, match="x of 5 images"):
        StackedModel(Stack(lenets).eval())(torch.rand(5, 1, 28, 28))
    with pytest.raises(ValueError, match="settings of 1 models"):
        train_stack(lenets, torch.rand(20, 1, 28, 28), torch.arange(20) % 10, SETTINGS[:1], epochs=1, device="cpu")
