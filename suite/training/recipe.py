"""The minibatch training recipe, on tensors already in memory (no DataLoader).

Per epoch: a fresh permutation of the training set from the trial's data-order
generator, one optimiser step per minibatch, then the epoch's average training loss and
the validation loss and accuracy. The notebook sums `loss * batch_size / n` per batch,
which over-counts the last batch when `batch_size` does not divide `n`; here every batch
is weighted by its true size (identical when it divides, as for 4000 / 32).

Two optional regularisers, both off by default (and then no operation is added, so the
numbers are those of the plain recipe): an L1 penalty `l1 * sum |w|` over the weight
matrices (not the biases) added to each minibatch's loss for the gradient (the recorded
training loss stays the data loss, comparable with the validation loss); and early
stopping with `patience` epochs on the validation loss (see `EarlyStopping`), after which
the weights of the best epoch are restored.
"""

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from suite.training.datasets import Points


@dataclass
class History:
    initial_loss: float = float("nan")
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    diverged: str = ""  # why the trial diverged (a non-finite loss); "" when it did not
    best_epoch: int | None = None  # 1-based epoch whose weights were restored (early stopping)
    stalled: str = ""  # why the trial stalled (`stall_reason`); "" when it did not

    @property
    def status(self) -> str:
        """The trial's outcome (`suite.tasks.base.STATUSES`): diverged, stalled or ok."""
        return "diverged" if self.diverged else "stalled" if self.stalled else "ok"

    @property
    def note(self) -> str:
        return self.diverged or self.stalled

    @property
    def selected(self) -> int:
        """Index of the epoch whose weights the model holds: the last one, or the best one
        that early stopping restored."""
        return -1 if self.best_epoch is None else self.best_epoch - 1

    def curves(self) -> dict[str, list[float]]:
        return {"train_loss": self.train_loss, "val_loss": self.val_loss,
                "val_accuracy": self.val_accuracy}


STALL_TOLERANCE = 0.01  # a fall below the untrained loss smaller than this share is noise


def stall_reason(history: History) -> str:
    """Why a finished training stalled: its training loss never fell below the untrained
    model's (its loss at initialisation) by more than STALL_TOLERANCE of it, or it ended
    above it. The tolerance absorbs the wandering of a model stuck at chance (ten-layer
    spiral models at accuracy 0.5 touch 0.2499 against 0.2500); the second clause catches
    a model pushed back above its start (lr 10 on the spirals: MSE on a sigmoid is
    bounded, so a far too high learning rate kills the units instead of overflowing, and
    the loss wanders around a plateau that a lucky initialisation may start above).
    "" when it did neither."""
    losses = history.train_loss
    if not losses:
        return ""
    start, lowest, last = history.initial_loss, min(losses), losses[-1]
    if lowest < start * (1 - STALL_TOLERANCE) and last <= start:
        return ""
    how = "ended above" if last > start else "never fell 1% below"
    return (f"training loss {how} the untrained model's {start:.6g} (lowest {lowest:.6g}, "
            f"last {last:.6g})")


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


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of |w| over the weight matrices (parameters named '*weight'), biases excluded."""
    return sum(p.abs().sum() for n, p in model.named_parameters() if n.endswith("weight"))


def run_epoch(model, loss_fn, loss_name, optimizer, data: Points, batch_size: int,
              order: torch.Generator, l1: float = 0.0) -> torch.Tensor:
    """One pass over `data` in a random order; returns the size-weighted mean data loss
    (the L1 penalty, when `l1` > 0, enters the gradient only)."""
    model.train()
    n = data.x.shape[0]
    perm = torch.randperm(n, generator=order).to(data.x.device)
    total = torch.zeros((), device=data.x.device)
    targets = targets_for(loss_name, data.y)
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        loss = loss_fn(outputs_for(loss_name, model(data.x[idx])), targets[idx])
        optimizer.zero_grad(set_to_none=True)
        if l1 > 0:
            (loss + l1 * l1_penalty(model)).backward()
        else:
            loss.backward()
        optimizer.step()
        total += loss.detach() * idx.numel()
    return total / n


class EarlyStopping:
    """Stop when the validation loss has not improved (strictly fallen below its best so
    far) for `patience` epochs in a row; `patience` 0 never stops. `update(loss)` is called
    once per epoch and says whether to stop after that epoch."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_epoch, self.epoch = patience, math.inf, 0, 0

    def update(self, val_loss: float) -> bool:
        self.epoch += 1
        if val_loss < self.best:
            self.best, self.best_epoch = val_loss, self.epoch
            return False
        return self.patience > 0 and self.epoch - self.best_epoch >= self.patience


def train(model, loss_fn, loss_name: str, optimizer, train_data: Points, val_data: Points | None,
          epochs: int, batch_size: int, order: torch.Generator, *, l1: float = 0.0,
          patience: int = 0) -> History:
    """Train for `epochs`. A trial diverges when an epoch's loss is not finite (training
    stops there), and stalls when no epoch's training loss fell below the untrained
    model's by 1%, or ended above it (`stall_reason`). With `patience` > 0, training stops early and
    the best epoch's weights are restored (`best_epoch`). `val_data` None (no validation
    part) records no validation curves; it needs `patience` 0."""
    if val_data is None and patience > 0:
        raise ValueError("early stopping needs validation data")
    history = History(initial_loss=evaluate(model, loss_fn, loss_name, train_data)[0])
    stopper, best_state = EarlyStopping(patience), None
    for _ in range(epochs):
        epoch_loss = run_epoch(model, loss_fn, loss_name, optimizer, train_data, batch_size,
                               order, l1).item()
        history.train_loss.append(epoch_loss)
        if not math.isfinite(epoch_loss):
            history.diverged = f"non-finite training loss at epoch {len(history.train_loss)}"
            return history
        if val_data is None:  # no validation part: no validation curves
            continue
        val_loss, val_acc = evaluate(model, loss_fn, loss_name, val_data)
        history.val_loss.append(val_loss)
        history.val_accuracy.append(val_acc)
        if patience > 0:
            stop = stopper.update(val_loss)
            if stopper.best_epoch == stopper.epoch:
                best_state = copy.deepcopy(model.state_dict())
            if stop:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
        history.best_epoch = stopper.best_epoch
    history.stalled = stall_reason(history)
    return history
