"""The embedded result store: one SQLite file holding studies, runs, trials and curves.

Each finished trial is committed in its own transaction the moment it ends, so a killed
run loses at most the trials still running. The file is opened in WAL mode with a busy
timeout, so runs of different studies and readers can share it; two runs of the *same*
study on one store are refused (an OS lock that dies with its process) rather than left
to race. A file at the path that is not a suite store is never written to.
"""

import fcntl
import json
import os
import sqlite3
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from suite.errors import StoreError

SCHEMA_VERSION = 1
APP = "suite"
DEFAULT_PATH = "suite.db"

SCHEMA = """
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

SQLITE_MAGIC = b"SQLite format 3\x00"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True)


class Store:
    """A suite store at `path`. `create=False` refuses a path with no store yet."""

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH, *, create: bool = True):
        self.path = Path(path)
        _refuse_foreign_bytes(self.path, create)
        try:
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout = 60000")
            self._prepare()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a usable suite store ({e}); it was left "
                             "untouched. Point --store at another file.") from None

    def _tables(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _prepare(self):
        if not self._tables():
            self.db.execute("PRAGMA journal_mode = WAL")
            with self.transaction() as db:
                if not self._tables():  # another process may have created it meanwhile
                    for stmt in SCHEMA.strip().split(";"):
                        if stmt.strip():
                            db.execute(stmt)
                    db.executemany("INSERT INTO meta VALUES (?, ?)",
                                   [("app", APP), ("schema_version", str(SCHEMA_VERSION))])
        tables = self._tables()
        meta = dict(self.db.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        if meta.get("app") != APP:
            raise StoreError(f"{self.path} is an SQLite database but not a suite store (tables: "
                             f"{', '.join(sorted(tables))}); it was left untouched. "
                             "Point --store at another file.")
        if int(meta.get("schema_version", 0)) > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer suite (schema "
                             f"{meta['schema_version']} > {SCHEMA_VERSION}); upgrade suite.")
        self.db.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self):
        self.db.close()

    # -- writing -------------------------------------------------------------------------
    def save_study(self, name: str, variant: str, source: str, declaration: dict, task: str):
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO studies VALUES (?, ?, ?, ?, ?, ?)",
                       (name, variant, source, _dumps(declaration), task, now()))

    def start_run(self, study: str, variant: str, command: str, planned: int, skipped: int,
                  environment: dict) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (study, variant, command, started, planned, skipped, status,"
                " environment) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
                (study, variant, command, now(), planned, skipped, _dumps(environment)))
            return cur.lastrowid

    def finish_run(self, run_id: int, completed: int, status: str):
        with self.transaction() as db:
            db.execute("UPDATE runs SET finished = ?, completed = ?, status = ? WHERE run_id = ?",
                       (now(), completed, status, run_id))

    def save_trial(self, row: dict, curves: dict[str, list[float]],
                   blobs: dict[str, bytes] | None = None):
        """Commit one finished trial, its curves and blobs atomically; a duplicate id is
        kept once."""
        with self.transaction() as db:
            cols = ", ".join(row)
            db.execute(f"INSERT OR IGNORE INTO trials ({cols}) VALUES "
                       f"({', '.join('?' * len(row))})",
                       [_dumps(v) if isinstance(v, dict | list) else v for v in row.values()])
            db.executemany("INSERT OR IGNORE INTO curves VALUES (?, ?, ?, ?)",
                           [(row["trial_id"], name, i, _none_if_nan(v))
                            for name, values in curves.items() for i, v in enumerate(values)])
            db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)",
                           [(row["trial_id"], k, v) for k, v in (blobs or {}).items()])

    # -- reading -------------------------------------------------------------------------
    def finished_ids(self, study: str, variant: str) -> set[str]:
        rows = self.db.execute("SELECT trial_id FROM trials WHERE study = ? AND variant = ?",
                               (study, variant))
        return {r[0] for r in rows}

    def trials(self, study: str, variant: str) -> list[dict]:
        cur = self.db.execute("SELECT * FROM trials WHERE study = ? AND variant = ? "
                              "ORDER BY plan_index", (study, variant))
        names = [d[0] for d in cur.description]
        return [_decode(dict(zip(names, r, strict=True))) for r in cur]

    def curves(self, trial_id: str) -> dict[str, list[float | None]]:
        out: dict[str, list] = {}
        for name, value in self.db.execute(
                "SELECT name, value FROM curves WHERE trial_id = ? ORDER BY name, epoch",
                (trial_id,)):
            out.setdefault(name, []).append(value)
        return out

    def blob(self, trial_id: str, name: str) -> bytes | None:
        r = self.db.execute("SELECT data FROM blobs WHERE trial_id = ? AND name = ?",
                            (trial_id, name)).fetchone()
        return r[0] if r else None

    def blob_names(self, trial_id: str) -> list[str]:
        rows = self.db.execute("SELECT name FROM blobs WHERE trial_id = ? ORDER BY name",
                               (trial_id,))
        return [r[0] for r in rows]

    def declaration(self, study: str, variant: str) -> dict | None:
        """The declaration stored by the last run of a study variant, as parsed from TOML."""
        r = self.db.execute("SELECT declaration FROM studies WHERE name = ? AND variant = ?",
                            (study, variant)).fetchone()
        return json.loads(r[0]) if r else None

    def variants(self, study: str) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT variant FROM trials WHERE study = ?", (study,))
        return sorted(r[0] for r in rows)

    def studies(self) -> list[dict]:
        cur = self.db.execute("SELECT name, variant, source, task, updated FROM studies "
                              "ORDER BY name, variant")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def runs(self, study: str) -> list[dict]:
        cur = self.db.execute("SELECT * FROM runs WHERE study = ? ORDER BY run_id", (study,))
        names = [d[0] for d in cur.description]
        return [_decode(dict(zip(names, r, strict=True))) for r in cur]

    # -- one writer per study --------------------------------------------------------------
    @contextmanager
    def study_lock(self, study: str):
        """Hold the store's lock for `study`, refused while another run holds it. An OS
        lock (flock) on `<store>.locks/<study>`: it dies with its process, so a killed run
        never leaves a stale lock behind."""
        folder = self.path.with_name(self.path.name + ".locks")
        folder.mkdir(exist_ok=True)
        with open(folder / study, "a+b") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StoreError(f"Another 'suite run' of study '{study}' is writing to "
                                 f"{self.path} right now; wait for it to finish, or use "
                                 "another --store.") from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _none_if_nan(v):
    return None if v is None or v != v else float(v)


JSON_COLUMNS = ("labels", "config", "seeds", "metrics", "artifacts", "environment")


def _decode(row: dict) -> dict:
    for k in JSON_COLUMNS:
        if k in row and isinstance(row[k], str):
            row[k] = json.loads(row[k])
    return row


def _refuse_foreign_bytes(path: Path, create: bool):
    if not path.exists():
        if not create:
            raise StoreError(f"No store at {path}: run a study first, or pass --store.")
        return
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a store file; pass --store FILE.")
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head and head != SQLITE_MAGIC:
        raise StoreError(f"{path} is not an SQLite database (it starts with {head[:8]!r}); "
                         "it was left untouched. Point --store at another file.")
