"""Searching the weight-path value that gives a target area, and what the searches record.

Two methods on the same monotone function `area(value)` (`suite.tasks.weight_path`):

- `tpe`: Optuna's TPE sampler, seeded from the trial's sampler seed, minimising
  |area - target| over `budget` trials, asked `parallel` at a time (see `tpe_search`).
- `brentq`: scipy's bracketing root finder on area(value) - target (its own stopping rule:
  the bracket narrower than `xtol`, or `budget` iterations).

Both search the half of [-1, 1] on the target's side of value 0 (the area is non-increasing,
so a target below the original area lies in [0, 1]). Every evaluation is recorded as
(value, area, |area - target|, seconds since the method started); `summary` turns a record
into metrics: evaluations and seconds until |area / target - 1| first falls below the
tolerance (None when it never does), and the final relative error (TPE: its best trial;
brentq: the root it returns).

Optuna storage. By default the Optuna studies go where `suite.store.optuna_storage_for`
says: for a PostgreSQL store, the same database in the schema `optuna`; for an SQLite
store, a sibling file (`X.db` -> `X.optuna.db`), since Optuna's tables `studies` and
`trials` would clash with the suite's in one file. Both are readable with `optuna
studies --storage URL` and `optuna-dashboard`. A URL pointing at an SQLite suite store
is refused before Optuna touches it. Study names derive from the trial id
(`<trial_id>-tpe`, `<trial_id>-brentq`), so they are unique per trial; a study left by an
unfinished run of the same trial is replaced. Writing happens once at the end of the trial
("end", the default: a suite trial is atomic, so per-evaluation commits would buy no
resumability) or as the search goes ("live", to watch it in the dashboard).
"""

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from scipy import optimize

from suite.errors import SuiteError
from suite.store import close_rdb_storage, optuna_storage_for, rdb_storage

COLUMNS = ("value", "area", "error", "seconds")
METHODS = ("tpe", "brentq")
WRITE_MODES = ("end", "live")


@dataclass(frozen=True)
class Evaluation:
    value: float
    area: float
    error: float  # |area - target|
    seconds: float  # since the method started

    def row(self) -> list[float]:
        return [self.value, self.area, self.error, self.seconds]


class Objective:
    """Evaluates and records area(value) for one method."""

    def __init__(self, area: Callable[[float], float], target: float):
        self.area, self.target = area, target
        self.records: list[Evaluation] = []
        self.t0 = time.perf_counter()

    def __call__(self, value: float) -> Evaluation:
        area = self.area(float(value))
        e = Evaluation(float(value), area, abs(area - self.target), time.perf_counter() - self.t0)
        self.records.append(e)
        return e


def bracket(original: float, target: float) -> tuple[float, float]:
    """The half of [-1, 1] where the value reaching `target` lies."""
    return (0.0, 1.0) if target <= original else (-1.0, 0.0)


@dataclass
class OptunaPlan:
    """Where the Optuna studies go: `url` None keeps them in memory only."""

    url: str | None
    name: str
    write: str = "end"

    def storage(self):
        return None if self.url is None else rdb_storage(self.url)


@dataclass
class TPEResult:
    records: list[Evaluation]
    study: optuna.Study
    storage: object  # where `study` lives (in memory unless written live)


def tpe_search(area, target: float, bounds, budget: int, seed: int,
               plan: OptunaPlan | None = None, parallel: int = 1) -> TPEResult:
    """`budget` TPE trials minimising |area - target| over value in `bounds`, in rounds of
    `parallel`: ask that many trials (each suggested before the next ask, so that TPE's
    constant liar sees it pending and the next moves away from it), evaluate their values
    as one batch, then tell them in trial-number order. The suggestions depend on the seed,
    `parallel` and the history only. With `parallel` = 1 this is sequential TPE, trial for
    trial what `study.optimize` does; above 1 it is batch-parallel TPE, a different search.

    The batch is evaluated here, one value after the other, not shipped to other workers:
    an evaluation takes milliseconds on the setting's cached features, which weigh up to
    hundreds of MB. Measured on the full blobs study's setting (1.36 M grid points, one
    torch thread, `benchmarks/ship_vs_evaluate.py`): 8-9 ms per evaluation, 369 MB of
    cached state, 4.4-5.5 s for one pickle round trip of it (500-600 evaluations, several
    times the whole 80-trial budget) before any network transfer."""
    live = plan is not None and plan.url is not None and plan.write == "live"
    name = f"{plan.name}-tpe" if plan else "tpe"
    storage = plan.storage() if live else optuna.storages.InMemoryStorage()
    if live:
        _drop_study(storage, name)
    sampler = optuna.samplers.TPESampler(seed=seed % 2**32, constant_liar=True)
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize",
                                sampler=sampler)
    objective = Objective(area, target)
    while (done := len(objective.records)) < budget:
        asked = [_ask(study, bounds) for _ in range(min(parallel, budget - done))]
        evaluations = [objective(value) for _, value in asked]
        for (trial, _), e in zip(asked, evaluations, strict=True):
            trial.set_user_attr("area", e.area)
            trial.set_user_attr("relative_error", e.error / target if target else None)
            trial.set_user_attr("seconds", e.seconds)
            study.tell(trial, e.error)
    return TPEResult(objective.records, study, storage)


def _ask(study: optuna.Study, bounds) -> tuple[optuna.Trial, float]:
    trial = study.ask()
    return trial, trial.suggest_float("value", *bounds)


