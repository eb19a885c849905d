"""Golden copies of every quick study's statistics: tests/golden/<study>.csv holds what
`suite results STUDY --quick --format csv` printed when they were last updated on purpose.

    python -m tests.golden.check                  # run every quick study, compare (exit 1)
    python -m tests.golden.check --update         # rewrite the golden copies
    python -m tests.golden.check --study NAME ... # only these studies
    python -m tests.golden.check --store FILE     # compare the quick runs already in FILE

(`nox -s golden` and `nox -s golden -- --update` run it.) Each study runs in a fresh
process into a fresh store, as a user's `suite run STUDY --quick` does.

Tolerance. Text cells (names, diagnoses, counts) must be equal. A number may differ by at
most RTOL relative to the larger of the two, plus ATOL: the statistics are means and
standard deviations over seeds of float32 metrics, printed from float64; on one CPU a
rerun is bit-identical (`suite verify`), so RTOL only admits what another CPU type's
float32 kernels (another MKL code path, AVX2 against AVX-512) change in the last bits of
a metric: 4 float32 ulps (4 * 2**-23 ~ 4.8e-7 relative), which a mean or standard
deviation over a few seeds carries through unchanged in relative terms. A trained model
whose rounding differs can also end a step elsewhere and change an accuracy by a whole
example (1/n): that is a real difference between two runs and is reported as one, not
hidden by the tolerance. A difference within 1e-4 relative is labelled "low bits" in the
diff, a larger one "changed". Timings are not results: columns of metrics named
`*seconds*` (the suite's convention for wall-clock metrics, e.g. the class-area studies'
`tpe_seconds_to_tol`) are kept in the golden copy but not compared.
"""

import argparse
import csv
import io
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RTOL = 4 * 2.0 ** -23
ATOL = 1e-12  # for values that are zero in one run: float32 noise around 0 is far larger
LOW_BITS = 1e-4


def _number(cell: str):
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if cell.strip() not in ("", "True", "False") else None


def compare(study: str, golden: str, fresh: str) -> list[str]:
    """Readable differences between two CSV texts of one study (empty when equal within
    the tolerance)."""
    old, new = list(csv.reader(io.StringIO(golden))), list(csv.reader(io.StringIO(fresh)))
    if not old or not new:
        return [f"{study}: empty results ({'golden' if not old else 'fresh run'})"]
    if old[0] != new[0]:
        return [f"{study}: columns changed\n  golden: {','.join(old[0])}\n"
                f"  now:    {','.join(new[0])}"]
    header, out = old[0], []
    if len(old) != len(new):
        out.append(f"{study}: {len(old) - 1} rows in the golden copy, {len(new) - 1} now")
    for i, (a, b) in enumerate(zip(old[1:], new[1:], strict=False), start=1):
        key = _row_key(header, a)
        for col, x, y in zip(header, a, b, strict=False):
            if x == y or "seconds" in col:
                continue
            fx, fy = _number(x), _number(y)
            if fx is None or fy is None:
                out.append(f"{study}, row {i} ({key}), {col}: golden {x!r}, now {y!r}")
                continue
            if math.isnan(fx) and math.isnan(fy):
                continue
            scale = max(abs(fx), abs(fy))
            if abs(fx - fy) <= RTOL * scale + ATOL:
                continue
            rel = abs(fx - fy) / scale if scale else math.inf
            label = "low bits (another CPU's rounding?)" if rel <= LOW_BITS else "changed"
            out.append(f"{study}, row {i} ({key}), {col}: golden {fx:.10g}, now {fy:.10g} "
                       f"(relative difference {rel:.2e}: {label})")
    return out


def _row_key(header: list[str], row: list[str]) -> str:
    """The row's configuration: the cells before the first statistic column ('n')."""
    end = header.index("n") if "n" in header else 1
    return ", ".join(f"{h}={v}" for h, v in zip(header[:end], row[:end], strict=False))


def studies() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from suite.study import shipped

    return list(shipped.names())


def fresh_results(study: str, store: str | None) -> str:
    """The study's quick statistics as CSV: from `store` when given, else from a fresh
    quick run into a temporary store."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get(
        "PYTHONPATH", "")}
    cli = [sys.executable, "-m", "suite"]
    with tempfile.TemporaryDirectory() as tmp:
        db = store or str(Path(tmp) / "quick.db")
        if store is None:
            subprocess.run([*cli, "run", study, "--quick", "--store", db, "--no-progress"],
                           check=True, env=env, stdout=subprocess.DEVNULL)
        done = subprocess.run([*cli, "results", study, "--quick", "--store", db,
                               "--format", "csv"], check=True, env=env,
                              capture_output=True, text=True)
    return done.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--update", action="store_true", help="rewrite the golden copies")
    p.add_argument("--study", nargs="+", help="only these studies (default: every one)")
    p.add_argument("--store", help="take the quick runs from this store, run nothing")
    args = p.parse_args(argv)
    names = args.study or studies()
    problems = []
    for name in names:
        try:
            text = fresh_results(name, args.store)
        except subprocess.CalledProcessError as e:
            why = (e.stderr or "").strip().splitlines()[-1:] if isinstance(e.stderr, str) else []
            problems.append(f"{name}: `{' '.join(e.cmd[2:5])}` failed (exit {e.returncode})"
                            + (f": {why[0]}" if why else ""))
            print(f"FAIL {name}", flush=True)
            continue
        path = HERE / f"{name}.csv"
        if args.update:
            path.write_text(text)
            print(f"updated {path.relative_to(ROOT)}", flush=True)
        elif not path.exists():
            problems.append(f"{name}: no golden copy ({path.relative_to(ROOT)}); run "
                            f"`nox -s golden -- --update --study {name}`")
        else:
            diff = compare(name, path.read_text(), text)
            problems += diff
            print(f"{'ok  ' if not diff else 'DIFF'} {name}", flush=True)
    if args.update and not args.study:
        for stale in set(HERE.glob("*.csv")) - {HERE / f"{n}.csv" for n in names}:
            stale.unlink()
            print(f"removed {stale.relative_to(ROOT)} (no such study any more)")
    elif not args.study:
        problems += [f"{p.stem}: a golden copy of a study that is no longer shipped; "
                     f"`nox -s golden -- --update` removes it"
                     for p in sorted(HERE.glob("*.csv")) if p.stem not in names]
    if problems:
        print("\nQuick results differ from the golden copies (tests/golden/*.csv):",
              *problems, "If the change is meant, rewrite them: nox -s golden -- --update",
              sep="\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
