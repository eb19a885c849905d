"""Start-up: a fresh `suite` process's wall time and peak memory for the commands people
type most (issue 15 section 3: --version, --help, list, show and validating a study file
should take under 0.3 s and 100 MB; they must not import torch)."""

import resource
import subprocess
import sys
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


def _run(name: str) -> None:
    subprocess.run([sys.executable, *COMMANDS[name]], check=True, stdout=subprocess.DEVNULL)


class Startup:
    """One fresh interpreter per sample: what a person waits for at the prompt."""

    params = list(COMMANDS)
    param_names = ["command"]
    number, repeat, warmup_time = 1, 5, 0
    timeout = 120

    def time_command(self, name):
        _run(name)

    def track_peak_rss_mb(self, name):
        _run(name)  # the children's peak resident set, in MB (Linux reports KB)
        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    track_peak_rss_mb.unit = "MB"
