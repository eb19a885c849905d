"""The minibatch training recipe, on tensors already in memory (no DataLoader).

Per epoch: a fresh permutation of the training set from the trial's data-order
generator, one optimiser step per minibatch, then the epoch's average training loss and
the validation loss and accuracy. The notebook sums `loss * batch_size / n` per batch,
which over-counts the last batch when `batch_size` does not divide `n`; here every batch
is weighted by its true size (identical when it divides, as for 4000 / 32).
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from suite.datasets import Points


@dataclass
class History:
    initial_loss: float = float("nan")
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    diverged: str = ""  # why the trial counts as diverged; "" when it did not


    def curves(self) -> dict[str, list[float]]:
        return {"train_loss": self.train_loss, "val_loss": self.val_loss,
                "val_accuracy": self.val_accuracy}


def targets_for(loss_name: str, y: torch.Tensor) -> torch.Tensor:
    """Class indices for cross-entropy; 0./1. floats for the one-output losses."""
    return y if loss_name == "cross_entropy" else y.to(torch.float32)


def outputs_for(loss_name: str, out: torch.Tensor) -> torch.Tensor:
    return out if loss_name == "cross_entropy" else out.view(-1)


def predict_labels(loss_name: str, out: torch.Tensor) -> torch.Tensor:
    """Class labels from model outputs: argmax for logits over classes; for one output,
    logit >= 0 with BCEWithLogits, else output >= 0.5 (the notebook's threshold)."""
    if loss_name == "cross_entropy":
        return out.argmax(dim=1)
    threshold = 0.0 if loss_name == "bce_with_logits" else 0.5
    return (out.view(-1) >= threshold).to(torch.int64)


def accuracy(labels: torch.Tensor, y: torch.Tensor) -> float:
    return (labels == y).to(torch.float64).mean().item()


@torch.inference_mode()
def evaluate(model: nn.Module, loss_fn, loss_name: str, data: Points) -> tuple[float, float]:
    """(loss, accuracy) of `model` on `data`, in eval mode, as one full batch."""
    model.eval()
    out = model(data.x)
    loss = loss_fn(outputs_for(loss_name, out), targets_for(loss_name, data.y)).item()
    return loss, accuracy(predict_labels(loss_name, out), data.y)


def run_epoch(model, loss_fn, loss_name, optimizer, data: Points, batch_size: int,
              order: torch.Generator) -> torch.Tensor:
    """One pass over `data` in a random order; returns the size-weighted mean loss."""
    model.train()
    n = data.x.shape[0]
    perm = torch.randperm(n, generator=order).to(data.x.device)
    total = torch.zeros((), device=data.x.device)
    targets = targets_for(loss_name, data.y)
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        loss = loss_fn(outputs_for(loss_name, model(data.x[idx])), targets[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * idx.numel()
    return total / n


def train(model, loss_fn, loss_name: str, optimizer, train_data: Points, val_data: Points,
          epochs: int, batch_size: int, order: torch.Generator) -> History:
    """Train for `epochs`. A trial diverges when an epoch's loss is not finite (training
    stops there) or when training ends with a higher training loss than the untrained
    model had: with a bounded loss (MSE on a sigmoid) a far too high learning rate kills
    the units and stalls above the start instead of overflowing."""
    history = History(initial_loss=evaluate(model, loss_fn, loss_name, train_data)[0])
    for _ in range(epochs):
        epoch_loss = run_epoch(model, loss_fn, loss_name, optimizer, train_data, batch_size,
                               order).item()
        history.train_loss.append(epoch_loss)
        if not math.isfinite(epoch_loss):
            history.diverged = f"non-finite training loss at epoch {len(history.train_loss)}"
            return history
        val_loss, val_acc = evaluate(model, loss_fn, loss_name, val_data)
        history.val_loss.append(val_loss)
        history.val_accuracy.append(val_acc)
    if history.train_loss[-1] > history.initial_loss:
        history.diverged = (f"training loss rose from {history.initial_loss:.6g} (untrained) "
                            f"to {history.train_loss[-1]:.6g}")
    return history
