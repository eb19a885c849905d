"""The suite's hot paths of this checkout against those of another commit, side by side:
each commit's code runs in its own processes, alternating, and the best CPU time of each
path is compared. Exit status 1 when a path of this checkout is slower than the other's by
more than `--factor` (default 1.4: a hot path made 2x slower fails, while the best of
several alternating runs on CPU time keeps a busy machine's spread to ~15%).

    python -m benchmarks.hot_paths [BASE] [--factor 1.4] [--rounds 3]

BASE is a commit (default: the merge base with main, or HEAD~1 on main itself); it is
checked out with `git worktree add --detach` into a temporary folder and removed after.
`python benchmarks/hot_paths.py --measure` (run by the above, with PYTHONPATH set to one
checkout) times the paths once in this process and prints JSON.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("decision map", "seed sweep 8", "seed sweep 32", "one trial")


def _imports():
    """The hot paths' functions, wherever this checkout keeps them (the package layout
    moved modules into subpackages)."""
    import importlib

    def first(*names):
        for name in names:
            try:
                return importlib.import_module(name)
            except ImportError:
                continue
        raise ImportError(f"none of {names}")

    grid = first("suite.training.decision_grid", "suite.figures.decision_grid", "suite.grid")
    sweep = first("suite.training.stacked_seeds", "suite.sweep")
    supervised = first("suite.tasks.supervised")
    seeding = first("suite.seeding")
    return grid, sweep, supervised, seeding


def measure() -> dict:
    """Best-of-3 CPU seconds of each hot path in this process (one torch thread)."""
    import torch

    torch.set_num_threads(1)
    grid, sweep, supervised, seeding = _imports()
    config = {"task": "supervised", **supervised.TASK.defaults(), "epochs": 10,
              "skip_last_hidden_activation": True}
    seeds = [seeding.derive(2026, i) for i in range(32)]
    fitted = sweep.fit_batch({**config, "epochs": 20, "n_train": 1000}, seeds[:1], "cpu")[0]
    model = fitted.model.eval()
    x = fitted.splits[1].x
    box = ((float(x[:, 0].min()) - 1, float(x[:, 0].max()) + 1),
           (float(x[:, 1].min()) - 1, float(x[:, 1].max()) + 1))
    fns = {"decision map": lambda: grid.class_map(model, "mse", *box, 0.01),
           "seed sweep 8": lambda: sweep.fit_batch(config, seeds[:8], "cpu"),
           "seed sweep 32": lambda: sweep.fit_batch(config, seeds, "cpu"),
           "one trial": lambda: sweep.fit_batch(config, seeds[:1], "cpu")}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(3):
        for name, fn in fns.items():
            c = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - c)
    return best


def _git(*args, cwd=ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def default_base() -> str:
    head = _git("rev-parse", "HEAD")
    for ref in ("main", "origin/main"):
        try:
            base = _git("merge-base", ref, "HEAD")
        except subprocess.CalledProcessError:
            continue
        if base != head:
            return base
    return _git("rev-parse", "HEAD~1")


def run_in(tree: Path) -> dict:
    """One measuring process on `tree`'s suite (this file's code, that tree's package)."""
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure"],
                         env={**__import__("os").environ, "PYTHONPATH": str(tree)},
                         cwd=tree, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", nargs="?", help="commit to compare with (default: merge base)")
    p.add_argument("--factor", type=float, default=1.4)
    p.add_argument("--rounds", type=int, default=3, help="alternating processes per side")
    p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure()))
        return 0
    try:
        base = _git("rev-parse", args.base or default_base())
    except subprocess.CalledProcessError as e:
        if args.base:
            print(f"No commit {args.base!r} to compare with: "
                  f"{e.stderr.strip().splitlines()[0]}")
            return 2
        print("No earlier commit to compare with (a shallow clone, or the first commit): "
              "the hot-path comparison is skipped.")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "base"
        _git("worktree", "add", "--detach", "--quiet", str(tree), base)
        try:
            best = {"base": {}, "head": {}}
            for _ in range(args.rounds):
                for side, where in (("base", tree), ("head", ROOT)):
                    for name, cpu in run_in(where).items():
                        best[side][name] = min(best[side].get(name, float("inf")), cpu)
        finally:
            _git("worktree", "remove", "--force", str(tree))
    from benchmarks.ratios import cpu_name

    print(f"CPU: {cpu_name()}; hot paths of HEAD against {base[:10]}, best CPU seconds of "
          f"{args.rounds} alternating processes x 3 runs each; fail above {args.factor}x")
    ok = True
    for name in PATHS:
        b, h = best["base"][name], best["head"][name]
        slow = h / b > args.factor
        ok &= not slow
        print(f"{'SLOWER' if slow else 'ok    '} {name}: base {b:.4f} s, HEAD {h:.4f} s, "
              f"HEAD/base {h / b:.2f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    if "--measure" not in sys.argv:  # measuring imports the suite PYTHONPATH names
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
