"""Train supervised trials that differ only in their seeds together, as one stacked model.

`fit_batch(config, seeds_list, device)` trains one model per seed. Each model has its
own data (its data seed), initialisation (init seed), minibatch order (order seed),
dropout masks (dropout seed) and optimiser state, and ends with the same bytes as when
trained alone: a trial trained alone is a batch of one (see `suite.training.stacked_mlp`).
The recipe is `suite.training.recipe`'s: per epoch a fresh permutation, one optimiser step
per minibatch, the size-weighted mean training loss, then the validation loss and accuracy. A model
stops early when its training loss is not finite (it diverged); the others go on. A model
whose training loss made no progress stalled (`suite.training.recipe.stall_reason`).

The regularisers are `suite.training.recipe.train`'s, per model: `config["l1"]` adds
l1 * sign(w) to every weight's gradient (not the biases'), and `config["patience"]` > 0
stops a model whose validation loss has not improved for that many epochs
(`recipe.EarlyStopping`) and restores the weights of its best epoch (`best_epoch`),
unless it diverged with a non-finite loss. A stopped model's weights are frozen as its
final ones (`Run.stop`) while the batch goes on.
"""

import functools
import math
from collections import defaultdict
from dataclasses import dataclass

import torch

from suite.errors import PluginError
from suite.seeding import TrialSeeds
from suite.training import components, stacked_heads
from suite.training.datasets import Points, make_split
from suite.training.models import MLP, MODELS, widths_of
from suite.training.recipe import EarlyStopping, History, stall_reason
from suite.training.stacked_mlp import ALIGN, StackedMLP, up

EVAL_ROWS = 2048  # rows per slice of a forward pass over a whole split


@dataclass
class Fitted:
    """One trained model: the nn.Module (final weights, eval mode), its data and history,
    and its train and test accuracy."""

    model: torch.nn.Module
    splits: tuple[Points, Points, Points]
    history: History
    train_accuracy: float | None = None
    test_accuracy: float | None = None


def n_outputs(config, n_classes: int) -> int:
    return n_classes if config["loss"] == "cross_entropy" else 1


def make_splits(config, seeds: TrialSeeds) -> tuple[Points, ...]:
    """Train, validation and test sets, each from its own seed derived from the data seed
    (one draw, split, for datasets whose seed places the classes: see
    `suite.training.datasets`)."""
    sizes = (config["n_train"], config["n_val"], config["n_test"])
    return make_split(config["dataset"], sizes, seeds.split("data", 3), config["noise"])


def fit_batch(config, seeds_list: list[TrialSeeds], device, make_splits=make_splits,
              n_classes: int | None = None) -> list[Fitted]:
    """Train one model per seed; models whose data have different numbers of classes
    (hence output widths) train in separate batches. `make_splits(config, seeds)` gives
    the (train, validation, test) Points (by default `make_splits` above, the supervised
    task's: the config's dataset); `n_classes` fixes the output width (else: the training
    labels' largest + 1)."""
    device = torch.device(device)
    splits = [tuple(s.to(device) for s in make_splits(config, seeds)) for seeds in seeds_list]
    by_classes = defaultdict(list)
    for i, sp in enumerate(splits):
        by_classes[n_classes or max(int(sp[0].y.max().item()) + 1, 2)].append(i)
    fitted: list = [None] * len(seeds_list)
    for n_classes, idx in by_classes.items():
        run = Run(config, [seeds_list[i] for i in idx], [splits[i] for i in idx], n_classes,
                  device)
        for i, f in zip(idx, run.fit(), strict=True):
            fitted[i] = f
    return fitted


