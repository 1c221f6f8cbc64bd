"""ALS as logit squeezing: the identity to 1e-6 on a trained network and on extreme logits."""

import pytest
import torch

from lsstudy.smoothing import LabelSmoothingLoss
from lsstudy.toys import logit_squeezing as L
from lsstudy.train import predict


@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.2, 0.5, 1.0])
def test_als_identity_on_a_trained_network(trained_lenet, mnist5k_test, alpha):
    x, y = mnist5k_test[0][:200], mnist5k_test[1][:200]
    assert L.identity_gap(predict(trained_lenet, x), y, alpha) < 1e-6


def test_identity_holds_for_huge_logits():
    logits = torch.tensor([[1e4, -1e4, 0.0], [-3.0, 2.0, 50.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1])
    assert L.identity_gap(logits, labels, 0.3) < 1e-6


def test_identity_fails_for_a_method_that_is_not_als():
    """The check has teeth: SBLS puts alpha elsewhere, so the same comparison is far from 0."""
    logits = torch.randn(100, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    labels = torch.randint(0, 10, (100,), generator=torch.Generator().manual_seed(1))
    sbls = LabelSmoothingLoss("second_best", 0.3, reduction="none")(logits, labels)
    assert (sbls - L.squeezing_form(logits, labels, 0.3)).abs().max() > 0.1

