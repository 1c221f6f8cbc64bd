"""Training a stack (``lsstudy.stacked``): M models, each trained as ``lsstudy.train.train`` trains it alone, in one
computation per step.

Each model keeps what ``train`` gives it: its seed's stratified hold-out, its seed's shuffling generator, its own
dropout stream (``train`` seeds the global generator with the seed; here each model has a generator of its own with
that seed), its loss (``LabelSmoothingLoss(method, alpha, temperature)``, the mean over its batch), SGD with momentum
and torch's ReduceLROnPlateau on its own hold-out loss or its CosineAnnealingLR (``schedule``), each on an optimizer
that holds only the model's learning rate. The SGD step is torch's, vectorised over the models:
buf = momentum buf + grad, p = p - lr_m buf.
"""

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lsstudy.checks import check_choice, check_positive_int
from lsstudy.runtime import default_device
from lsstudy.smoothing import LabelSmoothingLoss
from lsstudy.stacked import Stack
from lsstudy.train import PRECISIONS, SCHEDULES, autocast, lr_schedulers, stratified_holdout

EVAL_BATCH = 1000  # lsstudy.train.predict's


def train_stack(members: list[nn.Module], x: torch.Tensor, y: torch.Tensor, settings: list[dict], epochs: int = 50,
                lr: float = 0.01, momentum: float = 0.9, batch_size: int = 100, val_fraction: float = 0.1,
                patience: int = 5, plateau_loss: str = "ce", schedule: str = "plateau", precision: str = "float32",
                device: str | torch.device | None = None) -> list[pd.DataFrame]:
    """Train ``members`` (models of one arch and dataset, from ``lsstudy.models.build``) in place on (x, y); model m
    with ``settings[m]`` = {method, alpha, temperature, seed}, the rest of the recipe shared (as in ``train``).

    Returns each model's history, as ``train`` returns it. The models are left in eval mode, on the CPU.
    """
    check_choice("plateau_loss", plateau_loss, ["ce", "smoothed"])
    check_choice("schedule", schedule, SCHEDULES)
    check_choice("precision", precision, PRECISIONS)
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if len(settings) != len(members):
        raise ValueError(f"settings of {len(settings)} models are not allowed for {len(members)} members; one each")
    device = torch.device(device) if device is not None else default_device()
    criteria = [LabelSmoothingLoss(s["method"], s["alpha"], s["temperature"]) for s in settings]
    plateaus = [criterion if plateau_loss == "smoothed" else F.cross_entropy for criterion in criteria]
    splits = [stratified_holdout(y, val_fraction, s["seed"]) for s in settings]  # the same sizes: stratified
    train_idx = torch.stack([keep for keep, _ in splits]).to(device)
    val_idx = torch.stack([held for _, held in splits])
    shuffling = [torch.Generator().manual_seed(s["seed"]) for s in settings]
    dropout = [torch.Generator(device=device).manual_seed(s["seed"]) for s in settings]
    x, y = x.to(device), y.to(device)

    stack = Stack(members).to(device)
    holders = [torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr) for _ in members]
    schedulers = [lr_schedulers(h, schedule, patience, epochs, train_idx.shape[1], batch_size) for h in holders]
    buffers = None
    histories = [[] for _ in members]
    for epoch in range(1, epochs + 1):
        stack.train()
        rates = [h.param_groups[0]["lr"] for h in holders]
        steps = -torch.tensor(rates, device=device)
        orders = torch.stack([torch.randperm(train_idx.shape[1], generator=g) for g in shuffling]).to(device)
        totals = torch.zeros(len(members), dtype=torch.float64, device=device)  # as train's: no sync per batch
        for start in range(0, orders.shape[1], batch_size):
            batch = train_idx.gather(1, orders[:, start : start + batch_size])
            with autocast(precision, device):
                logits, labels = stack(x[batch], dropout), y[batch]
                losses = torch.stack([criterion(logits[m], labels[m]) for m, criterion in enumerate(criteria)])
            stack.zero_grad(set_to_none=True)
            losses.sum().backward()  # each model's gradient is its own loss's
            buffers = _sgd(stack.weights, buffers, steps, momentum)
            totals += losses.detach().double() * batch.shape[1]
            if schedulers[0][1] is not None:  # a per-step schedule (cosine), the same kind for every model
                for holder, (_, step_scheduler) in zip(holders, schedulers):
                    holder.step()  # a no-op (its parameter has no gradient) that torch's scheduler expects first
                    step_scheduler.step()
                steps = -torch.tensor([h.param_groups[0]["lr"] for h in holders], device=device)
        totals = totals.tolist()
        logits = _predict(stack, x, val_idx.to(device)) if val_idx.shape[1] else None
        for m, history in enumerate(histories):
            row = {"epoch": epoch, "lr": rates[m], "train_loss": totals[m] / orders.shape[1]}
            if logits is not None:
                y_val = y[val_idx[m].to(device)].cpu()
                row["val_loss"] = F.cross_entropy(logits[m], y_val).item()
                row["val_accuracy"] = (logits[m].argmax(1) == y_val).float().mean().item()
                row["plateau_loss"] = plateaus[m](logits[m], y_val).item()
            plateau, _ = schedulers[m]
            if plateau is not None:
                plateau.step(row.get("plateau_loss", row["train_loss"]))
            history.append(row)
    for member, state in zip(members, stack.state_dicts()):
        member.load_state_dict(state)
        member.eval()
    return [pd.DataFrame(history) for history in histories]


@torch.no_grad()
def _sgd(weights: nn.ParameterList, buffers: list[torch.Tensor] | None, steps: torch.Tensor, momentum: float):
    """torch.optim.SGD's step (no dampening, weight decay or Nesterov) with a learning rate per model: the
    momentum buffers, updated; ``steps`` are the models' -lr."""
    if buffers is None:
        buffers = [w.grad.clone() for w in weights]
    else:
        for buffer, w in zip(buffers, weights):
            buffer.mul_(momentum).add_(w.grad)
    for w, buffer in zip(weights, buffers):
        w.addcmul_(buffer, steps.view(-1, *[1] * (w.dim() - 1)))
    return buffers


@torch.no_grad()
def _predict(stack: Stack, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Each model's logits (M, n, K) on its rows ``index[m]`` of x, in eval mode, batched; on the CPU."""
    stack.eval()
    return torch.cat([stack(x[index[:, i : i + EVAL_BATCH]]).cpu() for i in range(0, index.shape[1], EVAL_BATCH)], dim=1)
