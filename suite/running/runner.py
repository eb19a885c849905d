"""Planning and running a study: skip finished trials, run the rest, store each at once.

The executor is a seam (`suite.running.executors`): anything with `map(fn, items)` that yields
`fn(item)` results (in any order) can run trials. Workers compute and return; only the
driver writes to the store, so a lost worker can never leave a half-written trial.
"""

import contextlib
import dataclasses
import functools
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from suite import __version__, numerics
from suite.errors import PluginError, RunFailed, SuiteError
from suite.running import environment
from suite.running.compare import compare_batch
from suite.running.executors import TasksFailed, make_executor, summarise_error
from suite.store import Store, now
from suite.study import plugin_loading as plugins
from suite.study.planning import TrialSpec, canonical, plan
from suite.study.spec import Study, differences
from suite.tasks.base import TrialContext, takes_context


@dataclass(frozen=True)
class Job:
    spec: TrialSpec
    variant: str
    device: str
    threads: int
    run_id: int
    runtime: dict = field(default_factory=dict)  # run-time settings (see Task.runtime)
    store: str = ""  # the store's trial_target, for tasks that take a TrialContext
    plugin_files: tuple[str, ...] = ()  # plug-in files the study loads (see suite.plugins)
    check_batch: bool = False  # compare a plug-in's run_batch with run on the first seed


def with_runtime(task, config: dict, runtime: dict) -> dict:
    """`config` with the given (not None) run-time settings that `task` accepts applied."""
    return {**config, **{k: v for k, v in runtime.items() if k in task.runtime and v is not None}}


def execute(job: Job) -> tuple[dict, dict, dict]:
    """Run one trial (in this process or a worker); returns its store row, curves, blobs."""
    return execute_group([job])[0]


def execute_group(jobs: list[Job]) -> list[tuple[dict, dict, dict]]:
    """Run trials that differ only in their seeds; a group of several goes through the
    task's `run_batch` (one stacked model), and each trial gets the numbers it gets
    alone. Each row's wall_time is its share of the group's."""
    first = jobs[0]
    device = environment.resolve_device(first.device)
    started, t0 = now(), time.perf_counter()
    for ref in first.plugin_files:
        plugins.load_reference(ref)
    task = plugins.get_task(first.spec.config["task"])
    config = with_runtime(task, first.spec.config, first.runtime)
    # The trial's own numeric settings (IEEE float32, ...: numerics.TRIAL), whatever this
    # process had set; the process gets its own back afterwards.
    with numerics.trial_settings(first.threads, device):
        if len(jobs) == 1:
            extra = ({"context": TrialContext(first.spec.trial_id, first.store)}
                     if takes_context(task.run) else {})
            outcomes = [task.run(config, first.spec.seeds, device, **extra)]
        else:
            outcomes = task.run_batch(config, [j.spec.seeds for j in jobs], device)
        if plugins.is_plugin_task(task.name):
            _check_contract(task, config, jobs, outcomes, device)
    finished, wall = now(), (time.perf_counter() - t0) / len(jobs)
    return [_record(j, o, started, finished, wall, device)
            for j, o in zip(jobs, outcomes, strict=True)]


def _check_contract(task, config, jobs: list[Job], outcomes, device) -> None:
    """A plug-in task's outcomes honour the contract (`suite.plugins.TASK_CONTRACT`); on
    the run's first batched group, seed 0 of it is also run alone and compared."""
    if len(outcomes) != len(jobs):
        raise PluginError(f"The plug-in task '{task.name}' breaks the task contract: "
                                  f"run_batch gave {len(outcomes)} outcomes for {len(jobs)} "
                                  "seeds.")
    for outcome in outcomes:
        plugins.check_outcome(task, outcome)
    if len(jobs) > 1 and jobs[0].check_batch:
        alone = task.run(config, jobs[0].spec.seeds, device)
        compare_batch(task, outcomes[0], alone, jobs[0].spec.seeds.index)


def _record(job: Job, outcome, started: str, finished: str, wall: float, device):
    s = job.spec
    row = {"trial_id": s.trial_id, "study": s.study, "variant": job.variant,
           "plan_index": s.index, "labels": s.labels, "config": s.config,
           "config_hash": s.config_hash, "seed_index": s.seeds.index, "seeds": s.seeds.as_dict(),
           "status": outcome.status, "metrics": outcome.metrics, "artifacts": outcome.artifacts,
           "note": outcome.note, "started": started, "finished": finished,
           "wall_time": wall, "device": environment.device_name(device),
           "suite_version": __version__, "run_id": job.run_id,
           "worker": f"{socket.gethostname()}:{os.getpid()}"}  # the process that computed it
    return row, outcome.curves, outcome.blobs


