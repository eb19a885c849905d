"""Decision maps: the class a model gives every point of a regular grid, fast, and the same
class at every point as the spiral notebook's way gives.

The notebook's way (`compare_pred`): `np.arange(lo, hi, h)` along each axis (the end
excluded), a float64 meshgrid, `np.c_` into an (n, 2) array, cast to float32, one forward
pass, `Z[i, j] = fn(x[j], y[i])` (rows along y). Every path here computes the points the same
way (float64 axes, then float32), so a point's coordinates are the notebook's to the bit.

`class_map(model, loss, x_range, y_range, h)` has two paths:

- **Chains** (`mlp_plan`): any module that torch.fx traces into a chain of Linear layers
  and monotone elementwise activations (ReLU, sigmoid, tanh, ELU, identity; dropout is
  skipped), starting from 2 inputs - `suite.training.models.MLP`, the notebook's MultiLayerModel, a
  plug-in's or a user's module of that form. The grid is cut into TILE x TILE tiles.
  1. Interval bounds (in float64, all tiles at once) enclose every output any float32
     evaluation of the chain can give on a tile - the notebook's included, whatever its
     summation order: each Linear's rounding is at most gamma_(K+1) (|W| |h| + |b|)
     (Higham's bound, any order, with or without FMA), each activation's at most REL_ERR of
     its value. A tile whose bounds lie on one side of the decision rule gets its class
     without evaluating a point: the notebook's own outputs there are inside the bounds.
  2. The other tiles are evaluated point by point, feature-major (each Linear one matrix
     product with the points as its long side, MKL's fast shape; the first layer the outer
     sum w_x x + (w_y y + b); activations in place), as many tiles at a time as keep the
     widest layer's output within the L2 cache the machine reports.
  3. The same bounds give, per tile, the most two float32 evaluations can differ by; a
     point whose fast output is within that of the decision threshold is evaluated again
     the notebook's way (`_notebook_labels`): the model's own forward on the (m, 2) float32
     points, each placed at the notebook's row position modulo PERIOD, because MKL and
     torch's vector loops round a row differently by its address modulo 16 bytes and in a
     batch's last rows (measured: 26 k of 277 k rows of a 3 x 10 model differed between a
     gathered batch and the full grid).
- **Any other module** (`generic_labels`): its own forward on chunks of the notebook's
  (n, 2) float32 points, every chunk a multiple of PERIOD points starting at a multiple of
  PERIOD, so each point sits at the notebook's position modulo PERIOD, and the last chunk
  ends where the grid ends. The chunk size is measured in the run (the fastest per point
  of a few sizes, on the map's first chunks). It assumes a point's output depends on that
  point alone (no batch statistics).
"""

import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

U = 2.0 ** -24  # float32's unit roundoff
# An activation's float32 evaluation (a vectorised Sleef or libm exp/tanh, a division) is
# within a few ulps of the exact value; 8 ulps bounds every implementation torch uses.
REL_ERR = 8 * U
TINY = 2.0 ** -120  # absolute slack for subnormal results
SLACK = 1 + 1e-6  # covers the float64 rounding of the bounds themselves (~1e-16 relative)
# A point keeps its row position modulo PERIOD (a multiple of 16, 48 and 64 rows: every
# SIMD width and GEMM micro-tile height in use) whenever it is re-evaluated.
PERIOD = 3 * 1024
TILE = 16  # tile side in grid points: a property of the map's geometry, not of the CPU


