"""How people and CI drive the suite: `nox -s tests` (`nox -s fast`: no slow tests),
`nox -s lint`, `nox -s quick`, `nox -s report`, `nox -s publish`, `nox -s bench`, and the
regression watch CI runs: `nox -s speed` (the claimed speed-ups at half their goals, hot
paths against the merge base) and `nox -s golden`
(every quick study's statistics against tests/golden/); by hand: `nox -s bench-compare`,
`nox -s bench-history`.

Sessions reuse the current environment (`venv_backend="none"`) so that nox never
resolves a second, different torch; install the project first with
`pip install -e '.[dev]'`. Every tool runs as `python -m TOOL` with the interpreter that
runs nox (`PYTHON`), not whatever `pytest` comes first on PATH: `.venv/bin/nox` tests
what `.venv` holds (`.ci/run` does so).
"""

import os
import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "none"
PYTHON = sys.executable


@nox.session
def tests(session):
    """The whole test suite, as CI runs it (the README's test command)."""
    session.run(PYTHON, "-m", "pytest", "-q", *session.posargs)


@nox.session
def fast(session):
    """The everyday loop: every test not marked slow (about a minute on 2 cores)."""
    session.run(PYTHON, "-m", "pytest", "-q", "-m", "not slow", *session.posargs)


@nox.session
def lint(session):
    session.run(PYTHON, "-m", "ruff", "check", ".")


@nox.session
def quick(session):
    """Every shipped study's quick variant, end to end, into one store."""
    store = session.posargs[0] if session.posargs else "quick.db"
    for name in session.run(PYTHON, "-c",
                            "from suite.study import shipped; print(*shipped.names())",
                            silent=True).split():
        session.run(PYTHON, "-m", "suite", "run", name, "--quick", "--store", store,
                    "--no-progress")


@nox.session
def bench(session):
    """The asv suite once (--quick, this interpreter, this checkout; results and html in
    .asv/) and the pytest-benchmark micro-benchmarks timed (JSON in .benchmarks/). Not a
    default session: minutes, not seconds. `python -m benchmarks.ratios` measures the
    claimed speed-ups."""
    sha = session.run("git", "rev-parse", "HEAD", silent=True, external=True).strip()
    session.run(PYTHON, "-m", "asv", "machine", "--yes")
    session.run(PYTHON, "-m", "asv", "run", "--python=same", "--quick", "--show-stderr",
                f"--set-commit-hash={sha}", *session.posargs)
    session.run(PYTHON, "-m", "asv", "publish")
    os.makedirs(".benchmarks", exist_ok=True)
    session.run(PYTHON, "-m", "pytest", "-q", "tests/bench", "--benchmark-enable",
                "--benchmark-timer=time.process_time",
                "--benchmark-json=.benchmarks/pytest-benchmark.json")


@nox.session
def report(session):
    """The main job's quick variant, then its HTML report (reports/site/index.html)."""
    store = session.posargs[0] if session.posargs else "reports/quick.db"
    Path(store).parent.mkdir(parents=True, exist_ok=True)
    session.run(PYTHON, "-m", "suite", "run", "spiral-layers", "--quick", "--store", store,
                "--no-progress")
    session.run(PYTHON, "-m", "suite", "report", "--store", store, "--out", "reports/site")


@nox.session
def speed(session):
    """Speed regressions, measured side by side on CPU time (best of alternating runs), so
    a busy 2-core machine of either CPU type passes: the claimed speed-ups against half of
    each goal (benchmarks/ratios.py --ci), then each hot path of HEAD against the same
    path at the merge base with main (or `-- COMMIT`), failing when one is more than 1.4x
    slower (benchmarks/hot_paths.py): a hot path made 2x slower fails."""
    session.run(PYTHON, "-m", "benchmarks.ratios", "--repeats", "5", "--ci")
    session.run(PYTHON, "-m", "benchmarks.hot_paths", *session.posargs)


@nox.session
def golden(session):
    """Every quick study's statistics against its golden copy in tests/golden/ (fails with
    a readable diff when a number moves). `nox -s golden -- --update` rewrites them on
    purpose (after a change that is meant to move numbers); `-- --study NAME` limits it."""
    session.run(PYTHON, "-m", "tests.golden.check", *session.posargs)


def _merge_base(session) -> str:
    for ref in ("main", "origin/main", "master"):
        try:
            return session.run("git", "merge-base", ref, "HEAD", silent=True,
                               external=True).strip()
        except Exception:  # noqa: BLE001 - the next candidate
            continue
    session.error("no main branch to take the merge base with: give a commit "
                  "(nox -s bench-compare -- COMMIT)")


@nox.session(name="bench-compare")
def bench_compare(session):
    """asv continuous between the merge base with main (or the commit given:
    `nox -s bench-compare -- COMMIT [--factor F] [asv options, e.g. -b GridEvaluation]`)
    and HEAD, each commit installed into asv's own environment; prints asv's table and
    fails when a benchmark got slower by more than the factor (default 1.25: the asv suite
    times CPU seconds, whose spread on a busy machine is ~10%)."""
    args = list(session.posargs)
    factor = "1.25"
    if "--factor" in args:
        i = args.index("--factor")
        factor = args[i + 1]
        del args[i:i + 2]
    base = args.pop(0) if args and not args[0].startswith("-") else _merge_base(session)
    session.run(PYTHON, "-m", "asv", "machine", "--yes")
    session.run(PYTHON, "-m", "asv", "continuous", "--factor", factor, "--split",
                "--show-stderr", *args, base, "HEAD")


@nox.session(name="bench-history")
def bench_history(session):
    """asv over the last N commits of HEAD (`nox -s bench-history -- N [asv run options,
    e.g. -b GridEvaluation]`, default 10), skipping those already measured, then `asv
    publish`: open .asv/html/index.html to see each hot path over time (offline; `asv
    preview` serves it)."""
    args = list(session.posargs)
    n = int(args.pop(0)) if args and args[0].isdigit() else 10
    session.run(PYTHON, "-m", "asv", "machine", "--yes")
    session.run(PYTHON, "-m", "asv", "run", "--skip-existing-successful", "--show-stderr",
                *args, f"HEAD~{n}..HEAD", success_codes=[0, 2])
    session.run(PYTHON, "-m", "asv", "publish")
