import socket
import sqlite3
import sys

import pytest

from suite.cli import main
from suite.errors import StoreError
from suite.running.runner import run_study
from suite.store import Store, hide_password, parse_target
from suite.study import shipped


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
    check_study_lock(Store(store_path), Store(store_path))


def check_study_lock(first: Store, second: Store) -> None:
    """One study's lock refuses a second holder, not another study's, and is released."""
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
    run_study(shipped.load("spiral-layers", quick=True), s, device="cpu", seeds=1,
              command="suite run spiral-layers --quick")
    (run,) = s.runs("spiral-layers")
    assert run["status"] == "finished" and run["completed"] == 2 and run["planned"] == 2
    assert run["command"] == "suite run spiral-layers --quick"
    env = run["environment"]
    assert env["torch"] and env["numpy"] and env["threads"] == 1 and "git_sha" in env
    t = s.trials("spiral-layers", "quick")[0]
    assert t["seeds"]["root"] == 1 and t["seeds"]["index"] == 0 and t["seeds"]["data"] > 0


# The schema of version 1, as the suite before schema versions 2 wrote it.
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies (
    name TEXT NOT NULL, variant TEXT NOT NULL, source TEXT NOT NULL,
    declaration TEXT NOT NULL, task TEXT NOT NULL, updated TEXT NOT NULL,
    PRIMARY KEY (name, variant));
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, study TEXT NOT NULL, variant TEXT NOT NULL,
    command TEXT NOT NULL, started TEXT NOT NULL, finished TEXT, planned INTEGER NOT NULL,
    skipped INTEGER NOT NULL, completed INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
    environment TEXT NOT NULL);
CREATE TABLE trials (
    trial_id TEXT PRIMARY KEY, study TEXT NOT NULL, variant TEXT NOT NULL,
    plan_index INTEGER NOT NULL, labels TEXT NOT NULL, config TEXT NOT NULL,
    config_hash TEXT NOT NULL, seed_index INTEGER NOT NULL, seeds TEXT NOT NULL,
    status TEXT NOT NULL, metrics TEXT NOT NULL, artifacts TEXT NOT NULL, note TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT NOT NULL, wall_time REAL NOT NULL,
    device TEXT NOT NULL, suite_version TEXT NOT NULL, run_id INTEGER NOT NULL);
CREATE INDEX trials_by_study ON trials (study, variant);
CREATE TABLE curves (
    trial_id TEXT NOT NULL REFERENCES trials (trial_id), name TEXT NOT NULL,
    epoch INTEGER NOT NULL, value REAL, PRIMARY KEY (trial_id, name, epoch));
CREATE TABLE blobs (
    trial_id TEXT NOT NULL REFERENCES trials (trial_id), name TEXT NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (trial_id, name));
"""


def v1_rows() -> list[tuple[str, dict]]:
    """(statement, named parameters) that fill a version-1 store with one run and trial."""
    return [
        ("INSERT INTO meta VALUES ('app', 'suite'), ('schema_version', '1')", {}),
        ("INSERT INTO runs (study, variant, command, started, planned, skipped, status, "
         "environment) VALUES ('s', 'quick', 'suite run s', 'x', 1, 0, 'finished', '{}')", {}),
        ("INSERT INTO trials VALUES ('t1', 's', 'quick', 0, '{}', '{}', 'c', 0, '{}', 'ok', "
         "'{\"a\": 0.5}', '{}', '', 'x', 'y', 0.1, 'cpu', '0.1.0', 1)", {}),
        ("INSERT INTO curves VALUES ('t1', 'loss', 0, 1.5)", {}),
    ]


def test_a_version_1_store_is_upgraded_and_keeps_its_rows(store_path):
    with sqlite3.connect(store_path) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(V1_SCHEMA)
        for statement, params in v1_rows():
            db.execute(statement, params)
    s = Store(store_path)
    (row,) = s.trials("s", "quick")
    assert row["worker"] == "" and row["metrics"] == {"a": 0.5} and s.curves("t1") == {
        "loss": [1.5]}
    assert s.runs("s")[0]["executor"] == ""
    run_id = s.start_run("s", "quick", "suite run s", 1, 1, {}, executor="local")
    s.save_trial(row | {"trial_id": "t2", "worker": "host:1", "run_id": run_id}, {})
    assert [r["worker"] for r in s.trials("s", "quick")] == ["", "host:1"]
    assert s.runs("s")[1]["executor"] == "local" and run_id == 2
    s.close()
    with sqlite3.connect(store_path) as db:
        assert dict(db.execute("SELECT key, value FROM meta"))["schema_version"] == "2"


def test_a_store_url_names_the_same_file_as_its_path(store_path):
    Store(f"sqlite:///{store_path}").save_study("s", "quick", "x.toml", {"a": 1}, "t")
    s = Store(store_path, create=False)
    assert s.declaration("s", "quick") == {"a": 1} and s.path == store_path
    assert s.label == str(store_path) and s.url == f"sqlite:///{store_path}"


@pytest.mark.parametrize("target, message", [
    ("mysql://u:secret@h/db", "kind the suite does not support"),
    ("sqlite://", "names no file"),
    ("postgresql+psycopg://u:secret@h:notaport/db", "is not a database URL"),
    ("postgresql+psycopg://u:pw@secret@127.0.0.1:1/db", "write an '@' .* as %40"),
])
def test_unsupported_store_urls_are_refused(target, message):
    with pytest.raises(StoreError, match=message) as e:
        Store(target)
    assert "secret" not in str(e.value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_malformed_store_url_is_one_sentence_without_the_password(capsys):
    url = "postgresql+psycopg://suite:secret-pw@127.0.0.1:port/db"
    assert main(["results", "spiral-layers", "--store", url]) == 2
    err = capsys.readouterr().err
    assert "is not a database URL" in err and "Traceback" not in err and "secret" not in err


def test_a_password_in_the_query_is_hidden_like_one_before_the_host(capsys):
    url = f"postgresql://suite@127.0.0.1:{free_port()}/nowhere?password=secret-pw&sslmode=allow"
    assert main(["results", "spiral-layers", "--store", url]) == 2
    err = capsys.readouterr().err
    assert "Cannot open the store postgresql+psycopg://suite:***@127.0.0.1" in err
    assert "sslmode=allow" in err and "secret-pw" not in err
    assert hide_password(f"suite run x --store '{url}'") == \
        f"suite run x --store '{url.replace('secret-pw', '***')}'"
    target, _ = parse_target(url)  # psycopg still gets it, from the URL's password
    assert target.password == "secret-pw" and "password" not in target.query


def test_an_unreachable_server_is_one_sentence_without_the_password(capsys):
    url = f"postgresql+psycopg://suite:secret-pw@127.0.0.1:{free_port()}/nowhere"
    assert main(["results", "spiral-layers", "--store", url]) == 2
    err = capsys.readouterr().err
    assert "Cannot open the store postgresql+psycopg://suite:***@127.0.0.1" in err
    assert "start the server" in err and "Traceback" not in err and "secret-pw" not in err


def test_a_missing_driver_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg fails
    with pytest.raises(StoreError, match=r"pip install 'suite\[postgres\]'"):
        Store("postgresql+psycopg://suite:pw@127.0.0.1:1/db")


def test_suite_store_sets_the_default_store(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SUITE_STORE", str(tmp_path / "env.db"))
    assert main(["results", "spiral-layers"]) == 2
    assert f"No store at {tmp_path / 'env.db'}" in capsys.readouterr().err
