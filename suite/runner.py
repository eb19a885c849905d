"""Planning and running a study: skip finished trials, run the rest, store each at once.

The executor is a seam: anything with `map(fn, items)` that yields `fn(item)` results
(in any order) can run trials. Workers compute and return; only the driver writes to the
store, so a lost worker can never leave a half-written trial.
"""

import functools
import multiprocessing
import os
import socket
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from suite import __version__, environment, tasks
from suite.planning import TrialSpec, canonical, plan
from suite.spec import Study
from suite.store import Store, now
from suite.tasks.base import TrialContext, takes_context


class SerialExecutor:
    def map(self, fn, items):
        for item in items:
            yield fn(item)


class ProcessExecutor:
    """A pool of fresh ('spawn') processes: no state leaks from the driver into trials."""

    def __init__(self, workers: int):
        self.workers = workers

    def map(self, fn, items):
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=ctx) as pool:
            futures = [pool.submit(fn, item) for item in items]
            try:
                for f in as_completed(futures):
                    yield f.result()
            finally:
                for f in futures:
                    f.cancel()


EXECUTORS = {"serial": lambda workers: SerialExecutor(),
             "local": lambda workers: ProcessExecutor(workers)}


def make_executor(name: str, workers: int):
    if name == "local" and workers <= 1:
        return SerialExecutor()
    return EXECUTORS[name](workers)


@dataclass(frozen=True)
class Job:
    spec: TrialSpec
    variant: str
    device: str
    threads: int
    run_id: int
    runtime: dict = field(default_factory=dict)  # run-time settings (see Task.runtime)
    store: str = ""  # the store's trial_target, for tasks that take a TrialContext


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
    torch.set_num_threads(first.threads)
    device = environment.resolve_device(first.device)
    started, t0 = now(), time.perf_counter()
    task = tasks.get(first.spec.config["task"])
    config = with_runtime(task, first.spec.config, first.runtime)
    if len(jobs) == 1:
        extra = ({"context": TrialContext(first.spec.trial_id, first.store)}
                 if takes_context(task.run) else {})
        outcomes = [task.run(config, first.spec.seeds, device, **extra)]
    else:
        outcomes = task.run_batch(config, [j.spec.seeds for j in jobs], device)
    finished, wall = now(), (time.perf_counter() - t0) / len(jobs)
    return [_record(j, o, started, finished, wall, device)
            for j, o in zip(jobs, outcomes, strict=True)]


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
        can = batch and tasks.get(j.spec.config["task"]).run_batch is not None
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
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.study} ({self.variant}): {self.planned} trials planned, "
                f"{self.skipped} already in the store (skipped), {self.completed} run "
                f"({self.diverged} diverged) in {self.seconds:.1f} s.")


def variant_of(study: Study) -> str:
    return "quick" if study.quick else "full"


def run_study(study: Study, store: Store, *, device: str = "auto", workers: int = 1,
              seeds: int | None = None, threads: int = 1, executor: str = "local",
              command: str = "", progress: bool = False,
              runtime: dict | None = None) -> RunSummary:
    """Run every trial of `study` not yet in `store`; each is committed as it finishes.
    `runtime` holds run-time settings (e.g. data_root) for tasks that accept them; tasks
    that save partial progress get `checkpoint_dir` (`Store.checkpoint_dir`), and tasks
    that keep an Optuna study get `optuna_url`, the store's own database, when the store
    is on a server (there the study can be resumed from any machine)."""
    dev = environment.resolve_device(device)  # fail before any work on a bad device
    variant = variant_of(study)
    runtime = {"checkpoint_dir": store.checkpoint_dir,
               "optuna_url": store.optuna_url() if store.is_server else None, **(runtime or {})}
    with store.study_lock(study.name):
        trials = plan(study, seeds)
        done = store.finished_ids(study.name, variant)
        pending = [t for t in trials if t.trial_id not in done]
        summary = RunSummary(study.name, variant, len(trials), len(trials) - len(pending))
        _prepare(study.task, pending, runtime)
        store.save_study(study.name, variant, study.source, study.declaration, study.task.name)
        run_id = store.start_run(study.name, variant, command or " ".join(sys.argv),
                                 len(trials), summary.skipped,
                                 environment.fingerprint(dev, threads), executor=executor)
        job = functools.partial(Job, variant=variant, device=str(dev), threads=threads,
                                run_id=run_id, runtime=runtime,
                                store=store.trial_target)
        # Trials of one config train as one stacked model where that is proven to give each
        # the numbers it gets alone: on the CPU with one thread per trial.
        groups = group_jobs([job(t) for t in pending], dev.type == "cpu" and threads == 1,
                            workers)
        _drive(make_executor(executor, workers), groups, store, summary, run_id, progress)
    return summary


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
    bar = tqdm(total=sum(map(len, groups)), desc=summary.study, unit="trial",
               disable=not progress, file=sys.stderr, leave=False)
    try:
        for results in executor.map(execute_group, groups):
            for row, curves, blobs in results:
                store.save_trial(row, curves, blobs)
                summary.completed += 1
                summary.diverged += row["status"] == "diverged"
                bar.update(1)
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - t0
        store.finish_run(run_id, summary.completed, status)
