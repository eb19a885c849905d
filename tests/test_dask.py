"""The Dask executor against a real dask.distributed LocalCluster: 2 worker processes of 1
thread each on loopback, shared by this module's tests; drivers run as `python -m suite`
subprocesses (or in this process) and reach it through its address."""

import importlib
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from conftest import REPO_ROOT, run_cli
from test_runner import SLOW_STUDY, snapshot

from suite.cli import main
from suite.errors import RunFailed, SuiteError
from suite.running import executors
from suite.running.executors import DaskExecutor, TasksFailed, make_executor
from suite.running.runner import Job, RunSummary, _drive, run_study, variant_of
from suite.store import Store
from suite.study import shipped

pytestmark = pytest.mark.slow  # Dask clusters are started for this module

distributed = pytest.importorskip("distributed")

# 4 configs x 2 seeds, stored two at a time (one stacked model per config), each pair
# about 1.5 s on one thread here: long enough to kill a worker in the middle of one.
KILL_STUDY = textwrap.dedent(SLOW_STUDY).replace("epochs = 60", "epochs = 200")


def local_cluster(**config):
    """A LocalCluster like the one `suite run --executor dask` starts, under `config`."""
    import dask

    with dask.config.set(config):  # read by the scheduler as it starts, in this process
        return executors.local_cluster(2)