MAX_GROUP = 32  # trials per stacked model: beyond it a bigger batch gains little


def group_jobs(jobs: list[Job], batch: bool, workers: int = 1) -> list[list[Job]]:
    """Pending trials in groups that can train as one stacked model: same config, task
    with `run_batch`, at most MAX_GROUP each, in plan order. Groups are split further
    until every worker has one. `batch` False gives one trial per group."""
    groups: dict = {}
    for j in jobs:
        can = batch and plugins.get_task(j.spec.config["task"]).run_batch is not None
        groups.setdefault(j.spec.config_hash if can else j.spec.trial_id, []).append(j)
    out = [g[i:i + MAX_GROUP] for g in groups.values() for i in range(0, len(g), MAX_GROUP)]
    while len(out) < workers and max(map(len, out), default=1) > 1:
        big = max(out, key=len)
        i = out.index(big)
        out[i:i + 1] = [big[:len(big) // 2], big[len(big) // 2:]]
    return out


@dataclass
class RunSummary:
    study: str
    variant: str
    planned: int
    skipped: int
    completed: int = 0
    diverged: int = 0
    stalled: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.study} ({self.variant}): {self.planned} trials planned, "
                f"{self.skipped} already in the store (skipped), {self.completed} run "
                f"({self.diverged} diverged, {self.stalled} stalled) in {self.seconds:.1f} s.")


def variant_of(study: Study) -> str:
    return "quick" if study.quick else "full"


def run_study(study: Study, store: Store, *, device: str = "auto", workers: int = 1,
              seeds: int | None = None, threads: int = 1, executor: str = "local",
              scheduler: str | None = None, command: str = "", progress: bool = False,
              runtime: dict | None = None, replace_declaration: bool = False,
              announce=None) -> RunSummary:
    """Run every trial of `study` not yet in `store`; each is committed as it finishes.
    `executor` names one of `suite.running.executors.EXECUTORS` (`scheduler`: the dask
    scheduler's address). `runtime` holds run-time settings (e.g. data_root) for tasks
    that accept them; tasks that save partial progress get `checkpoint_dir`
    (`Store.checkpoint_dir`), and tasks that keep an Optuna study get `optuna_url`, the
    store's own database, when the store is on a server (there the study can be resumed
    from any machine). Raises RunFailed when trials failed on their workers (the others
    are stored). A store keeps one declaration per study name: another one is refused
    (`check_declaration`) unless `replace_declaration`, which deletes the study's stored
    trials first. `announce(line)`, when given, gets what will run and an estimate of how
    long, before anything runs."""
    dev = environment.resolve_device(device)  # fail before any work on a bad device
    pool = make_executor(executor, workers, scheduler)  # a bad name or flag, likewise
    variant = variant_of(study)
    runtime = {"checkpoint_dir": store.checkpoint_dir,
               "optuna_url": store.optuna_url() if store.is_server else None, **(runtime or {})}
    with store.study_lock(study.name):
        check_declaration(study, store, replace=replace_declaration)
        trials = plan(study, seeds)
        done = store.finished_ids(study.name, variant)
        pending = [t for t in trials if t.trial_id not in done]
        summary = RunSummary(study.name, variant, len(trials), len(trials) - len(pending))
        if announce is not None:
            announce(estimate(store, study.name, variant, len(pending), summary.skipped,
                              workers if executor == "dask" else pool.slots))
        _prepare(study.task, pending, runtime)
        # A cluster is only reached (and its workers checked) when there is work for it.
        with pool if pending else contextlib.nullcontext(pool):
            store.save_study(study.name, variant, _source(study), study.declaration,
                             study.task.name)
            run_id = store.start_run(study.name, variant, command or " ".join(sys.argv),
                                     len(trials), summary.skipped,
                                     {**environment.fingerprint(dev, threads),
                                      **pool.describe()}, executor=executor)
            job = functools.partial(Job, variant=variant, device=str(dev), threads=threads,
                                    run_id=run_id, runtime=runtime, store=store.trial_target,
                                    plugin_files=study.plugin_files)
            # Trials of one config train as one stacked model where that is proven to give
            # each the numbers it gets alone: on the CPU with one thread per trial.
            groups = group_jobs([job(t) for t in pending], dev.type == "cpu" and threads == 1,
                                pool.slots if pending else 1)
            if groups and plugins.is_plugin_task(study.task.name):
                groups[0][0] = dataclasses.replace(groups[0][0], check_batch=True)
            _drive(pool, groups, store, summary, run_id, progress)
    return summary