def brentq_search(area, target: float, bounds, budget: int,
                  xtol: float) -> tuple[list[Evaluation], float | None, str]:
    """Brent's method on area(value) - target inside `bounds`; returns (records, root,
    note). Out of iterations, the root is its last estimate and the note says so."""
    objective = Objective(area, target)
    try:
        root, result = optimize.brentq(lambda v: objective(v).area - target, *bounds,
                                       xtol=xtol, maxiter=budget, full_output=True,
                                       disp=False)
    except ValueError as e:  # no sign change over the bracket
        return objective.records, None, f"brentq stopped: {e}"
    if not any(r.value == root for r in objective.records):
        objective(root)
    note = "" if result.converged else f"brentq: {result.flag} after {budget} iterations"
    return objective.records, float(root), note


def first_within(records: list[Evaluation], target: float, tolerance: float):
    """(evaluations, seconds) until |area / target - 1| < tolerance first; None if never."""
    for i, r in enumerate(records, start=1):
        if target > 0 and r.error / target < tolerance:
            return i, r.seconds
    return None, None


def summary(method: str, records: list[Evaluation], target: float, tolerance: float,
            final: Evaluation | None) -> dict[str, float | None]:
    """The metrics of one method, named `<method>_...`."""
    n, seconds = first_within(records, target, tolerance)
    rel = None if final is None or target <= 0 else final.error / target
    return {f"{method}_evals_to_tol": n, f"{method}_seconds_to_tol": seconds,
            f"{method}_rel_error": rel, f"{method}_value": None if final is None else final.value,
            f"{method}_evals": len(records),
            f"{method}_seconds": records[-1].seconds if records else None}


def best(records: list[Evaluation]) -> Evaluation | None:
    return min(records, key=lambda r: r.error) if records else None


def at_value(records: list[Evaluation], value: float | None) -> Evaluation | None:
    hits = [r for r in records if value is not None and r.value == value]
    return hits[-1] if hits else None


# -- Optuna storage -------------------------------------------------------------------------

def storage_url(spec: str, store: str) -> str | None:
    """The Optuna RDB URL for a task's `optuna_storage` parameter: "" -> the storage that
    belongs with the suite store `store`, a file path or a URL (None when the trial runs
    without a store), "memory" -> None."""
    if spec == "memory" or (spec == "" and not store):
        return None
    url = spec or optuna_storage_for(store)
    refuse_suite_store(url)
    return url


def refuse_suite_store(url: str) -> None:
    """A suite store has tables named like Optuna's: never point Optuna at one."""
    if not url.startswith("sqlite:///"):
        return
    path = Path(url[len("sqlite:///"):])
    if not path.is_file():
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            app = (dict(db.execute("SELECT key, value FROM meta")).get("app")
                   if "meta" in names else None)
    except sqlite3.DatabaseError:
        return  # not SQLite: Optuna will say so
    if app == "suite":
        raise SuiteError(f"optuna_storage {url} is a suite store; Optuna's tables 'studies' and "
                         "'trials' would clash with the suite's. Give another file, or leave "
                         "optuna_storage empty for the store's sibling X.optuna.db.")


def _drop_study(storage, name: str) -> None:
    """Remove a study left by an unfinished run of the same trial."""
    try:
        optuna.delete_study(study_name=name, storage=storage)
    except KeyError:
        pass


def save_studies(plan: OptunaPlan, tpe: TPEResult | None, brentq_records,
                 bounds, target: float, attrs: dict) -> list[str]:
    """Write the finished studies to the plan's storage; returns their names."""
    if plan.url is None:
        return []
    storage = plan.storage()
    try:
        return _save_studies(plan, storage, tpe, brentq_records, bounds, target, attrs)
    finally:  # a worker runs many trials: no connections left open (tpe's: when live)
        close_rdb_storage(storage)
        close_rdb_storage(tpe.storage if tpe is not None else None)


def _save_studies(plan: OptunaPlan, storage, tpe: TPEResult | None, brentq_records,
                  bounds, target: float, attrs: dict) -> list[str]:
    names = []
    if tpe is not None:
        names.append(f"{plan.name}-tpe")
        if plan.write != "live":
            _drop_study(storage, names[-1])
            optuna.copy_study(from_study_name=tpe.study.study_name, from_storage=tpe.storage,
                              to_storage=storage, to_study_name=names[-1])
        _set_attrs(optuna.load_study(study_name=names[-1], storage=storage), attrs)
    if brentq_records is not None:
        names.append(f"{plan.name}-brentq")
        _drop_study(storage, names[-1])
        study = optuna.create_study(study_name=names[-1], storage=storage, direction="minimize")
        study.add_trials([_frozen(r, bounds, target) for r in brentq_records])
        _set_attrs(study, attrs)
    return names


def _frozen(r: Evaluation, bounds, target: float) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        params={"value": r.value},
        distributions={"value": optuna.distributions.FloatDistribution(*bounds)},
        value=r.error, user_attrs={"area": r.area, "seconds": r.seconds,
                                   "relative_error": r.error / target if target else None})


def _set_attrs(study: optuna.Study, attrs: dict) -> None:
    for k, v in attrs.items():
        study.set_user_attr(k, v)


class quiet_optuna:
    """Optuna logs every trial at INFO; keep the CLI's output to the suite's own lines."""

    def __enter__(self):
        self.level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def __exit__(self, *exc):
        optuna.logging.set_verbosity(self.level)


def is_monotone(areas) -> bool:
    """Non-increasing, as the weight path's contract says."""
    return bool(np.all(np.diff(np.asarray(areas, float)) <= 0))
