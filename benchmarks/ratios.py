"""Measure, side by side in one run, the two speed-ups the suite claims over the spiral
notebook's ways, and check the fast paths give the same answers:

1. Decision map: `suite.training.decision_grid.class_map` against the notebook's
   `compare_pred` way (a float64 meshgrid, one forward pass over the whole grid) on its
   grid: h = 0.01 over a trained 2-10-10-10-1 MLP's validation box +-1. Targets: >= 20x,
   same class at every point, and within 3x of this machine's compute bound for the map's
   FLOPs (the dense map's multiply-adds at the rate of a large float32 matmul on one
   thread, measured in this run and printed beside). The same for the notebook's own
   MultiLayerModel class handed to `class_map` as it is (the generic path: torch.fx finds
   its chain), >= 5x; a module torch.fx cannot trace (its own forward in chunks) is
   printed, without a target.
2. Seed sweep: trials per second of `suite.training.stacked_seeds.fit_batch` (S seeds as
   one stacked model, everything a trial records included) against the notebook's `train` (a
   DataLoader(shuffle=True) loop over an nn.Module, one trial at a time). Targets:
   >= 20x for 8 seeds, >= 40x for 32.

    python -m benchmarks.ratios [--epochs 10] [--repeats 3] [--h 0.01] [--ci]

`--ci` checks half of each goal instead (`nox -s speed`, in CI; see CI_TARGETS).

Times are CPU time of this process (the machine is shared; wall-clock time would count
the neighbours) with one torch thread, the best of `--repeats` alternating runs; wall
times are printed too. Exit status 1 when a target is missed.
"""

import argparse
import sys
import time

import numpy as np
import torch

from benchmarks import baselines, fixtures
from suite.training import decision_grid
from suite.training.datasets import spirals
from suite.training.stacked_seeds import fit_batch

TARGETS = {"grid": 20.0, "generic": 5.0, 8: 20.0, 32: 40.0, "bound": 3.0}
# CI's thresholds: half of each goal (the bound: twice its factor), which holds with margin
# on both CPU types on a busy machine. They guard the claims; a hot path made 2x slower is
# caught by benchmarks/hot_paths.py, which compares HEAD with its merge base side by side
# (the notebook's own time moves with the machine's load, so a ratio to it is a coarse
# yardstick: a 2x slower training step still measured 21.6x and 35.2x here).
CI_TARGETS = {k: v / 2 for k, v in TARGETS.items()} | {"bound": 2 * TARGETS["bound"]}


