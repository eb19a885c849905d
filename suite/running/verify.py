"""`suite verify`: re-run stored trials and compare them with the store bit for bit.

Each trial is rebuilt from its stored row alone: its config, its seeds derived again
from (root, index) with `suite.seeding.derive`, its identity hashed again, and it runs
through the same `runner.execute` as `suite run`, with the thread count its run recorded,
on the device type it ran on. Status, every metric, every curve value and every blob
(the final weights) must be equal, not close; only the metrics a task declares as
wall-clock timings (`Task.timings`, e.g. the class-area searches' seconds) are not
compared. The numeric settings trials run with (`numerics.trial_record`: float32
precisions, cuDNN / oneDNN flags, default dtype) are compared with those the trial's run
recorded; where they differ (or a run from an older suite recorded none) every line of
that run says so, as does the summary. A sample of K trials is drawn with a seeded
generator, so the same command re-checks the same trials.
"""

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from suite import __version__, numerics
from suite.errors import SuiteError
from suite.running import environment
from suite.running.compare import outcome_differences
from suite.running.runner import Job, execute
from suite.seeding import derive
from suite.store import Store
from suite.study import plugin_loading as plugins
from suite.study.planning import TrialSpec, digest, identity, stable_config


@dataclass
class Check:
    row: dict
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return "skipped" if self.skipped else "mismatch" if self.differences else "match"


def select(rows: list[dict], sample: int | None, seed: int = 0) -> list[dict]:
    """`sample` rows drawn without replacement by a generator seeded with `seed` (kept in
    their store order), or all rows when `sample` is None or at least their number."""
    if sample is None or sample >= len(rows):
        return list(rows)
    picked = np.random.default_rng(seed).choice(len(rows), size=sample, replace=False)
    return [rows[i] for i in sorted(picked)]


def rebuild(row: dict) -> TrialSpec:
    """The trial's spec from its stored row: seeds derived again, identity hashed again."""
    seeds = derive(row["seeds"]["root"], row["seeds"]["index"])
    runtime = plugins.get_task(row["config"]["task"]).runtime
    trial_id = identity(row["study"], row["variant"] == "quick", row["config"], seeds, runtime,
                        row["suite_version"])
    return TrialSpec(row["study"], row["plan_index"], row["labels"], row["config"], seeds,
                     digest(stable_config(row["config"], runtime)), trial_id)


def identity_differences(row: dict, spec: TrialSpec) -> list[str]:
    out = []
    if spec.seeds.as_dict() != row["seeds"]:
        out.append("seeds: the stored seeds are not derive(root, index)")
    if spec.config_hash != row["config_hash"]:
        out.append("config_hash: the stored config does not hash to the stored hash")
    if spec.trial_id != row["trial_id"]:
        out.append("trial_id: study, variant, config, seeds and suite version do not hash "
                   "to the stored id")
    return out


def device_for(stored: str) -> tuple[str | None, str]:
    """(device to re-run on, or None to skip; a note when the hardware differs)."""
    if stored.startswith("cpu"):
        here = environment.device_name(torch.device("cpu"))
        return "cpu", "" if here == stored else f" (stored on {stored}, re-run on {here})"
    if stored.startswith("cuda") and torch.cuda.is_available():
        here = environment.device_name(torch.device("cuda"))
        return "cuda", "" if here == stored else f" (stored on {stored}, re-run on {here})"
    return None, f"it ran on {stored}, which this machine does not have"


def check_trial(store: Store, row: dict, threads: int, unloadable: str = "",
                runtime: dict | None = None) -> Check:
    check = Check(row)
    device, note = device_for(row["device"])
    if device is None or unloadable or plugins.missing(row["config"]):
        check.skipped = unloadable or plugins.missing(row["config"]) or note
        return check
    spec = rebuild(row)
    check.differences = identity_differences(row, spec)
    t0 = time.perf_counter()
    new, new_curves, new_blobs = execute(Job(spec, row["variant"], device, threads,
                                             row["run_id"], runtime=runtime or {}))
    check.seconds = time.perf_counter() - t0
    blobs = {name: store.blob(row["trial_id"], name) for name in store.blob_names(row["trial_id"])}
    check.differences += outcome_differences(row, store.curves(row["trial_id"]), blobs, new,
                                             new_curves, new_blobs,
                                             plugins.get_task(row["config"]["task"]).timings)
    if check.differences and note:
        check.differences.append(f"note{note}")
    return check


def _rows(store: Store, study: str | None) -> list[dict]:
    names = sorted({s["name"] for s in store.studies()})
    if study is not None:
        if study not in names:
            raise SuiteError(f"The store {store.label} holds no study named {study!r}. It "
                             f"holds: {', '.join(names) or 'nothing yet'}.")
        names = [study]
    return [r for n in names for v in store.variants(n) for r in store.trials(n, v)]


def _runs(store: Store, rows: list[dict]) -> dict[int, dict]:
    return {r["run_id"]: r for n in {row["study"] for row in rows} for r in store.runs(n)}


