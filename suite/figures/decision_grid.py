"""Evaluating a function of two inputs on a regular grid, in float32 chunks.

The decision maps use the spiral notebook's grid: `np.arange(lo, hi, h)` along each axis
(the end excluded), read as `Z[i, j] = fn(x[j], y[i])` (numpy's meshgrid layout, rows
along y). The notebook builds the whole grid in float64 numpy (meshgrid, then np.c_) and
runs one forward pass over it; here each chunk's float32 points are written into one
reused buffer from the two axes, under inference mode, so memory stays at one chunk.

`class_map(model, loss, x_range, y_range, h)` is the fast path for an MLP (see
`rows_forward`): whole grid rows at a time, the first layer as an outer sum over the
axes, the others feature-major (features x points), where each Linear is one matrix
product with the points as its long side (MKL is ~10x faster that way round than on a
points x 10 block), activations in place in reused buffers. Its outputs differ from a
plain forward pass in the last bits (another summation order), so a point within
rounding of the decision threshold could take the other class; `tests/test_fast_grid.py`
checks point by point that no point of six trained models' maps does, and
`benchmarks/ratios.py` counts such points on the notebook's full grid.
"""

import numpy as np
import torch
from torch import nn

from suite.training import components


def grid_axes(x_range: tuple[float, float], y_range: tuple[float, float],
              h: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid's coordinates along x and along y (float64, as np.arange gives them)."""
    return np.arange(x_range[0], x_range[1], h), np.arange(y_range[0], y_range[1], h)


def evaluate_grid(fn, x_range: tuple[float, float], y_range: tuple[float, float], h: float,
                  chunk: int = 65536) -> np.ndarray:
    """`fn` (a float32 tensor of points (m, 2) -> a tensor of m values) on every grid
    point, `chunk` points at a time under torch.inference_mode; returns the (ny, nx) array.
    A `fn` with `fn.on_rows = True` is called as fn(xs, ys) on the x axis and a block of
    whole rows' y values (about `chunk` points) instead; it returns their len(ys) * len(xs)
    values in the same order."""
    if h <= 0 or chunk < 1:
        raise ValueError(f"h and chunk must be positive, got h={h!r}, chunk={chunk!r}")
    xs, ys = (torch.from_numpy(a.astype(np.float32)) for a in grid_axes(x_range, y_range, h))
    nx, total = len(xs), len(xs) * len(ys)
    if total == 0:
        return np.empty((len(ys), nx), dtype=np.float32)
    if getattr(fn, "on_rows", False):
        step = max(1, chunk // nx) * nx
        blocks = ((start, fn(xs, ys[start // nx:(start + step) // nx])) for start in
                  range(0, total, step))
    else:
        coords = torch.empty(2, min(chunk, total))
        blocks = ((start, fn(_fill(coords[:, :min(chunk, total - start)], xs, ys, start).T
                             .contiguous())) for start in range(0, total, chunk))
    out = None
    with torch.inference_mode():
        for start, values in blocks:
            values = values.reshape(-1)
            if out is None:
                out = torch.empty(total, dtype=values.dtype)
            out[start:start + len(values)] = values
    return out.numpy().reshape(len(ys), nx)


def _fill(coords: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, start: int) -> torch.Tensor:
    """Grid points start, start+1, ... (row-major over (y, x)) into coords (2, m): a
    partial row, whole rows, a partial row."""
    nx, m, pos = len(xs), coords.shape[1], 0
    while pos < m:
        i, j = divmod(start + pos, nx)
        if j == 0 and m - pos >= nx:
            r = (m - pos) // nx
            coords[0, pos:pos + r * nx].view(r, nx).copy_(xs)
            coords[1, pos:pos + r * nx].view(r, nx).copy_(ys[i:i + r, None])
            pos += r * nx
        else:
            n = min(nx - j, m - pos)
            coords[0, pos:pos + n] = xs[j:j + n]
            coords[1, pos:pos + n] = ys[i]
            pos += n
    return coords


# -- the fast path for MLPs -------------------------------------------------------------

# module type -> the same function applied in place: (module, h) -> h
IN_PLACE = {nn.ReLU: lambda m, h: torch.relu_(h), nn.Sigmoid: lambda m, h: torch.sigmoid_(h),
            nn.Tanh: lambda m, h: torch.tanh_(h),
            nn.ELU: lambda m, h: nn.functional.elu_(h, m.alpha),
            nn.Identity: lambda m, h: h, nn.Dropout: lambda m, h: h}


def rows_forward(model: nn.Module):
    """The model's outputs (out, r * nx) on whole grid rows, computed feature-major:
    fn(xs, ys) for the x axis and r rows' y values. None unless the model is a chain of
    Linear layers and elementwise activations starting with a Linear of two inputs
    (`suite.training.models.MLP` on 2-D data). Dropout is skipped: the map is of the trained model.

    The first layer is w_x * x + (w_y * y + b), an (x, y) outer sum; each later Linear is
    one matrix product with the points along its long side (~10x faster on MKL than a
    points x 10 block); activations run in place in two reused buffers."""
    layers = _chain(model)
    if layers is None:
        return None
    buffers: dict = {}

    def forward(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        first = layers[0]
        w, b = first.weight, first.bias
        h = _buffer(buffers, 0, first.out_features, len(ys) * len(xs))
        torch.add((w[:, :1] * xs)[:, None, :], (w[:, 1:] * ys + b[:, None])[:, :, None],
                  out=h.view(-1, len(ys), len(xs)))
        k = 1  # Linear layers alternate between two buffers
        for layer in layers[1:]:
            if isinstance(layer, nn.Linear):
                buf = _buffer(buffers, k % 2, layer.out_features, h.shape[1])
                h, k = torch.addmm(layer.bias[:, None], layer.weight, h, out=buf), k + 1
            else:
                h = IN_PLACE[type(layer)](layer, h)
        return h

    return forward


def _chain(model: nn.Module):
    seq = [*model.body, model.out, model.output_activation] if hasattr(model, "body") else []
    ok = seq and isinstance(seq[0], nn.Linear) and seq[0].in_features == 2 and all(
        isinstance(m, nn.Linear) or type(m) in IN_PLACE for m in seq)
    return seq if ok else None


def _buffer(buffers: dict, k: int, rows: int, cols: int) -> torch.Tensor:
    buf = buffers.get(k)
    if buf is None or buf.numel() < rows * cols:
        buf = buffers[k] = torch.empty(rows * cols)
    return buf[:rows * cols].view(rows, cols)


def labels_of(loss: str, out: torch.Tensor, dim: int) -> torch.Tensor:
    """`suite.training.recipe.predict_labels` along `dim` (outputs there), as uint8: argmax for
    cross-entropy, logit >= 0 for BCE with logits, else output >= 0.5."""
    if loss == "cross_entropy":
        return out.argmax(dim).to(torch.uint8)
    first = out.select(dim, 0)
    return (first >= (0.0 if loss == "bce_with_logits" else 0.5)).to(torch.uint8)


def model_labels(model: nn.Module, loss: str):
    """A grid function giving each point the class the model predicts (uint8; at most
    256 classes): the row-wise fast path when the model allows it, else its forward."""
    components.get("loss", loss)
    forward = rows_forward(model)
    if forward is None:
        return lambda points: labels_of(loss, model(points), 1)

    def labels(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        return labels_of(loss, forward(xs, ys), 0)

    labels.on_rows = True
    return labels


CACHE_FLOATS = 2 ** 19  # a chunk's widest layer output in floats: 2 MB, about L2's size


def class_map(model: nn.Module, loss: str, x_range, y_range, h: float,
              chunk: int | None = None) -> np.ndarray:
    """The (ny, nx) uint8 array of `model`'s predicted classes on the grid (eval mode).
    By default a chunk holds as many points as keep its widest layer's outputs within
    CACHE_FLOATS (~50 k points for width 10, ~5 k for width 100: 2-3x faster than
    one size for all)."""
    model.eval()
    if chunk is None:
        widest = max((m.out_features for m in model.modules() if isinstance(m, nn.Linear)),
                     default=1)
        chunk = max(1, CACHE_FLOATS // widest)
    return evaluate_grid(model_labels(model, loss), x_range, y_range, h, chunk)