def estimate(store: Store, study: str, variant: str, pending: int, skipped: int,
             slots: int) -> str:
    """'N to run, M already stored' and how long the N may take: the mean wall time of this
    study's stored trials (this variant's, else any variant's) x N / slots."""
    head = f"{pending:,} to run, {skipped:,} already in the store"
    if not pending:
        return head + "."
    mean, n, which = store.mean_wall_time(study, variant)
    if mean is None:
        return (f"{head}; no estimate yet (no trial of '{study}' is stored: the progress bar "
                "shows the pace once trials finish).")
    seconds = mean * pending / max(1, slots)
    return (f"{head}; estimate ~{_duration(seconds)} ({mean:.2f} s a trial, the mean of "
            f"{n} stored {which} trial(s), on {slots} slot(s)).")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def check_declaration(study: Study, store: Store, *, replace: bool = False) -> None:
    """Refuse `study` when the store holds a different declaration under its name: their
    trials would be merged into one set of statistics. `replace` deletes the stored study
    (trials, runs, declaration) instead, and says so."""
    stored = store.declared(study.name)
    if stored is None:
        return
    diff = differences(stored, json.loads(json.dumps(study.declaration)))
    if not diff:
        return
    shown = "; ".join(diff[:3]) + (f"; and {len(diff) - 3} more" if len(diff) > 3 else "")
    if replace:
        n = store.forget_study(study.name)
        print(f"suite: replaced the stored declaration of study '{study.name}' ({shown}); "
              f"its {n} stored trial(s) were deleted.", file=sys.stderr)
        return
    raise SuiteError(f"The store {store.label} already holds a study named '{study.name}' "
                     f"with another declaration ({shown}), and its trials would be mixed "
                     "with this one's: give this study another name, use another --store, or "
                     "pass --replace-declaration to delete the stored trials of "
                     f"'{study.name}' and keep this declaration.")


def _source(study: Study) -> str:
    """The study file as stored: an absolute path when plug-in files lie beside it, so
    that `verify` and `report` find them from any working folder."""
    if study.plugin_files and Path(study.source).is_file():
        return str(Path(study.source).resolve())
    return study.source


def _prepare(task, pending: list[TrialSpec], runtime: dict) -> None:
    """The task's preparation (fetch or check inputs), once per distinct config."""
    seen = set()
    for spec in pending:
        config = with_runtime(task, spec.config, runtime)
        if canonical(config) not in seen:
            seen.add(canonical(config))
            task.prepare(config)


def _drive(executor, groups, store: Store, summary: RunSummary, run_id: int, progress):
    t0, status = time.perf_counter(), "failed"
    stored = set()  # a result that arrives twice (a rerun task) is saved and counted once
    bar = tqdm(total=sum(map(len, groups)), desc=summary.study, unit="trial",
               disable=not progress, file=sys.stderr, leave=False)
    try:
        # closing: an interrupt between two results stops (cancels) the rest at once
        with contextlib.closing(executor.map(execute_group, groups)) as stream:
            for results in stream:
                _save(results, store, summary, stored, bar)
        status = "finished"
    except TasksFailed as e:
        raise _run_failed(e, summary) from None
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - t0
        store.finish_run(run_id, summary.completed, status)


def _save(results, store: Store, summary: RunSummary, stored: set, bar) -> None:
    for row, curves, blobs in results:
        if row["trial_id"] in stored:
            continue
        store.save_trial(row, curves, blobs)
        stored.add(row["trial_id"])
        summary.completed += 1
        summary.diverged += row["status"] == "diverged"
        summary.stalled += row["status"] == "stalled"
        bar.update(1)


def _run_failed(e: TasksFailed, summary: RunSummary) -> RunFailed:
    """The message for trials that failed on their workers: which, why, what to do."""
    ids = [job.spec.trial_id for group, _ in e.failures for job in group]
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return RunFailed(f"{len(ids)} trial(s) of study '{summary.study}' failed on the workers "
                     f"({summarise_error(e.failures[0][1])}): {shown}; the "
                     f"{summary.completed} trial(s) this run finished are stored and the run "
                     "is marked failed; run the same command again to resume.")
