"""`suite verify`: re-run stored trials and compare them bit for bit."""

import json
import shutil
import sqlite3

import pytest

from suite import cli
from suite.running import verify
from suite.running.runner import run_study
from suite.store import Store
from suite.study import spec

TINY = """
name = "tiny-verify"
metrics = ["val_accuracy", "final_loss"]

[task]
kind = "supervised"

[fixed]
n_train = 120
n_val = 60
n_test = 60
epochs = 2
n_neurons = 3

[scientific]
n_hidden_layers = [1, 2]

[nuisance]
seeds = 2
"""


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    (root / "tiny.toml").write_text(TINY)
    store = Store(root / "s.db")
    run_study(spec.load_file(root / "tiny.toml"), store, device="cpu")
    store.close()
    return root / "s.db"


@pytest.fixture
def copy(stored, tmp_path):
    path = tmp_path / "s.db"
    shutil.copy(stored, path)
    return path


def first_trial(db: sqlite3.Connection) -> str:
    return db.execute("SELECT trial_id FROM trials ORDER BY plan_index LIMIT 1").fetchone()[0]


def test_select_is_seeded_and_takes_all_when_k_covers_them():
    rows = [{"i": i} for i in range(10)]
    a, b = verify.select(rows, 3, seed=0), verify.select(rows, 3, seed=0)
    assert a == b and len(a) == 3 and a == sorted(a, key=lambda r: r["i"])
    assert verify.select(rows, 3, seed=1) != a or verify.select(rows, 3, seed=2) != a
    assert verify.select(rows, 10) == rows and verify.select(rows, None) == rows


def test_a_fresh_store_verifies(stored, capsys):
    assert cli.main(["verify", "--store", str(stored)]) == 0
    out = capsys.readouterr().out
    assert out.count("match    tiny-verify (full)") == 4
    assert "4 of 4 stored trials re-run" in out and "0 mismatch" in out


def test_an_altered_metric_fails_with_status_1(copy, capsys):
    db = sqlite3.connect(copy)
    trial = first_trial(db)
    metrics = json.loads(db.execute("SELECT metrics FROM trials WHERE trial_id = ?",
                                    (trial,)).fetchone()[0])
    metrics["val_accuracy"] += 1e-12  # one ulp-sized change is enough
    db.execute("UPDATE trials SET metrics = ? WHERE trial_id = ?", (json.dumps(metrics), trial))
    db.commit()
    db.close()
    assert cli.main(["verify", "--store", str(copy), "--study", "tiny-verify"]) == 1
    out = capsys.readouterr().out
    assert f"MISMATCH tiny-verify (full) n_hidden_layers=1 seed 0 [{trial}]" in out
    assert "metrics.val_accuracy: stored" in out and "1 mismatch" in out


@pytest.mark.parametrize("change, expected", [
    ("UPDATE curves SET value = value * 2 WHERE trial_id = ? AND name = 'train_loss' "
     "AND epoch = 1", "curves.train_loss: epoch 2: stored"),
    ("UPDATE blobs SET data = CAST('x' AS BLOB) WHERE trial_id = ?", "blobs.state_dict"),
    ("UPDATE trials SET seeds = json_set(seeds, '$.init', 1) WHERE trial_id = ?",
     "seeds: the stored seeds are not derive(root, index)"),
])
def test_altered_curves_blobs_or_seeds_are_mismatches(copy, change, expected):
    db = sqlite3.connect(copy)
    db.execute(change, (first_trial(db),))
    db.commit()
    db.close()
    store = Store(copy, create=False)
    rows = store.trials("tiny-verify", "full")
    check = verify.check_trial(store, rows[0], threads=1)
    store.close()
    assert check.verdict == "mismatch"
    assert any(d.startswith(expected) for d in check.differences), check.differences


def test_sample_and_unknown_study(stored, capsys):
    assert cli.main(["verify", "--store", str(stored), "--sample", "1", "--seed", "3"]) == 0
    assert "1 of 4 stored trials re-run" in capsys.readouterr().out
    assert cli.main(["verify", "--store", str(stored), "--study", "nope"]) == 2
    assert "holds no study named 'nope'" in capsys.readouterr().err


def test_a_device_this_machine_lacks_is_skipped_not_passed(stored, monkeypatch):
    store = Store(stored, create=False)
    row = dict(store.trials("tiny-verify", "full")[0], device="tpu:v9")
    check = verify.check_trial(store, row, threads=1)
    store.close()
    assert check.verdict == "skipped" and "tpu:v9" in check.skipped


def _set_run_numerics(path, settings) -> None:
    """Rewrite every run's recorded numeric settings (None: drop them, as older suites did)."""
    db = sqlite3.connect(path)
    for run_id, env in db.execute("SELECT run_id, environment FROM runs").fetchall():
        env = json.loads(env)
        env.pop("numerics", None)
        if settings is not None:
            env["numerics"] = settings
        db.execute("UPDATE runs SET environment = ? WHERE run_id = ?", (json.dumps(env), run_id))
    db.commit()
    db.close()


def test_a_run_recorded_with_the_trials_numeric_settings_adds_no_note(stored, capsys):
    assert cli.main(["verify", "--store", str(stored), "--sample", "1"]) == 0
    out = capsys.readouterr().out
    assert "note:" not in out and "numeric settings" not in out


@pytest.mark.parametrize("recorded, expected", [
    ("tf32", "its run recorded other numeric settings than trials run with now: "
             "fp32_precision.cuda.conv 'tf32' -> 'ieee'"),
    (None, "its run recorded no numeric settings (an older suite); re-run with "
           "fp32_precision.cuda.matmul 'ieee'"),
])
def test_other_recorded_numeric_settings_are_named_on_every_line(copy, capsys, recorded,
                                                                 expected):
    from suite import numerics

    settings = numerics.trial_record()
    if recorded is not None:
        settings["fp32_precision"]["cuda.conv"] = recorded
    _set_run_numerics(copy, settings if recorded is not None else None)
    assert cli.main(["verify", "--store", str(copy)]) == 0  # the numbers still match on a CPU
    out = capsys.readouterr().out
    assert out.count(f"note: {expected}") == 4
    assert "4 ran under other recorded numeric settings" in out


def test_timings_a_task_declares_are_not_compared_but_everything_else_is():
    from suite import tasks
    from suite.running.verify import outcome_differences

    timings = tasks.get("class-area").timings
    assert "tpe_seconds_to_tol" in timings and "setup_seconds" in timings
    assert "tpe_evals_to_tol" not in timings
    stored = {"status": "ok", "metrics": {"setup_seconds": 0.05, "tpe_evals_to_tol": 7}}
    new = {"status": "ok", "metrics": {"setup_seconds": 0.04, "tpe_evals_to_tol": 7}}
    assert outcome_differences(stored, {}, {}, new, {}, {}, timings) == []
    new["metrics"]["tpe_evals_to_tol"] = 8
    assert outcome_differences(stored, {}, {}, new, {}, {}, timings) == [
        "metrics.tpe_evals_to_tol: stored 7, re-run 8"]
    assert outcome_differences(stored, {}, {}, new, {}, {})[0].startswith(
        "metrics.setup_seconds")
