"""Executors: where a study's trials (or groups of them) run.

An executor is a context manager with `slots` (how many tasks run at once, for grouping)
and `map(fn, items)`, which yields `fn(item)` for every item in any order, as each
completes. Workers only compute and return; the driver writes what comes back to the
store, so a slow or lost worker can never leave a half-written trial. `EXECUTORS` is the
one dict of them by name, `make_executor` the getter.

- `serial`: in this process, one item after another.
- `local`: a pool of fresh processes on this machine (`--workers N`); serial when N is 1.
- `dask`: tasks on a dask.distributed cluster: the scheduler at `--scheduler`, else at
  $SUITE_DASK_SCHEDULER, else a LocalCluster of `--workers` single-thread processes on
  loopback started for the run. dask is an optional dependency (`suite[dask]`), imported
  only here and only when used.

A dask task whose worker dies is rescheduled on another worker by dask itself (up to
`distributed.scheduler.allowed-failures` deaths, 3 by default). A task that finally fails
(`KilledWorker`, or an exception in the task) does not stop the others: `map` yields every
result that arrives and then raises `TasksFailed` naming the failed items.
"""

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

from suite.errors import SuiteError, UnknownNameError, did_you_mean
from suite.parent_watch import die_with_parent

SCHEDULER_ENV = "SUITE_DASK_SCHEDULER"
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before saying it is not there
WORKERS_TIMEOUT = 60.0  # seconds to wait for a cluster with no workers to get one


class TasksFailed(SuiteError):
    """Some tasks failed on their workers; `failures` holds (item, exception) pairs. The
    results of the other tasks were all yielded before this is raised."""

    def __init__(self, failures: list[tuple[object, BaseException]]):
        self.failures = failures
        super().__init__(f"{len(failures)} task(s) failed: {summarise_error(failures[0][1])}")


def summarise_error(error: BaseException) -> str:
    """An exception as 'Name: the first sentence of its message', at most 200 characters
    (dask's own messages run to several sentences and a traceback)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = text.split(". ")[0].rstrip(".")
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class SerialExecutor:
    """In this process, one item after another."""

    slots = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def describe(self) -> dict:
        """Where the tasks ran, for the run's recorded environment."""
        return {"scheduler": None, "executor_slots": self.slots}

    def map(self, fn, items):
        for item in items:
            yield fn(item)


class ProcessExecutor(SerialExecutor):
    """A pool of fresh ('spawn') processes: no state leaks from the driver into trials."""

    def __init__(self, workers: int):
        self.workers = self.slots = workers

    def map(self, fn, items):
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(fn, item) for item in items]
            try:
                for f in as_completed(futures):
                    yield f.result()
            finally:
                for f in futures:
                    f.cancel()


def versions() -> dict:
    """What must be equal on the driver and every worker for their numbers to be
    comparable (and for trial ids, which hash the suite version, to mean the same): the
    suite's version and a digest of its files (two checkouts of one version may differ),
    and torch's version."""
    import torch

    from suite import __version__
    from suite.running.environment import code_digest

    return {"suite": __version__, "code": code_digest(), "torch": torch.__version__}


def describe_versions(v: dict) -> str:
    return f"suite {v.get('suite')} (code {v.get('code')}) with torch {v.get('torch')}"


def _run_checked(fn, expected: dict, item):
    """`fn(item)` on a worker, refused when the worker's versions are not the driver's
    (a worker that joined the cluster after the check at the start)."""
    mine = versions()
    if mine != expected:
        raise RuntimeError(f"this worker runs {describe_versions(mine)}, not the driver's "
                           f"{describe_versions(expected)}")
    return fn(item)


