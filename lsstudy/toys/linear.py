"""Two-class linear models for the toy examples, trained to convergence with the package's loss.

The model is two logits z = W x + c, so ``LabelSmoothingLoss`` trains it unchanged; it is reported
as the logistic model s = z1 - z0 = w . x + b. Full-batch L-BFGS in double precision: the toy data
are small, so this is exact optimisation rather than the SGD recipe of the image models.
"""

import math

import numpy as np
import torch

from lsstudy.checks import check_positive_int
from lsstudy.smoothing import LabelSmoothingLoss
from lsstudy.toys import one_thread


def fit(x: np.ndarray, y: np.ndarray, method: str, alpha: float, temperature: float = 1.0, steps: int = 300,
        seed: int = 0) -> tuple[np.ndarray, float]:
    """Fit on (x, y), x of shape (n, d) or (n,), y in {0, 1}; return (w of shape (d,), b).

    The target is recomputed from the logits at every evaluation (it is detached, as in training).
    L-BFGS can stall at the kink of the ALS loss; the constant model (w = 0, b = 0, whose loss is
    log 2 whatever the target) is always a candidate, and past a critical alpha it is ALS's minimiser,
    so it is returned whenever the fit ends with a higher loss.
    """
    check_positive_int(steps, "steps")
    criterion = LabelSmoothingLoss(method, alpha, temperature)
    xs = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    xs = xs[:, None] if xs.ndim == 1 else xs
    ys = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = torch.nn.Linear(xs.shape[1], 2).double()
    optimizer = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=steps, tolerance_grad=1e-10,
                                  tolerance_change=1e-14, history_size=20)

    def closure():
        optimizer.zero_grad()
        loss = criterion(layer(xs), ys)
        loss.backward()
        return loss

    with one_thread():
        optimizer.step(closure)
    with torch.no_grad():
        final = float(criterion(layer(xs), ys))
    if final > math.log(2):
        return np.zeros(xs.shape[1]), 0.0
    w, c = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    return w[1] - w[0], float(c[1] - c[0])
