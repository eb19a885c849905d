import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from conftest import REPO_ROOT, run_cli

from suite import numerics, tasks
from suite.running.runner import run_study
from suite.store import Store
from suite.study import shipped
from suite.study.planning import plan
from suite.study.spec import load_file

# 4 configs x 2 seeds: the runner trains each config's two seeds as one stacked model, so
# trials are stored two at a time, about 0.01 s per epoch each pair on one thread.
SLOW_STUDY = """
name = "kill-me"
[task]
kind = "supervised"
[fixed]
n_train = 1500
n_val = 100
n_test = 100
epochs = 60
n_hidden_layers = 2
n_neurons = 8
[scientific]
lr = [0.05, 0.1, 0.2, 0.3]
[nuisance]
seeds = 2
"""


def snapshot(path, study, variant="quick"):
    """Every stored number of a study's trials, keyed by trial id (timings left out)."""
    s = Store(path, create=False)
    out = {}
    for r in s.trials(study, variant):
        out[r["trial_id"]] = (r["status"], r["metrics"], s.curves(r["trial_id"]),
                              s.blob(r["trial_id"], "state_dict"), r["seeds"])
    s.close()
    return out


def test_resume_skips_finished_trials_and_runs_only_new_ones(store_path):
    study = shipped.load("spiral-layers", quick=True)
    first = run_study(study, Store(store_path), device="cpu")
    again = run_study(study, Store(store_path), device="cpu")
    more = run_study(study, Store(store_path), device="cpu", seeds=3)
    assert (first.planned, first.skipped, first.completed) == (4, 0, 4)
    assert (again.skipped, again.completed) == (4, 0)
    assert (more.planned, more.skipped, more.completed) == (6, 4, 2)


def test_learning_rate_ten_is_recorded_as_stalled_and_the_study_completes(store_path):
    summary = run_study(shipped.load("spiral-learning-rate", quick=True), Store(store_path),
                        device="cpu")
    rows = Store(store_path).trials("spiral-learning-rate", "quick")
    assert summary.completed == len(rows) == 4
    by_lr = {(r["config"]["lr"], r["seed_index"]): r for r in rows}
    for s in (0, 1):
        assert by_lr[(10.0, s)]["status"] == "stalled" and by_lr[(10.0, s)]["note"]
        assert by_lr[(10.0, s)]["metrics"]["val_accuracy"] is not None  # kept
        assert by_lr[(0.1, s)]["status"] == "ok"


@pytest.mark.slow
def test_same_trial_in_fresh_processes_gives_identical_numbers(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for path in (a, b):
        run_cli("run", "spiral-layers", "--quick", "--store", path, "--no-progress", check=True)
    assert snapshot(a, "spiral-layers") == snapshot(b, "spiral-layers")
    csv = [run_cli("results", "spiral-layers", "--quick", "--store", p, "--format", "csv",
                   check=True).stdout for p in (a, b)]
    assert csv[0] == csv[1] and csv[0].count("\n") == 3


@pytest.mark.slow
def test_serial_and_parallel_runs_agree_bit_for_bit(tmp_path):
    study = shipped.load("spiral-activations", quick=True)
    run_study(study, Store(tmp_path / "serial.db"), device="cpu", workers=1)
    run_study(study, Store(tmp_path / "parallel.db"), device="cpu", workers=2)
    serial = snapshot(tmp_path / "serial.db", study.name)
    assert len(serial) == 4 and serial == snapshot(tmp_path / "parallel.db", study.name)


@pytest.mark.slow
def test_sigkill_mid_run_loses_no_finished_trial(tmp_path):
    decl = tmp_path / "kill-me.toml"
    decl.write_text(textwrap.dedent(SLOW_STUDY))
    store = tmp_path / "k.db"
    proc = start_run(decl, store)
    done = _wait_for_trials(store, at_least=2, proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = snapshot(store, "kill-me", "full")
    assert len(stored) >= done >= 2 and len(stored) < 8
    rerun = run_cli("run", decl, "--store", store, "--no-progress", check=True)
    assert f"{len(stored)} already in the store (skipped), {8 - len(stored)} run" in rerun.stdout
    after = snapshot(store, "kill-me", "full")
    assert len(after) == 8 and all(after[k] == v for k, v in stored.items())


def start_run(decl, store) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "suite", "run", str(decl), "--store",
                             str(store), "--no-progress"], env=env, stdout=subprocess.DEVNULL)


def _wait_for_trials(store, at_least: int, proc, timeout: float = 120) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        if store.exists():
            try:
                n = sqlite3.connect(store).execute("SELECT COUNT(*) FROM trials").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            if n >= at_least:
                return n
        time.sleep(0.05)
    raise AssertionError("no trials were stored in time")