@pytest.fixture(scope="module")
def cluster():
    """(scheduler address, a client of it) of a 2-worker cluster shared by the module."""
    with local_cluster() as c, distributed.Client(c, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
        client.run(importlib.import_module, "suite.running.runner")  # each worker's import, once
        yield c.scheduler_address, client


@pytest.fixture(scope="module")
def kill_reference(tmp_path_factory):
    """The kill study's declaration and a store with its serial run (the reference)."""
    folder = tmp_path_factory.mktemp("kill")
    decl, store = folder / "kill-me.toml", folder / "serial.db"
    decl.write_text(KILL_STUDY)
    run_cli("run", decl, "--store", store, "--no-progress", check=True)
    return decl, store


def executed(client) -> int:
    """Tasks the cluster's workers have run so far."""
    return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


def results_csv(capsys, store, study: str, *extra) -> list[str]:
    """`suite results --format csv` per config and per trial (--trials)."""
    out = []
    for more in ((), ("--trials",)):
        assert main(["results", study, "--store", str(store), "--format", "csv", *extra,
                     *more]) == 0
        out.append(capsys.readouterr().out)
    return out


@pytest.mark.slow
def test_a_quick_study_on_dask_matches_the_serial_run_byte_for_byte(cluster, tmp_path,
                                                                   capsys):
    address, client = cluster
    serial, dask = tmp_path / "serial.db", tmp_path / "dask.db"
    args = ("run", "spiral-learning-rate", "--quick", "--seeds", "3", "--no-progress")
    run_cli(*args, "--store", serial, check=True)
    before = executed(client)
    out = run_cli(*args, "--store", dask, "--executor", "dask", "--scheduler", address,
                  check=True)
    assert "6 run (0 diverged, 3 stalled)" in out.stdout
    assert executed(client) - before == 2  # two configs: two stacked models, on the cluster
    csv = results_csv(capsys, dask, "spiral-learning-rate", "--quick")
    assert csv == results_csv(capsys, serial, "spiral-learning-rate", "--quick")
    assert csv[0].count("\n") == 3 and csv[1].count("\n") == 7  # header + 2 configs, 6 trials
    reference = snapshot(serial, "spiral-learning-rate")
    assert len(reference) == 6 and snapshot(dask, "spiral-learning-rate") == reference
    run = Store(dask).runs("spiral-learning-rate")[0]
    env = run["environment"]
    assert (run["executor"], env["scheduler"], env["executor_slots"]) == ("dask", address, 2)


def start_driver(decl, store, address) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "suite", "run", str(decl), "--store",
                             str(store), "--no-progress", "--executor", "dask", "--scheduler",
                             address], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def kill_a_busy_worker(client, proc, timeout: float = 180) -> int:
    """SIGKILL the process of a worker while it runs one of the driver's tasks; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before a worker could be killed"
        busy = [pid for pid, n in client.run(
            lambda dask_worker: (os.getpid(), dask_worker.state.executing_count)).values() if n]
        if busy:
            os.kill(busy[0], signal.SIGKILL)
            return busy[0]
        time.sleep(0.02)
    raise AssertionError("no task started on the cluster in time")


@pytest.mark.slow
def test_a_worker_killed_mid_task_has_it_rerun_and_the_study_completes(
        cluster, kill_reference, tmp_path):
    address, client = cluster
    decl, serial = kill_reference
    store = tmp_path / "dask.db"
    proc = start_driver(decl, store, address)
    try:
        killed = kill_a_busy_worker(client, proc)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "8 trials planned, 0 already in the store (skipped), 8 run" in out
    run = Store(store).runs("kill-me")[0]
    assert (run["status"], run["completed"]) == ("finished", 8)  # nothing counted twice
    assert snapshot(store, "kill-me", "full") == snapshot(serial, "kill-me", "full")
    client.wait_for_workers(2, timeout=120)  # the nanny started a new worker process
    assert killed not in client.run(os.getpid).values()


@pytest.mark.slow
def test_a_task_whose_workers_all_die_fails_its_trials_only_and_a_rerun_resumes(
        kill_reference, tmp_path):
    decl, serial = kill_reference
    store = tmp_path / "dask.db"
    # No second chance: the first death of a task's worker fails the task (KilledWorker).
    with local_cluster(**{"distributed.scheduler.allowed-failures": 0}) as c, \
            distributed.Client(c, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
        proc = start_driver(decl, store, c.scheduler_address)
        try:
            kill_a_busy_worker(client, proc)
            out, err = proc.communicate(timeout=300)
        finally:
            proc.kill()
    assert proc.returncode == 1, err
    message = err.strip().splitlines()[-1]
    assert message.startswith("suite: error: ") and "KilledWorker" in message
    assert "run the same command again to resume" in message and "Traceback" not in err
    stored = snapshot(store, "kill-me", "full")
    failed = [t for t in (r["trial_id"] for r in Store(serial).trials("kill-me", "full"))
              if t in message]
    assert 2 <= len(failed) and len(stored) + len(failed) == 8 and not set(failed) & set(stored)
    run = Store(store).runs("kill-me")[0]
    assert (run["status"], run["completed"]) == ("failed", len(stored))
    rerun = run_cli("run", decl, "--store", store, "--no-progress", check=True)
    assert f"{len(stored)} already in the store (skipped), {len(failed)} run" in rerun.stdout
    assert snapshot(store, "kill-me", "full") == snapshot(serial, "kill-me", "full")


@pytest.mark.slow
def test_the_environment_variable_names_the_scheduler(cluster, tmp_path, monkeypatch, capsys):
    address, _ = cluster
    monkeypatch.setenv("SUITE_DASK_SCHEDULER", address)
    store = str(tmp_path / "s.db")
    args = ["run", "spiral-layers", "--quick", "--seeds", "1", "--no-progress", "--store", store]
    assert main([*args, "--executor", "dask"]) == 0
    assert main([*args, "--seeds", "2"]) == 0  # the local executor ignores the variable
    assert "2 already in the store (skipped), 2 run" in capsys.readouterr().out
    runs = Store(store).runs("spiral-layers")
    assert [(r["executor"], r["environment"]["scheduler"]) for r in runs] == \
        [("dask", address), ("local", None)]


def test_a_finished_study_does_not_reach_the_cluster(tmp_path, monkeypatch):
    store = Store(tmp_path / "s.db")
    study = shipped.load("paths-bowl", quick=True)
    run_study(study, store, device="cpu")
    monkeypatch.setattr(DaskExecutor, "__enter__", lambda self: pytest.fail("connected"))
    again = run_study(study, store, device="cpu", executor="dask", scheduler="tcp://nowhere:1")
    assert again.completed == 0 and again.skipped == again.planned > 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_no_scheduler_at_the_address_is_one_sentence_naming_it(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 2.0)
    address = f"tcp://127.0.0.1:{free_port()}"
    store = tmp_path / "s.db"
    assert main(["run", "spiral-layers", "--quick", "--store", str(store), "--executor", "dask",
                 "--scheduler", address, "--no-progress"]) == 2
    err = capfd.readouterr().err
    assert err == (f"suite: error: No Dask scheduler answered at {address} within 2 s; start "
                   "one with 'dask scheduler', or fix --scheduler or $SUITE_DASK_SCHEDULER.\n")
    assert Store(store).runs("spiral-layers") == []  # nothing was run or recorded


@pytest.mark.parametrize("address, why", [
    ("localhost", "missing port number in address 'localhost'"),
    ("http://127.0.0.1:8786", "unknown address scheme 'http'")])
def test_a_malformed_scheduler_address_is_refused_at_once(address, why):
    t0 = time.monotonic()
    with pytest.raises(SuiteError) as e, DaskExecutor(1, address):
        pass
    assert str(e.value).startswith(f"The Dask scheduler address {address!r} is not valid ({why}")
    assert str(e.value).endswith("; give it as tcp://HOST:PORT.") and time.monotonic() - t0 < 5


def test_a_scheduler_without_the_dask_executor_is_refused_before_the_store(tmp_path, capsys):
    store = tmp_path / "s.db"
    assert main(["run", "spiral-layers", "--quick", "--store", str(store), "--scheduler",
                 "tcp://127.0.0.1:8786"]) == 2
    assert capsys.readouterr().err.strip() == (
        "suite: error: A scheduler address (tcp://127.0.0.1:8786) is only used by the dask "
        "executor, not by 'local'; add --executor dask or drop --scheduler.")
    assert not store.exists()


def test_unknown_executor_lists_the_valid_names():
    with pytest.raises(SuiteError, match=r"Unknown executor 'dusk'. Did you mean 'dask'\? "
                                         r"Valid names: dask, local, serial\."):
        make_executor("dusk")


def test_missing_dask_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(SuiteError) as e, DaskExecutor(1):
        pass
    assert str(e.value) == ("The dask executor needs dask.distributed, which is not installed "
                            "here; run pip install 'suite[dask]'.")


@pytest.mark.parametrize("other", [{"suite": "0.0.9"}, {"code": "0123456789abcdef"}],
                         ids=["version", "code"])
def test_workers_with_other_versions_are_refused_naming_both(cluster, tmp_path, monkeypatch,
                                                            capsys, other):
    address, _ = cluster
    mine = executors.versions()
    theirs = {**mine, **other}
    monkeypatch.setattr(executors, "_ask_workers", lambda client: {
        "tcp://10.0.0.1:1": theirs, "tcp://10.0.0.2:1": mine})
    store = tmp_path / "s.db"
    assert main(["run", "spiral-layers", "--quick", "--store", str(store), "--executor", "dask",
                 "--scheduler", address]) == 2
    assert capsys.readouterr().err.strip() == (
        f"suite: error: 1 of 2 Dask workers at {address} (e.g. tcp://10.0.0.1:1) run suite "
        f"{theirs['suite']} (code {theirs['code']}) with torch {torch.__version__}, but this "
        f"driver runs suite {mine['suite']} (code {mine['code']}) with torch "
        f"{torch.__version__}, so their results would not be comparable; install the "
        "driver's suite and torch on the workers.")
    assert Store(store).runs("spiral-layers") == []


def test_a_worker_with_other_versions_refuses_its_task():
    with pytest.raises(RuntimeError, match="this worker runs suite .* not the driver's suite 9"):
        executors._run_checked(abs, {**executors.versions(), "suite": "9"}, -1)
    with pytest.raises(RuntimeError, match=r"not the driver's suite \S+ \(code 0000\)"):
        executors._run_checked(abs, {**executors.versions(), "code": "0000"}, -1)
    assert executors._run_checked(abs, executors.versions(), -1) == 1


def test_the_code_digest_changes_with_the_suite_files(tmp_path, monkeypatch):
    from suite.running import environment

    pkg = tmp_path / "suite"
    (pkg / "running").mkdir(parents=True)
    (pkg / "environment.py").write_text("x = 1\n")
    (pkg / "notes.txt").write_text("not code\n")
    monkeypatch.setattr(environment, "__file__", str(pkg / "running" / "environment.py"))
    environment.code_digest.cache_clear()
    try:
        before = environment.code_digest()
        (pkg / "notes.txt").write_text("still not code\n")
        environment.code_digest.cache_clear()
        assert environment.code_digest() == before
        (pkg / "environment.py").write_text("x = 2\n")
        environment.code_digest.cache_clear()
        assert environment.code_digest() != before
    finally:
        environment.code_digest.cache_clear()


def test_a_cluster_without_workers_is_a_clear_error_after_a_bounded_wait(monkeypatch):
    monkeypatch.setattr(executors, "WORKERS_TIMEOUT", 1.0)
    with executors.local_cluster(0) as c:
        t0 = time.monotonic()
        with pytest.raises(SuiteError) as e, DaskExecutor(1, c.scheduler_address):
            pass
        assert time.monotonic() - t0 < 30
    assert str(e.value) == (f"The Dask scheduler at {c.scheduler_address} had no workers "
                            f"after 1 s; start some with 'dask worker {c.scheduler_address}'.")


def test_map_yields_every_result_then_names_the_failed_items(cluster):
    address, _ = cluster
    with DaskExecutor(scheduler=address) as ex:
        assert ex.slots == 2
        stream = ex.map(math.sqrt, [4.0, -1.0, 9.0])
        assert sorted(next(stream) for _ in range(2)) == [2.0, 3.0]
        with pytest.raises(TasksFailed) as e:
            next(stream)
    [(item, error)] = e.value.failures
    assert item == -1.0 and isinstance(error, ValueError)


def test_closing_the_stream_cancels_the_outstanding_tasks(cluster):
    address, client = cluster
    with DaskExecutor(scheduler=address) as ex:
        stream = ex.map(time.sleep, [0, 60, 60, 60])
        assert next(stream) is None
        stream.close()  # what an interrupt in the driver does (contextlib.closing)
        deadline = time.monotonic() + 60
        while any(client.processing().values()):
            assert time.monotonic() < deadline, "the tasks were not cancelled"
            time.sleep(0.05)


class Replaying:
    """An executor that delivers every result twice (as a rerun task could) and reports
    the last group failed."""

    slots = 1

    def map(self, fn, items):
        items = list(items)
        for item in items[:-1]:
            yield fn(item)
            yield fn(item)
        raise TasksFailed([(items[-1], RuntimeError("worker lost"))])


@pytest.mark.slow
def test_the_driver_stores_and_counts_a_repeated_result_once_and_names_failed_trials(
        tmp_path):
    from suite.study.planning import plan

    study = shipped.load("paths-bowl", quick=True)
    store = Store(tmp_path / "s.db")
    variant = variant_of(study)
    run_id = store.start_run(study.name, variant, "test", 0, 0, {})
    trials = plan(study)
    groups = [[Job(t, variant, "cpu", 1, run_id)] for t in trials]
    summary = RunSummary(study.name, variant, len(trials), 0)
    with pytest.raises(RunFailed) as e:
        _drive(Replaying(), groups, store, summary, run_id, progress=False)
    assert summary.completed == len(store.trials(study.name, variant)) == len(trials) - 1
    assert str(e.value) == (
        f"1 trial(s) of study 'paths-bowl' failed on the workers (RuntimeError: worker lost): "
        f"{trials[-1].trial_id}; the {len(trials) - 1} trial(s) this run finished are stored "
        "and the run is marked failed; run the same command again to resume.")
    assert store.runs(study.name)[0]["status"] == "failed"
