"""The Optuna storage that belongs with a store: where it lives and how it is opened.

A PostgreSQL store keeps its Optuna studies in the same database, schema `optuna`; an SQLite
store in the sibling file `X.optuna.db` (Optuna's tables `studies` and `trials` would clash
with the suite's in one file).
"""

import os
import re

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url

from suite.errors import StoreError
from suite.store.engine import _lock_key, _server_engine, _unreachable, parse_target

OPTUNA_SCHEMA = "optuna"  # Optuna's tables in the same database (names clash with ours)


def optuna_storage_for(target: str | os.PathLike) -> str:
    """The Optuna RDB URL that belongs with the store at `target`. A PostgreSQL store: the
    same database, schema `optuna` (via psycopg's `options=-csearch_path=optuna`). An
    SQLite store: the sibling file `X.optuna.db`, since Optuna's tables `studies` and
    `trials` would clash with the suite's in one file. Open it with `rdb_storage`."""
    url, path = parse_target(target)
    if path is not None:
        return f"sqlite:///{path.with_name(f'{path.stem}.optuna.db')}"
    options = " ".join(filter(None, [url.query.get("options", ""),
                                     f"-csearch_path={OPTUNA_SCHEMA}"]))
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


def rdb_storage(url: str, **engine_kwargs):
    """Optuna's RDBStorage at `url`. On SQLite: a busy timeout and WAL (see
    `_optuna_sqlite_pragmas`). On PostgreSQL the schema named in the URL's
    search_path is created first, and both happen under an advisory lock: Optuna creates
    its tables on first use, and several workers doing that at once on a fresh database
    would race on CREATE TABLE."""
    import optuna

    if url.startswith("sqlite"):
        storage = optuna.storages.RDBStorage(
            url, engine_kwargs={"connect_args": {"timeout": 60}, **engine_kwargs})
        event.listen(storage.engine, "connect", _optuna_sqlite_pragmas)
        storage.engine.dispose()  # reconnect with the pragmas
        return storage
    if not url.startswith("postgresql"):
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs or None)
    engine = _server_engine(make_url(url))
    try:
        # A session lock on an autocommit connection: the schema must be committed before
        # Optuna's own connections can create tables in it.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.select(sa.func.pg_advisory_lock(_lock_key("optuna"))))
            schema = re.search(r"search_path=(\w+)", make_url(url).query.get("options", ""))
            if schema:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema.group(1)}"')
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs or None)
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(_lock_key("optuna"))))
    except exc.OperationalError as e:
        raise StoreError(_unreachable(make_url(url), e)) from None
    finally:
        engine.dispose()


def _optuna_sqlite_pragmas(connection, _record) -> None:
    """WAL and one sync per checkpoint: Optuna commits every trial on its own, and with
    the default rollback journal each commit waits for two disk syncs."""
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")


def close_rdb_storage(storage) -> None:
    """Close the database connections of an Optuna RDBStorage (`rdb_storage`); anything
    else (None, in-memory, a journal) is left alone. Its engine's pool would otherwise keep
    them open as long as the process lives: on a long-lived Dask worker, more with every
    search trial, until the server refuses new clients. The storage stays usable (it
    reconnects)."""
    engine = getattr(storage, "engine", None)
    if isinstance(engine, sa.Engine):
        storage.remove_session()
        engine.dispose()
