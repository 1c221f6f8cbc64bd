"""Shared fixtures: the embedded data, one small trained model, and the tests' own parameters."""

from pathlib import Path

import pytest

from lsstudy import data, models
from lsstudy.pipeline import params
from lsstudy.train import train

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY_PARAMS = FIXTURES / "params.yaml"  # never the study's params.yaml: editing the study breaks no test


@pytest.fixture(scope="session")
def mnist5k_train():
    return data.load("mnist5k", "train")


@pytest.fixture(scope="session")
def mnist5k_test():
    return data.load("mnist5k", "test")


@pytest.fixture(scope="session")
def trained_lenet(mnist5k_train):
    """A LeNet trained 3 epochs with plain cross-entropy on mnist5k (about 3 s on 2 cores)."""
    model = models.build("lenet", "mnist5k", seed=0)  # seeded: the same model whichever test asks first
    train(model, *mnist5k_train, epochs=3, lr=0.05, seed=0, device="cpu", progress=False)
    return model


@pytest.fixture
def tiny_params() -> dict:
    """The tests' own params.yaml, as a fresh dict each time (tests may change it)."""
    return params.load_params(TINY_PARAMS)
