"""`suite publish`: every shipped study into one store, verified, reported, with a manifest.

Steps, each printed as it happens: run every shipped study (its full variant, or the quick
one with `quick`) with `suite.running.runner.run_study`, which skips trials already stored (so an
interrupted publish resumes); re-run a seeded sample of the stored trials with
`suite.running.verify` (bit-for-bit comparison); write `manifest.json` (suite version, git sha,
store digest, environment, per-study counts and wall times, the verify result) and the
HTML report, whose index opens with the findings table and the verify summary.

A study that cannot run (its data missing, a trial failing) is reported and recorded in
the manifest; the others still run, and the exit status is 1.
"""

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from suite import __version__
from suite.errors import SuiteError
from suite.report import build_site
from suite.running import environment
from suite.running.runner import run_study, variant_of
from suite.running.verify import run_checks
from suite.store import Store, hide_password
from suite.study import shipped
from suite.study.planning import canonical

MANIFEST = "manifest.json"


@dataclass
class StudyRun:
    name: str
    variant: str
    status: str = "finished"  # or "failed"
    planned: int = 0
    skipped: int = 0
    completed: int = 0
    diverged: int = 0
    seconds: float = 0.0
    error: str = ""


def publish(store: Store, out: str | Path, *, quick: bool = False, names: list[str] | None = None,
            workers: int = 1, threads: int = 1, device: str = "auto", executor: str = "local",
            scheduler: str | None = None, verify_sample: int = 8, verify_seed: int = 0,
            runtime: dict | None = None, command: str = "", progress: bool = False,
            stream=None) -> int:
    """Run, verify and report the catalogue (or the studies in `names`) into `store` and
    `out`; returns the exit status (0 all well, 1 a study failed or a trial mismatched)."""
    stream = stream or sys.stdout
    out = Path(out)
    names = names or shipped.names()
    t0 = time.perf_counter()
    runs = []
    for i, name in enumerate(names, 1):
        study = shipped.load(name, quick=quick)
        print(f"[{i}/{len(names)}] {name} ({variant_of(study)}): running ...", file=stream,
              flush=True)
        runs.append(_run_one(study, store, stream, workers=workers, threads=threads,
                             device=device, executor=executor, scheduler=scheduler,
                             runtime=runtime, command=command, progress=progress))
    verified = _verify(store, verify_sample, verify_seed, stream, runtime)
    t_report = time.perf_counter()
    pages = build_site(store, out, verify=verified, manifest=MANIFEST)
    report_seconds = time.perf_counter() - t_report
    total = time.perf_counter() - t0
    manifest = build_manifest(store, runs, verified, device, threads, workers, quick,
                              command, total, report_seconds)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    failed = [r.name for r in runs if r.status != "finished"]
    print(f"publish: {len(runs)} studies ({len(failed)} failed{': ' if failed else ''}"
          f"{', '.join(failed)}), {len(pages)} pages and {out / 'index.html'}, manifest "
          f"{out / MANIFEST}; total {total:.1f} s.", file=stream, flush=True)
    mismatch = verified is not None and verified["mismatch"] > 0
    return 1 if failed or mismatch else 0


def _run_one(study, store: Store, stream, **kwargs) -> StudyRun:
    run = StudyRun(study.name, variant_of(study))
    t0 = time.perf_counter()
    try:
        summary = run_study(study, store, **kwargs)
    except SuiteError as e:
        run.status, run.error = "failed", str(e)
        run.seconds = time.perf_counter() - t0
        print(f"    FAILED after {run.seconds:.1f} s: {e}", file=stream, flush=True)
        return run
    run.planned, run.skipped = summary.planned, summary.skipped
    run.completed, run.diverged = summary.completed, summary.diverged
    run.seconds = time.perf_counter() - t0
    print(f"    {summary.line()}", file=stream, flush=True)
    return run


def _verify(store: Store, sample: int, seed: int, stream, runtime: dict | None) -> dict | None:
    if sample <= 0:
        print("verify: skipped (--verify-sample 0).", file=stream)
        return None
    print(f"verify: re-running {sample} stored trials drawn with seed {seed} ...",
          file=stream, flush=True)
    t0 = time.perf_counter()
    try:
        result = run_checks(store, sample=sample, seed=seed, out=stream, runtime=runtime)
    except SuiteError as e:  # an empty store
        print(f"verify: {e}", file=stream)
        return None
    result["seconds"] = time.perf_counter() - t0
    return result


def store_digest(store: Store) -> str:
    """A digest of what the store holds: per study variant (sorted), each trial's id,
    status and metrics (sorted by id). Equal stores of the same trials give equal digests
    whatever their file bytes or database."""
    h = hashlib.sha256()
    for entry in sorted(store.studies(), key=lambda e: (e["name"], e["variant"])):
        for row in sorted(store.trials(entry["name"], entry["variant"]),
                          key=lambda r: r["trial_id"]):
            h.update(canonical([row["trial_id"], row["status"], row["metrics"]]).encode())
            h.update(b"\n")
    return h.hexdigest()


def build_manifest(store: Store, runs: list[StudyRun], verified: dict | None, device: str,
                   threads: int, workers: int, quick: bool, command: str, total: float,
                   report_seconds: float) -> dict:
    env = environment.fingerprint(environment.resolve_device(device), threads)
    return {
        "suite": __version__, "git_sha": env.get("git_sha"), "git_dirty": env.get("git_dirty"),
        "command": hide_password(command), "store": store.label,
        "store_digest": store_digest(store), "variant": "quick" if quick else "full",
        "workers": workers, "environment": env,
        "studies": [asdict(r) for r in runs],
        "verify": None if verified is None else {k: v for k, v in verified.items()},
        "seconds": {"studies": sum(r.seconds for r in runs),
                    "verify": verified["seconds"] if verified else 0.0,
                    "report": report_seconds, "total": total},
    }
