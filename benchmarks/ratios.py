"""Measure, side by side in one run, the two speed-ups the suite claims over the spiral
notebook's ways, and check the fast paths give the same answers:

1. Decision map: `suite.figures.decision_grid.class_map` against the notebook's
   `compare_pred` way (a float64 meshgrid, one forward pass over the whole grid) on its
   grid: h = 0.01 over a trained 2-10-10-10-1 MLP's validation box +-1. Target: >= 10x,
   same class everywhere.
2. Seed sweep: trials per second of `suite.training.stacked_seeds.fit_batch` (S seeds as one stacked
   model, everything a trial records included) against the notebook's `train` (a
   DataLoader(shuffle=True) loop over an nn.Module, one trial at a time). Targets:
   >= 20x for 8 seeds, >= 40x for 32.

    python -m benchmarks.ratios [--epochs 10] [--repeats 3] [--h 0.01]

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
from suite.figures import decision_grid
from suite.training.datasets import spirals
from suite.training.stacked_seeds import fit_batch

TARGETS = {"grid": 10.0, 8: 20.0, 32: 40.0}


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


def grid_ratio(h: float, repeats: int) -> tuple[float, int, str]:
    t = fixtures.trained(width=10, epochs=20, skip_last_hidden_activation=True)
    model = fixtures.model_of(t)
    xr, yr = fixtures.ranges(t)
    r = best_of(repeats, {
        "notebook": lambda: baselines.notebook_classes(model, xr, yr, h),
        "suite": lambda: decision_grid.class_map(model, "mse", xr, yr, h)})
    z_nb, z = r["notebook"][2], r["suite"][2]
    ratio, differ = r["notebook"][0] / r["suite"][0], int(np.sum(z_nb != z))
    return ratio, differ, (
        f"decision map, {z.shape[1]} x {z.shape[0]} = {z.size:,} points: notebook "
        f"{r['notebook'][0]:.3f} s CPU ({r['notebook'][1]:.3f} s wall), suite "
        f"{r['suite'][0]:.3f} s CPU ({r['suite'][1]:.3f} s wall): {ratio:.1f}x; "
        f"points of another class: {differ}")


def notebook_trial(epochs: int) -> None:
    """One trial the notebook's way: draw the training data, build the model, train."""
    data = spirals(4000, int(torch.randint(0, 2**31, (1,))))
    baselines.notebook_train(baselines.NotebookMLP(), data.x, data.y, epochs)


def sweep_ratios(epochs: int, repeats: int) -> list[tuple[int, float, str]]:
    config = fixtures.spiral_config(epochs=epochs, skip_last_hidden_activation=True)
    fit_batch({**config, "epochs": 1, "n_train": 64}, fixtures.seeds(1), "cpu")  # warm up
    baselines.notebook_train(baselines.NotebookMLP(), *fixtures.spiral_data(64), 1)
    fns = {"notebook": lambda: notebook_trial(epochs)}
    for s in TARGETS:
        if isinstance(s, int):
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
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    ok = True
    ratio, differ, line = grid_ratio(args.h, args.repeats)
    ok &= _report(line, ratio, TARGETS["grid"]) and differ == 0
    for s, ratio, line in sweep_ratios(args.epochs, args.repeats):
        ok &= _report(line, ratio, TARGETS[s])
    return 0 if ok else 1


def _report(line: str, ratio: float, target: float) -> bool:
    met = ratio >= target
    print(f"{'PASS' if met else 'MISS'} (target {target:.0f}x) {line}", flush=True)
    return met


if __name__ == "__main__":
    sys.exit(main())
