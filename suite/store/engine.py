"""Store targets and the SQLAlchemy engines that open them.

A target is a file path (SQLite), an `sqlite:///FILE` URL or a server URL
`postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB`; `parse_target` reads it, `hide_password`
and `public_target` make it printable, and the engines here open it: SQLite in WAL mode
with a busy timeout, `synchronous = FULL` and BEGIN IMMEDIATE for writers, PostgreSQL with
a connect timeout and pre-ping. `_lock_key` names the advisory locks of both the store and
its Optuna storage.
"""

import hashlib
import os
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url

from suite.errors import StoreError

SERVER_DRIVER = "postgresql+psycopg"
URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# -- targets --------------------------------------------------------------------------------

def parse_target(target: str | os.PathLike) -> tuple[URL, Path | None]:
    """(SQLAlchemy URL, SQLite file or None) for a store target: a file path, an
    `sqlite:///FILE` URL or a PostgreSQL URL (`postgresql://` means psycopg)."""
    text = os.fspath(target)
    if not URL_RE.match(text):
        return URL.create("sqlite", database=text), Path(text)
    try:
        url = make_url(text)
    except (exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreError(f"{hide_password(text)} is not a database URL; give a file path, "
                         "sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB.") from None
    if "@" in (url.host or ""):  # the rest of the password would show as the host
        raise StoreError("The store URL has more than one '@' (not shown: it may hold the "
                         "password); write an '@' in the user name or password as %40.")
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise StoreError(f"The store {text} names no file; give sqlite:///FILE (a store "
                             "in memory would be lost at exit).")
        return url, Path(url.database)
    if backend in ("postgresql", "postgres") and url.get_driver_name() in (
            "psycopg", "psycopg2", "postgres", "postgresql", ""):
        if "password" in url.query:  # libpq takes it there too: move it where it is hidden
            given = url.query["password"]
            url = url.set(password=given[-1] if isinstance(given, tuple) else given)
            url = url.difference_update_query(["password"])
        return url.set(drivername=SERVER_DRIVER), None
    raise StoreError(f"The store URL {url.render_as_string(hide_password=True)} is of a kind "
                     "the suite does not support; give a file path, sqlite:///FILE or "
                     "postgresql+psycopg://USER@HOST:PORT/DB.")


def hide_password(text: str) -> str:
    """`text` (a URL or not) with the password of a URL (`USER:PASSWORD@`, or the query's
    `password=`) replaced by ***."""
    text = re.sub(r"([?&]password=)[^&\s'\"]*", r"\1***", text)
    return re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)


def public_target(text: str) -> str:
    """A store or Optuna target that can be printed and pasted back: a URL without its
    password (psycopg then reads it from PGPASSWORD or ~/.pgpass), a path as it is."""
    if not URL_RE.match(text):
        return text
    try:
        url = make_url(text)
    except (exc.ArgumentError, ValueError):
        return hide_password(text)
    return URL.create(url.drivername, url.username, None, url.host, url.port, url.database,
                      url.query).render_as_string(hide_password=False)



def _lock_key(kind: str, name: str = "") -> int:
    """A 64-bit advisory lock key for the suite's `kind` of lock on `name`."""
    digest = hashlib.sha256(f"suite/{kind}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# -- engines --------------------------------------------------------------------------------

def _sqlite_engine(url: URL) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 60})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn, _record) -> None:
    # The suite emits BEGIN itself (_sqlite_begin): the sqlite3 module's own would not
    # cover DDL, and could not take the write lock up front.
    dbapi_conn.isolation_level = None
    dbapi_conn.execute("PRAGMA busy_timeout = 60000")
    dbapi_conn.execute("PRAGMA synchronous = FULL")  # a committed trial survives power loss


def _sqlite_begin(conn: sa.Connection) -> None:
    # A writer takes the write lock before reading anything (BEGIN IMMEDIATE), so it waits
    # for other writers up front instead of failing half-way with "database is locked".
    write = conn.get_execution_options().get("suite_write")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _server_engine(url: URL) -> sa.Engine:
    try:
        return sa.create_engine(url, connect_args={"connect_timeout": 10}, pool_pre_ping=True)
    except ImportError:
        raise StoreError(f"The store {url.render_as_string(hide_password=True)} needs the "
                         "PostgreSQL driver psycopg, which is not installed: "
                         "pip install 'suite[postgres]'.") from None


def _unreachable(url: URL, e: exc.DBAPIError) -> str:
    first = str(e.orig or e).strip().splitlines()[0]
    reason = re.sub(r"^.*failed:\s*(FATAL:\s*)?", "", first).strip().rstrip(".")
    return (f"Cannot open the store {url.render_as_string(hide_password=True)} ({reason}): "
            "start the server, or fix the URL's host, port, user, password or database name.")
