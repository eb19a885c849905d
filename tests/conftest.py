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


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server URL that may create databases: $SUITE_TEST_POSTGRES, else a
    private throwaway server (tests/postgres_server.py). Without one the test is skipped
    with the reason, except under CI (the CI variable set), where it fails: CI always
    starts a server (.ci/run)."""
    from postgres_server import PrivateServer, Unavailable, check

    server = None
    try:
        if os.environ.get("SUITE_TEST_POSTGRES"):
            url = os.environ["SUITE_TEST_POSTGRES"]
        else:
            server = PrivateServer()
            url = server.url
        check(url)
    except Unavailable as e:
        if server is not None:
            server.stop()
        if os.environ.get("CI") or os.environ.get("SUITE_TEST_POSTGRES"):
            pytest.fail(f"no usable PostgreSQL server: {e}", pytrace=False)
        pytest.skip(f"no PostgreSQL server: {e}")
    yield url
    if server is not None:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the test server (dropped after the test), as a URL."""
    from postgres_server import fresh_database

    with fresh_database(postgres_server) as url:
        yield url
