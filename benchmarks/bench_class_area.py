"""The class-area Optuna search with the fast area path against full forward passes.

    python benchmarks/bench_class_area.py [--grid-h 0.02] [--budget 80] [--seed 0]
                                          [--threads 1] [--repeats 2] [--json out.json]

One trained blobs MLP (the full `blobs-class-area` study's settings unless told
otherwise); then, side by side in this process, the whole TPE search as a trial runs it,
once per area path and repeat (interleaved, after a small warm-up of both): setup (full
path: one survey pass; fast path: the feature cache), `budget` TPE trials, and writing the
study to an Optuna SQLite file. Both paths must make the same search (same values, same
areas); the script checks that and prints the ratio of the median times. Timings, not a
test: run it on a quiet machine.

The asv class at the end times the same search at a small size.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from suite.seeding import derive  # noqa: E402
from suite.tasks import class_area  # noqa: E402
from suite.tasks.area import Grid, class_fraction, grid_setting  # noqa: E402
from suite.tasks.area_control import Engine  # noqa: E402
from suite.tasks.area_search import (  # noqa: E402
    OptunaPlan,
    bracket,
    quiet_optuna,
    save_studies,
    tpe_search,
)


def trained(grid_h: float, seed: int):
    config = {**class_area.TASK.defaults(), "grid_h": grid_h}
    seeds = derive(4, seed)  # the study's root seed
    model, tr, _va, _history = class_area.fit(config, seeds, torch.device("cpu"))
    return model, class_area.grid_of(config, tr), seeds


def search(model, grid, seeds, path: str, budget: int, storage_dir: str) -> dict:
    """Setup + TPE search + study written to SQLite, timed in parts."""
    t0 = time.perf_counter()
    engine = Engine(grid_setting(model, grid, 1, 4096), 1, path)
    t_setup = time.perf_counter() - t0
    target = 0.8 * engine.survey.area
    with quiet_optuna():
        tpe = tpe_search(engine.area, target, bracket(engine.survey.area, target), budget,
                         seeds.sampler)
        t_search = time.perf_counter() - t0
        plan = OptunaPlan(f"sqlite:///{storage_dir}/{path}.optuna.db", f"bench-{path}")
        save_studies(plan, tpe, None, (0.0, 1.0), target, {})
    t_total = time.perf_counter() - t0
    return {"path": path, "setup_s": t_setup, "setup_and_search_s": t_search,
            "with_storage_s": t_total, "evals": len(tpe.records),
            "records": [(r.value, r.area) for r in tpe.records],
            "replays": engine.fast.replays if engine.fast else None}


def median_run(runs: list[dict]) -> dict:
    """Each timing's median over the repeats."""
    keys = ("setup_s", "setup_and_search_s", "with_storage_s")
    return {**runs[0], **{k: statistics.median(r[k] for r in runs) for k in keys},
            "all": [{k: r[k] for k in keys} for r in runs]}


def per_eval(model, grid, value: float) -> dict:
    """One full forward pass against one fast evaluation at the same value."""
    setting = grid_setting(model, grid, 1, 4096)
    engine = Engine(setting, 1, "fast")
    t0 = time.perf_counter()
    full = class_fraction(setting, engine.path.at(value))
    t1 = time.perf_counter()
    fast = engine.area(value)
    t2 = time.perf_counter()
    assert full == fast
    return {"full_pass_s": t1 - t0, "fast_eval_s": t2 - t1}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid-h", type=float, default=0.02)
    p.add_argument("--budget", type=int, default=80)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, grid, seeds = trained(args.grid_h, args.seed)
    print(f"grid: {grid.nx} x {grid.ny} = {grid.n} points, h = {grid.h}; "
          f"torch threads: {args.threads}; TPE budget: {args.budget}; "
          f"repeats: {args.repeats}")
    runs = {"fast": [], "full": []}
    with tempfile.TemporaryDirectory() as tmp:
        small = Grid(grid.x0, grid.y0, grid.h * 8, grid.nx // 8, grid.ny // 8)
        for path in runs:  # warm-up: first-call costs (thread pools, allocator) of both
            search(model, small, seeds, path, 5, tmp)
        for _ in range(args.repeats):
            for path in runs:
                runs[path].append(search(model, grid, seeds, path, args.budget, tmp))
    records = [r.pop("records") for rs in runs.values() for r in rs]
    same = all(r == records[0] for r in records)
    fast, full = (median_run(runs[p]) for p in ("fast", "full"))
    one = per_eval(model, grid, 0.15)
    ratios = {k: full[k] / fast[k] for k in ("setup_and_search_s", "with_storage_s")}
    for row in (fast, full):
        print(f"{row['path']:>5} (median): setup {row['setup_s']:8.3f} s, setup + {row['evals']} "
              f"trials {row['setup_and_search_s']:8.3f} s, + writing the study "
              f"{row['with_storage_s']:8.3f} s")
    print(f"one evaluation: full pass {one['full_pass_s'] * 1e3:.1f} ms, fast "
          f"{one['fast_eval_s'] * 1e3:.2f} ms ({one['full_pass_s'] / one['fast_eval_s']:.0f}x)")
    print(f"same search on both paths: {same}")
    print(f"whole search, full / fast: {ratios['setup_and_search_s']:.1f}x "
          f"({ratios['with_storage_s']:.1f}x with the study written to SQLite)")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"grid_points": grid.n, "grid_h": grid.h, "threads": args.threads,
             "budget": args.budget, "fast": fast, "full": full, "one_eval": one,
             "same_search": same, "ratios": ratios}, indent=2))
    return 0 if same else 1


class ClassAreaSearch:
    """asv: the TPE search on a small grid, by each area path."""

    params = ["fast", "full"]
    param_names = ["area_path"]
    timeout = 300
    timer = time.process_time  # CPU time, as every benchmark here: the machine is shared

    def setup(self, path):
        torch.set_num_threads(1)
        self.model, self.grid, self.seeds = trained(0.05, 0)

    def time_tpe_search(self, path):
        engine = Engine(grid_setting(self.model, self.grid, 1, 4096), 1, path)
        target = 0.8 * engine.survey.area
        with quiet_optuna():
            tpe_search(engine.area, target, (0.0, 1.0), 30, self.seeds.sampler)


if __name__ == "__main__":
    raise SystemExit(main())
