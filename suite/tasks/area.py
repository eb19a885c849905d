"""The area of one class: the full forward pass, and the fast path used by the searches.

A `Setting` is what the area is measured on: a model, the name of its final layer, the
class, and the inputs in chunks (grid points for an MLP, batches of images for a
segmentation net). The area is the fraction of points (grid points or pixels) whose
argmax over the logits is the class. `class_map` runs the model itself, chunk by chunk in
inference mode, optionally with the final layer's (weight, bias) replaced; `Grid` makes
grid chunks on the fly, so a grid of millions of points never exists in memory at once.

The fast path (`FastArea`). The layers below the final one never change during a search,
so one full pass records, per chunk, the final layer's input (the features), and per
point D = logit_k - T (T: the largest other logit, which the path never changes) and the
feature sums P and N of the path's votes for and against class k. A candidate value then
needs, per point, only M = logit_k(value) - T = D - a P + c N + beta (a, c, beta: the
path's three coefficients, `suite.tasks.weight_path`), a (points x 2) product. It is exact, not
approximate: float32 rounding moves a logit by at most gamma_n x (the sum of the sizes of
its n terms), in any summation order, so M is known to within a bound E per point
(`FastArea._arrays` counts every rounding, and E is twice their sum). Points with
|M| > E get their class from M; every chunk holding a point with |M| <= E is replayed
exactly: the final layer (the module itself, with the candidate tensors) on that chunk's
recorded features, the same operation on the same float32 inputs as the full pass, then
the same argmax (first maximum wins ties). So the fast path gives the class of the full
forward pass at every point, ties included; tests check it point by point. Memory: the
features (points x features x 4 bytes) and four float32 numbers per point.
"""

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from suite import numerics
from suite.tasks.weight_path import WeightPath, augmented, neuron_projection

UNIT_ROUNDOFF = 2.0**-24  # float32, round to nearest