class Run:
    """One batch of models being trained."""

    def __init__(self, config, seeds_list, splits, n_classes, device):
        self.config, self.seeds, self.splits, self.device = config, seeds_list, splits, device
        self.S, self.l1 = len(seeds_list), config.get("l1", 0.0)
        self.patience = config.get("patience", 0)
        n_in, n_out = splits[0][0].x.shape[1], n_outputs(config, n_classes)
        self.modules = [MODELS[config["model"]](config, n_in, n_out, s.generator("init"))
                        for s in seeds_list]
        if not all(isinstance(m, MLP) for m in self.modules):  # a plug-in model
            raise PluginError(f"The model '{config['model']}' is not a "
                              "suite.training.models.MLP, which this task trains as one "
                              "stacked model; use it in a task of your own.")
        self.net = _stack(config, n_in, n_out, self.S, device)
        for s, m in enumerate(self.modules):
            self.net.load(s, _linears(m))
        self.head = stacked_heads.make(config["loss"], n_classes)
        self.data = [self._stack_split(i) for i in range(3)]
        self.optimizer = self._optimizer()
        self.order = [s.generator("order") for s in seeds_list]
        self.dropout = [s.generator("dropout", device) for s in seeds_list]
        self.stopped: dict[int, list] = {}  # model -> its weights when it stopped
        self.stoppers = [EarlyStopping(self.patience) for _ in seeds_list]
        self.best: dict[int, list] = {}  # model -> its best epoch's weights (patience > 0)

    def _stack_split(self, i: int):
        """(x [S, n, padded inputs], targets [S, n, padded outputs], labels [S, n])."""
        xs = torch.stack([sp[i].x for sp in self.splits])
        x = torch.zeros(*xs.shape[:2], up(xs.shape[2], ALIGN), device=self.device)
        x[..., :xs.shape[2]] = xs
        y = torch.stack([sp[i].y for sp in self.splits])
        return x, self.head.targets(y, self.net.padded[-1]), y

    def _optimizer(self):
        self.param = torch.nn.Parameter(self.net.flat)  # shares the storage of net.flat
        self.param.grad = self.net.grad
        name, lr, decay = self.config["optimizer"], self.config["lr"], self.config["weight_decay"]
        optimizer = components.get("optimizer", name)([self.param], lr=lr, weight_decay=decay)
        self._step = _fast_step(optimizer, self.net, name, lr, decay)
        return optimizer

    # -- the recipe ----------------------------------------------------------------------

    def fit(self) -> list[Fitted]:
        losses, _ = self.evaluate(self.data[0])
        self.histories = [History(initial_loss=v) for v in losses]
        for _ in range(self.config["epochs"]):
            self._record_epoch(self.epoch())
            if len(self.stopped) == self.S:
                break
        return self._finish()

    def _record_epoch(self, train_losses: list[float]) -> None:
        active = [s for s in range(self.S) if s not in self.stopped]
        for s in active:
            h = self.histories[s]
            h.train_loss.append(train_losses[s])
            if not math.isfinite(train_losses[s]):
                h.diverged = f"non-finite training loss at epoch {len(h.train_loss)}"
                self.best.pop(s, None)  # as training.train: no weights restored
                self.stop(s)
        if len(self.stopped) == self.S:
            return
        val_loss, val_acc = self.evaluate(self.data[1])
        for s in active:
            if s not in self.stopped:
                self.histories[s].val_loss.append(val_loss[s])
                self.histories[s].val_accuracy.append(val_acc[s])
                if self.patience > 0:
                    self._early_stopping(s, val_loss[s])

    def _early_stopping(self, s: int, val_loss: float) -> None:
        """`recipe.train`'s rule for model s: keep its best epoch's weights; stop it
        `patience` epochs after its last improvement."""
        stopper = self.stoppers[s]
        stop = stopper.update(val_loss)
        if stopper.best_epoch == stopper.epoch:
            self.best[s] = self.net.weights(s)
        if stop:
            self.stop(s)

    def stop(self, s: int) -> None:
        """Freeze model s: its weights now are its final weights; the batch goes on."""
        self.stopped[s] = self.net.weights(s)

    def epoch(self) -> list[float]:
        """One pass over each model's training set in its own order; the mean loss of
        each model's per-sample losses (each taken before its minibatch's step)."""
        x, t, _ = self.data[0]
        n, B, take = x.shape[1], self.config["batch_size"], self.net.scratch.take
        rows = self._orders(n)
        xe, te = self._shuffled(x, "epoch_x", rows), self._shuffled(t, "epoch_t", rows)
        outputs = take("epoch_y", *t.shape)  # each output before its step, for the loss
        for start in range(0, n, B):
            stop = min(start + B, n)
            outputs[:, start:stop] = self.step(xe[:, start:stop], te[:, start:stop])
        return (self.head.loss(outputs, te).sum(1) / n).tolist()

    def _orders(self, n: int) -> torch.Tensor:
        """This epoch's order of every model's n rows (one permutation each, drawn on the
        CPU from its order generator), as row numbers into a [S * n, ...] view."""
        perms = torch.stack([torch.randperm(n, generator=g) for g in self.order])
        return (perms + torch.arange(self.S)[:, None] * n).view(-1).to(self.device)

    def _shuffled(self, data: torch.Tensor, name: str, rows: torch.Tensor) -> torch.Tensor:
        """data [S, n, k] with each model's rows in this epoch's order."""
        out = self.net.scratch.take(name, *data.shape)
        k = data.shape[2]
        torch.index_select(data.view(-1, k), 0, rows, out=out.view(-1, k))
        return out

    def step(self, x, t_slice) -> torch.Tensor:
        """One optimiser step of every model on its minibatch; returns the outputs
        [S, rows, padded outputs] before the step (valid until the next pass)."""
        net = self.net
        p = net.pass_for(x.shape[1])
        p.t.copy_(t_slice)
        masks = self._masks(x.shape[1]) if net.dropout > 0 else None
        y = net.forward(x, p, masks)
        self.head.grad(p)
        net.output_backward(p)
        net.backward(x, p, masks)
        if self.l1:
            net.grad.addcmul_(torch.sign(net.flat), net.weight_mask, value=self.l1)
        self._step()
        return y

    def _masks(self, rows: int) -> list[torch.Tensor]:
        """Dropout masks (keep / (1 - p)), each model's drawn from its own generator."""
        p, net, masks = self.net.dropout, self.net, []
        for l, width in enumerate(net.sizes[1:-1]):
            m = net.scratch.take(f"m{l}", self.S, rows, net.padded[l + 1])
            m.zero_()
            for s, g in enumerate(self.dropout):
                m[s, :, :width].bernoulli_(1 - p, generator=g)
            masks.append(m.div_(1 - p))
        return masks

    @torch.no_grad()
    def evaluate(self, split) -> tuple[list[float], list[float]]:
        """(mean loss, accuracy) of every model on a split, without dropout."""
        x, t, y = split
        n = x.shape[1]
        per_sample = self.net.scratch.take("eval_loss", self.S, n)
        correct = torch.zeros(self.S, dtype=torch.int64, device=x.device)
        for r0 in range(0, n, EVAL_ROWS):
            rows = min(EVAL_ROWS, n - r0)
            p = self.net.pass_for(rows)
            p.t.copy_(t[:, r0:r0 + rows])
            out = self.net.forward(x[:, r0:r0 + rows], p)
            per_sample[:, r0:r0 + rows] = self.head.loss(out, p.t)
            correct += (self.head.predict(out) == y[:, r0:r0 + rows]).sum(1)
        return (per_sample.sum(1) / n).tolist(), (correct.double() / n).tolist()

    def _finish(self) -> list[Fitted]:
        for s, weights in self.stopped.items():
            self.net.set_weights(s, weights)
        for s, weights in self.best.items():  # early stopping restores the best epoch
            self.net.set_weights(s, weights)
            self.histories[s].best_epoch = self.stoppers[s].best_epoch
        _, train_acc = self.evaluate(self.data[0])
        _, test_acc = self.evaluate(self.data[2])
        out = []
        for s, (h, m) in enumerate(zip(self.histories, self.modules, strict=True)):
            _finalise(h)
            _copy_into(m, self.net.weights(s))
            out.append(Fitted(m.to(self.device).eval(), self.splits[s], h, train_acc[s],
                              test_acc[s]))
        return out


