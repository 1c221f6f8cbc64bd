"""Point diagnostics against the closed form of a linear model: z = W (x - mean) / std + b."""

import torch
import torch.nn.functional as F

from lsstudy import models
from lsstudy.diagnostics import logit_spread, point_diagnostics


def test_linear_model_gradients_and_margins_match_the_closed_form(mnist5k_test):
    torch.manual_seed(0)
    model = models.build("linear", "mnist5k", seed=3).eval()
    x, y = mnist5k_test[0][:50], mnist5k_test[1][:50]
    normalize, linear = model[0], model[1][1]  # Normalize, then Flatten and Linear
    weight = linear.weight.detach() / normalize.std.flatten()  # d z / d x, (K, D)
    z = model(x).detach()
    p = F.softmax(z, dim=1)
    rows = torch.arange(len(y))
    wrong = z.clone()
    wrong[rows, y] = float("-inf")
    runner_up = wrong.argmax(dim=1)

    got = point_diagnostics(model, x, y, batch_size=16)  # several batches

    ce_grad = (p - F.one_hot(y, 10)) @ weight
    margin_grad = weight[y] - weight[runner_up]
    torch.testing.assert_close(torch.tensor(got["grad_l1"].to_numpy()), ce_grad.abs().sum(1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(got["margin_grad_l1"].to_numpy()), margin_grad.abs().sum(1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(got["margin"].to_numpy()), z[rows, y] - z[rows, runner_up])
    torch.testing.assert_close(torch.tensor(got["spread"].to_numpy()), z.amax(1) - z.amin(1))
    assert list(got["correct"]) == (z.argmax(1) == y).tolist()
    assert list(got["point"]) == list(range(50))


def test_logit_spread_is_the_largest_minus_the_smallest_logit():
    assert logit_spread(torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])).tolist() == [3.0, 0.0]