@dataclass(frozen=True)
class Grid:
    """A regular grid over a box, generated in chunks of flat indices (row-major, x fastest)."""

    x0: float
    y0: float
    h: float
    nx: int
    ny: int

    @classmethod
    def around(cls, points: torch.Tensor, margin: float, h: float) -> "Grid":
        """The grid of step `h` over the points' bounding box widened by `margin`."""
        lo = points.min(dim=0).values.double() - margin
        hi = points.max(dim=0).values.double() + margin
        nx, ny = (int(math.floor((hi[i] - lo[i]).item() / h)) + 1 for i in (0, 1))
        return cls(float(lo[0]), float(lo[1]), float(h), nx, ny)

    @property
    def n(self) -> int:
        return self.nx * self.ny

    def n_chunks(self, size: int) -> int:
        return -(-self.n // size)

    def chunk(self, i: int, size: int, device="cpu") -> torch.Tensor:
        """Points i*size ... of the grid as float32 (m, 2)."""
        idx = torch.arange(i * size, min(self.n, (i + 1) * size), dtype=torch.int64)
        x = self.x0 + (idx % self.nx).double() * self.h
        y = self.y0 + (idx // self.nx).double() * self.h
        return torch.stack([x, y], dim=1).to(device=device, dtype=torch.float32)

    def axes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The x and y coordinates of the columns and rows (float64)."""
        return (self.x0 + torch.arange(self.nx, dtype=torch.float64) * self.h,
                self.y0 + torch.arange(self.ny, dtype=torch.float64) * self.h)


def identity_tail(z: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return z


def model_output(out):
    return out


@dataclass
class Setting:
    """Where an area is measured. `output` picks the logits (B, C, ...) from the model's
    output; `tail` is what the model does between its final layer and those logits (a
    linear map with non-negative weights summing to one, e.g. a bilinear upsampling, or
    nothing), given the chunk's input shape; `tail_terms` is how many values it mixes."""

    model: nn.Module
    final_name: str
    cls: int
    n_chunks: int
    chunk: Callable[[int], torch.Tensor]
    output: Callable = model_output
    tail: Callable[[torch.Tensor, torch.Size], torch.Tensor] = identity_tail
    tail_terms: int = 0

    @property
    def final(self) -> nn.Module:
        return self.model.get_submodule(self.final_name)


def logits(setting: Setting, x: torch.Tensor,
           params: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """The full forward pass on `x`, with the final layer's (weight, bias) replaced."""
    if params is None:
        return setting.output(setting.model(x))
    names = {f"{setting.final_name}.weight": params[0], f"{setting.final_name}.bias": params[1]}
    return setting.output(functional_call(setting.model, names, (x,)))


def is_class(setting: Setting, z: torch.Tensor) -> torch.Tensor:
    """Flat bool per point: is the argmax over the class axis (dim 1) the class."""
    return (z.argmax(dim=1) == setting.cls).reshape(-1)


@torch.inference_mode()
def class_map(setting: Setting, params=None) -> torch.Tensor:
    """The full forward pass's verdict at every point (flat bool, chunk order)."""
    setting.model.eval()
    return torch.cat([is_class(setting, logits(setting, setting.chunk(i), params))
                      for i in range(setting.n_chunks)])


@torch.inference_mode()
def class_fraction(setting: Setting, params=None) -> float:
    """The area: the fraction of points of the class, by full forward passes."""
    setting.model.eval()
    hits = total = 0
    for i in range(setting.n_chunks):
        flags = is_class(setting, logits(setting, setting.chunk(i), params))
        hits += int(flags.sum())
        total += flags.numel()
    return hits / total


def area_of_class1(model: nn.Module, grid: Grid, *, cls: int = 1, chunk_size: int = 8192,
                   device="cpu", params=None) -> float:
    """The fraction of `grid` that an MLP `model` (final layer `model.out`) assigns to `cls`."""
    return class_fraction(grid_setting(model, grid, cls, chunk_size, device), params)


def grid_setting(model: nn.Module, grid: Grid, cls: int, chunk_size: int,
                 device="cpu") -> Setting:
    """A suite MLP on a grid: final layer `out`, then its output activation."""
    act = model.output_activation
    if not isinstance(act, nn.Identity):
        raise ValueError("the class-area path needs logits: an MLP with an identity output")
    return Setting(model=model, final_name="out", cls=cls, n_chunks=grid.n_chunks(chunk_size),
                   chunk=lambda i: grid.chunk(i, chunk_size, device))


@dataclass(frozen=True)
class Survey:
    """The original model on the setting: its class count and the sweep scale (S-, S+)."""

    hits: int
    n: int
    scale: tuple[float, float]

    @property
    def area(self) -> float:
        return self.hits / self.n


def decision_extremes(setting: Setting, z: torch.Tensor) -> tuple[float, float]:
    """(max of -d, max of d) over the points of `z`, d = logit_k - mean of the others."""
    z = z.double().movedim(1, -1).reshape(-1, z.shape[1])
    others = torch.cat([z[:, :setting.cls], z[:, setting.cls + 1:]], dim=1)
    d = z[:, setting.cls] - others.mean(dim=1)
    return float((-d).max()), float(d.max())


def merge_extremes(acc, new):
    return new if acc is None else (max(acc[0], new[0]), max(acc[1], new[1]))


def scale_of(extremes) -> tuple[float, float]:
    return (max(extremes[0], 0.0), max(extremes[1], 0.0))


@torch.inference_mode()
def survey(setting: Setting) -> Survey:
    """One full pass with the original weights: class count and sweep scale."""
    setting.model.eval()
    hits = n = 0
    ext = None
    for i in range(setting.n_chunks):
        z = logits(setting, setting.chunk(i))
        flags = is_class(setting, z)
        hits, n = hits + int(flags.sum()), n + flags.numel()
        ext = merge_extremes(ext, decision_extremes(setting, z))
    return Survey(hits, n, scale_of(ext))


REDUCED = {"bf16": 2.0**-8, "tf32": 2.0**-11}  # relative rounding of the inputs


def input_rounding(device: torch.device, conv: bool) -> float:
    """Relative rounding of the final layer's inputs before its float32 products: 0 in
    IEEE float32, 2^-11 for TF32 (CUDA convolutions by default), 2^-8 for bfloat16, as
    torch's precision settings for this device and kind of layer allow."""
    backend = "cuda" if device.type == "cuda" else "mkldnn"
    return REDUCED.get(numerics.precision(backend, "conv" if conv else "matmul"), 0.0)


def gamma(n_terms: int) -> float:
    """gamma_n = n u / (1 - n u): a float32 sum of n products, in any order, is within
    gamma_n x (the sum of the products' sizes) of the exact sum (4 terms spare)."""
    n = n_terms + 4
    return n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF)


def rounding_factor(n_terms: int, device: torch.device, conv: bool) -> float:
    """kappa, the screen's margin per unit of term size (see `FastArea._arrays`): twice
    what the float32 roundings can add up to."""
    return 2.0 * (3.0 * gamma(n_terms) + 4.0 * input_rounding(device, conv)
                  + 5.0 * UNIT_ROUNDOFF)


class _Recorder:
    """A forward hook keeping the final layer's input of every chunk."""

    def __init__(self):
        self.features: list[torch.Tensor] = []

    def __call__(self, module, args):
        # no copy: nothing in a forward pass writes to the final layer's input afterwards
        self.features.append(args[0].detach())


class FastArea:
    """The exact fast path (see the module text): one full pass to build, then each value
    costs a few vector operations over the points plus the replay of a few chunks."""

    @torch.inference_mode()
    def __init__(self, setting: Setting, make_path: Callable[[tuple[float, float]], WeightPath]):
        self.setting = setting
        setting.model.eval()
        self._prepare(setting.final)
        recorder = _Recorder()
        handle = setting.final.register_forward_pre_hook(recorder)
        parts, self.shapes, ext, hits = [], [], None, 0
        try:
            for i in range(setting.n_chunks):
                x = setting.chunk(i)
                z = logits(setting, x)
                self.shapes.append(x.shape)
                hits += int(is_class(setting, z).sum())
                *arrays, extremes = self._arrays(recorder.features[-1], x.shape, z)
                parts.append(arrays)
                ext = merge_extremes(ext, extremes)
        finally:
            handle.remove()
        self.features = recorder.features
        self.lo, self.hi, self.pro, self.con = (torch.cat(p) for p in zip(*parts, strict=True))
        self.offsets = [0, *itertools.accumulate(p[0].numel() for p in parts)]
        self._one_size = len({b - a for a, b in itertools.pairwise(self.offsets[:-1])}) <= 1
        self.survey = Survey(hits, self.offsets[-1], scale_of(ext))
        self.path = make_path(self.survey.scale)
        if not (np.array_equal(self.path.pro, self._pro) and self.path.cls == setting.cls):
            raise ValueError("the weight path belongs to another layer or class")
        self.replays = 0

    def _prepare(self, final: nn.Module):
        """The per-point vectors (|row k|, votes for, votes against) and kappa."""
        k = self.setting.cls
        row = augmented(final.weight, final.bias)[k]
        u = neuron_projection(final.weight, final.bias, k).decision[:-1]
        self._pro = np.maximum(u, 0.0)
        vecs = np.stack([np.abs(row[:-1]), self._pro, np.maximum(-u, 0.0)])  # (3, features)
        device = final.weight.device
        self._vecs = torch.from_numpy(vecs).to(device, torch.float32)
        self._consts = torch.tensor([abs(row[-1]), 0.0, 0.0], dtype=torch.float32,
                                    device=device)
        n_terms = vecs.shape[1] + 1 + self.setting.tail_terms
        self._gamma = gamma(n_terms)
        self.kappa = rounding_factor(n_terms, device, isinstance(final, nn.Conv2d))

    def _arrays(self, h: torch.Tensor, shape, z: torch.Tensor):
        """One chunk's float32 (lo, hi, P, N), lo/hi = D -/+ slack rounded outwards.

        With A = Ra + |a| P + |c| N + |beta| (Ra = |row k| . features: the size of the
        original logit's terms), u = 2^-24 and r the inputs' rounding (0 in IEEE float32):
        D = z_k - T comes from the pass's own float32 logit, within (gamma + 2 r) Ra of the
        exact value; the candidate's float32 logit is within (gamma + 2 r + u) A of its
        exact value (its sum, and its weights rounded to float32); P, N and Ra are float32
        sums of non-negative terms, within a factor 1 +- gamma each; `screen` adds at most
        2 u A in its float32 additions (lo and hi carry 4 u |lo| for the rest) and u |beta|
        in its float32 threshold. That is at most (3 gamma + 4 r + 5 u) A; kappa is twice
        that factor."""
        ra, pro, con = self._point_maps(h, shape, self._vecs, self._consts).unbind(dim=1)
        k = self.setting.cls
        z = z.double().movedim(1, -1).reshape(-1, z.shape[1])
        zk, others = z[:, k], torch.cat([z[:, :k], z[:, k + 1:]], dim=1)
        d = zk - others.max(dim=1).values
        slack = (self.kappa * (1 + 2 * self._gamma)) * ra.double() \
            + 1e-12 * (zk.abs() + d.abs()) + 1e-30
        lo, hi = d - slack, d + slack
        decision = zk - others.mean(dim=1)
        return (_round32(lo - 4 * UNIT_ROUNDOFF * lo.abs(), down=True),
                _round32(hi + 4 * UNIT_ROUNDOFF * hi.abs(), down=False), pro, con,
                (float((-decision).max()), float(decision.max())))

    def _point_maps(self, h: torch.Tensor, shape, vecs, consts) -> torch.Tensor:
        """(points, m): the features times each row of `vecs` (+ const), through the tail."""
        if bool(h.min() < 0):
            raise ValueError("the fast area path needs non-negative features (a ReLU or a "
                             "sigmoid before the final layer)")
        if h.dim() == 2:
            maps = F.linear(h, vecs, consts)
        else:
            maps = F.conv2d(h, vecs[:, :, None, None], consts)
        maps = self.setting.tail(maps, shape)
        return maps.movedim(1, -1).reshape(-1, vecs.shape[0])

    @torch.inference_mode()  # the cached tensors are inference tensors: much faster here
    def screen(self, value: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(certainly the class, uncertain) per point at `value`: M - E > 0 and |M| <= E,
        with M - E and M + E bounded from the float32 arrays, rounding included."""
        a, c, beta = self.path.coefficients(value)
        k = self.kappa
        low = torch.add(self.lo, self.pro, alpha=-(a + k * abs(a)))
        high = torch.add(self.hi, self.pro, alpha=-(a - k * abs(a)))
        if c:
            low.add_(self.con, alpha=c - k * abs(c))
            high.add_(self.con, alpha=c + k * abs(c))
        sure = low > -(beta - k * abs(beta))
        maybe = high >= -(beta + k * abs(beta))
        return sure, maybe ^ sure  # sure implies maybe (low <= high), so ^ is "and not"

    @torch.inference_mode()
    def _replay(self, i: int, params) -> torch.Tensor:
        """Chunk i's exact verdict: the final layer itself on the recorded features."""
        s = self.setting
        z = functional_call(s.final, {"weight": params[0], "bias": params[1]},
                            (self.features[i],))
        self.replays += 1
        return is_class(s, s.tail(z, self.shapes[i]))

    def _uncertain_chunks(self, uncertain: torch.Tensor) -> list[int]:
        """The chunks holding an uncertain point."""
        if not self._one_size:  # chunks of several sizes: locate each uncertain point
            idx = torch.nonzero(uncertain).reshape(-1).cpu()
            bounds = torch.tensor(self.offsets[1:-1], dtype=idx.dtype)
            return torch.unique(torch.bucketize(idx, bounds, right=True)).tolist()
        size, whole = self.offsets[1], self.offsets[-2]  # all but the last chunk: one size
        flags = uncertain[:whole].reshape(-1, size).any(dim=1)
        chunks = torch.nonzero(flags).reshape(-1).tolist()
        if bool(uncertain[whole:].any()):
            chunks.append(len(self.offsets) - 2)
        return chunks

    @torch.inference_mode()
    def classes(self, value: float) -> torch.Tensor:
        """The class verdict at every point (flat bool), equal to the full pass's."""
        sure, uncertain = self.screen(value)
        chunks = self._uncertain_chunks(uncertain)
        if chunks:
            params = self._params(value)
            for i in chunks:
                sure[self.offsets[i]:self.offsets[i + 1]] = self._replay(i, params)
        return sure

    @torch.inference_mode()
    def area(self, value: float) -> float:
        """The area at `value`: counts from the screen, replayed chunks counted exactly."""
        sure, uncertain = self.screen(value)
        hits = int(torch.count_nonzero(sure))
        chunks = self._uncertain_chunks(uncertain)
        if chunks:
            params = self._params(value)
            for i in chunks:
                lo, hi = self.offsets[i], self.offsets[i + 1]
                hits += (int(torch.count_nonzero(self._replay(i, params)))
                         - int(torch.count_nonzero(sure[lo:hi])))
        return hits / self.survey.n

    def _params(self, value: float):
        weight, bias = self.path.at(value)
        device = self.setting.final.weight.device
        return weight.to(device), bias.to(device)


def _round32(x: torch.Tensor, down: bool) -> torch.Tensor:
    """float64 -> a float32 on one side of x (< x when `down`, > x otherwise), within 1.5
    float32 steps: the nearest float32, then one step outwards."""
    f = x.float()
    return torch.nextafter(f, torch.full_like(f, -math.inf if down else math.inf))
