"""Start-up: a fresh `suite` process's wall time and peak memory for the commands people
type most (issue 15 section 3: --version, --help, list, show and validating a study file
should take under 0.3 s and 100 MB; they must not import torch)."""

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

STUDY = Path(__file__).resolve().parent.parent / "suite" / "study" / "studies"
COMMANDS = {
    "version": ["-m", "suite", "--version"],
    "help": ["-m", "suite", "--help"],
    "list": ["-m", "suite", "list"],
    "show": ["-m", "suite", "show", "spiral-layers"],
    "validate": ["-c", "import sys; from suite.study import spec; "
                       "spec.load_file(sys.argv[1])", str(STUDY / "spiral-layers.toml")],
}


def _run(name: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak resident MB) of one fresh process running the command."""
    before = os.times()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *COMMANDS[name]], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    return wall, cpu, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


class Startup:
    """One fresh interpreter per sample: what a person waits for at the prompt. Tracked
    values, since the time is spent in a child process (wall time as asked, and the
    child's CPU time, steadier on a shared machine)."""

    params = list(COMMANDS)
    param_names = ["command"]
    timer = time.process_time  # (no time_ benchmark here: the work is in the child)
    timeout = 120

    def track_wall_s(self, name):
        return _run(name)[0]

    track_wall_s.unit = "seconds"

    def track_cpu_s(self, name):
        return _run(name)[1]

    track_cpu_s.unit = "seconds"

    def track_peak_rss_mb(self, name):
        return _run(name)[2]  # the children's peak resident set (Linux reports KB)

    track_peak_rss_mb.unit = "MB"
