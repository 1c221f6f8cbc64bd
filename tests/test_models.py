"""Architectures against their published sizes, checkpoints round-trip, training is seeded."""

import math

import pytest
import torch

from lsstudy import models
from lsstudy.train import predict, stratified_holdout, train

# Parameter counts of the reference networks: PyTorch's MNIST example (the paper's MNIST LeNet),
# the CIFAR-10 tutorial network (the CIFAR/SVHN LeNet), the CIFAR ResNet18 (11,173,962, as in
# the widely used kuangliu/pytorch-cifar), and 784-500-256-10 / softmax regression by hand.
PARAM_COUNTS = {
    ("linear", "mnist5k"): 784 * 10 + 10,
    ("mlp", "mnist5k"): (784 * 500 + 500) + (500 * 256 + 256) + (256 * 10 + 10),
    ("lenet", "mnist5k"): 21_840,
    ("lenet", "cifar10"): 62_006,
    ("resnet18", "cifar10"): 11_173_962,
}


@pytest.mark.parametrize("arch, dataset", list(PARAM_COUNTS))
def test_architectures_have_the_reference_sizes(arch, dataset):
    model = models.build(arch, dataset)
    assert sum(p.numel() for p in model.parameters()) == PARAM_COUNTS[(arch, dataset)]


# The LeNets' checkpoint layout (that of the reference networks above): checkpoints of every version load.
LENET_STATE = {
    "mnist5k": {"1.conv1.weight": (10, 1, 5, 5), "1.conv1.bias": (10,), "1.conv2.weight": (20, 10, 5, 5),
                "1.conv2.bias": (20,), "1.fc1.weight": (50, 320), "1.fc1.bias": (50,), "1.fc2.weight": (10, 50),
                "1.fc2.bias": (10,)},
    "cifar10": {"1.features.0.weight": (6, 3, 5, 5), "1.features.0.bias": (6,), "1.features.3.weight": (16, 6, 5, 5),
                "1.features.3.bias": (16,), "1.classifier.1.weight": (120, 400), "1.classifier.1.bias": (120,),
                "1.classifier.3.weight": (84, 120), "1.classifier.3.bias": (84,), "1.classifier.5.weight": (10, 84),
                "1.classifier.5.bias": (10,)},
}


@pytest.mark.parametrize("dataset", list(LENET_STATE))
def test_lenets_keep_the_reference_checkpoint_layout(dataset):
    state = models.build("lenet", dataset).state_dict()
    assert {key: tuple(value.shape) for key, value in state.items() if not key.startswith("0.")} == LENET_STATE[dataset]


@pytest.mark.parametrize("arch", models.ARCHS)
@pytest.mark.parametrize("dataset, shape", [("mnist", (1, 28, 28)), ("svhn", (3, 32, 32))])
def test_every_arch_maps_images_to_logits(arch, dataset, shape):
    model = models.build(arch, dataset).eval()
    assert model(torch.rand(2, *shape)).shape == (2, 10)


def test_normalisation_is_the_papers_input_scaling():
    # MNIST shifted to [-0.5, 0.5]; CIFAR-10 mapped to [-1, 1]
    mnist, cifar = models.build("linear", "mnist5k")[0], models.build("linear", "cifar10")[0]
    torch.testing.assert_close(mnist(torch.tensor([0.0, 1.0]).view(2, 1, 1, 1)).flatten(), torch.tensor([-0.5, 0.5]))
    torch.testing.assert_close(cifar(torch.zeros(1, 3, 1, 1)).flatten(), -torch.ones(3))
    torch.testing.assert_close(cifar(torch.ones(1, 3, 1, 1)).flatten(), torch.ones(3))


def test_checkpoint_rebuilds_its_own_model(tmp_path, mnist5k_test):
    model = models.build("linear", "mnist5k", bias=False)
    torch.nn.init.normal_(model[1][1].weight)
    path = models.save(model, tmp_path / "m.pt", arch="linear", dataset="mnist5k", bias=False, method="adversarial",
                       alpha=0.1, temperature=1.0, seed=3, clean_accuracy=0.5)
    loaded, meta = models.load(path)
    x = mnist5k_test[0][:16]
    torch.testing.assert_close(loaded(x), model.eval()(x))
    assert meta["method"] == "adversarial" and meta["seed"] == 3 and meta["bias"] is False
    assert "lsstudy_version" in meta and not loaded.training


def test_seeded_build_is_reproducible_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = models.build("lenet", "mnist5k", seed=1), models.build("lenet", "mnist5k", seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[1].conv1.weight, models.build("lenet", "mnist5k", seed=2)[1].conv1.weight)


def test_save_needs_what_rebuilds_the_model(tmp_path):
    with pytest.raises(ValueError, match="arch"):
        models.save(models.build("linear", "mnist5k"), tmp_path / "m.pt", dataset="mnist5k")


@pytest.mark.parametrize("kwargs, name", [({"arch": "vgg", "dataset": "mnist"}, "arch"),
                                          ({"arch": "mlp", "dataset": "imagenet"}, "dataset")])
