"""Evaluating a function of two inputs on a regular grid, in float32 chunks.

The decision-boundary maps use the spiral notebook's grid: `np.arange(lo, hi, h)` along
each axis (the end excluded), read as `Z[i, j] = fn(x[j], y[i])` (numpy's meshgrid
layout, rows along y). Chunks bound the memory a big grid needs (h = 0.01 over the
spirals' box is 2,400 x 2,400 points).
"""

import numpy as np
import torch


def grid_axes(x_range: tuple[float, float], y_range: tuple[float, float],
              h: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid's coordinates along x and along y (float64, as np.arange gives them)."""
    return np.arange(x_range[0], x_range[1], h), np.arange(y_range[0], y_range[1], h)


def evaluate_grid(fn, x_range: tuple[float, float], y_range: tuple[float, float], h: float,
                  chunk: int = 65536) -> np.ndarray:
    """`fn` (a float32 tensor of points (m, 2) -> a tensor of m values) on every grid
    point, `chunk` points at a time under torch.inference_mode; returns the (ny, nx) array."""
    if h <= 0 or chunk < 1:
        raise ValueError(f"h and chunk must be positive, got h={h!r}, chunk={chunk!r}")
    xs, ys = grid_axes(x_range, y_range, h)
    out = None
    total = len(xs) * len(ys)
    with torch.inference_mode():
        for start in range(0, total, chunk):
            flat = np.arange(start, min(start + chunk, total))
            points = np.stack((xs[flat % len(xs)], ys[flat // len(xs)]), axis=1)
            values = fn(torch.from_numpy(points.astype(np.float32))).reshape(-1).cpu().numpy()
            if out is None:
                out = np.empty(total, dtype=values.dtype)
            out[flat] = values
    if out is None:
        return np.empty((len(ys), len(xs)), dtype=np.float32)
    return out.reshape(len(ys), len(xs))
