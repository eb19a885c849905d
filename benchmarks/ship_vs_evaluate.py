"""Why a class-area TPE round is evaluated in-process: one evaluation against shipping.

    python benchmarks/ship_vs_evaluate.py [--grid-h 0.02] [--seed 0]

Trains the full `blobs-class-area` MLP, builds the fast area path's cache, and prints the
per-evaluation time of area(value) (200 values, one torch thread) beside the size of the
cached state and the time of one pickle round trip of it: the least that evaluating a
round on other workers would cost, before any network transfer. Timings, not a test.
"""

import argparse
import pickle
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from suite.seeding import derive  # noqa: E402
from suite.tasks import class_area  # noqa: E402
from suite.tasks.area import grid_setting  # noqa: E402
from suite.tasks.area_control import Engine  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid-h", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    config = {**class_area.TASK.defaults(), "grid_h": args.grid_h}
    model, tr, _va, _history = class_area.fit(config, derive(4, args.seed), torch.device("cpu"))
    grid = class_area.grid_of(config, tr)
    fast = Engine(grid_setting(model, grid, 1, config["chunk_size"], "cpu"), 1, "fast").fast
    state = [t for t in (*fast.features, fast.lo, fast.hi, fast.pro, fast.con)
             if torch.is_tensor(t)]
    times = []
    for v in torch.linspace(0, 1, 200).tolist():
        t0 = time.perf_counter()
        fast.area(v)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    pickle.loads(pickle.dumps(state, protocol=5))
    ship = time.perf_counter() - t0
    mb = sum(t.numel() * t.element_size() for t in state) / 1e6
    print(f"{grid.n:,} grid points; one evaluation: median {1e3 * statistics.median(times):.1f} "
          f"ms, max {1e3 * max(times):.1f} ms; cached state {mb:.0f} MB, one pickle round "
          f"trip {ship:.2f} s = {ship / statistics.median(times):.0f} evaluations")


if __name__ == "__main__":
    main()
