"""Time every shipped study's full run, one `suite run STUDY` after another, each into a
fresh store in a fresh process (the process's start-up included), and print a Markdown
table: wall seconds and CPU seconds (the run's process and its workers, from
getrusage(RUSAGE_CHILDREN)) per study, with the machine's load average beside, because
on a shared machine wall time counts the neighbours too.

    python -m benchmarks.catalogue_times [--workers 2] [--study NAME ...] [--quick]
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure_study(name: str, workers: int, quick: bool, env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one `suite run` of the study into a fresh store."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "suite", "run", name, "--store", str(Path(tmp) / "t.db"),
               "--workers", str(workers), "--no-progress", *(["--quick"] if quick else [])]
        c, w = cpu_children(), time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - w, cpu_children() - c


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--study", nargs="+", help="only these studies (default: every one)")
    p.add_argument("--quick", action="store_true", help="the quick variants")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from benchmarks.ratios import cpu_name
    from suite.study import shipped

    names = args.study or list(shipped.names())
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; --workers {args.workers}"
          f"{' --quick' if args.quick else ''}\n")
    print("| study | wall s | CPU s | load average (1 min) before |\n| --- | --- | --- | --- |")
    total_wall = total_cpu = 0.0
    for name in names:
        load = os.getloadavg()[0]
        wall, cpu = measure_study(name, args.workers, args.quick, env)
        total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {load:.1f} |", flush=True)
    print(f"| **all {len(names)}** | **{total_wall:.1f}** | **{total_cpu:.1f}** | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