@pytest.mark.slow
def test_a_second_concurrent_run_of_the_same_study_is_refused(tmp_path):
    decl = tmp_path / "kill-me.toml"
    decl.write_text(textwrap.dedent(SLOW_STUDY).replace("epochs = 60", "epochs = 1000"))
    store = tmp_path / "c.db"
    first = start_run(decl, store)
    try:
        _wait_for_trials(store, at_least=1, proc=first, timeout=300)
        second = run_cli("run", decl, "--store", store, "--no-progress")
        assert first.poll() is None, "the first run ended too soon to test the refusal"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2 and "Another 'suite run' of study 'kill-me'" in second.stderr
    assert "Traceback" not in second.stderr
    assert len(snapshot(store, "kill-me", "full")) >= 1  # the store is intact and readable


@pytest.mark.slow
@pytest.mark.parametrize("name", shipped.names())
def test_every_shipped_quick_variant_runs_end_to_end(name, store_path):
    study = shipped.load(name, quick=True)
    summary = run_study(study, Store(store_path), device="cpu")
    assert summary.completed == len(plan(study)) > 0
    rows = Store(store_path).trials(name, "quick")
    assert all(set(study.metrics) <= set(r["metrics"]) for r in rows)


# -- a trial's numbers do not depend on the calling process's numeric settings --------------
# 256 neurons: oneDNN takes its bfloat16 path for products of 256 or more terms (not for the
# 16-wide layers of the spiral studies), so a bf16 setting does change these numbers bare.
NUMERICS_STUDY = """
name = "numerics"
[task]
kind = "supervised"
[fixed]
n_train = 300
n_val = 60
n_test = 60
epochs = 5
n_hidden_layers = 2
n_neurons = 256
[scientific]
lr = [0.05, 0.3]
[nuisance]
seeds = 2
"""

# What a user's script may have set before calling the suite, through torch's own switches:
# each a reduced precision (or another numeric default). (name, set it, changes CPU numbers)
REDUCED = {
    "mkldnn matmul bf16": (lambda: setattr(torch.backends.mkldnn.matmul, "fp32_precision",
                                           "bf16"), True),
    "root fp32_precision bf16": (lambda: setattr(torch.backends, "fp32_precision", "bf16"),
                                 True),
    "float32 matmul precision medium": (lambda: torch.set_float32_matmul_precision("medium"),
                                        True),
    "cuda matmul allow_tf32": (lambda: setattr(torch.backends.cuda.matmul, "allow_tf32", True),
                               False),
    "cudnn TF32 off (legacy switch)": (lambda: setattr(torch.backends.cudnn, "allow_tf32",
                                                            False), False),
    "default dtype float64": (lambda: torch.set_default_dtype(torch.float64), True),
    "oneDNN off": (lambda: setattr(torch.backends.mkldnn, "enabled", False), False),
    "two threads": (lambda: torch.set_num_threads(2), False),
}


def numerics_study(tmp_path):
    path = tmp_path / "numerics.toml"
    path.write_text(NUMERICS_STUDY)
    return load_file(path)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """The study run in this process with torch's defaults: every stored number."""
    tmp = tmp_path_factory.mktemp("clean")
    study = numerics_study(tmp)
    run_study(study, Store(tmp / "clean.db"), device="cpu")
    return snapshot(tmp / "clean.db", "numerics", "full")


@pytest.mark.parametrize("name", REDUCED)
def test_a_reduced_precision_set_before_a_run_changes_no_number_and_is_kept(name, clean_run,
                                                                              tmp_path):
    set_it, changes_cpu_numbers = REDUCED[name]
    study = numerics_study(tmp_path)
    with numerics.preserved():
        set_it()
        before = numerics.snapshot()
        if changes_cpu_numbers:  # the setting matters here: the same trial run bare differs
            trial = plan(study)[0]
            bare = tasks.get("supervised").run(trial.config, trial.seeds, torch.device("cpu"))
            with numerics.trial_settings(1):
                guarded = tasks.get("supervised").run(trial.config, trial.seeds,
                                                      torch.device("cpu"))
            assert bare.metrics != guarded.metrics or bare.blobs != guarded.blobs
        rng = torch.random.get_rng_state()
        run_study(study, Store(tmp_path / "s.db"), device="cpu")
        assert numerics.snapshot() == before  # the caller's setting is still in force
        assert torch.equal(torch.random.get_rng_state(), rng)
    assert snapshot(tmp_path / "s.db", "numerics", "full") == clean_run


def test_a_run_records_the_numeric_settings_of_its_trials(tmp_path):
    study = numerics_study(tmp_path)
    with numerics.preserved():
        torch.backends.fp32_precision = "bf16"
        run_study(study, Store(tmp_path / "s.db"), device="cpu")
    (run,) = Store(tmp_path / "s.db").runs("numerics")
    recorded = run["environment"]["numerics"]
    assert recorded == numerics.trial_record()
    assert set(recorded["fp32_precision"].values()) == {"ieee"}
    assert recorded["default_dtype"] == "float32" and recorded["mkldnn_enabled"] is True
