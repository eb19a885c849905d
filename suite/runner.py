"""Planning and running a study: skip finished trials, run the rest, store each at once.

The executor is a seam: anything with `map(fn, items)` that yields `fn(item)` results
(in any order) can run trials. Workers compute and return; only the driver writes to the
store, so a lost worker can never leave a half-written trial.
"""

import functools
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import torch
from tqdm import tqdm

from suite import __version__, environment, tasks
from suite.planning import TrialSpec, plan
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
    store: str = ""  # the store's path, for tasks that take a TrialContext


def execute(job: Job) -> tuple[dict, dict, dict]:
    """Run one trial (in this process or a worker); returns its store row, curves, blobs."""
    torch.set_num_threads(job.threads)
    device = environment.resolve_device(job.device)
    started, t0 = now(), time.perf_counter()
    task = tasks.get(job.spec.config["task"])
    extra = ({"context": TrialContext(job.spec.trial_id, job.store)}
             if takes_context(task.run) else {})
    outcome = task.run(job.spec.config, job.spec.seeds, device, **extra)
    s = job.spec
    row = {"trial_id": s.trial_id, "study": s.study, "variant": job.variant,
           "plan_index": s.index, "labels": s.labels, "config": s.config,
           "config_hash": s.config_hash, "seed_index": s.seeds.index, "seeds": s.seeds.as_dict(),
           "status": outcome.status, "metrics": outcome.metrics, "artifacts": outcome.artifacts,
           "note": outcome.note, "started": started, "finished": now(),
           "wall_time": time.perf_counter() - t0, "device": environment.device_name(device),
           "suite_version": __version__, "run_id": job.run_id}
    return row, outcome.curves, outcome.blobs


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
              command: str = "", progress: bool = False) -> RunSummary:
    """Run every trial of `study` not yet in `store`; each is committed as it finishes."""
    dev = environment.resolve_device(device)  # fail before any work on a bad device
    variant = variant_of(study)
    with store.study_lock(study.name):
        trials = plan(study, seeds)
        done = store.finished_ids(study.name, variant)
        pending = [t for t in trials if t.trial_id not in done]
        summary = RunSummary(study.name, variant, len(trials), len(trials) - len(pending))
        store.save_study(study.name, variant, study.source, study.declaration, study.task.name)
        run_id = store.start_run(study.name, variant, command or " ".join(sys.argv),
                                 len(trials), summary.skipped,
                                 environment.fingerprint(dev, threads))
        job = functools.partial(Job, variant=variant, device=str(dev), threads=threads,
                                run_id=run_id, store=str(store.path.resolve()))
        _drive(make_executor(executor, workers), pending, store, summary, run_id, job, progress)
    return summary


def _drive(executor, pending, store: Store, summary: RunSummary, run_id: int, job, progress):
    t0, status = time.perf_counter(), "failed"
    bar = tqdm(total=len(pending), desc=summary.study, unit="trial", disable=not progress,
               file=sys.stderr, leave=False)
    try:
        for row, curves, blobs in executor.map(execute, [job(t) for t in pending]):
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
