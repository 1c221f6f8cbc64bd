"""The gradient gap of a linear model: what label smoothing does to a bias-free softmax regression.

Goibert & Dohmatob, arXiv 1906.11567, section 3. For logits z = Theta x + c (Theta in pixel units:
``pixel_weights`` folds the model's Normalize layer in, which for MNIST-like data divides by std 1
and subtracts a mean of 0.5, an implicit bias), an Linf perturbation of size eps changes z_y - z_j
by at most eps ||theta_y - theta_j||_1, with equality for the perturbation -eps sign(theta_y - theta_j)
when nothing is clipped. So a correctly classified point with z_y - z_j > eps ||theta_y - theta_j||_1
for every j != y cannot be flipped by any Linf attack of size eps: the fraction of such points is the
**certified** accuracy, a lower bound on the accuracy under any attack. Without the [0, 1] pixel
range it is also exactly the worst-case accuracy; clipping can only help the defender, so:

    certified <= worst case within [0, 1] (``pair_attack``: every pair's optimal step, clipped)
              <= FGSM accuracy (one signed step on cross-entropy, clipped).

The paper trains the model with ALS at alpha in {0, .01, .05, .1, .15, .2, .3, .4, .5} and compares
the class norms ||theta_i||_2 and the gaps ||theta_i - theta_j||_1.
"""

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from torch import nn
from tqdm.std import tqdm  # text bars: no widget, so no IProgress warning in executed notebooks

from lsstudy import data, models
from lsstudy.attacks.gradient import fgsm
from lsstudy.report.reference import authors
from lsstudy.runtime import progress_elsewhere
from lsstudy.toys import one_thread
from lsstudy.train import predict, train