def _fast_step(optimizer, net: StackedMLP, name: str, lr: float, decay: float):
    """optimizer.step without its per-call overhead (a step of the stacked model runs
    ~30 small ops; the wrapper alone costs as much as five of them). Plain SGD is
    torch's own single-tensor update, `param.add_(grad, alpha=-lr)`; for the others
    the wrapper's hooks and profiler range (none are used here) are skipped."""
    if name == "sgd" and decay == 0:
        return functools.partial(net.flat.add_, net.grad, alpha=-lr)
    inner = getattr(type(optimizer).step, "__wrapped__", None)
    return functools.partial(inner, optimizer) if inner else optimizer.step


def _finalise(h: History) -> None:
    """The end-of-training stall rule of `suite.training.recipe.train`."""
    if not h.diverged:
        h.stalled = stall_reason(h)


def _stack(config, n_in: int, n_out: int, S: int, device) -> StackedMLP:
    # Any model family whose modules are MLPs (`Run` checks): a plug-in's may differ in
    # its initialisation, whose weights the stack loads.
    widths = widths_of(config["n_hidden_layers"], config["n_neurons"])
    acts = [config["activation"]] * len(widths)
    if config["skip_last_hidden_activation"] and widths:
        acts[-1] = "identity"
    return StackedMLP(S, [n_in, *widths, n_out], acts, config["output_activation"],
                      config["dropout"], device)


def _linears(model: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


@torch.no_grad()
def _copy_into(model: torch.nn.Module, weights) -> None:
    for lin, (w, b) in zip(_linears(model), weights, strict=True):
        lin.weight.copy_(w)
        lin.bias.copy_(b)
