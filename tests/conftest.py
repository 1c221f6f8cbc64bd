"""Shared fixtures: the embedded data and one small trained model, built once per test session."""

import pytest

from lsstudy import data, models
from lsstudy.train import train


@pytest.fixture(scope="session")
def mnist5k_train():
    return data.load("mnist5k", "train")


@pytest.fixture(scope="session")
def mnist5k_test():
    return data.load("mnist5k", "test")


@pytest.fixture(scope="session")
def trained_lenet(mnist5k_train):
    """A LeNet trained 3 epochs with plain cross-entropy on mnist5k (about 3 s on 2 cores)."""
    model = models.build("lenet", "mnist5k")
    train(model, *mnist5k_train, epochs=3, lr=0.05, seed=0, device="cpu", progress=False)
    return model
