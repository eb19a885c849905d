"""The result store: studies, runs, trials and curves in an SQLite file or a PostgreSQL
database, through one SQLAlchemy Core code path.

A store's *target* is a file path (SQLite, the embedded default), an `sqlite:///FILE` URL,
or a server URL `postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB`. On PostgreSQL the
suite's tables live in the schema `suite` (a database holding other tables is fine) and
the Optuna studies of the same store in the schema `optuna` (`optuna_storage_for`).

Each finished trial is committed in its own transaction the moment it ends, so a killed
run loses at most the trials still running. An SQLite file is opened in WAL mode with a
busy timeout and `synchronous = FULL`, and every write transaction takes the write lock
first (BEGIN IMMEDIATE), so runs of different studies and readers can share it; on
PostgreSQL they share it as a server does. Two runs of the *same* study on one store are
refused rather than left to race: an OS lock on `<file>.locks/<study>` for SQLite, a
session advisory lock for PostgreSQL; both die with their process, so a killed run never
leaves a stale lock. A file or schema that is not a suite store is never written to.

The schema is versioned (`meta.schema_version`): a fresh store is created at the current
version, an older one is upgraded by the steps of `MIGRATIONS` in order, in one transaction
under a lock (PostgreSQL: an advisory transaction lock; SQLite: BEGIN IMMEDIATE), so that
drivers opening the same fresh or old store at once do it once. A store written by a newer
suite is refused.

Numbers round-trip bit for bit on both: floats are 64-bit columns (`Double`; PostgreSQL's
REAL would be 32-bit) and JSON columns are the text of `json.dumps(sort_keys=True)`.
"""

import fcntl
import hashlib
import json
import os
import re
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Column, Double, ForeignKey, Integer, LargeBinary, Text, exc
from sqlalchemy.dialects import postgresql, sqlite

from suite.errors import StoreError
from suite.store.engine import (
    _lock_key,
    _server_engine,
    _sqlite_engine,
    _unreachable,
    hide_password,
    parse_target,
    public_target,
)
from suite.store.optuna_storage import optuna_storage_for

SCHEMA_VERSION = 2
APP = "suite"
DEFAULT_PATH = "suite.db"
PG_SCHEMA = "suite"  # the suite's tables in a PostgreSQL database
SQLITE_MAGIC = b"SQLite format 3\x00"

METADATA = sa.MetaData()
META = sa.Table("meta", METADATA, Column("key", Text, primary_key=True),
                Column("value", Text, nullable=False))
STUDIES = sa.Table(
    "studies", METADATA, Column("name", Text, primary_key=True),
    Column("variant", Text, primary_key=True), Column("source", Text, nullable=False),
    Column("declaration", Text, nullable=False), Column("task", Text, nullable=False),
    Column("updated", Text, nullable=False))
RUNS = sa.Table(
    "runs", METADATA, Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("study", Text, nullable=False), Column("variant", Text, nullable=False),
    Column("command", Text, nullable=False), Column("started", Text, nullable=False),
    Column("finished", Text), Column("planned", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("completed", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False), Column("environment", Text, nullable=False),
    Column("executor", Text, nullable=False, server_default=""),  # schema 2
    sqlite_autoincrement=True)
TRIALS = sa.Table(
    "trials", METADATA, Column("trial_id", Text, primary_key=True),
    Column("study", Text, nullable=False), Column("variant", Text, nullable=False),
    Column("plan_index", Integer, nullable=False), Column("labels", Text, nullable=False),
    Column("config", Text, nullable=False), Column("config_hash", Text, nullable=False),
    Column("seed_index", Integer, nullable=False), Column("seeds", Text, nullable=False),
    Column("status", Text, nullable=False), Column("metrics", Text, nullable=False),
    Column("artifacts", Text, nullable=False), Column("note", Text, nullable=False),
    Column("started", Text, nullable=False), Column("finished", Text, nullable=False),
    Column("wall_time", Double, nullable=False), Column("device", Text, nullable=False),
    Column("suite_version", Text, nullable=False), Column("run_id", Integer, nullable=False),
    Column("worker", Text, nullable=False, server_default=""),  # schema 2: host:pid
    sa.Index("trials_by_study", "study", "variant"))
CURVES = sa.Table(
    "curves", METADATA,
    Column("trial_id", Text, ForeignKey("trials.trial_id"), primary_key=True),
    Column("name", Text, primary_key=True), Column("epoch", Integer, primary_key=True),
    Column("value", Double))
BLOBS = sa.Table(
    "blobs", METADATA,
    Column("trial_id", Text, ForeignKey("trials.trial_id"), primary_key=True),
    Column("name", Text, primary_key=True), Column("data", LargeBinary, nullable=False))


def _to_v2(conn: sa.Connection, table) -> None:
    """Scale-out provenance: which worker computed a trial, which executor ran a run."""
    conn.exec_driver_sql(f"ALTER TABLE {table('trials')} "
                         "ADD COLUMN worker TEXT NOT NULL DEFAULT ''")
    conn.exec_driver_sql(f"ALTER TABLE {table('runs')} "
                         "ADD COLUMN executor TEXT NOT NULL DEFAULT ''")


# (version reached, step from the version before). A fresh store is created from the
# tables above at SCHEMA_VERSION; an older one runs the steps above its version, in order.
MIGRATIONS = [(2, _to_v2)]
assert MIGRATIONS[-1][0] == SCHEMA_VERSION


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True)