def test_unknown_arch_or_dataset_is_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        models.build(**kwargs)


def test_holdout_is_stratified_and_disjoint(mnist5k_train):
    y = mnist5k_train[1]
    keep, held = stratified_holdout(y, 0.1, seed=0)
    assert len(set(keep.tolist()) & set(held.tolist())) == 0 and len(keep) + len(held) == len(y)
    assert torch.bincount(y[held]).tolist() == [40] * 10


def test_training_is_seeded_and_learns(mnist5k_train, mnist5k_test):
    x, y = mnist5k_train[0][:1000], mnist5k_train[1][:1000]
    runs = []
    for _ in range(2):
        model = models.build("mlp", "mnist5k", seed=7)
        history = train(model, x, y, method="adversarial", alpha=0.1, epochs=3, lr=0.05, seed=7, device="cpu", progress=False)
        runs.append((predict(model, mnist5k_test[0]), history))
    torch.testing.assert_close(runs[0][0], runs[1][0], rtol=0, atol=0)
    accuracy = (runs[0][0].argmax(1) == mnist5k_test[1]).float().mean().item()
    assert accuracy > 0.6  # 10 classes: chance is 0.1
    assert list(runs[0][1].columns) == ["epoch", "lr", "train_loss", "val_loss", "val_accuracy", "plateau_loss"]


def test_the_plateau_schedule_follows_the_loss_asked_for(mnist5k_train):
    x, y = mnist5k_train[0][:600], mnist5k_train[1][:600]
    histories = {loss: train(models.build("linear", "mnist5k", seed=0), x, y, method="adversarial", alpha=0.3,
                             epochs=2, lr=0.05, seed=0, device="cpu", progress=False, plateau_loss=loss)
                 for loss in ["ce", "smoothed"]}
    assert (histories["ce"]["plateau_loss"] == histories["ce"]["val_loss"]).all()
    # ALS's loss adds alpha * max_j(-log p_j) >= alpha * CE's share: it is larger than plain cross-entropy
    assert (histories["smoothed"]["plateau_loss"] > histories["smoothed"]["val_loss"]).all()


def test_the_cosine_schedule_anneals_per_step_from_lr_to_zero_whatever_the_hold_out_loss(mnist5k_train, mnist5k_test):
    x, y = mnist5k_train[0][:1000], mnist5k_train[1][:1000]
    epochs, lr, batch_size = 4, 0.1, 100
    histories = []
    for loss in ["ce", "smoothed"]:
        model = models.build("mlp", "mnist5k", seed=0)
        histories.append(train(model, x, y, method="adversarial", alpha=0.1, epochs=epochs, lr=lr, batch_size=batch_size,
                               seed=0, device="cpu", progress=False, plateau_loss=loss, schedule="cosine"))
    # the closed form at the first step of each epoch: 900 training points (a 10% hold-out) are 9 steps an epoch
    steps = 9
    expected = [lr * (1 + math.cos(math.pi * (epoch * steps) / (epochs * steps))) / 2 for epoch in range(epochs)]
    for history in histories:
        assert history["lr"].tolist() == pytest.approx(expected, rel=1e-12)
    accuracy = (predict(model, mnist5k_test[0]).argmax(1) == mnist5k_test[1]).float().mean().item()
    assert accuracy > 0.6


def test_an_unknown_schedule_is_refused_by_name(mnist5k_train):
    with pytest.raises(ValueError, match=r"schedule='step' is not allowed; choose one of \['plateau', 'cosine'\]"):
        train(models.build("linear", "mnist5k"), *mnist5k_train, epochs=1, schedule="step", progress=False)


def test_bf16_training_runs_the_forward_pass_in_bfloat16_keeps_float32_weights_and_learns(mnist5k_train, mnist5k_test):
    x, y = mnist5k_train[0][:1000], mnist5k_train[1][:1000]
    seen = []

    def cross_entropy(model, x, y, epoch):
        logits = model(x)
        seen.append(logits.dtype)
        return torch.nn.functional.cross_entropy(logits, y)

    accuracies = {}
    for precision in ["float32", "bf16"]:
        # an MLP: this CPU's oneDNN has no bfloat16 convolution (a GPU's cuDNN has)
        model = models.build("mlp", "mnist5k", seed=0)
        train(model, x, y, epochs=2, lr=0.05, seed=0, device="cpu", progress=False, precision=precision,
              batch_loss=cross_entropy)
        assert all(p.dtype == torch.float32 for p in model.parameters())
        logits = predict(model, mnist5k_test[0])
        assert logits.dtype == torch.float32  # evaluation is float32 whatever the training
        accuracies[precision] = (logits.argmax(1) == mnist5k_test[1]).float().mean().item()
    assert set(seen[: len(seen) // 2]) == {torch.float32} and set(seen[len(seen) // 2 :]) == {torch.bfloat16}
    # bfloat16 keeps 8 bits of mantissa: the same recipe learns as well, within the noise of 1,000 test points
    assert accuracies["bf16"] > 0.6 and abs(accuracies["bf16"] - accuracies["float32"]) < 0.05
