"""How people and CI drive the suite: `nox -s tests`, `nox -s lint`, `nox -s quick`.

Sessions reuse the current environment (`venv_backend="none"`) so that nox never
resolves a second, different torch; install the project first with
`pip install -e '.[dev]'`.
"""

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
                            "from suite import registry; print(*registry.names())",
                            silent=True).split():
        session.run("suite", "run", name, "--quick", "--store", store, "--no-progress")


@nox.session
def bench(session):
    """The asv suite once (--quick, this interpreter, this checkout; results and html in
    .asv/) and the pytest-benchmark micro-benchmarks timed (JSON in .benchmarks/). Not a
    default session: minutes, not seconds. `python -m benchmarks.ratios` measures the
    claimed speed-ups."""
    import os

    sha = session.run("git", "rev-parse", "HEAD", silent=True, external=True).strip()
    session.run("asv", "machine", "--yes")
    session.run("asv", "run", "--python=same", "--quick", "--show-stderr",
                f"--set-commit-hash={sha}", *session.posargs)
    session.run("asv", "publish")
    os.makedirs(".benchmarks", exist_ok=True)
    session.run("pytest", "-q", "tests/bench", "--benchmark-enable",
                "--benchmark-timer=time.process_time",
                "--benchmark-json=.benchmarks/pytest-benchmark.json")
