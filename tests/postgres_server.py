"""A PostgreSQL server for the store tests, and a fresh database per test.

The server is `$SUITE_TEST_POSTGRES` when set (CI starts Debian's cluster and sets it; see
`.ci/run`), else a private throwaway one started here from the installed PostgreSQL
binaries (initdb into a temporary folder, as the `postgres` user when running as root;
loopback only, trust authentication, stopped at the end of the session). `Unavailable`
says why there is none.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

PASSWORD = "pw-must-not-leak"  # a private server trusts loopback: any password connects


class Unavailable(Exception):
    """No PostgreSQL server could be used; the message says why."""


def _binary(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateServer:
    """A throwaway cluster in a temporary folder, on a free loopback port."""

    def __init__(self):
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if not (initdb and pg_ctl):
            raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl) are installed; "
                              "apt install postgresql, or set SUITE_TEST_POSTGRES")
        self.pg_ctl, self.port = pg_ctl, _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="suite-pg-"))
        self.prefix = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as `postgres`
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no 'postgres' user to run "
                                  "a private server as") from None
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        data = self.folder / "data"
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        try:
            self._run(initdb, "-D", data, "-U", "suite", "--auth=trust", "-E", "UTF8")
            self._run(pg_ctl, "-D", data, "-o", options, "-l", self.folder / "log", "-w",
                      "start")
        except BaseException:
            self.stop()
            raise
        self.url = f"postgresql+psycopg://suite:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd):
        proc = subprocess.run([*self.prefix, *map(str, cmd)], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text()[-500:] if log.exists() else ""
            raise Unavailable(f"{Path(str(cmd[0])).name} failed: {proc.stderr.strip()} {tail}")

    def stop(self):
        subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.folder / "data"), "-m",
                        "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def check(url: str) -> None:
    """Raise Unavailable unless `url` connects and may create databases."""
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            can = conn.execute(sa.text("SELECT rolcreatedb OR rolsuper FROM pg_roles "
                                       "WHERE rolname = current_user")).scalar()
        engine.dispose()
    except Exception as e:  # any reason: the message carries it
        raise Unavailable(f"cannot use {make_url(url).render_as_string(True)}: "
                          f"{str(e).splitlines()[0]}") from None
    if not can:
        raise Unavailable(f"the role of {make_url(url).render_as_string(True)} may not "
                          "create databases (ALTER ROLE ... CREATEDB)")


@contextmanager
def fresh_database(server_url: str):
    """A new empty database on the server, as a URL; dropped afterwards."""
    name = f"suite_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:  # FORCE: a driver a test killed may linger a moment
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
