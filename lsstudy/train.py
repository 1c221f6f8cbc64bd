"""Training with a label-smoothing loss: the paper's recipe by default.

SGD, batch 100, learning rate divided by 10 when the validation loss stops improving for ``patience``
epochs (the authors' ReduceLROnPlateau), up to ``epochs`` epochs. The validation split is a stratified
hold-out of the training data (the authors used a slice of the test set; holding out training data
keeps the test set unseen).

``schedule="cosine"`` instead anneals the learning rate from ``lr`` to 0 over every step of the ``epochs``
(torch's CosineAnnealingLR, stepped per batch): in a fixed, short budget it trains better models than the
plateau schedule, which on a few epochs rarely gets to cut the rate at all (docs/deviations.md).

``precision="bf16"`` computes the forward pass and the loss in bfloat16 under torch.autocast (the weights, their
gradients and the SGD step stay float32; bfloat16 has float32's range, so no loss scaling), with convolutions in
channels_last on CUDA: a GPU's tensor cores then train ResNet18 several times faster (CPUs without bfloat16
convolutions, as oneDNN on many, refuse it for the LeNets and ResNet18). Only training changes: the attacks and every
evaluation run in float32.
"""

from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm  # text bars: no widget, so no IProgress warning in executed notebooks

from lsstudy.checks import check_choice, check_positive_int
from lsstudy.runtime import default_device, seed_everything
from lsstudy.smoothing import LabelSmoothingLoss

SCHEDULES = ["plateau", "cosine"]
PRECISIONS = ["float32", "bf16"]

# (model in train mode, images, labels, epoch counted from 1) -> mean loss of the batch
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]


def stratified_holdout(y: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (keep, held_out) with ``fraction`` of every class held out, chosen by ``seed``."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction={fraction!r} is not allowed; it must be in [0, 1)")
    rng = np.random.default_rng(seed)
    labels = y.cpu().numpy()
    held = np.concatenate([
        rng.permutation(idx)[: int(round(fraction * len(idx)))]
        for idx in (np.flatnonzero(labels == c) for c in np.unique(labels))
    ])
    keep = np.setdiff1d(np.arange(len(labels)), held)
    return torch.from_numpy(keep), torch.from_numpy(np.sort(held))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits for ``x`` in eval mode, batched, on the model's device; returned on the CPU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits = torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return logits


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    method: str = "none",
    alpha: float = 0.0,
    temperature: float = 1.0,
    epochs: int = 50,
    lr: float = 0.01,
    momentum: float = 0.9,
    batch_size: int = 100,
    val_fraction: float = 0.1,
    patience: int = 5,
    plateau_loss: str = "ce",
    schedule: str = "plateau",
    precision: str = "float32",
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    batch_loss: BatchLoss | None = None,
) -> pd.DataFrame:
    """Train ``model`` in place on (x, y) with ``LabelSmoothingLoss(method, alpha, temperature)``,
    or with ``batch_loss`` when given (the baselines of ``lsstudy.baselines``).

    Returns the history, one row per epoch: epoch, lr, train_loss (the training loss), val_loss
    (plain cross-entropy on the hold-out), val_accuracy, and plateau_loss, the hold-out loss that drives
    the plateau schedule: plain cross-entropy with ``plateau_loss="ce"``, the model's own smoothed loss with
    "smoothed" (the authors' choice; the baselines' is then cross-entropy, as they are deployed). With
    ``val_fraction=0`` there is no hold-out and the plateau schedule follows the training loss; the cosine
    schedule follows neither (the hold-out is then only reported). lr is the rate at the epoch's first step.
    The model is left in eval mode on ``device``.
    """
    check_choice("plateau_loss", plateau_loss, ["ce", "smoothed"])
    check_choice("schedule", schedule, SCHEDULES)
    check_choice("precision", precision, PRECISIONS)
    criterion = LabelSmoothingLoss(method, alpha, temperature)
    plateau = criterion if plateau_loss == "smoothed" and batch_loss is None else F.cross_entropy
    if batch_loss is None:

        def batch_loss(model, x, y, epoch):
            return criterion(model(x), y)
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    generator = seed_everything(seed)
    device = torch.device(device) if device is not None else default_device()
    train_idx, val_idx = stratified_holdout(y, val_fraction, seed)
    x_train, y_train = x[train_idx].to(device), y[train_idx].to(device)
    x_val, y_val = x[val_idx], y[val_idx]

    model.to(device)
    if precision == "bf16" and device.type == "cuda" and x_train.dim() == 4:
        model.to(memory_format=torch.channels_last)
        x_train = x_train.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    plateau_scheduler, step_scheduler = lr_schedulers(optimizer, schedule, patience, epochs, len(train_idx), batch_size)
    history = []
    for epoch in tqdm(range(1, epochs + 1), desc=f"train {method} alpha={alpha}", disable=not progress, leave=False):
        model.train()
        order = torch.randperm(len(x_train), generator=generator).to(device)
        rate = optimizer.param_groups[0]["lr"]
        # summed on the device in float64 (as Python sums loss.item()): no host synchronisation per batch
        total = torch.zeros((), dtype=torch.float64, device=device)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            with autocast(precision, device):
                loss = batch_loss(model, x_train[batch], y_train[batch], epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step_scheduler is not None:
                step_scheduler.step()
            total += loss.detach().double() * len(batch)
        train_loss = total.item() / len(order)
        row = {"epoch": epoch, "lr": rate, "train_loss": train_loss}
        if len(val_idx):
            logits = predict(model, x_val)
            row["val_loss"] = F.cross_entropy(logits, y_val).item()
            row["val_accuracy"] = (logits.argmax(1) == y_val).float().mean().item()
            row["plateau_loss"] = plateau(logits, y_val).item()
        if plateau_scheduler is not None:
            plateau_scheduler.step(row.get("plateau_loss", train_loss))
        history.append(row)
    model.eval()
    return pd.DataFrame(history)


def lr_schedulers(optimizer: torch.optim.Optimizer, schedule: str, patience: int, epochs: int, n_train: int,
                  batch_size: int):
    """(ReduceLROnPlateau stepped per epoch on the hold-out loss, or None; CosineAnnealingLR stepped per batch
    to 0 at the last one, or None) for ``schedule``."""
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=patience), None
    steps = epochs * -(-n_train // batch_size)
    return None, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)


def autocast(precision: str, device: torch.device):
    """The context a training step's forward pass and loss run in: torch.autocast to bfloat16, or nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