def pixel_weights(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(Theta, c) with logits = Theta x.flatten() + c for x in pixel units, for ``models.build("linear", ...)``.

    The model is Normalize(mean, std) then Linear(W, b): z = W ((x - mean) / std) + b, so
    Theta = W / std (per input channel) and c = b - Theta . mean.
    """
    normalize, body = model[0], model[1]
    linear = body[-1]
    weight = linear.weight.detach()
    channels = normalize.std.numel()
    per_pixel = weight.shape[1] // channels
    std = normalize.std.flatten().repeat_interleave(per_pixel)
    mean = normalize.mean.flatten().repeat_interleave(per_pixel)
    theta = weight / std
    bias = linear.bias.detach() if linear.bias is not None else torch.zeros(weight.shape[0])
    return theta, bias - theta @ mean


def gaps(theta: torch.Tensor) -> torch.Tensor:
    """(K, K) matrix of ||theta_i - theta_j||_1."""
    return torch.cdist(theta[None], theta[None], p=1)[0]


def certified_correct(theta: torch.Tensor, offset: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Per point: correct, and z_y - z_j > eps ||theta_y - theta_j||_1 for every j != y."""
    z = x.flatten(1) @ theta.T + offset
    margin = z.gather(1, y[:, None]) - z  # (N, K): z_y - z_j, 0 at j = y
    slack = margin - eps * gaps(theta)[y]
    slack.scatter_(1, y[:, None], float("inf"))
    return slack.min(dim=1).values > 0


def pair_attack_correct(theta: torch.Tensor, offset: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Per point: still correct after the worst Linf perturbation of size eps within [0, 1].

    For each wrong class j, x - eps sign(theta_y - theta_j) clipped to [0, 1] maximises z_j - z_y over
    the clipped box (the objective is separable per pixel); a point survives if no j reaches z_j >= z_y.
    """
    flat = x.flatten(1)
    z = flat @ theta.T + offset
    alive = z.argmax(1) == y
    for j in range(theta.shape[0]):
        direction = torch.sign(theta[y] - theta[j])  # (N, D)
        x_adv = (flat - eps * direction).clamp(0.0, 1.0)
        diff = ((theta[y] - theta[j]) * x_adv).sum(1) + offset[y] - offset[j]
        alive &= (diff > 0) | (y == j)
    return alive


def study(dataset: str, alphas: list[float], eps: list[float], epochs: int, lr: float, batch_size: int, seed: int,
          test_offset: int, test_size: int, root: str = "data/raw", download: bool = False,
          device: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train a bias-free linear model with ALS at each alpha; measure norms and accuracies.

    Returns (norms, accuracy). norms: one row per (alpha, kind, i, j) with kind "theta_l2"
    (||theta_i||_2, j empty) or "gap_l1" (||theta_i - theta_j||_1, i < j). accuracy: one row per
    (alpha, eps, measure) with measure in clean-included "fgsm" (measured), "pair_attack" (worst case
    within [0, 1]) and "certified" (the bound), over test points [test_offset, test_offset + test_size).
    """
    x_train, y_train = data.load(dataset, "train", root, download)
    x_test, y_test = data.load_test_slice(dataset, test_offset, test_size, root, download)
    norms, accuracy = [], []
    with one_thread():  # small models (see lsstudy.toys.one_thread)
        for alpha in tqdm(alphas, desc="gradient gap: ALS models", disable=progress_elsewhere()):
            model = models.build("linear", dataset, bias=False, seed=seed)
            method = "adversarial" if alpha > 0 else "none"
            train(model, x_train, y_train, method=method, alpha=alpha, epochs=epochs, lr=lr, batch_size=batch_size,
                  seed=seed, device=device, progress=False)
            model = model.cpu().eval()
            theta, offset = pixel_weights(model)
            gap = gaps(theta)
            for i, value in enumerate(theta.norm(dim=1).tolist()):
                norms.append({"alpha": alpha, "kind": "theta_l2", "i": i, "j": None, "value": value})
            for i, j in itertools.combinations(range(theta.shape[0]), 2):
                norms.append({"alpha": alpha, "kind": "gap_l1", "i": i, "j": j, "value": float(gap[i, j])})
            clean = predict(model, x_test).argmax(1) == y_test
            for e in eps:
                x_adv = fgsm(model, x_test, y_test, e) if e > 0 else x_test
                measured = clean & (predict(model, x_adv).argmax(1) == y_test)
                for measure, correct in [("fgsm", measured), ("pair_attack", pair_attack_correct(theta, offset, x_test, y_test, e)),
                                         ("certified", certified_correct(theta, offset, x_test, y_test, e))]:
                    accuracy.append({"dataset": dataset, "alpha": alpha, "eps": float(e), "measure": measure,
                                     "n": len(y_test), "accuracy": correct.float().mean().item()})
    return pd.DataFrame(norms), pd.DataFrame(accuracy)


def _beside_authors(ax, theirs: pd.DataFrame, dataset: str, alpha_order: list[float]) -> None:
    """The authors' median gaps of ``dataset`` at the box of each alpha of the grid (the others are named)."""
    mine = theirs[(theirs.metric == "median_gap_l1") & (theirs.dataset == authors.their_dataset(dataset))]
    box = mine.alpha.round(9).map({round(a, 9): i for i, a in enumerate(alpha_order)})  # the box of each alpha
    if box.isna().all():
        return
    missing = sorted(mine.alpha[box.isna()])
    authors.draw(ax, mine[box.notna()], x=box.dropna(),
                 suffix=": median" + (f" (alpha {missing} not in this grid)" if missing else ""))
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.12 * (high - low))  # room for the legend above the data
    ax.legend(fontsize=7, loc="upper right")


MEASURES = {"fgsm": "FGSM (measured)", "pair_attack": "worst case in [0, 1] (exact, linear)",
            "certified": "certified by eps ||theta_y - theta_j||_1"}


def figure(norms: pd.DataFrame, accuracy: pd.DataFrame, figure_eps: list[float],
           theirs: pd.DataFrame | None = None) -> Figure:
    """Class norms and pairwise gaps vs alpha (boxes), and accuracy vs alpha at each ``figure_eps``.

    ``theirs`` (``lsstudy.report.reference.authors.load()``): the authors' median gaps on the same dataset, at the
    alphas of the grid, are drawn beside the boxes as hollow markers.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    alpha_order = sorted(norms.alpha.unique())
    for ax, kind, ylabel, title in [
        (axes[0], "theta_l2", "||theta_i||_2 (pixel units)", "class weight norms (10 classes)"),
        (axes[1], "gap_l1", "||theta_i - theta_j||_1 (pixel units)", "gradient gaps (45 pairs)"),
    ]:
        sel = norms[norms.kind == kind]
        sns.boxplot(data=sel, x="alpha", y="value", order=alpha_order, ax=ax, color="0.85", fliersize=2)
        ax.set(xlabel="alpha (ALS smoothing mass)", ylabel=ylabel, title=title)
        ax.set_xticks(range(len(alpha_order)), [f"{a:g}" for a in alpha_order])
    if theirs is not None:
        _beside_authors(axes[1], theirs, accuracy.dataset.iloc[0], alpha_order)
    ax = axes[2]
    styles = {"fgsm": "-o", "pair_attack": "-s", "certified": "--"}
    colors = sns.color_palette("colorblind", len(figure_eps))
    for color, e in zip(colors, figure_eps):
        at = accuracy[np.isclose(accuracy.eps, e)]
        for measure, style in styles.items():
            sel = at[at.measure == measure].sort_values("alpha")
            ax.plot(sel.alpha, sel.accuracy, style, color=color, ms=3.5, label=f"eps = {e:g}: {MEASURES[measure]}")
    ax.set(xlabel="alpha (ALS smoothing mass)", ylabel="accuracy (correct clean and under attack)",
           title="measured FGSM vs the bound's prediction", ylim=(0, 1))
    ax.legend(fontsize=6.5, loc="best")
    dataset, n = accuracy.dataset.iloc[0], accuracy.n.iloc[0]
    fig.suptitle(f"Gradient gap of a bias-free softmax regression trained with ALS on {dataset} "
                 f"(Linf eps in pixels in [0, 1]; {n:,} test points)", fontsize=10)
    fig.tight_layout()
    return fig
