import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from suite import numerics

REPO_ROOT = Path(__file__).resolve().parent.parent

torch.set_num_threads(1)

# The MNIST studies read the official test set shipped inside the package
# (suite/training/data/mnist),
# also when this machine's ~/.cache/suite/data holds other MNIST files: the tests' numbers
# must not depend on the machine. A SUITE_DATA_ROOT set by the caller still wins.
os.environ.setdefault("SUITE_DATA_ROOT", str(REPO_ROOT / "suite" / "training" / "data" / "mnist"))


def run_cli(*args, cwd=None, timeout=300, check=False) -> subprocess.CompletedProcess:
    """`python -m suite ARGS` in a fresh process that imports this checkout's suite."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "suite", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"suite {args} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def _settings() -> dict:
    return {**numerics.snapshot(), "interop_threads": torch.get_num_interop_threads()}


def _generators() -> tuple:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return torch.random.get_rng_state(), cuda, np.random.get_state(), random.getstate()


def _set_generators(state: tuple) -> None:
    cpu, cuda, np_state, py_state = state
    torch.random.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)
    np.random.set_state(np_state)
    random.setstate(py_state)


@pytest.fixture(autouse=True)
def torch_state_unchanged(request):
    """Every test must leave torch's process-wide settings as it found them (precisions,
    cuDNN / oneDNN and deterministic flags, default dtype, intra- and inter-op threads:
    `suite.numerics.snapshot`), else the test fails naming what it changed, and the
    settings are put back so that the next test starts clean. Order dependence is what this
    prevents: a precision left at bfloat16 by one test changed another's numbers.

    The default random generators (torch's, numpy's global one, Python's) are put back
    silently instead: seeding them or drawing from them is ordinary use in a test, and
    restoring them makes every test start from the same state whatever ran before. The
    suite itself must not move them (`numerics.trial_settings` forks torch's per trial;
    tests/test_runner.py checks that a run in this process leaves them as they were)."""
    before, generators = _settings(), _generators()
    yield
    _set_generators(generators)
    changed = numerics.differences(before, _settings())
    if changed:
        numerics.restore(before)
        pytest.fail(f"{request.node.nodeid} changed torch's global settings and did not "
                    f"restore them: {'; '.join(changed)}. Use suite.numerics.preserved() "
                    "(or restore them in the test).", pytrace=False)


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