def best_of(repeats: int, fns: dict) -> dict:
    """{name: (best CPU seconds, best wall seconds, last result)}, runs alternating."""
    best = {k: [float("inf"), float("inf"), None] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c, w = time.process_time(), time.perf_counter()
            out = fn()
            cpu, wall = time.process_time() - c, time.perf_counter() - w
            b = best[name]
            b[0], b[1], b[2] = min(b[0], cpu), min(b[1], wall), out
    return best


def matmul_rate(repeats: int, n: int = 2048) -> float:
    """FLOP/s of an n x n float32 matmul on one thread, best of `repeats` (CPU time)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_cpu(lambda: torch.mm(a, b)) for _ in range(max(repeats, 3)))
    return 2 * n ** 3 / best


def _cpu(fn) -> float:
    c = time.process_time()
    fn()
    return time.process_time() - c


def map_flops(model: torch.nn.Module, points: int) -> int:
    """Multiply-adds (2 FLOPs each) of a dense forward pass over `points` points."""
    return 2 * points * sum(m.weight.numel() for m in model.modules()
                            if isinstance(m, torch.nn.Linear))


class Opaque(torch.nn.Module):
    """A module torch.fx cannot trace (control flow on the input's shape): the generic
    path runs its own forward."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, points):
        return self.inner(points) if points.shape[0] else points


def grid_ratios(h: float, repeats: int, targets: dict) -> list[tuple[bool, str]]:
    """(met, line) for the map through the suite's MLP, the notebook's own module, and an
    opaque module; all three against the notebook's way on the notebook's module."""
    t = fixtures.trained(width=10, epochs=20, skip_last_hidden_activation=True)
    model = fixtures.model_of(t)
    notebook_model = baselines.NotebookMLP()
    notebook_model.load_state_dict(baselines.notebook_state(model))
    xr, yr = fixtures.ranges(t)
    stats: dict = {}
    r = best_of(repeats, {
        "notebook": lambda: baselines.notebook_classes(notebook_model, xr, yr, h),
        "suite": lambda: decision_grid.class_map(model, "mse", xr, yr, h, stats=stats),
        "generic": lambda: decision_grid.class_map(notebook_model, "mse", xr, yr, h),
        "opaque": lambda: decision_grid.class_map(Opaque(notebook_model), "mse", xr, yr, h)})
    rate = matmul_rate(repeats)
    z_nb = r["notebook"][2]
    bound = map_flops(model, z_nb.size) / rate
    nb = r["notebook"][0]
    out = []
    for name, target in (("suite", targets["grid"]), ("generic", targets["generic"]),
                         ("opaque", None)):
        cpu, wall, z = r[name]
        differ, ratio = int(np.sum(z_nb != z)), nb / cpu
        met = differ == 0 and (target is None or ratio >= target)
        line = (f"decision map ({name}), {z.shape[1]} x {z.shape[0]} = {z.size:,} points: "
                f"notebook {nb:.3f} s CPU ({r['notebook'][1]:.3f} s wall), {name} "
                f"{cpu:.4f} s CPU ({wall:.4f} s wall): {ratio:.1f}x; points of another "
                f"class: {differ}")
        if name == "suite":
            within = cpu <= targets["bound"] * bound
            met &= within
            line += (f"; compute bound {bound:.4f} s ({map_flops(model, 1)} FLOPs/point at "
                     f"{rate / 1e9:.1f} GFLOP/s, 2048^3 float32 matmul, 1 thread): "
                     f"{cpu / bound:.2f}x the bound (target <= {targets['bound']:g}x); "
                     f"{stats['points_evaluated'] / stats['points']:.1%} of points "
                     f"evaluated, {stats['points_redone']} again the notebook's way")
        out.append((met, target, line))
    return out


def notebook_trial(epochs: int) -> None:
    """One trial the notebook's way: draw the training data, build the model, train."""
    data = spirals(4000, int(torch.randint(0, 2**31, (1,))))
    baselines.notebook_train(baselines.NotebookMLP(), data.x, data.y, epochs)


def sweep_ratios(epochs: int, repeats: int) -> list[tuple[int, float, str]]:
    config = fixtures.spiral_config(epochs=epochs, skip_last_hidden_activation=True)
    fit_batch({**config, "epochs": 1, "n_train": 64}, fixtures.seeds(1), "cpu")  # warm up
    baselines.notebook_train(baselines.NotebookMLP(), *fixtures.spiral_data(64), 1)
    fns = {"notebook": lambda: notebook_trial(epochs)}
    for s in (8, 32):
        fns[s] = lambda s=s: fit_batch(config, fixtures.seeds(s), "cpu")
    r = best_of(repeats, fns)
    nb = r["notebook"][0]
    out = []
    for s in (k for k in fns if k != "notebook"):
        ratio = (s / r[s][0]) / (1 / nb)
        out.append((s, ratio, f"seed sweep, {s} seeds x {epochs} epochs: notebook {nb:.3f} s "
                              f"CPU per trial ({r['notebook'][1]:.3f} s wall), suite "
                              f"{r[s][0]:.3f} s CPU for {s} ({r[s][1]:.3f} s wall): "
                              f"{s / r[s][0]:.1f} trials/s against {1 / nb:.2f}: {ratio:.1f}x"))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10, help="epochs per trial (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each, best kept")
    p.add_argument("--h", type=float, default=0.01, help="grid step (default 0.01)")
    p.add_argument("--ci", action="store_true",
                   help="check the regression thresholds (CI_TARGETS), not the goals")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, 1 thread; times are CPU seconds, "
          f"best of {args.repeats} alternating runs", flush=True)
    ok = True
    targets = CI_TARGETS if args.ci else TARGETS
    for met, target, line in grid_ratios(args.h, args.repeats, targets):
        ok &= _report(line, met, target)
    for s, ratio, line in sweep_ratios(args.epochs, args.repeats):
        ok &= _report(line, ratio >= targets[s], targets[s])
    return 0 if ok else 1


def cpu_name() -> str:
    """The CPU's model name as lscpu and /proc/cpuinfo give it."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def _report(line: str, met: bool, target: float | None) -> bool:
    goal = f"target {target:g}x" if target else "no target"
    print(f"{'PASS' if met else 'MISS'} ({goal}) {line}", flush=True)
    return met


if __name__ == "__main__":
    sys.exit(main())
