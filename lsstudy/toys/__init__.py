"""The paper's toy and linear-model arguments, one module each, each run by its own pipeline stage.

==================  ====================  ==========================================================
module              stage                 what it reproduces
==================  ====================  ==========================================================
triangular          toy_triangular        1-D overlapping classes: threshold and robust accuracy of a
                                          1-D logistic model vs the Bayes curve (1 - gamma/2)(1 - eps)^2
fading_gaussian     toy_fading_gaussian   d features of fading signal: which features a linear model
                                          relies on as alpha grows, and its FGSM accuracy
gradient_gap        toy_gradient_gap      bias-free softmax regression with ALS: ||theta_i||_2,
                                          ||theta_i - theta_j||_1 and the accuracy the bound certifies
logit_squeezing     toy_logit_squeezing   CE_ALS = (1 - alpha) CE + alpha max_j(-log p_j) on a trained
                                          network, and the logit spread vs alpha
linear              (helper)              two-class linear models fitted to convergence
==================  ====================  ==========================================================

The toys import the science and, to draw their figures, ``lsstudy.report`` (its style and the authors' numbers).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the block (restored after).

    The toy models are small: extra intra-op threads only add overhead, and on a machine busy with
    other work they spin against it (a 784x10 model trained 30x slower with 2 threads than with 1).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
