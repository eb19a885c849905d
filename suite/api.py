"""The Python API: the few calls a notebook needs, the same ones the CLI makes.

    import suite

    study = suite.load("spiral-layers", quick=True)      # a shipped name or a .toml path
    # or: study = suite.declare({"name": "mine", "task": {"kind": "supervised"}, ...})
    suite.run(study, store="my.db")                      # same seeds, store and resume
    suite.results(study, store="my.db")                  # per configuration, intervals
    suite.trials(study, store="my.db")                   # one row per trial
    suite.curves(study, store="my.db")                   # per-epoch curves, long form
    suite.render_report(store="my.db")                   # the HTML report

(`render_report` and `verify_store`, not `report` and `verify`: those names are the
suite's modules.) `study` arguments take a `Study` or a shipped study's name or a .toml
path (then `quick` picks the variant). `store` takes a file path, a database URL, an
open `suite.store.Store` or None ($SUITE_STORE, else suite.db), as `--store` does. Errors raise
`suite.errors.SuiteError` with the sentence the CLI prints.
"""

import math
import os
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from suite.errors import SuiteError

__all__ = ["load", "declare", "run", "trials", "summary", "results", "curves",
           "render_report", "verify_store", "publish_catalogue", "default_store"]


def default_store() -> str:
    """$SUITE_STORE, else suite.db in the working folder (the CLI's default too)."""
    return os.environ.get("SUITE_STORE") or "suite.db"


def load(study: str | os.PathLike, *, quick: bool = False):
    """A shipped study by name, or the declaration file at a path, validated."""
    from suite.study import shipped

    return shipped.load(str(study), quick=quick)


def declare(declaration: Mapping, *, quick: bool = False, folder: str | os.PathLike = "."):
    """A study from a dict shaped like a declaration file (plug-in files it names are
    loaded from `folder`), validated like a file."""
    from suite.study import spec

    name = declaration.get("name", "study") if isinstance(declaration, Mapping) else "study"
    if not isinstance(declaration, Mapping):
        raise SuiteError(f"A study declaration must be a dict, not a "
                         f"{type(declaration).__name__}.")
    return spec.parse(dict(declaration), f"<dict {name}>", quick=quick, base=folder)


def _study(study, quick: bool):
    from suite.study.spec import Study

    return study if isinstance(study, Study) else load(study, quick=quick)


@contextmanager
def open_store(store, create: bool = False):
    """A context giving an open Store for a path, URL, Store (left open) or None."""
    from suite.store import Store

    if isinstance(store, Store):
        yield store
        return
    opened = Store(default_store() if store is None else store, create=create)
    try:
        yield opened
    finally:
        opened.close()


def run(study, store=None, *, quick: bool = False, seeds: int | None = None,
        device: str = "auto", workers: int = 1, threads: int = 1, executor: str = "local",
        scheduler: str | None = None, data_root: str | None = None, download: bool = False,
        progress: bool = False, command: str = "", yes: bool = False,
        replace_declaration: bool = False, announce=None):
    """Run the study's trials that are not in the store yet (each stored as it ends);
    returns the run's summary (`.line()` is what `suite run` prints). A plan of more than
    10,000 trials needs `yes`; a store holding another declaration under the study's name
    is refused unless `replace_declaration` (which deletes that study's stored trials).
    `announce(line)` gets the plan's size, then what will run and an estimate."""
    from suite.running.environment import resolve_device
    from suite.running.executors import make_executor
    from suite.running.runner import run_study
    from suite.study.planning import check_size

    study = _study(study, quick)
    # Everything that can be refused is refused before the store is opened or created.
    make_executor(executor, workers, scheduler)
    resolve_device(device)
    size = check_size(study, seeds, yes)
    if announce is not None:
        announce(size)
    with open_store(store, create=True) as s:
        return run_study(study, s, device=device, workers=workers, seeds=seeds,
                         threads=threads, executor=executor, scheduler=scheduler,
                         command=command or f"suite.run({study.name!r})", progress=progress,
                         runtime={"data_root": data_root, "download": download or None},
                         replace_declaration=replace_declaration, announce=announce)


def _rows(store, study) -> list[dict]:
    """The study variant's stored trials computed by the plug-in code loaded now (after
    an edit, the trials of the older code stay stored but are not the study's results)."""
    from suite.running.runner import variant_of
    from suite.study import plugin_loading as plugins

    variant = variant_of(study)
    _same_declaration(store, study)
    stored = store.trials(study.name, variant)
    rows = [r for r in stored if not plugins.missing(r["config"])]
    if stored and not rows:
        raise SuiteError(f"The store {store.label} holds {len(stored)} {variant} trials of "
                         f"study '{study.name}', all computed by other plug-in code than "
                         f"this ({plugins.missing(stored[0]['config'])}); run the study.")
    if not rows:
        others = [v for v in store.variants(study.name) if v != variant]
        hint = f" It has {others[0]} trials: add or drop --quick." if others else ""
        raise SuiteError(f"The store {store.label} holds no {variant} trials of study "
                         f"'{study.name}'.{hint}")
    return rows


def _same_declaration(store, study) -> None:
    """Results of the study as declared: refused when the store ran another declaration
    under its name (its trials would be shown as this one's)."""
    import json

    from suite.study.spec import differences

    stored = store.declared(study.name)
    diff = stored is not None and differences(stored, json.loads(json.dumps(study.declaration)))
    if diff:
        raise SuiteError(f"The store {store.label} holds study '{study.name}' with another "
                         f"declaration ({'; '.join(diff[:3])}); give the file it was run from, "
                         "or run this one under another name.")


