"""Integrity (issue 14): no silent merges, no orphans, one sentence for every bad input.

Each test here failed before the change it guards; the README's "Reliability" section
lists them by promise."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import torch
from conftest import REPO_ROOT

from suite.cli import main
from suite.errors import DeclarationError, StoreError
from suite.store import Store
from suite.study import spec

# 2 configurations x 2 seeds, a second on one CPU thread.
TINY = """
name = "tiny"
[task]
kind = "supervised"
[fixed]
n_train = 60
n_val = 20
n_test = 20
epochs = 2
n_neurons = 4
lr = 0.1
[scientific]
n_hidden_layers = [1, 2]
[nuisance]
seeds = 2
"""


def write(tmp_path, text: str, name: str = "tiny.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def refused(capsys, *args) -> str:
    """Run the CLI; assert exit 2 with one sentence on stderr (no traceback); return it."""
    code, _, err = cli(capsys, *args)
    lines = [x for x in err.strip().splitlines() if x.startswith("suite: error:")]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- two declarations under one name --------------------------------------------------------

def test_another_declaration_under_a_taken_name_is_refused_and_the_first_is_kept(
        tmp_path, capsys):
    store = tmp_path / "s.db"
    first = write(tmp_path, TINY)
    assert cli(capsys, "run", first, "--store", store, "--no-progress")[0] == 0
    other = write(tmp_path, TINY.replace("lr = 0.1", "lr = 0.5"), "other.toml")
    msg = refused(capsys, "run", other, "--store", store, "--no-progress")
    assert "already holds a study named 'tiny' with another declaration" in msg
    assert "fixed.lr: stored 0.1, given 0.5" in msg
    assert "another name" in msg and "another --store" in msg and "--replace-declaration" in msg
    s = Store(store, create=False)
    assert s.declared("tiny")["fixed"]["lr"] == 0.1  # the stored declaration is kept
    assert len(s.trials("tiny", "full")) == 4
    s.close()
    code, out, _ = cli(capsys, "results", first, "--store", store, "--format", "json")
    assert code == 0 and [r["n"] for r in json.loads(out)] == [2, 2]  # not 4: nothing merged
    # results of the other file would describe the stored one: refused too
    assert "with another declaration (fixed.lr: stored 0.1, given 0.5)" in refused(
        capsys, "results", other, "--store", store)


def test_replace_declaration_is_explicit_and_deletes_the_old_trials(tmp_path, capsys):
    store = tmp_path / "s.db"
    assert cli(capsys, "run", write(tmp_path, TINY), "--store", store, "--no-progress")[0] == 0
    other = write(tmp_path, TINY.replace("seeds = 2", "seeds = 1"), "other.toml")
    code, _, err = cli(capsys, "run", other, "--store", store, "--no-progress",
                       "--replace-declaration")
    assert code == 0 and "its 4 stored trial(s) were deleted" in err
    s = Store(store, create=False)
    assert s.declared("tiny")["nuisance"]["seeds"] == 1 and len(s.trials("tiny", "full")) == 2
    assert [r["status"] for r in s.runs("tiny")] == ["finished"]
    s.close()


def test_the_same_declaration_from_another_path_resumes(tmp_path, capsys):
    store = tmp_path / "s.db"
    assert cli(capsys, "run", write(tmp_path, TINY), "--store", store, "--no-progress")[0] == 0
    (tmp_path / "copy").mkdir()
    code, out, _ = cli(capsys, "run", write(tmp_path / "copy", TINY), "--store", store,
                       "--no-progress")
    assert code == 0 and "4 already in the store (skipped), 0 run" in out


# -- two configurations under one label -----------------------------------------------------

@pytest.mark.parametrize("axis, message", [
    ('shape = [{ label = "a", n_neurons = 3 }, { label = "a", n_neurons = 5 }]',
     "the label 'a' is also the one of scientific.shape[0]"),
    ('shape = [{ label = 1, n_neurons = 3 }, { label = "1", n_neurons = 5 }]',
     "'scientific.shape[0].label' value of study 'tiny' must be a non-empty string"),
    ('shape = [{ label = "x", n_neurons = 3 }, { label = "y", n_neurons = 3 }]',
     "once resolved (it sets what scientific.shape[0] sets)"),
    ("lr = [1, 1.0]", "once resolved (it sets what scientific.lr[0] sets)"),
    ('shape = [{ n_neurons = 3 }]\nwide = [{ n_neurons = 5 }]',
     "('n_neurons' is also set by the axis 'shape')"),
])
def test_axis_values_that_would_share_a_results_row_are_refused(tmp_path, axis, message):
    text = TINY.replace("n_hidden_layers = [1, 2]", axis).replace("n_neurons = 4\n", "")
    text = text.replace("lr = 0.1\n", "") if axis.startswith("lr") else text
    with pytest.raises(DeclarationError) as e:
        spec.load_file(write(tmp_path, text))
    assert message in str(e.value)


# -- one lock per file, whatever its name ---------------------------------------------------

def test_the_study_lock_holds_through_a_symbolic_link_to_the_store(tmp_path):
    real = tmp_path / "real.db"
    Store(real).close()
    (tmp_path / "link.db").symlink_to(real)
    first, second = Store(real), Store(tmp_path / "link.db")
    with first.study_lock("tiny"):
        with pytest.raises(StoreError, match="Another 'suite run' of study 'tiny'"):
            with second.study_lock("tiny"):
                pass
    first.close(), second.close()


def test_a_store_with_two_hard_links_is_refused(tmp_path, capsys):
    real = tmp_path / "real.db"
    Store(real).close()
    os.link(real, tmp_path / "hard.db")
    for name in ("real.db", "hard.db"):
        msg = refused(capsys, "run", write(tmp_path, TINY), "--store", tmp_path / name)
        assert "has 2 hard links" in msg and "remove the other links" in msg


# -- no orphans -----------------------------------------------------------------------------

SLOW = TINY.replace("epochs = 2", "epochs = 100000").replace("n_train = 60", "n_train = 2000")


def _children(pid: int) -> list[psutil.Process]:
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [k for k in kids if "spawn_main" in " ".join(_cmdline(k))]


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def _start(decl, store, *extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "suite", "run", str(decl), "--store",
                             str(store), "--no-progress", *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_workers_exit_when_their_driver_is_killed(tmp_path):
    proc = _start(write(tmp_path, SLOW), tmp_path / "s.db", "--workers", "2")
    try:
        workers = _wait(lambda: len(_children(proc.pid)) == 2 and _children(proc.pid), 120,
                        "two workers")
        time.sleep(0.5)  # killed while they start (import torch) or train: both must end
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline, alive = time.time() + 30, workers
    while alive and time.time() < deadline:
        alive = [p for p in workers if _running(p)]
        time.sleep(0.2)
    for p in alive:  # do not leave them behind if the test fails
        p.kill()
    assert not alive, f"{len(alive)} worker(s) outlived their killed driver"


def _running(p: psutil.Process) -> bool:
    """Alive and not a zombie (a dead orphan waits for init to reap it)."""
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_a_run_whose_driver_was_killed_is_marked_killed_by_the_next_command(tmp_path,
                                                                            capsys):
    store = tmp_path / "s.db"
    proc = _start(write(tmp_path, SLOW), store)

    def running():
        try:
            return sqlite3.connect(store).execute(
                "SELECT run_id FROM runs WHERE status = 'running'").fetchall()
        except sqlite3.OperationalError:
            return []

    try:
        _wait(running, 120, "the run to start")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert [r[0] for r in running()] == [1]  # what the killed driver left
    code, _, err = cli(capsys, "results", tmp_path / "tiny.toml", "--store", store)
    assert code == 2 and "holds no full trials" in err  # none finished; the run is reaped
    s = Store(store, create=False)
    assert [r["status"] for r in s.runs("tiny")] == ["killed"]
    s.close()


def test_a_running_run_whose_driver_is_alive_is_left_running(tmp_path):
    store = Store(tmp_path / "s.db")
    with store.study_lock("tiny"):
        store.start_run("tiny", "full", "suite run tiny", 4, 0, {})
        other = Store(tmp_path / "s.db")  # another command, while the driver holds the lock
        assert [r["status"] for r in other.runs("tiny")] == ["running"]
        other.close()
    assert Store(tmp_path / "s.db").runs("tiny")[0]["status"] == "killed"


@pytest.mark.parametrize("device", ["bogus", "cuda:x"]
                         + ([] if torch.cuda.is_available() else ["cuda"]))
def test_a_refused_device_creates_no_store(tmp_path, capsys, device):
    store = tmp_path / "s.db"
    msg = refused(capsys, "run", write(tmp_path, TINY), "--store", store, "--device", device)
    assert "device" in msg and not store.exists()


def test_an_empty_file_is_adopted_as_a_new_store(tmp_path, capsys):
    store = tmp_path / "made-by-mktemp"
    store.write_bytes(b"")
    assert cli(capsys, "run", write(tmp_path, TINY), "--store", store, "--no-progress")[0] == 0
    assert store.read_bytes().startswith(b"SQLite format 3\x00")
    assert len(Store(store, create=False).trials("tiny", "full")) == 4


# -- bad input: one sentence, exit 2, no store ----------------------------------------------

BAD = {
    "lr_inf": (("lr = 0.1", "lr = inf"), "'fixed.lr' value of study 'tiny' must be a finite "
               "number. Got inf instead."),
    "lr_minus_inf": (("lr = 0.1", "lr = -inf"), "'fixed.lr' value of study 'tiny' must be a "
                     "finite number. Got -inf instead."),
    "axis_nan": (("n_hidden_layers = [1, 2]", "lr = [0.1, nan]"),
                 "'scientific.lr[1]' value of study 'tiny' must be a finite number"),
    "reference_nan": (("[nuisance]", '[reference]\nmetric = "val_accuracy"\nsource = "x"\n'
                       "values = { 1 = nan }\n[nuisance]"),
                      "'reference.values.1' value of study 'tiny' must be a finite number"),
    "root_seed_huge": (("seeds = 2", "seeds = 2\nroot_seed = 100000000000000000000000"),
                       "'nuisance.root_seed' value of study 'tiny' must be an integer that "
                       "fits in 64 bits"),
    "int_beyond_64_bits": (("epochs = 2", "epochs = 18446744073709551617"),
                           "'fixed.epochs' value of study 'tiny' must be an integer that "
                           "fits in 64 bits"),
    "description_table": (('name = "tiny"', 'name = "tiny"\ndescription = { a = 1 }'),
                          "'description' value of study 'tiny' must be a string"),
    "date": (("lr = 0.1", "lr = 1979-05-27"), "'fixed.lr' value of study 'tiny' must be a "
             "number, string, boolean, list or table (no key takes a date or time)"),
    "epochs_huge": (("epochs = 2", "epochs = 1000000000"),
                    "'fixed.epochs' value of study 'tiny' must be an integer in [1, 100000]"),
    "neurons_huge": (("n_neurons = 4", "n_neurons = 1000000000000"),
                     "'fixed.n_neurons' value of study 'tiny' must be an integer in "
                     "[1, 10,000]"),
    "model_too_big": (("n_neurons = 4", "n_neurons = 10000"),
                      "'n_neurons' value of study 'tiny' must be widths giving at most "
                      "100,000,000 weights in the hidden layers (at the grid point "
                      "n_hidden_layers=2). Got '[10000, 10000] (100,040,000 weights)'"),
    "points_huge": (("n_train = 60", "n_train = 100000000000"),
                    "'fixed.n_train' value of study 'tiny' must be an integer in [2, 10000000]"),
    "batch_huge": (("lr = 0.1", "batch_size = 100000000000"),
                   "'fixed.batch_size' value of study 'tiny' must be an integer in"),
    "seeds_huge": (("seeds = 2", "seeds = 1000000"), "'nuisance.seeds' value of study 'tiny' "
                   "must be a positive integer, at most 10,000"),
    "axis_huge": (("n_hidden_layers = [1, 2]", f"epochs = {list(range(1, 1500))}"),
                  "'scientific.epochs' value of study 'tiny' must be a list of at most 1000"),
    "quick_key_path": (("[nuisance]", "[quick]\nfixed = { epochs = 0 }\n[nuisance]"),
                       "'quick.fixed.epochs' value of study 'tiny' must be an integer in"),
    "quick_seeds": (("[nuisance]", "[quick]\nseeds = 0\n[nuisance]"),
                    "'quick.seeds' value of study 'tiny' must be a positive integer"),
    "long_name": (('name = "tiny"', f'name = "{"a" * 300}"'),
                  "'name' value of study '" + "a" * 300 + "' must be at most 100 characters"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_value_is_one_located_sentence_before_any_store(tmp_path, capsys, case):
    (old, new), expected = BAD[case]
    assert old in TINY
    text = TINY.replace(old, new, 1)
    if case == "axis_huge":  # epochs varied: not fixed too
        text = text.replace("epochs = 2\n", "")
    path = write(tmp_path, text)
    store = tmp_path / "s.db"
    msg = refused(capsys, "run", path, "--store", store)
    assert msg.startswith(f"suite: error: {path}: ") and expected in msg, msg
    assert not store.exists()


def test_every_size_parameter_of_every_task_has_an_upper_bound():
    """No integer (or width) parameter of a shipped task accepts 10**12: each kind of size
    has its documented bound (suite.params.SIZE_LIMITS)."""
    from suite import tasks

    unbounded = [f"{kind}.{name}" for kind, task in tasks.TASKS.items()
                 for name, p in task.params.items()
                 if _sized(p.default) and (p.check(10**12) or p.check([10**12]))]
    assert unbounded == []


def _sized(default) -> bool:
    """An integer, or a list of integers (widths), by its default."""
    values = default if isinstance(default, list) else [default]
    return bool(values) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def test_a_grid_too_large_is_refused_at_validation(tmp_path):
    axes = "\n".join(f"{k} = {list(range(2, 61))}" for k in ("epochs", "n_train", "n_val"))
    text = TINY.replace("n_hidden_layers = [1, 2]", axes)
    for k in ("epochs = 2\n", "n_train = 60\n", "n_val = 20\n"):
        text = text.replace(k, "")
    with pytest.raises(DeclarationError, match=r"a grid of at most 100,000 points. Got "
                       r"'59 x 59 x 59 = 205,379 points'"):
        spec.load_file(write(tmp_path, text))


@pytest.mark.parametrize("content, message", [
    (None, "is a folder, not a study file"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "is a binary file, not a study file"),
    ('name = "caf\xe9"\n'.encode("latin-1"), "not UTF-8 text (byte 11 is b'\\xe9')"),
])
def test_a_study_path_that_is_not_a_text_file_is_one_sentence(tmp_path, capsys, content,
                                                              message):
    path = tmp_path / "study.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert message in refused(capsys, "run", path, "--store", tmp_path / "s.db")
    assert not (tmp_path / "s.db").exists()


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + textwrap.dedent(TINY).encode())
    assert spec.load_file(path).name == "tiny"


def test_a_large_plan_prints_its_size_at_once_and_needs_yes(tmp_path, capsys):
    path = write(tmp_path, TINY.replace("seeds = 2", "seeds = 6000"))
    msg = refused(capsys, "run", path, "--store", tmp_path / "s.db")
    assert "tiny (full): 12,000 trials planned (2 configurations x 6000 seeds), more than " \
        "10,000: pass --yes to run them" in msg
    assert not (tmp_path / "s.db").exists()
    assert "--seeds must be at most 10,000" in refused(
        capsys, "run", path, "--store", tmp_path / "s.db", "--seeds", "20000", "--yes")
    from suite.study.planning import check_size

    assert check_size(spec.load_file(path), None, yes=True).startswith(
        "tiny (full): 12,000 trials planned")


def test_run_prints_the_plan_and_an_estimate_from_stored_trials(tmp_path, capsys):
    path, store = write(tmp_path, TINY), tmp_path / "s.db"
    code, out, _ = cli(capsys, "run", path, "--store", store, "--no-progress", "--seeds", "1")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "tiny (full): 2 trials planned (2 configurations x 1 seeds)."
    assert lines[1].startswith("2 to run, 0 already in the store; no estimate yet")
    code, out, _ = cli(capsys, "run", path, "--store", store, "--no-progress")
    assert code == 0 and "2 to run, 2 already in the store; estimate ~" in out
    assert "the mean of 2 stored full trial(s), on 1 slot(s)" in out


def test_report_out_at_a_file_is_one_sentence(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "site"):
        msg = refused(capsys, "report", "--store", tmp_path / "none.db", "--out", out)
        assert "a file, not a folder" in msg
    assert not (tmp_path / "none.db").exists()


def test_corrupt_store_metadata_names_the_store_and_the_row(tmp_path, capsys):
    store = tmp_path / "s.db"
    assert cli(capsys, "run", write(tmp_path, TINY), "--store", store, "--no-progress")[0] == 0
    db = sqlite3.connect(store)
    trial = db.execute("SELECT trial_id FROM trials ORDER BY trial_id").fetchone()[0]
    db.execute("UPDATE trials SET metrics = '{broken' WHERE trial_id = ?", (trial,))
    db.commit()
    msg = refused(capsys, "results", tmp_path / "tiny.toml", "--store", store)
    assert f"The store {store} is damaged: its trials row '{trial}', column metrics is not " \
        "valid JSON" in msg
    db.execute("UPDATE studies SET declaration = 'nope'")
    db.commit()
    assert "its studies row ('tiny', 'full'), column declaration is not valid JSON" in refused(
        capsys, "run", tmp_path / "tiny.toml", "--store", store)
    db.execute("UPDATE meta SET value = 'two' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    assert f"The store {store} is damaged: its meta row 'schema_version' holds 'two'" in \
        refused(capsys, "results", tmp_path / "tiny.toml", "--store", store)


def test_a_read_only_store_says_so(tmp_path, capsys):
    store = tmp_path / "s.db"
    assert cli(capsys, "run", write(tmp_path, TINY), "--store", store, "--no-progress",
               "--seeds", "1")[0] == 0
    # root ignores file modes; the immutable attribute binds it too
    locked = subprocess.run(["chattr", "+i", str(store)], capture_output=True).returncode == 0
    if not locked:
        if os.geteuid() == 0:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        store.chmod(0o444)
    try:
        msg = refused(capsys, "run", tmp_path / "tiny.toml", "--store", store, "--no-progress")
        assert f"the store {store} is read-only" in msg and "make it writable" in msg
        code, out, _ = cli(capsys, "results", tmp_path / "tiny.toml", "--store", store)
        assert code == 0 and "n_hidden_layers" in out  # reading still works
    finally:
        if locked:
            subprocess.run(["chattr", "-i", str(store)], check=True)
