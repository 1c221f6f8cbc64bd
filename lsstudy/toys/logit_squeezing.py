"""ALS as logit squeezing: the identity behind it, checked on a trained network, and the logit spread.

Goibert & Dohmatob, arXiv 1906.11567, section 3. The ALS target puts alpha on the class with the
smallest logit, which is the class with the smallest probability, so its loss is

    CE_ALS = (1 - alpha) CE + alpha max_j(-log p_j) = (1 - alpha) CE + alpha (logsumexp(z) - min_j z_j):

a penalty on the gap between the largest and the smallest logit (up to log K), i.e. logit squeezing.
``identity_gap`` compares the package's ``LabelSmoothingLoss("adversarial")`` with the right-hand side,
computed here from log_softmax only; the spread is max_j z_j - min_j z_j per example
(``lsstudy.diagnostics.logit_spread``).
"""

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from tqdm.std import tqdm  # text bars: no widget, so no IProgress warning in executed notebooks

from lsstudy import data, models
from lsstudy.diagnostics import logit_spread
from lsstudy.runtime import progress_elsewhere
from lsstudy.smoothing import LabelSmoothingLoss
from lsstudy.toys import one_thread
from lsstudy.train import predict, train


def squeezing_form(logits: torch.Tensor, labels: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per example (1 - alpha) CE + alpha max_j(-log p_j), written with logsumexp (no softmax, no target)."""
    lse = torch.logsumexp(logits, dim=1)
    ce = lse - logits.gather(1, labels[:, None]).squeeze(1)
    return (1 - alpha) * ce + alpha * (lse - logits.min(dim=1).values)


def identity_gap(logits: torch.Tensor, labels: torch.Tensor, alpha: float) -> float:
    """max |CE_ALS - squeezing_form| over the examples, in float64."""
    logits = logits.double()
    als = LabelSmoothingLoss("adversarial", alpha, reduction="none")(logits, labels)
    return float((als - squeezing_form(logits, labels, alpha)).abs().max())


def study(dataset: str, arch: str, alphas: list[float], epochs: int, lr: float, batch_size: int, seed: int,
          test_offset: int, test_size: int, root: str = "data/raw", download: bool = False,
          device: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train ``arch`` with ALS at each alpha (alpha 0: plain cross-entropy) and measure the test points.

    Returns (summary, spreads): summary has one row per alpha with the clean accuracy, the largest
    identity gap over every (model, alpha' in ``alphas``) pair's test logits and the spread's
    quartiles; spreads has one row per (alpha, test point) with the logit spread and the smallest
    probability min_j p_j.
    """
    x_train, y_train = data.load(dataset, "train", root, download)
    x_test, y_test = data.load_test_slice(dataset, test_offset, test_size, root, download)
    summary, spreads = [], []
    with one_thread():  # small models (see lsstudy.toys.one_thread)
        for alpha in tqdm(alphas, desc=f"logit squeezing: ALS {arch} models", disable=progress_elsewhere()):
            model = models.build(arch, dataset, seed=seed)
            train(model, x_train, y_train, method="adversarial" if alpha > 0 else "none", alpha=alpha, epochs=epochs,
                  lr=lr, batch_size=batch_size, seed=seed, device=device, progress=False)
            logits = predict(model, x_test)
            gap = max(identity_gap(logits, y_test, a) for a in alphas)
            s = logit_spread(logits)
            smallest = F.softmax(logits.double(), dim=1).min(dim=1).values
            q25, q50, q75 = torch.quantile(s, torch.tensor([0.25, 0.5, 0.75])).tolist()
            summary.append({"dataset": dataset, "arch": arch, "alpha": alpha, "n": len(y_test),
                            "clean_accuracy": (logits.argmax(1) == y_test).float().mean().item(),
                            "identity_max_abs_error": gap, "spread_q25": q25, "spread_median": q50, "spread_q75": q75,
                            "smallest_probability_median": smallest.median().item()})
            spreads += [{"alpha": alpha, "spread": a, "smallest_probability": b}
                        for a, b in zip(s.tolist(), smallest.tolist())]
    return pd.DataFrame(summary), pd.DataFrame(spreads)


def figure(summary: pd.DataFrame, spreads: pd.DataFrame) -> Figure:
    """The identity's largest error per model, and the logit spread and smallest probability vs alpha."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    order = sorted(spreads.alpha.unique())
    labels = [f"{a:g}" for a in order]
    ax = axes[0]
    ax.semilogy(summary.alpha, summary.identity_max_abs_error.clip(lower=1e-18), "o-", color="k")
    ax.axhline(1e-6, color="r", ls="--", lw=1, label="tolerance 1e-6")
    ax.set(xlabel="alpha of the trained model (ALS)", ylabel="max |CE_ALS - ((1-a) CE + a max_j -log p_j)|",
           title="the ALS identity on the test logits (float64)")
    ax.legend(fontsize=8)
    sns.boxplot(data=spreads, x="alpha", y="spread", order=order, ax=axes[1], color="0.85", fliersize=1.5)
    axes[1].set(xlabel="alpha (ALS smoothing mass)", ylabel="max_j z_j - min_j z_j (logit units)",
                title="logit spread per test point")
    axes[1].set_xticks(range(len(order)), labels)
    sns.boxplot(data=spreads, x="alpha", y="smallest_probability", order=order, ax=axes[2], color="0.85",
                fliersize=1.5, log_scale=True)
    axes[2].set(xlabel="alpha (ALS smoothing mass)", ylabel="min_j p_j (log scale)",
                title="smallest class probability per test point")
    axes[2].set_xticks(range(len(order)), labels)
    row = summary.iloc[0]
    fig.suptitle(f"ALS as logit squeezing: {row.arch} trained with ALS on {row.dataset}, "
                 f"{int(row.n):,} test points", fontsize=10)
    fig.tight_layout()
    return fig
