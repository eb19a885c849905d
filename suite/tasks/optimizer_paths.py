"""Optimiser paths on analytic surfaces: torch.optim's own optimisers on one or two weights.

The weights w = (w1, w2) (or w = (w1,) on a one-dimensional surface) are one float64
tensor; each step evaluates the surface with torch, back-propagates and calls the
optimiser's `step()`, so the path is exactly what torch's SGD, momentum SGD, RMSprop and
Adam do. Surfaces (the optimisation notebooks'):

- `bowl`:   f = 0.5 (w1^2 + 10 w2^2), minimum 0 at (0, 0), start (4, 1.5) (seed 002);
- `saddle`: f = w1^2 - w2^2, a saddle at (0, 0), unbounded below, start (0.1, 1.5)
            (seed 002; started exactly at (0, 0), Task 2 Q3, the gradient is zero and no
            optimiser moves: every update rule below is a multiple of g or of past g's);
- `square`: f = w^2, one weight, minimum 0 at 0, start 10 (seed 004, section 1.2: the
            book's gradient descent starts at 10, its momentum and RMSprop at 5).

Update rules (g the gradient at step t, all operations elementwise; the tests check every
step of torch's path against these closed forms):

- SGD:       w <- w - lr g.
- momentum:  torch writes b <- mu b + g, w <- w - lr b (b_1 = g_1); the notebook writes
             v <- mu v + lr g, w <- w - v. With a constant lr, v = lr b at every step, so the
             two paths are the same (they differ only if lr changes during training).
- RMSprop:   r <- alpha r + (1 - alpha) g^2, w <- w - lr g / (sqrt(r) + eps); alpha 0.9
             (the notebook's decay rate; torch's default would be 0.99), eps 1e-8.
- Adam:      m <- b1 m + (1 - b1) g, s <- b2 s + (1 - b2) g^2,
             w <- w - lr (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps); b1 0.9, b2 0.999.

With one weight the optimisers are the book's own loops: its momentum (v <- mu v - lr g,
w <- w + v) is the notebook form above with v negated, and its RMSprop is the rule above.

Metrics: the final loss; `steps_to_tol`, the first step whose loss is within `tol` of the
surface's minimum (undefined on the saddle, which has none, and when never reached);
`path_length`, the summed length of the steps; `final_distance` from the stationary
point (0, 0) (or 0); `escape_step`, the first step at distance `escape_radius` or more from it
(undefined when the path never gets that far). Undefined metrics are None, with the
reason in the trial's artifacts under `undefined`. Curves `loss`, `w1` and `w2` (`w2` only
on two-weight surfaces) hold the path, step 0 being the start.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from suite.seeding import TrialSeeds
from suite.tasks import params as P
from suite.tasks.base import Task, TrialOutcome


@dataclass(frozen=True)
class Surface:
    """A function of one or two weights, f(w1[, w2]) (works on floats, numpy arrays and
    torch tensors)."""

    name: str
    f: Callable
    start: tuple[float, ...]
    minimum: float | None  # None: unbounded below
    box: tuple[tuple[float, float], ...]  # the notebook's plotting window, per weight

    @property
    def dim(self) -> int:
        return len(self.start)


SURFACES = {
    "bowl": Surface("bowl", lambda w1, w2: 0.5 * (w1**2 + 10 * w2**2), (4.0, 1.5), 0.0,
                    ((-5.0, 5.0), (-2.0, 2.0))),
    "saddle": Surface("saddle", lambda w1, w2: w1**2 - w2**2, (0.1, 1.5), None,
                      ((-2.0, 2.0), (-2.0, 2.0))),
    "square": Surface("square", lambda w1: w1**2, (10.0,), 0.0, ((-10.0, 10.0),)),
}

OPTIMIZERS = {
    "sgd": lambda p, c: torch.optim.SGD(p, lr=c["lr"]),
    "momentum": lambda p, c: torch.optim.SGD(p, lr=c["lr"], momentum=c["momentum"]),
    "rmsprop": lambda p, c: torch.optim.RMSprop(p, lr=c["lr"], alpha=c["alpha"], eps=c["eps"]),
    "adam": lambda p, c: torch.optim.Adam(p, lr=c["lr"], betas=(c["beta1"], c["beta2"]),
                                          eps=c["eps"]),
}


def _start_ok(v) -> bool:
    return v is None or (isinstance(v, list) and len(v) in (1, 2) and all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v))


PARAMS = {
    "surface": P.choice("bowl", SURFACES, "analytic surface"),
    "start": P.Param(None, "a list of finite numbers, [w1, w2] or [w1] as the surface has "
                     "weights (or omitted for the surface's own start)", _start_ok,
                     "starting point"),
    "steps": P.size("steps", 50, 1, doc="optimiser steps"),
    "optimizer": P.choice("sgd", OPTIMIZERS, "torch optimiser"),
    "lr": P.positive_float(0.1, "learning rate"),
    "momentum": P.fraction(0.9, "momentum coefficient (optimizer 'momentum')"),
    "alpha": P.fraction(0.9, "RMSprop's decay rate of the squared-gradient average"),
    "beta1": P.fraction(0.9, "Adam's first-moment decay"),
    "beta2": P.fraction(0.999, "Adam's second-moment decay"),
    "eps": P.positive_float(1e-8, "RMSprop's and Adam's epsilon"),
    "tol": P.positive_float(1e-3, "steps_to_tol: loss within tol of the minimum"),
    "escape_radius": P.positive_float(10.0, "escape_step: distance from (0, 0)"),
}


def check(config, fail) -> None:
    """The start has as many coordinates as the surface has weights."""
    surface = SURFACES[config["surface"]]
    if config["start"] is not None and len(config["start"]) != surface.dim:
        fail("start", f"a list of {surface.dim} number(s), one per weight of the "
             f"'{surface.name}' surface", config["start"])

METRICS = ("final_loss", "steps_to_tol", "path_length", "final_distance", "escape_step")
CURVES = ("loss", "w1", "w2")
FIGURES = ("optimizer_paths", "descent_1d")


def trace(config, device: torch.device) -> np.ndarray:
    """The path, shape (steps + 1, surface.dim): the start, then w after each optimiser
    step. It stops early (fewer rows) after the first non-finite point."""
    surface = SURFACES[config["surface"]]
    start = surface.start if config["start"] is None else config["start"]
    w = torch.tensor(start, dtype=torch.float64, device=device, requires_grad=True)
    optimizer = OPTIMIZERS[config["optimizer"]]([w], config)
    points = [w.detach().clone()]
    for _ in range(config["steps"]):
        optimizer.zero_grad(set_to_none=True)
        surface.f(*w).backward()
        optimizer.step()
        points.append(w.detach().clone())
        if not torch.isfinite(points[-1]).all():
            break
    return torch.stack(points).cpu().numpy()


def path_metrics(path: np.ndarray, surface: Surface, tol: float, radius: float):
    """(metrics, reasons for the undefined ones) of a path on `surface`."""
    loss = surface_loss(surface, path)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged path: inf, nan
        dist = np.linalg.norm(path, axis=1)
        length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
    undefined = {}
    if surface.minimum is None:
        steps_to_tol = None
        undefined["steps_to_tol"] = f"the {surface.name} surface has no minimum"
    else:
        steps_to_tol = _first(loss - surface.minimum <= tol)
        if steps_to_tol is None:
            undefined["steps_to_tol"] = (f"loss never within {tol:g} of the minimum in "
                                         f"{len(path) - 1} steps")
    escape = _first(dist >= radius)
    if escape is None:
        undefined["escape_step"] = f"path stayed within distance {radius:g} of the origin"
    metrics = {"final_loss": float(loss[-1]), "steps_to_tol": steps_to_tol,
               "path_length": length,
               "final_distance": float(dist[-1]), "escape_step": escape}
    return metrics, undefined


def surface_loss(surface: Surface, path: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged path: inf, nan
        return surface.f(*path.T)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def run(config, seeds: TrialSeeds, device: torch.device) -> TrialOutcome:
    """One path (deterministic: the seeds are not used)."""
    surface = SURFACES[config["surface"]]
    path = trace(config, device)
    metrics, undefined = path_metrics(path, surface, config["tol"], config["escape_radius"])
    loss = surface_loss(surface, path)
    finite = bool(np.isfinite(path).all() and np.isfinite(loss).all())
    note = "" if finite else f"non-finite weights or loss at step {len(path) - 1}"
    curves = {"loss": loss.tolist()} | {f"w{i + 1}": path[:, i].tolist()
                                        for i in range(path.shape[1])}
    artifacts = {"undefined": undefined, "surface": surface.name,
                 "start": path[0].tolist(), "end": path[-1].tolist()}
    return TrialOutcome("ok" if finite else "diverged", metrics, curves, artifacts, note=note)


TASK = Task(name="optimizer-path", description=__doc__.strip().splitlines()[0], params=PARAMS,
            metrics=METRICS, curves=CURVES, figures=FIGURES, run=run, check=check)
