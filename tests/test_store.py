import sqlite3

import pytest

from suite import registry
from suite.errors import StoreError
from suite.runner import run_study
from suite.store import Store


def test_a_non_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "results.db"
    path.write_bytes(b"precious notes, not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an SQLite database.*left untouched"):
        Store(path)
    assert path.read_bytes() == before


def test_a_foreign_sqlite_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (id INTEGER)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a suite store.*customers"):
        Store(path)
    assert path.read_bytes() == before


def test_a_truncated_store_is_refused(tmp_path, store_path):
    Store(store_path).close()
    data = store_path.read_bytes()
    store_path.write_bytes(data[:100])  # header intact, pages gone
    with pytest.raises(StoreError, match="not a usable suite store"):
        Store(store_path)


def test_reading_a_missing_store_does_not_create_it(store_path):
    with pytest.raises(StoreError, match="No store at"):
        Store(store_path, create=False)
    assert not store_path.exists()


def test_a_store_from_a_newer_schema_is_refused(store_path):
    Store(store_path).close()
    with sqlite3.connect(store_path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = store_path.read_bytes()
    with pytest.raises(StoreError, match="newer suite"):
        Store(store_path)
    assert store_path.read_bytes() == before


def test_a_second_run_of_the_same_study_is_refused_while_the_first_holds_it(store_path):
    first, second = Store(store_path), Store(store_path)
    with first.study_lock("spiral-layers"):
        with pytest.raises(StoreError, match="Another 'suite run' of study 'spiral-layers'"):
            with second.study_lock("spiral-layers"):
                pass
        with second.study_lock("spiral-epochs"):  # another study may share the store
            pass
    with second.study_lock("spiral-layers"):  # free again once released
        pass


def test_saving_a_trial_twice_keeps_one_copy(store_path):
    s = Store(store_path)
    row = {"trial_id": "t1", "study": "s", "variant": "quick", "plan_index": 0, "labels": {},
           "config": {}, "config_hash": "c", "seed_index": 0, "seeds": {}, "status": "ok",
           "metrics": {"a": 0.1}, "artifacts": {}, "note": "", "started": "x", "finished": "y",
           "wall_time": 1.0, "device": "cpu", "suite_version": "0", "run_id": 1}
    s.save_trial(row, {"loss": [1.0, float("nan")]}, {"w": b"\x00\x01"})
    s.save_trial(row | {"metrics": {"a": 0.2}}, {"loss": [2.0]}, {"w": b"\x02"})
    rows = s.trials("s", "quick")
    assert len(rows) == 1 and rows[0]["metrics"] == {"a": 0.1}
    assert s.curves("t1") == {"loss": [1.0, None]} and s.blob("t1", "w") == b"\x00\x01"


def test_a_run_records_its_provenance(store_path):
    s = Store(store_path)
    run_study(registry.load("spiral-layers", quick=True), s, device="cpu", seeds=1,
              command="suite run spiral-layers --quick")
    (run,) = s.runs("spiral-layers")
    assert run["status"] == "finished" and run["completed"] == 2 and run["planned"] == 2
    assert run["command"] == "suite run spiral-layers --quick"
    env = run["environment"]
    assert env["torch"] and env["numpy"] and env["threads"] == 1 and "git_sha" in env
    t = s.trials("spiral-layers", "quick")[0]
    assert t["seeds"]["root"] == 1 and t["seeds"]["index"] == 0 and t["seeds"]["data"] > 0
