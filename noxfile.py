"""How people and CI drive the suite: `nox -s tests`, `nox -s lint`, `nox -s quick`,
`nox -s report`, `nox -s bench`.

Sessions reuse the current environment (`venv_backend="none"`) so that nox never
resolves a second, different torch; install the project first with
`pip install -e '.[dev]'`.
"""

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "none"


@nox.session
def tests(session):
    """The test suite (the README's test command)."""
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session):
    session.run("ruff", "check", ".")


@nox.session
def quick(session):
    """Every shipped study's quick variant, end to end, into one store."""
    store = session.posargs[0] if session.posargs else "quick.db"
    for name in session.run("python", "-c",
                            "from suite.study import shipped; print(*shipped.names())",
                            silent=True).split():
        session.run("suite", "run", name, "--quick", "--store", store, "--no-progress",
                    env=_data_env())


@nox.session
def bench(session):
    """The asv suite once (--quick, this interpreter, this checkout; results and html in
    .asv/) and the pytest-benchmark micro-benchmarks timed (JSON in .benchmarks/). Not a
    default session: minutes, not seconds. `python -m benchmarks.ratios` measures the
    claimed speed-ups."""
    sha = session.run("git", "rev-parse", "HEAD", silent=True, external=True).strip()
    session.run("asv", "machine", "--yes")
    session.run("asv", "run", "--python=same", "--quick", "--show-stderr",
                f"--set-commit-hash={sha}", *session.posargs)
    session.run("asv", "publish")
    os.makedirs(".benchmarks", exist_ok=True)
    session.run("pytest", "-q", "tests/bench", "--benchmark-enable",
                "--benchmark-timer=time.process_time",
                "--benchmark-json=.benchmarks/pytest-benchmark.json")


def _data_env() -> dict:
    """SUITE_DATA_ROOT for the MNIST studies: as set, else the shipped offline copy of the
    MNIST test set beside the checkout (../shared/data/mnist), when it is there."""
    shared = Path(__file__).resolve().parent.parent / "shared" / "data" / "mnist"
    if "SUITE_DATA_ROOT" in os.environ or not shared.is_dir():
        return {}
    return {"SUITE_DATA_ROOT": str(shared)}


@nox.session
def report(session):
    """The main job's quick variant, then its HTML report (reports/site/index.html)."""
    store = session.posargs[0] if session.posargs else "reports/quick.db"
    Path(store).parent.mkdir(parents=True, exist_ok=True)
    session.run("python", "-m", "suite", "run", "spiral-layers", "--quick", "--store", store,
                "--no-progress")
    session.run("python", "-m", "suite", "report", "--store", store, "--out", "reports/site")
