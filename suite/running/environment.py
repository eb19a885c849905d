"""The environment fingerprint written with every run: enough to reproduce its numbers."""

import hashlib
import os
import platform
import socket
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from suite import __version__, numerics


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else the CPU; 'cuda' without CUDA is an error."""
    from suite.errors import SuiteError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise SuiteError(f"The device must be 'auto', 'cpu' or 'cuda'. Got {name!r} instead.")
    index = name.partition(":")[2]
    if index and not index.isdigit():
        raise SuiteError(f"The device must be 'cuda' or 'cuda:N' with N a number. Got {name!r} "
                         "instead.")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SuiteError(f"The device {name!r} was asked for, but this torch "
                         f"({torch.__version__}) sees no CUDA device. Use --device cpu.")
    if index and int(index) >= torch.cuda.device_count():
        raise SuiteError(f"The device {name!r} was asked for, but this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 to "
                         f"cuda:{torch.cuda.device_count() - 1}).")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()}"


@cache
def git_state() -> dict:
    """The sha and dirty flag of the source tree suite runs from, when it is a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip() != ""
        return {"git_sha": sha, "git_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"git_sha": None, "git_dirty": None}


@cache
def code_digest() -> str:
    """A digest of the suite's own files as this process imports them (code, shipped
    studies, templates): equal version strings from two different checkouts still differ
    here."""
    root = Path(__file__).resolve().parents[1]  # the suite package
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()
                       and p.suffix in (".py", ".toml", ".json", ".html", ".css", ".j2")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def fingerprint(device: torch.device, threads: int) -> dict:
    try:  # the installed version, without importing it (slow, and may be broken)
        tv = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        tv = None
    return {
        "suite": __version__, "suite_code": code_digest(), **git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(), "host": socket.gethostname(), "torch": torch.__version__,
        "torchvision": tv, "numpy": np.__version__, "device": device_name(device),
        "cuda": torch.version.cuda, "threads": threads, "cpu_count": os.cpu_count(),
        "numerics": numerics.trial_record(),  # what trials run with (`suite verify` compares)
    }