def numerics_note(recorded: dict | None, now: dict) -> str:
    """'' when a run recorded the numeric settings trials run with now, else what differs."""
    if recorded == now:
        return ""
    if recorded is None:
        return ("its run recorded no numeric settings (an older suite); re-run with "
                + _flat_settings(now))
    flat_then, flat_now = _flatten(recorded), _flatten(now)
    changed = [f"{k} {flat_then.get(k)!r} -> {flat_now.get(k)!r}"
               for k in sorted(flat_then.keys() | flat_now.keys())
               if flat_then.get(k) != flat_now.get(k)]
    return "its run recorded other numeric settings than trials run with now: " + \
        ", ".join(changed)


def _flatten(settings: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in settings.items():
        out |= _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v}
    return out


def _flat_settings(settings: dict) -> str:
    return ", ".join(f"{k} {v!r}" for k, v in _flatten(settings).items())


def load_plugins(store: Store, variants) -> dict[tuple[str, str], str]:
    """Load the installed plug-ins and the plug-in files each stored study names (from
    its study file's folder); returns why a study variant's files could not be loaded."""
    plugins.load_installed()
    entries = {(s["name"], s["variant"]): s for s in store.studies()}
    out = {}
    for key in sorted(variants):
        raw, source = store.declaration(*key) or {}, entries.get(key, {}).get("source", "")
        try:
            plugins.load_declared(raw, source)
        except plugins.PluginError as e:
            out[key] = f"its plug-in could not be loaded: {e}"
    return out


def verify(store: Store, study: str | None = None, sample: int | None = None,
           seed: int = 0, out=None, runtime: dict | None = None) -> int:
    """Re-run the selected trials, print one line each and a summary; returns the exit
    status: 0 all match, 1 any mismatch, 2 none mismatched but some could not be re-run."""
    return exit_status(run_checks(store, study, sample, seed, out, runtime))


def run_checks(store: Store, study: str | None = None, sample: int | None = None,
               seed: int = 0, out=None, runtime: dict | None = None) -> dict:
    """Re-run the selected trials, printing one line each and the summary line; returns
    the summary (`summary`)."""
    out = out or sys.stdout
    rows = _rows(store, study)
    if not rows:
        raise SuiteError(f"The store {store.label} holds no trials to verify.")
    chosen = select(rows, sample, seed)
    runs, settings = _runs(store, chosen), numerics.trial_record()
    unloadable = load_plugins(store, {(r["study"], r["variant"]) for r in chosen})
    checks = []
    for row in chosen:
        env = runs.get(row["run_id"], {}).get("environment", {})
        check = check_trial(store, row, int(env.get("threads", 1)),
                            unloadable.get((row["study"], row["variant"]), ""), runtime)
        note = numerics_note(env.get("numerics"), settings)
        if note and not check.skipped:
            check.notes.append(note)
        print(_line(check), file=out, flush=True)
        checks.append(check)
    result = summary(checks, len(rows), seed)
    other = sum(bool(c.notes) for c in checks)
    print(f"verify: {len(checks)} of {len(rows)} stored trials re-run by suite {__version__}: "
          f"{result['match']} match, {result['mismatch']} mismatch, {result['skipped']} "
          "skipped." + (f" {other} ran under other recorded numeric settings (see their "
                        "notes)." if other else ""), file=out)
    return result


def summary(checks: list[Check], stored: int, seed: int) -> dict:
    """Counts by verdict and one plain record per trial (for reports and manifests)."""
    counts = {v: sum(c.verdict == v for c in checks) for v in ("match", "mismatch", "skipped")}
    trials = [{"verdict": c.verdict, "study": c.row["study"], "variant": c.row["variant"],
               "labels": ", ".join(f"{k}={v}" for k, v in c.row["labels"].items()),
               "seed": c.row["seed_index"], "trial_id": c.row["trial_id"],
               "detail": "; ".join(x for x in (c.skipped or "; ".join(c.differences)
                                               or f"{c.seconds:.1f} s", *c.notes) if x)}
              for c in checks]
    return {"suite": __version__, "stored": stored, "checked": len(checks), "seed": seed,
            **counts, "notes": sum(bool(c.notes) for c in checks), "trials": trials}


def exit_status(result: dict) -> int:
    return 1 if result["mismatch"] else 2 if result["skipped"] else 0


def _line(check: Check) -> str:
    r = check.row
    labels = ", ".join(f"{k}={v}" for k, v in r["labels"].items())
    head = (f"{check.verdict.upper() if check.verdict != 'match' else 'match':<9}"
            f"{r['study']} ({r['variant']}) {labels} seed {r['seed_index']} [{r['trial_id']}]")
    notes = "".join(f"\n    note: {n}" for n in check.notes)
    if check.skipped:
        return f"{head}: {check.skipped}"
    if check.differences:
        return f"{head}:\n" + "\n".join(f"    {d}" for d in check.differences) + notes
    return f"{head} ({check.seconds:.1f} s)" + notes
