"""Loss heads of the stacked models: per-sample loss, its gradient, predicted labels.

A head reads the output layer y [S, rows, P] of `suite.training.stacked_mlp.StackedMLP` (after the
output activation; the real outputs are its first columns, the rest is padding) and a
target tensor in the same layout, made once per split by `targets`; both come from a
`Scratch`. A model's loss is the mean of its per-sample losses (torch's
reduction='mean'); `grad(p)` writes the gradient of that mean with respect to the
output `p.a[-1]` of a `suite.training.stacked_mlp.Pass` into `p.g_out`, for the targets in `p.t`.
Elementwise ops run over whole VEC-rounded buffers (see `suite.training.stacked_mlp`), so a model's
numbers do not depend on its batch.
"""

import torch
from torch.nn import functional as F

from suite.training.stacked_mlp import VEC, Scratch, up

LOG_FLOOR = -100.0  # torch's BCELoss clamps each log term here
BCE_EPS = 1e-12  # and its gradient's denominator here


def _whole(t: torch.Tensor) -> torch.Tensor:
    return Scratch.whole(t)


def _new(n: int, device) -> torch.Tensor:
    """A zeroed 1-D buffer of `n` floats rounded up to VEC."""
    return torch.zeros(up(n, VEC), device=device)


def _view(whole: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return whole[:like.numel()].view(like.shape)


class _OneOutput:
    """Heads with one output column and 0/1 float targets in column 0."""

    threshold = 0.5

    def targets(self, y: torch.Tensor, width: int) -> torch.Tensor:
        t = torch.zeros(*y.shape, width, device=y.device)
        t[..., 0] = y.to(torch.float32)
        return t

    def predict(self, y: torch.Tensor) -> torch.Tensor:
        return (y[..., 0] >= self.threshold).to(torch.int64)

    def loss(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Per-sample losses [S, rows] (y and t taken from a `Scratch`)."""
        return _view(self._per_sample(_whole(y), _whole(t)), y)[..., 0]


class MSE(_OneOutput):
    def _per_sample(self, y, t):
        d = y - t
        return d.mul_(d)

    def grad(self, p) -> None:
        torch.sub(p.a_whole[-1], p.t_whole, out=p.g_out_whole).mul_(2.0 / p.rows)


class BCE(_OneOutput):
    def _per_sample(self, y, t):
        log_y = torch.log(y).clamp_min_(LOG_FLOOR)
        log_1my = torch.log(1 - y).clamp_min_(LOG_FLOOR)
        return (t - 1).mul_(log_1my).sub_(log_y.mul_(t))

    def grad(self, p) -> None:
        y = p.a_whole[-1]
        denominator = (1 - y).mul_(y).clamp_min_(BCE_EPS)
        torch.sub(y, p.t_whole, out=p.g_out_whole).div_(denominator).div_(p.rows)


class BCEWithLogits(_OneOutput):
    threshold = 0.0

    def _per_sample(self, y, t):
        return (1 - t).mul_(y).sub_(F.logsigmoid(y))

    def grad(self, p) -> None:
        torch.sigmoid(p.a_whole[-1], out=p.g_out_whole).sub_(p.t_whole).div_(p.rows)


class CrossEntropy:
    """Softmax over the real class columns (padding columns are masked to -inf)."""

    def __init__(self, n_classes: int):
        self.n_classes = n_classes

    def targets(self, y: torch.Tensor, width: int) -> torch.Tensor:
        return F.one_hot(y, width).to(torch.float32)

    def predict(self, y: torch.Tensor) -> torch.Tensor:
        return y[..., :self.n_classes].argmax(-1)

    def _softmax_parts(self, y: torch.Tensor):
        """(exp(y - max) as a whole buffer, its row sums [S, rows] in a whole buffer, max)."""
        S, rows, width = y.shape
        mask = torch.full((width,), float("-inf"), device=y.device)
        mask[:self.n_classes] = 0.0
        shifted = y + mask
        top = shifted.amax(-1, keepdim=True)
        e = _new(y.numel(), y.device)
        torch.sub(shifted, top, out=_view(e, y))
        e.exp_()
        total = _new(S * rows, y.device)
        torch.sum(_view(e, y), -1, out=total[:S * rows].view(S, rows))
        return e, total, top

    def loss(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        S, rows, _ = y.shape
        _, total, top = self._softmax_parts(y)
        log_total = torch.log(total)[:S * rows].view(S, rows)
        return log_total + top[..., 0] - (y * t).sum(-1)

    def grad(self, p) -> None:
        y = p.a[-1]
        S, r, _ = y.shape
        e, total, _ = self._softmax_parts(y)
        torch.div(_view(e, y), total[:S * r].view(S, r, 1), out=p.g_out)
        p.g_out.sub_(p.t).div_(r)


def make(loss: str, n_classes: int):
    """The head of a loss named in `suite.training.components.LOSSES`."""
    return CrossEntropy(n_classes) if loss == "cross_entropy" else HEADS[loss]()


HEADS = {"mse": MSE, "bce": BCE, "bce_with_logits": BCEWithLogits,
         "cross_entropy": CrossEntropy}