class Store:
    """A suite store at `target` (a file path or a database URL; see the module
    docstring). `create=False` refuses a target with no store yet, and creates nothing.

    How it is named: `url` (the SQLAlchemy URL, password hidden); `label`, what messages,
    reports and command lines print (the file path, or the URL without its password, so it
    can be pasted back to --store); `path`, the SQLite file (None on a server)."""

    def __init__(self, target: str | os.PathLike = DEFAULT_PATH, *, create: bool = True):
        self._url, self.path = parse_target(target)
        self.is_server = self.path is None
        self.url = self._url.render_as_string(hide_password=True)
        self.label = str(self.path) if self.path is not None else public_target(
            self._url.render_as_string(hide_password=False))
        self._schema = PG_SCHEMA if self.is_server else None
        if self.is_server:
            base = _server_engine(self._url)
            self.engine = base.execution_options(schema_translate_map={None: PG_SCHEMA})
        else:
            _refuse_foreign_bytes(self.path, create)
            _refuse_hard_links(self.path)
            base = self.engine = _sqlite_engine(self._url)
        self._base = base
        try:
            self._prepare(create)
        except exc.DBAPIError as e:
            base.dispose()
            raise StoreError(self._unusable(e)) from None
        except BaseException:
            base.dispose()
            raise
        self.mark_killed_runs()

    def _unusable(self, e: exc.DBAPIError) -> str:
        if self.is_server and (e.connection_invalidated or isinstance(e, exc.OperationalError)):
            return _unreachable(self._url, e)
        first = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        return (f"{self.label} is not a usable suite store ({first}); it was left untouched. "
                "Point --store at another " + ("database." if self.is_server else "file."))

    @property
    def trial_target(self) -> str:
        """The target a trial's TrialContext gets, to reach what belongs with the store
        (its Optuna studies): the absolute file path, or the full URL. It may hold a
        password: workers connect with it, and nothing stores or prints it."""
        if self.path is not None:
            return str(self.path.resolve())
        return self._url.render_as_string(hide_password=False)

    @property
    def checkpoint_dir(self) -> str:
        """Where tasks keep resumable scratch state: beside an SQLite file
        (`X.db.checkpoints`), else `~/.cache/suite/checkpoints/<hash of the URL>`."""
        if self.path is not None:
            return str(self.path) + ".checkpoints"
        key = hashlib.sha256(self.label.encode()).hexdigest()[:16]
        return str(Path.home() / ".cache" / "suite" / "checkpoints" / key)

    def optuna_url(self) -> str:
        """The Optuna RDB URL of this store's studies (`optuna_storage_for`)."""
        return optuna_storage_for(self.trial_target)

    # -- schema -----------------------------------------------------------------------------
    def _prepare(self, create: bool) -> None:
        with self.engine.connect() as conn:
            version = self._version(conn)
        if version == SCHEMA_VERSION:
            return
        if version is None and not create:
            raise StoreError(f"No store at {self.label}: run a study first, or pass --store.")
        self._refuse_newer(version)
        if version is None and not self.is_server:
            raw = self._base.raw_connection()  # outside any transaction; kept by the file
            try:
                raw.cursor().execute("PRAGMA journal_mode = WAL")
            finally:
                raw.close()
        with self._write() as conn:
            if self.is_server:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key("schema"))))
            version = self._version(conn)  # another driver may have done it meanwhile
            self._refuse_newer(version)
            if version is None:
                self._create(conn)
            else:
                self._migrate(conn, version)

    def _version(self, conn: sa.Connection) -> int | None:
        """The store's schema version; None when there are no tables yet. Refuses tables
        that are not a suite store."""
        tables = set(sa.inspect(conn).get_table_names(schema=self._schema))
        if not tables:
            return None
        meta = dict(conn.execute(sa.select(META.c.key, META.c.value)).all()) \
            if "meta" in tables else {}
        if meta.get("app") != APP:
            raise StoreError(self._foreign(tables))
        version = meta.get("schema_version", "0")
        if not re.fullmatch(r"[0-9]{1,9}", version):
            raise StoreError(f"The store {self.label} is damaged: its meta row "
                             f"'schema_version' holds {version[:40]!r}, not a version number; "
                             "restore it from a copy, or point --store at another "
                             + ("database." if self.is_server else "file."))
        return int(version)

    def _foreign(self, tables: set[str]) -> str:
        names = ", ".join(sorted(tables))
        if self.is_server:
            return (f"The schema '{PG_SCHEMA}' of {self.url} holds tables that are not a suite "
                    f"store ({names}); it was left untouched. Use another database, or rename "
                    "that schema.")
        return (f"{self.path} is an SQLite database but not a suite store (tables: {names}); "
                "it was left untouched. Point --store at another file.")

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(f"{self.label} was written by a newer suite (schema {version} > "
                             f"{SCHEMA_VERSION}); upgrade suite.")

    def _create(self, conn: sa.Connection) -> None:
        if self.is_server:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{PG_SCHEMA}"')
        # checkfirst would look for the tables in the default schema, where another
        # application's (Optuna's) "studies" or "trials" may be: the schema is known empty.
        METADATA.create_all(conn, checkfirst=False)
        conn.execute(sa.insert(META), [{"key": "app", "value": APP},
                                       {"key": "schema_version", "value": str(SCHEMA_VERSION)}])

    def _migrate(self, conn: sa.Connection, version: int) -> None:
        def table(name: str) -> str:
            return f'"{PG_SCHEMA}".{name}' if self.is_server else name

        for reached, step in MIGRATIONS:
            if reached > version:
                step(conn, table)
        conn.execute(sa.update(META).where(META.c.key == "schema_version")
                     .values(value=str(SCHEMA_VERSION)))

    @contextmanager
    def _write(self):
        """One transaction that commits when the block ends (SQLite: BEGIN IMMEDIATE)."""
        with self.engine.connect() as conn:
            conn.execution_options(suite_write=True)
            with conn.begin():
                yield conn

    def _read(self, statement) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return conn.execute(statement).all()

    def _insert(self, table: sa.Table):
        return (postgresql.insert if self.is_server else sqlite.insert)(table)

    def close(self):
        self._base.dispose()

    # -- writing -------------------------------------------------------------------------
    def save_study(self, name: str, variant: str, source: str, declaration: dict, task: str):
        values = {"source": source, "declaration": _dumps(declaration), "task": task,
                  "updated": now()}
        with self._write() as conn:
            conn.execute(self._insert(STUDIES).values(name=name, variant=variant, **values)
                         .on_conflict_do_update(index_elements=["name", "variant"], set_=values))

    def start_run(self, study: str, variant: str, command: str, planned: int, skipped: int,
                  environment: dict, *, executor: str = "") -> int:
        """Record a run that starts now; returns its id (the database's own sequence).
        A password in `command` is stored as ***."""
        with self._write() as conn:
            result = conn.execute(sa.insert(RUNS).values(
                study=study, variant=variant, command=hide_password(command), started=now(),
                planned=planned, skipped=skipped, status="running",
                environment=_dumps(environment), executor=executor))
            return int(result.inserted_primary_key[0])

    def finish_run(self, run_id: int, completed: int, status: str):
        with self._write() as conn:
            conn.execute(sa.update(RUNS).where(RUNS.c.run_id == run_id)
                         .values(finished=now(), completed=completed, status=status))

    def save_trial(self, row: dict, curves: dict[str, list[float]],
                   blobs: dict[str, bytes] | None = None):
        """Commit one finished trial, its curves and blobs atomically; a duplicate id is
        kept once (the first)."""
        trial_id = row["trial_id"]
        values = {k: _dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        curve_rows = [{"trial_id": trial_id, "name": name, "epoch": i, "value": _none_if_nan(v)}
                      for name, vs in curves.items() for i, v in enumerate(vs)]
        blob_rows = [{"trial_id": trial_id, "name": k, "data": v}
                     for k, v in (blobs or {}).items()]
        with self._write() as conn:
            conn.execute(self._insert(TRIALS).values(values).on_conflict_do_nothing())
            for table, rows in ((CURVES, curve_rows), (BLOBS, blob_rows)):
                if rows:
                    conn.execute(self._insert(table).on_conflict_do_nothing(), rows)

    # -- reading -------------------------------------------------------------------------
    # Text is sorted in Python, not by the database: PostgreSQL's collation may order
    # names differently from SQLite's bytes, and both stores must read back the same.
    def finished_ids(self, study: str, variant: str) -> set[str]:
        rows = self._read(sa.select(TRIALS.c.trial_id).where(
            TRIALS.c.study == study, TRIALS.c.variant == variant))
        return {r[0] for r in rows}

    def trials(self, study: str, variant: str) -> list[dict]:
        """The study variant's trials in plan order (ties, from runs with another seed
        count, by seed index then id)."""
        rows = self._read(sa.select(TRIALS).where(TRIALS.c.study == study,
                                                  TRIALS.c.variant == variant))
        out = [_decode(dict(r._mapping), self.label, f"trials row {r.trial_id!r}")
               for r in rows]
        return sorted(out, key=lambda r: (r["plan_index"], r["seed_index"], r["trial_id"]))

    def curves(self, trial_id: str) -> dict[str, list[float | None]]:
        rows = self._read(sa.select(CURVES.c.name, CURVES.c.value)
                          .where(CURVES.c.trial_id == trial_id).order_by(CURVES.c.epoch))
        out: dict[str, list] = {}
        for name, value in sorted(rows, key=lambda r: r[0]):  # stable: epochs stay in order
            out.setdefault(name, []).append(value)
        return out

    def blob(self, trial_id: str, name: str) -> bytes | None:
        rows = self._read(sa.select(BLOBS.c.data).where(BLOBS.c.trial_id == trial_id,
                                                        BLOBS.c.name == name))
        return bytes(rows[0][0]) if rows else None

    def blob_names(self, trial_id: str) -> list[str]:
        rows = self._read(sa.select(BLOBS.c.name).where(BLOBS.c.trial_id == trial_id))
        return sorted(r[0] for r in rows)

    def declaration(self, study: str, variant: str) -> dict | None:
        """The declaration stored by the last run of a study variant, as parsed from TOML."""
        rows = self._read(sa.select(STUDIES.c.declaration).where(
            STUDIES.c.name == study, STUDIES.c.variant == variant))
        return self._json(rows[0][0], f"studies row ({study!r}, {variant!r}), column "
                          "declaration") if rows else None

    def mean_wall_time(self, study: str, variant: str) -> tuple[float | None, int, str]:
        """(mean wall time, count, which) of the study's stored trials: this variant's,
        else every variant's; (None, 0, '') when none is stored."""
        for which, where in ((variant, TRIALS.c.variant == variant), ("", sa.true())):
            row = self._read(sa.select(sa.func.avg(TRIALS.c.wall_time), sa.func.count())
                             .where(TRIALS.c.study == study, where))[0]
            if row[1]:
                return float(row[0]), int(row[1]), which or "(all variants)"
        return None, 0, ""

    def declared(self, study: str) -> dict | None:
        """The declaration `study` is stored under (any variant: both store the file's
        whole declaration), or None when the store has never run it."""
        rows = self._read(sa.select(STUDIES.c.variant, STUDIES.c.declaration, STUDIES.c.updated)
                          .where(STUDIES.c.name == study))
        if not rows:
            return None
        variant, text, _ = max(rows, key=lambda r: r[2])
        return self._json(text, f"studies row ({study!r}, {variant!r}), column declaration")

    def _json(self, text: str, where: str):
        return _loads(text, self.label, where)

    def forget_study(self, study: str) -> int:
        """Delete every trial (curves, blobs), run and declaration of `study`; returns how
        many trials were deleted. Only for a run that replaces the declaration on purpose."""
        ids = sa.select(TRIALS.c.trial_id).where(TRIALS.c.study == study)
        with self._write() as conn:
            for table in (CURVES, BLOBS):
                conn.execute(sa.delete(table).where(table.c.trial_id.in_(ids)))
            n = conn.execute(sa.delete(TRIALS).where(TRIALS.c.study == study)).rowcount
            conn.execute(sa.delete(RUNS).where(RUNS.c.study == study))
            conn.execute(sa.delete(STUDIES).where(STUDIES.c.name == study))
        return n

    def variants(self, study: str) -> list[str]:
        rows = self._read(sa.select(TRIALS.c.variant).where(TRIALS.c.study == study).distinct())
        return sorted(r[0] for r in rows)

    def studies(self) -> list[dict]:
        cols = [STUDIES.c[k] for k in ("name", "variant", "source", "task", "updated")]
        rows = [dict(r._mapping) for r in self._read(sa.select(*cols))]
        return sorted(rows, key=lambda r: (r["name"], r["variant"]))

    def runs(self, study: str) -> list[dict]:
        rows = self._read(sa.select(RUNS).where(RUNS.c.study == study).order_by(RUNS.c.run_id))
        return [_decode(dict(r._mapping), self.label, f"runs row {r.run_id}") for r in rows]

    def mark_killed_runs(self) -> list[int]:
        """Mark `killed` every run still `running` whose driver is gone: its study lock is
        free (the lock dies with the process that held it). Returns their ids. Done by
        every command that opens the store; skipped quietly where the store cannot be
        written (read-only) or the lock cannot be taken (another driver holds it)."""
        try:
            rows = self._read(sa.select(RUNS.c.run_id, RUNS.c.study)
                              .where(RUNS.c.status == "running"))
        except exc.DBAPIError:
            return []
        killed = []
        for study in sorted({r.study for r in rows}):
            try:
                with self.study_lock(study), self._write() as conn:
                    # status still 'running' under the lock: a run that finished meanwhile
                    # wrote 'finished' before it let the lock go.
                    ids = [r.run_id for r in rows if r.study == study]
                    done = conn.execute(sa.update(RUNS).where(
                        RUNS.c.run_id.in_(ids), RUNS.c.status == "running")
                        .values(status="killed").returning(RUNS.c.run_id)).all()
                    killed += [r[0] for r in done]
            except (StoreError, OSError, exc.DBAPIError):
                continue
        return sorted(killed)

    # -- one writer per study --------------------------------------------------------------
    @contextmanager
    def study_lock(self, study: str):
        """Hold the store's lock for `study`, refused while another run holds it. Both kinds
        die with their process, so a killed run never leaves a stale lock behind."""
        lock = self._server_lock if self.is_server else self._file_lock
        with lock(study):
            yield

    def _busy(self, study: str) -> StoreError:
        return StoreError(f"Another 'suite run' of study '{study}' is writing to {self.label} "
                          "right now; wait for it to finish, or use another --store.")

    @contextmanager
    def _file_lock(self, study: str):
        """An OS lock (flock) on `<store>.locks/<study>`, beside the store file's real path
        (symbolic links resolved), so that every name of one file takes the same lock;
        a file with several hard links is refused when the store is opened."""
        folder = lock_folder(self.path)
        folder.mkdir(exist_ok=True)
        with open(folder / study, "a+b") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise self._busy(study) from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextmanager
    def _server_lock(self, study: str):
        """A session advisory lock, held by a connection of its own for the whole run and
        never returned to the pool: closing it (or the process dying) releases the lock."""
        conn = self._base.connect().execution_options(isolation_level="AUTOCOMMIT")
        conn.detach()
        try:
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(
                _lock_key("study", study)))).scalar_one()
            if not got:
                raise self._busy(study)
            yield
        finally:
            conn.close()


