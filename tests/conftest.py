import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent

torch.set_num_threads(1)

# The MNIST studies read the offline copy of the MNIST test set shipped beside the checkout.
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"
if SHARED_MNIST.is_dir():
    os.environ.setdefault("SUITE_DATA_ROOT", str(SHARED_MNIST))


def run_cli(*args, cwd=None, timeout=300, check=False) -> subprocess.CompletedProcess:
    """`python -m suite ARGS` in a fresh process that imports this checkout's suite."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "suite", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"suite {args} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture
def store_path(tmp_path) -> Path:
    return tmp_path / "store.db"