class DaskExecutor:
    """Tasks on a dask.distributed cluster (see the module docstring). Entering it
    connects (or starts a LocalCluster), waits for a worker, and checks the workers'
    versions; leaving it closes the client (and the cluster it started)."""

    def __init__(self, workers: int = 1, scheduler: str | None = None):
        self.workers = workers
        self.address = scheduler or os.environ.get(SCHEDULER_ENV) or None
        self.client = self.cluster = None
        self.expected: dict = {}

    @property
    def slots(self) -> int:
        """Worker threads the cluster has now: one task each."""
        return max(1, sum(self.client.nthreads().values()))

    def describe(self) -> dict:
        return {"scheduler": self.address or f"a local cluster of {self.workers} workers",
                "executor_slots": self.slots if self.client else None}

    def __enter__(self):
        distributed = _import_distributed()
        try:
            if self.address:
                self.client = _connect(distributed, self.address)
            else:
                self.cluster = local_cluster(self.workers)
                self.client = distributed.Client(self.cluster, set_as_default=False)
            self._wait_for_workers()
            self.expected = versions()
            check_workers(self.client, self.address or "the local cluster", self.expected)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def _wait_for_workers(self):
        n = self.workers if self.cluster is not None else 1
        try:
            self.client.wait_for_workers(n, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise SuiteError(f"The Dask scheduler at {self.address or 'the local cluster'} "
                             f"had no workers after {WORKERS_TIMEOUT:.0f} s; start some "
                             f"with 'dask worker {self.address or 'ADDRESS'}'.") from None

    def map(self, fn, items):
        """Submit every item as one task (pure=False: never deduplicated or cached by
        dask) and yield results as they complete; then raise TasksFailed if any failed.
        Closing the generator early (Ctrl-C in the driver) cancels what is outstanding."""
        from distributed import as_completed as dask_completed

        items = list(items)
        if not items:  # nothing to do: the cluster may not even have been reached
            return
        pending = {self.client.submit(_run_checked, fn, self.expected, item, pure=False): i
                   for i, item in enumerate(items)}
        failures = []
        try:
            for future in dask_completed(list(pending), loop=self.client.loop):
                i = pending.pop(future)
                try:
                    result = future.result()
                except Exception as e:  # KilledWorker, the task's own exception, cancelled
                    failures.append((items[i], e))
                    continue
                finally:
                    future.release()  # the worker may drop the result now
                yield result
        finally:
            if pending:
                self.client.cancel(list(pending))
        if failures:
            raise TasksFailed(failures)


def local_cluster(workers: int):
    """A private LocalCluster: `workers` processes of one thread, on loopback only, no
    dashboard, its scheduler in this process. Its warnings (workers slow to stop at the
    end) are silenced: noise for a cluster that lives for one run."""
    distributed = _import_distributed()
    # The scheduler's HTTP server (metrics; dashboard off) on any free loopback port, not
    # on 8787, which another cluster may hold.
    return distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise SuiteError("The dask executor needs dask.distributed, which is not installed "
                         "here; run pip install 'suite[dask]'.") from None
    return distributed


def _connect(distributed, address: str):
    _check_address(address)  # before a Client exists: a half-made one hangs at exit
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as e:
        cause = "" if "Timed out" in str(e) else f" ({summarise_error(e)})"
        raise SuiteError(f"No Dask scheduler answered at {address} within "
                         f"{CONNECT_TIMEOUT:.0f} s{cause}; start one with 'dask scheduler', "
                         "or fix --scheduler or $SUITE_DASK_SCHEDULER.") from None


def _check_address(address: str) -> None:
    from distributed.comm.addressing import get_address_host_port, parse_address
    from distributed.comm.registry import get_backend

    try:
        scheme, _ = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            get_address_host_port(address)
    except ValueError as e:
        raise SuiteError(f"The Dask scheduler address {address!r} is not valid ({e}); give "
                         "it as tcp://HOST:PORT.") from None


def _ask_workers(client) -> dict:
    """{worker address: versions()} of every worker connected now."""
    return client.run(versions)


def check_workers(client, address: str, expected: dict) -> None:
    """Refuse a cluster whose workers cannot import suite or run other versions of suite
    or torch than the driver: their results would not be comparable with the driver's."""
    try:
        found = _ask_workers(client)
    except Exception as e:
        raise SuiteError(f"The Dask workers at {address} could not report their suite and "
                         f"torch versions ({summarise_error(e)}); install suite "
                         f"{expected['suite']} and torch {expected['torch']} on them.") from None
    wrong = {w: v for w, v in sorted(found.items()) if v != expected}
    if wrong:
        worker, v = next(iter(wrong.items()))
        raise SuiteError(f"{len(wrong)} of {len(found)} Dask workers at {address} (e.g. "
                         f"{worker}) run {describe_versions(v)}, but this driver runs "
                         f"{describe_versions(expected)}, so their results would not be "
                         "comparable; install the driver's suite and torch on the workers.")


EXECUTORS = {
    "serial": lambda workers, scheduler: SerialExecutor(),
    "local": lambda workers, scheduler: (ProcessExecutor(workers) if workers > 1
                                         else SerialExecutor()),
    "dask": lambda workers, scheduler: DaskExecutor(workers, scheduler),
}


def make_executor(name: str, workers: int = 1, scheduler: str | None = None):
    """The executor called `name`, not started yet (enter it to start it). A scheduler
    address is only for the dask executor."""
    if name not in EXECUTORS:
        raise UnknownNameError(f"Unknown executor '{name}'.{did_you_mean(name, EXECUTORS)} "
                               f"Valid names: {', '.join(sorted(EXECUTORS))}.")
    if scheduler and name != "dask":
        raise SuiteError(f"A scheduler address ({scheduler}) is only used by the dask "
                         f"executor, not by '{name}'; add --executor dask or drop "
                         "--scheduler.")
    return EXECUTORS[name](workers, scheduler)