def grid_axes(x_range: tuple[float, float], y_range: tuple[float, float],
              h: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid's coordinates along x and along y (float64, as np.arange gives them)."""
    return np.arange(x_range[0], x_range[1], h), np.arange(y_range[0], y_range[1], h)


def axes32(x_range, y_range, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The axes as the notebook's points have them: float64 arange, then float32."""
    if not h > 0:
        raise ValueError(f"h must be positive, got h={h!r}")
    xs, ys = grid_axes(x_range, y_range, h)
    return torch.from_numpy(xs.astype(np.float32)), torch.from_numpy(ys.astype(np.float32))


def evaluate_grid(fn, x_range: tuple[float, float], y_range: tuple[float, float], h: float,
                  chunk: int = 65536) -> np.ndarray:
    """`fn` (a float32 tensor of points (m, 2) -> a tensor of m values) on every grid
    point, `chunk` points at a time under torch.inference_mode; returns the (ny, nx) array.
    A `fn` with `fn.on_rows = True` is called as fn(xs, ys) on the x axis and a block of
    whole rows' y values (about `chunk` points) instead; it returns their len(ys) * len(xs)
    values in the same order."""
    if h <= 0 or chunk < 1:
        raise ValueError(f"h and chunk must be positive, got h={h!r}, chunk={chunk!r}")
    xs, ys = axes32(x_range, y_range, h)
    nx, total = len(xs), len(xs) * len(ys)
    if total == 0:
        return np.empty((len(ys), nx), dtype=np.float32)
    if getattr(fn, "on_rows", False):
        step = max(1, chunk // nx) * nx
        blocks = ((start, fn(xs, ys[start // nx:(start + step) // nx])) for start in
                  range(0, total, step))
    else:
        coords = torch.empty(min(chunk, total), 2)
        blocks = ((start, fn(_points(coords[:min(chunk, total - start)], xs, ys, start)))
                  for start in range(0, total, chunk))
    out = None
    with torch.inference_mode():
        for start, values in blocks:
            values = values.reshape(-1)
            if out is None:
                out = torch.empty(total, dtype=values.dtype)
            out[start:start + len(values)] = values
    return out.numpy().reshape(len(ys), nx)


def _points(points: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor,
            start: int) -> torch.Tensor:
    """Grid points start, start+1, ... (row-major over (y, x)) written into `points`
    (m, 2): a partial row, whole rows, a partial row."""
    nx, m, pos = len(xs), points.shape[0], 0
    while pos < m:
        i, j = divmod(start + pos, nx)
        if j == 0 and m - pos >= nx:
            r = (m - pos) // nx
            points[pos:pos + r * nx, 0].view(r, nx).copy_(xs)
            points[pos:pos + r * nx, 1].view(r, nx).copy_(ys[i:i + r, None])
            pos += r * nx
        else:
            n = min(nx - j, m - pos)
            points[pos:pos + n, 0] = xs[j:j + n]
            points[pos:pos + n, 1] = ys[i]
            pos += n
    return points


# -- the machine's cache -----------------------------------------------------------------

@functools.cache
def l2_bytes() -> int:
    """The L2 (or, failing that, L1 data) cache size of CPU 0 in bytes, as the machine
    reports it (sysfs, then sysconf); 1 MiB when it reports neither."""
    sysfs = Path("/sys/devices/system/cpu/cpu0/cache")
    sizes = {}
    for index in sysfs.glob("index*"):
        try:
            level, kind = (index / "level").read_text().strip(), (index / "type").read_text()
            size = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        if kind.strip() != "Instruction" and size[:-1].isdigit():
            scale = {"K": 1024, "M": 1024 ** 2}.get(size[-1], 1)
            sizes[int(level)] = int(size[:-1]) * scale
    for level, name in ((2, "SC_LEVEL2_CACHE_SIZE"), (1, "SC_LEVEL1_DCACHE_SIZE")):
        if level not in sizes and name in os.sysconf_names:
            value = os.sysconf(name)
            if value > 0:
                sizes[level] = value
    return sizes.get(2) or sizes.get(1) or 2 ** 20


# -- chains of Linear layers and monotone activations ------------------------------------

@dataclass(frozen=True)
class Act:
    """A monotone non-decreasing activation: in place on float32, on float64 bounds, its
    Lipschitz constant and its relative rounding error."""

    apply_: object
    f64: object
    lipschitz: float
    rel_err: float


def _elu(alpha: float) -> Act | None:
    if alpha < 0:
        return None  # not monotone
    return Act(lambda h: F.elu_(h, alpha), lambda h: F.elu(h, alpha), max(1.0, alpha), REL_ERR)


ACTS = {
    "relu": Act(torch.relu_, torch.relu, 1.0, 0.0),  # exact
    "sigmoid": Act(torch.sigmoid_, torch.sigmoid, 0.25, REL_ERR),
    "tanh": Act(torch.tanh_, torch.tanh, 1.0, REL_ERR),
}
ACT_MODULES = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}
ACT_FUNCTIONS = {torch.relu: "relu", F.relu: "relu", torch.sigmoid: "sigmoid",
                 F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh"}
ACT_METHODS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
SKIPPED = (nn.Identity, nn.Dropout)  # at evaluation: the map is of the trained model


@dataclass(frozen=True)
class Linear:
    weight: torch.Tensor  # (out, in) float32
    bias: torch.Tensor  # (out,) float32, zeros when the layer has none


def mlp_plan(model: nn.Module) -> list | None:
    """The model as a list of `Linear` and `Act` steps when torch.fx traces it into a
    chain of them starting from a Linear of 2 inputs; else None."""
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - untraceable: any error means "not a chain"
        return None
    modules = dict(traced.named_modules())
    steps, prev = [], None
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                return None
            prev = node
        elif node.op == "output":
            ok = node.args[0] is prev and steps and isinstance(steps[0], Linear)
            return steps if ok and steps[0].weight.shape[1] == 2 else None
        else:
            extra = [*node.args[1:], *node.kwargs.values()]
            if not node.args or node.args[0] is not prev or any(
                    isinstance(a, torch.fx.Node) for a in extra):
                return None
            step = _step(node, modules)
            if step is None:
                return None
            if step != "skip":
                steps.append(step)
            prev = node
    return None


def _step(node, modules: dict):
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.Linear):
            w = m.weight.detach()
            b = m.bias.detach() if m.bias is not None else torch.zeros(w.shape[0])
            return Linear(w.float(), b.float())
        if isinstance(m, SKIPPED):
            return "skip"
        if isinstance(m, nn.ELU):
            return _elu(float(m.alpha))
        name = ACT_MODULES.get(type(m))
        return ACTS[name] if name else None
    if node.op == "call_function":
        if node.target is F.elu:
            return _elu(float(node.kwargs.get("alpha", node.args[1] if len(node.args) > 1
                                              else 1.0)))
        name = ACT_FUNCTIONS.get(node.target)
        return ACTS[name] if name else None
    if node.op == "call_method" and len(node.args) == 1 and not node.kwargs:
        name = ACT_METHODS.get(node.target)
        return ACTS[name] if name else None
    return None


def tile_bounds(plan: list, lo: torch.Tensor, hi: torch.Tensor):
    """Bounds over boxes of inputs, given by their float64 corners lo and hi (2, n),
    feature-major: (lo, hi, diff), each (outputs, n), where [lo, hi] holds every output any
    float32 evaluation of the chain gives on a point of the box, and diff bounds how far two
    such evaluations of one point can differ."""
    n = lo.shape[1]
    diff = torch.zeros_like(lo)
    for step in plan:
        if isinstance(step, Linear):
            w, b = step.weight.double(), step.bias.double()[:, None]
            k = w.shape[1] + 1
            gamma = k * U / (1 - k * U) * SLACK
            # |W| times the radius, the largest magnitude and the difference: one product
            rad, mag, dif = (w.abs() @ torch.cat([(hi - lo) / 2, torch.maximum(
                lo.abs(), hi.abs()), diff], 1)).split(n, 1)
            err = gamma * (mag + b.abs())
            mid = torch.addmm(b, w, (lo + hi) / 2)
            lo, hi = mid - rad - err, mid + rad + err
            diff = dif + 2 * err
        else:
            lo, hi = step.f64(lo), step.f64(hi)
            err = step.rel_err * SLACK * torch.maximum(lo.abs(), hi.abs()) + TINY
            lo, hi = lo - err, hi + err
            diff = step.lipschitz * diff + 2 * err
    return lo, hi, diff


def _threshold(loss: str) -> float:
    return 0.0 if loss == "bce_with_logits" else 0.5


def certain_classes(loss: str, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Per box, the class every point of it gets, or -1 when the bounds allow two; lo and
    hi are (outputs, boxes)."""
    if loss == "cross_entropy":
        k = lo.argmax(0)
        others = hi.clone()
        others[k, torch.arange(len(k))] = -torch.inf
        sure = lo.gather(0, k[None])[0] > others.max(0).values
        return torch.where(sure, k, -1)
    t = _threshold(loss)
    return torch.where(lo[0] >= t, 1, torch.where(hi[0] < t, 0, -1))


def _chain_forward(plan: list, x: torch.Tensor, y: torch.Tensor, buffers: dict):
    """Outputs (outputs, k * TILE * TILE) of k tiles, feature-major: x and y are (k, TILE)
    float32 coordinates of each tile's columns and rows; points run tile, row, column."""
    first = plan[0]
    k = x.shape[0]
    n = k * TILE * TILE
    h = _buffer(buffers, 0, first.weight.shape[0], n)
    w, b = first.weight, first.bias
    torch.add((w[:, :1, None] * x)[:, :, None, :], (w[:, 1:, None] * y + b[:, None, None])
              [:, :, :, None], out=h.view(-1, k, TILE, TILE))
    j = 1  # Linear layers alternate between two buffers
    for step in plan[1:]:
        if isinstance(step, Linear):
            out = _buffer(buffers, j % 2, step.weight.shape[0], n)
            h, j = torch.addmm(step.bias[:, None], step.weight, h, out=out), j + 1
        else:
            h = step.apply_(h)
    return h


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
    return (out.select(dim, 0) >= _threshold(loss)).to(torch.uint8)


def _fast_labels(loss: str, out: torch.Tensor, diff: torch.Tensor):
    """Labels (n,) uint8 of the fast outputs (outputs, n), and where the notebook's own
    rounding could give another class (n,) bool; `diff` (outputs, n) bounds the
    difference between the two."""
    if loss == "cross_entropy":
        top = out.topk(2, dim=0)
        gap = top.values[0] - top.values[1]
        return top.indices[0].to(torch.uint8), gap <= 2 * diff.max(0).values
    t = _threshold(loss)
    return (out[0] >= t).to(torch.uint8), (out[0] - t).abs() <= diff[0]


LEVELS = 2  # the first tiles have TILE * 2**LEVELS points a side; undecided ones split


def decide_tiles(plan: list, loss: str, xs: torch.Tensor, ys: torch.Tensor):
    """The class of each TILE x TILE tile that its bounds decide: a quadtree from tiles of
    TILE * 2**LEVELS points a side, each undecided tile split in four down to TILE.
    Returns (classes (ty, tx) int64, -1 where undecided; the undecided tiles' row-major
    ids; their output difference bounds (outputs, n) float32; bounds computed)."""
    nx, ny = len(xs), len(ys)
    tx, ty = -(-nx // TILE), -(-ny // TILE)
    classes = torch.full((ty, tx), -1, dtype=torch.int64)
    f = 2 ** LEVELS
    tr, tc = (a.reshape(-1) for a in torch.meshgrid(
        torch.arange(-(-ty // f)), torch.arange(-(-tx // f)), indexing="ij"))
    boxes = 0
    while True:
        side = TILE * f
        x0, y0 = tc * side, tr * side
        x1, y1 = torch.clamp(x0 + side, max=nx) - 1, torch.clamp(y0 + side, max=ny) - 1
        lo = torch.stack([xs[x0], ys[y0]]).double()
        hi = torch.stack([xs[x1], ys[y1]]).double()
        blo, bhi, diff = tile_bounds(plan, lo, hi)
        boxes += len(tr)
        sure = certain_classes(loss, blo, bhi)
        ok = sure >= 0
        if ok.any():  # every fine tile of a decided tile (edge tiles clamped to the grid)
            r = torch.clamp(tr[ok, None] * f + torch.arange(f), max=ty - 1)
            c = torch.clamp(tc[ok, None] * f + torch.arange(f), max=tx - 1)
            classes[r[:, :, None], c[:, None, :]] = sure[ok, None, None]
        if f == 1:
            return classes, tr[~ok] * tx + tc[~ok], diff[:, ~ok].float(), boxes
        f //= 2
        tr = (tr[~ok, None] * 2 + torch.tensor([0, 0, 1, 1])).reshape(-1)
        tc = (tc[~ok, None] * 2 + torch.tensor([0, 1, 0, 1])).reshape(-1)
        inside = (tr * TILE * f < ny) & (tc * TILE * f < nx)
        tr, tc = tr[inside], tc[inside]


def chain_labels(plan: list, loss: str, xs: torch.Tensor, ys: torch.Tensor,
                 reference, stats: dict | None = None) -> np.ndarray:
    """The (ny, nx) uint8 classes of a chain (see the module docstring). `reference`
    is the model's own forward, used for the points within rounding of the rule."""
    nx, ny = len(xs), len(ys)
    tx, ty = -(-nx // TILE), -(-ny // TILE)
    classes, todo, diff, boxes = decide_tiles(plan, loss, xs, ys)
    # each tile's coordinates; edge tiles repeat their last row or column (cropped below)
    x = xs[torch.clamp(torch.arange(tx * TILE), max=nx - 1)].view(tx, TILE)
    y = ys[torch.clamp(torch.arange(ty * TILE), max=ny - 1)].view(ty, TILE)
    z = np.empty((ty, TILE, tx, TILE), dtype=np.uint8)
    tiles = z.transpose(0, 2, 1, 3)  # (ty, tx, TILE, TILE), a view of z
    tiles[...] = torch.clamp(classes, min=0).to(torch.uint8).numpy()[:, :, None, None]
    widest = max(s.weight.shape[0] for s in plan if isinstance(s, Linear))
    per_chunk = max(1, l2_bytes() // (4 * widest * TILE * TILE))
    buffers: dict = {}
    redo = []
    for start in range(0, len(todo), per_chunk):
        ids = todo[start:start + per_chunk]
        out = _chain_forward(plan, x[ids % tx], y[ids // tx], buffers)
        point_diff = diff[:, start:start + per_chunk].repeat_interleave(TILE * TILE, 1)
        labels, near = _fast_labels(loss, out, point_diff)
        tiles[(ids // tx).numpy(), (ids % tx).numpy()] = labels.view(-1, TILE, TILE).numpy()
        if near.any():
            pos = torch.nonzero(near)[:, 0]
            t, r, c = pos // (TILE * TILE), pos // TILE % TILE, pos % TILE
            row, col = ids[t] // tx * TILE + r, ids[t] % tx * TILE + c
            keep = (row < ny) & (col < nx)
            redo.append(row[keep] * nx + col[keep])
    zmap = np.ascontiguousarray(z.reshape(ty * TILE, tx * TILE)[:ny, :nx])
    idx = torch.cat(redo) if redo else torch.empty(0, dtype=torch.int64)
    if len(idx):
        zmap.reshape(-1)[idx.numpy()] = _notebook_labels(reference, loss, xs, ys, idx)
    if stats is not None:
        stats.update(tiles=ty * tx, boxes_bounded=boxes, tiles_evaluated=len(todo),
                     points=nx * ny, points_evaluated=len(todo) * TILE * TILE,
                     points_redone=len(idx))
    return zmap


def _notebook_labels(forward, loss: str, xs: torch.Tensor, ys: torch.Tensor,
                     idx: torch.Tensor) -> np.ndarray:
    """The classes the notebook's single forward pass over the whole grid gives the
    points `idx` (row-major indices), from one smaller batch in which each point sits at
    its notebook row modulo PERIOD, and the grid's last rows keep their distance from the
    batch's end."""
    nx, total = len(xs), len(xs) * len(ys)
    tail_start = max(0, total - PERIOD)
    body = idx[idx < tail_start]
    order = torch.argsort(body % PERIOD, stable=True)
    res = (body % PERIOD)[order]
    first = torch.searchsorted(res, res, right=False)  # each residue's first position
    page = torch.arange(len(res)) - first
    slots = torch.empty_like(body)
    slots[order] = page * PERIOD + res
    pages = int(page.max()) + 1 if len(res) else 0
    base = pages * PERIOD + tail_start % PERIOD
    batch_idx = torch.zeros(base + total - tail_start, dtype=torch.int64)
    batch_idx[slots] = body
    batch_idx[base:] = torch.arange(tail_start, total)
    row, col = batch_idx // nx, batch_idx % nx
    points = torch.stack([xs[col], ys[row]], 1)
    with torch.inference_mode():
        labels = labels_of(loss, forward(points), 1)
    out = torch.empty(len(idx), dtype=torch.uint8)
    in_body = idx < tail_start
    out[in_body] = labels[slots]
    out[~in_body] = labels[base + idx[~in_body] - tail_start]
    return out.numpy()


# -- any module --------------------------------------------------------------------------

CHUNK_CANDIDATES = (1, 4, 16)  # chunk sizes tried, in PERIODs of points


def generic_labels(model: nn.Module, loss: str, xs: torch.Tensor, ys: torch.Tensor,
                   chunk: int | None = None) -> np.ndarray:
    """The (ny, nx) uint8 classes from the model's own forward on chunks of the notebook's
    points (see the module docstring). `chunk` (points, rounded up to a multiple of
    PERIOD) fixes the size; by default the first chunks try CHUNK_CANDIDATES and the rest
    use the fastest per point (thread CPU time)."""
    nx, total = len(xs), len(xs) * len(ys)
    out = torch.empty(total, dtype=torch.uint8)
    sizes = [-(-chunk // PERIOD) * PERIOD] if chunk else [c * PERIOD for c in CHUNK_CANDIDATES]
    timing, start = {}, 0
    with torch.inference_mode():
        while start < total:
            size = sizes[len(timing)] if len(timing) < len(sizes) else min(
                timing, key=timing.get)
            n = min(size, total - start)
            t = time.thread_time()
            points = _points(torch.empty(n, 2), xs, ys, start)
            out[start:start + n] = labels_of(loss, model(points), 1)
            if len(timing) < len(sizes):
                timing[size] = (time.thread_time() - t) / n
            start += n
    return out.numpy().reshape(len(ys), nx)


def class_map(model: nn.Module, loss: str, x_range, y_range, h: float,
              chunk: int | None = None, stats: dict | None = None) -> np.ndarray:
    """The (ny, nx) uint8 array of `model`'s predicted classes on the grid (eval mode),
    equal at every point to `suite.training.recipe.predict_labels` of the notebook's single
    forward pass over the whole grid. `chunk` fixes the generic path's chunk size (points);
    `stats`, when given, receives the chain path's counts (tiles decided by their bounds,
    points evaluated, points evaluated again the notebook's way)."""
    from suite.training import components

    components.get("loss", loss)
    model.eval()
    xs, ys = axes32(x_range, y_range, h)
    if len(xs) * len(ys) == 0:
        return np.empty((len(ys), len(xs)), dtype=np.uint8)
    plan = mlp_plan(model)
    if plan is None:
        return generic_labels(model, loss, xs, ys, chunk)
    return chain_labels(plan, loss, xs, ys, model, stats)


# -- probabilities: compare_pred's filled contours and the boundary band ---------------------

def positive_share(loss: str, out: torch.Tensor, dim: int) -> torch.Tensor:
    """The model's probability of class 1 from its outputs along `dim`: the sigmoid of the
    logit for BCE with logits, softmax's second entry for cross-entropy, else the output
    itself (a sigmoid output under MSE or BCE, as the notebook's `predict` reads it)."""
    if loss == "cross_entropy":
        return torch.softmax(out, dim).select(dim, 1)
    first = out.select(dim, 0)
    return torch.sigmoid(first) if loss == "bce_with_logits" else first


def probability_map(model: nn.Module, loss: str, x_range, y_range, h: float,
                    chunk: int = 65536) -> np.ndarray:
    """The (ny, nx) float32 array of `model`'s probability of class 1 on the grid (what
    the notebook's compare_pred draws as filled contours): its own forward on chunks of
    the notebook's float32 points."""
    from suite.training import components

    components.get("loss", loss)
    model.eval()
    return evaluate_grid(lambda points: positive_share(loss, model(points), 1).float(),
                         x_range, y_range, h, chunk)


# Probabilities between these bounds count as the boundary band (`boundary_share`).
BAND = (0.1, 0.9)


def boundary_share(p: np.ndarray, band: tuple[float, float] = BAND) -> float:
    """The share of the grid's points whose probability of class 1 lies strictly inside
    `band`: how wide (blurred) the decision boundary is, as a number; 0 for a hard edge."""
    lo, hi = band
    return float(((p > lo) & (p < hi)).mean()) if p.size else float("nan")