def trials(study, store=None, *, quick: bool = False) -> pd.DataFrame:
    """One row per stored trial: axis labels, seed, status, config hash, diagnosis of its
    curves, every metric of the study (None/NaN where undefined)."""
    from suite import analysis

    study = _study(study, quick)
    with open_store(store) as s:
        rows = _rows(s, study)
        stored = {r["trial_id"]: s.curves(r["trial_id"]) for r in rows}
    return analysis.trials_frame(rows, study.metrics, stored)


def summary(study, store=None, *, quick: bool = False) -> pd.DataFrame:
    """Per configuration: n, diverged, each metric's mean and std, the diagnosis (the
    columns of `suite results --wide` and of its CSV and JSON)."""
    from suite import analysis

    study = _study(study, quick)
    return analysis.summary(trials(study, store), [a.name for a in study.axes], study.metrics)


def results(study, store=None, *, quick: bool = False) -> pd.DataFrame:
    """Per configuration (plan order): the axis labels, n seeds, diverged and stalled
    counts, and per metric its mean, std, 95% interval (`<m>_low`, `<m>_high`: Student t,
    on the logit scale for a metric with declared bounds; `<m>_interval` names the
    method) and the number of seeds where it is defined, then the most common diagnosis."""
    from suite import analysis

    study = _study(study, quick)
    frame = trials(study, store)
    axes = [a.name for a in study.axes]
    stats = analysis.seed_stats(frame, axes, study.metrics, dict(study.task.bounds))
    wide = analysis.summary(frame, axes, [])
    for m in study.metrics:
        part = stats[stats["metric"] == m].reset_index(drop=True)
        for col, name in (("mean", "mean"), ("std", "std"), ("ci_low", "low"),
                          ("ci_high", "high"), ("interval", "interval"),
                          ("defined", "defined")):
            wide[f"{m}_{name}"] = part[col].to_numpy()
    if "diagnosis" in wide.columns:
        wide["diagnosis"] = wide.pop("diagnosis")
    return wide


def curves(study, store=None, *, quick: bool = False) -> pd.DataFrame:
    """Every stored curve in long form: axis labels, seed, trial_id, curve, epoch (from
    1), value (NaN where the stored value is undefined)."""
    study = _study(study, quick)
    records = []
    with open_store(store) as s:
        for r in _rows(s, study):
            base = {**r["labels"], "seed": r["seed_index"], "trial_id": r["trial_id"]}
            for name, values in s.curves(r["trial_id"]).items():
                records += [{**base, "curve": name, "epoch": i + 1,
                             "value": math.nan if v is None else v}
                            for i, v in enumerate(values)]
    columns = [a.name for a in study.axes] + ["seed", "trial_id", "curve", "epoch", "value"]
    return pd.DataFrame.from_records(records, columns=columns)


def render_report(store=None, out: str | os.PathLike = "reports/site",
           studies: list[str] | None = None) -> Path:
    """Write the HTML report of the store's studies (all, or those named); returns the
    path of its index.html."""
    from suite.report import build_site

    _check_out_folder(out)
    with open_store(store) as s:
        build_site(s, out, studies)
    return Path(out) / "index.html"


def _check_out_folder(out) -> None:
    """`out` must be a folder, or a path where one can be made (no file on the way)."""
    for p in (Path(out), *Path(out).parents):
        if p.exists():
            if not p.is_dir():
                what = "is" if p == Path(out) else f"is inside {p}, which is"
                raise SuiteError(f"--out {out} {what} a file, not a folder; give a folder "
                                 "for the report.")
            return


def verify_store(store=None, *, study: str | None = None, sample: int | None = None,
                 seed: int = 0, data_root: str | None = None, out=None) -> int:
    """Re-run stored trials and compare them bit for bit; prints one line per trial and
    returns 0 (all match), 1 (a mismatch) or 2 (some could not be re-run here).
    `data_root`: where tasks that read files find them, as for `run`."""
    from suite.running.verify import verify as _verify

    with open_store(store) as s:
        return _verify(s, study=study, sample=sample, seed=seed, out=out,
                       runtime={"data_root": data_root} if data_root else None)


def publish_catalogue(store: str | os.PathLike | None = "reports/publish.db",
                      out: str | os.PathLike = "reports/site", *, quick: bool = False,
                      studies: list[str] | None = None, workers: int = 1, threads: int = 1,
                      device: str = "auto", executor: str = "local",
                      scheduler: str | None = None, verify_sample: int = 8,
                      verify_seed: int = 0, data_root: str | None = None,
                      progress: bool = False, command: str = "") -> int:
    """`suite publish`: every shipped study (or those named) into one store (resuming),
    a verify sample, the report and its manifest (`suite.publish`); prints progress and
    returns the exit status (0 all well, 1 a study failed or a trial mismatched)."""
    from suite.publish import publish
    from suite.running.executors import make_executor
    from suite.store import Store, parse_target
    from suite.study import shipped

    for name in studies or []:
        shipped.load(name)  # an unknown name is refused before the store is touched
    make_executor(executor, workers, scheduler)
    if not isinstance(store, Store):
        _, path = parse_target(default_store() if store is None else store)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    with open_store(store, create=True) as s:
        return publish(s, Path(out), quick=quick, names=studies, workers=workers,
                       threads=threads, device=device, executor=executor,
                       scheduler=scheduler, verify_sample=verify_sample,
                       verify_seed=verify_seed,
                       runtime={"data_root": data_root} if data_root else None,
                       command=command or "suite.publish_catalogue()", progress=progress)