def _none_if_nan(v):
    return None if v is None or v != v else float(v)


JSON_COLUMNS = ("labels", "config", "seeds", "metrics", "artifacts", "environment")


def _decode(row: dict, store: str, where: str) -> dict:
    """The row with its JSON columns parsed; a column that is not JSON is a StoreError
    naming the store, the row and the column."""
    for k in JSON_COLUMNS:
        if k in row and isinstance(row[k], str):
            row[k] = _loads(row[k], store, f"{where}, column {k}")
    return row


def _loads(text: str, store: str, where: str):
    try:
        return json.loads(text)
    except (ValueError, TypeError) as e:
        raise StoreError(f"The store {store} is damaged: its {where} is not valid JSON "
                         f"({e}); restore it from a copy, or point --store at another "
                         "file.") from None


def lock_folder(path: Path) -> Path:
    """Where the study locks of the SQLite store `path` live: `<real path>.locks`."""
    real = Path(os.path.realpath(path))
    return real.with_name(real.name + ".locks")


def _refuse_hard_links(path: Path) -> None:
    """SQLite finds a database's journal, WAL and locks by the name it was opened with:
    two names (hard links) of one file are two databases to it, and writers through both
    would corrupt it (sqlite.org/howtocorrupt.html, 2.5); so would the suite's study lock,
    which is kept beside the name."""
    try:
        links = path.stat().st_nlink
    except FileNotFoundError:
        return
    if links > 1:
        raise StoreError(f"{path} has {links} hard links (names); SQLite cannot lock one "
                         "file opened through several names, so this store could be "
                         "corrupted: remove the other links (or copy the file), then run "
                         "again.")


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
