"""The store on a PostgreSQL server: the same results as SQLite, resume, concurrent drivers,
the report, the schema's versions and refusals, and the Optuna studies in the same database.

Each test gets a fresh database on the test server (`postgres_url`, see conftest.py); the
tests are skipped with the reason when no server can be started, and fail under CI.
"""

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from conftest import REPO_ROOT, run_cli
from postgres_server import fresh_database
from sqlalchemy.engine import make_url
from test_runner import SLOW_STUDY
from test_store import check_study_lock

from suite import cli, tasks
from suite.errors import StoreError
from suite.seeding import derive
from suite.store import SCHEMA_VERSION, Store, optuna_storage_for, rdb_storage
from suite.study import shipped
from suite.study.planning import plan
from suite.tasks import mnist_search

pytestmark = pytest.mark.slow  # a PostgreSQL server is started for this module

QUICK = "spiral-learning-rate"  # 4 trials, about 4 s


def cli_out(capsys, *args) -> str:
    capsys.readouterr()
    assert cli.main([str(a) for a in args]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def sql(url: str, statement: str, **params):
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


def password_marks(url: str) -> list[str]:
    """Substrings that would show the URL's password in a text."""
    u = make_url(url)
    return [f"{u.username}:{u.password}@", f":{u.password}@"] if u.password else []


def stored(store: Store, study: str) -> dict:
    """Every stored number of the study's quick trials by id (timings and workers left out)."""
    out = {}
    for r in store.trials(study, "quick"):
        out[r["trial_id"]] = ({k: v for k, v in r.items() if k not in (
            "started", "finished", "wall_time", "run_id", "worker")},
            store.curves(r["trial_id"]),
            {n: store.blob(r["trial_id"], n) for n in store.blob_names(r["trial_id"])})
    return out


@pytest.fixture(scope="module")
def both(postgres_server, tmp_path_factory):
    """The same quick study run into a fresh PostgreSQL database and an SQLite file."""
    folder = tmp_path_factory.mktemp("both")
    with fresh_database(postgres_server) as url:
        for target in (url, folder / "s.db"):  # as users do: the command line, the password
            run_cli("run", QUICK, "--quick", "--store", target, "--device", "cpu",
                    "--no-progress", check=True)
        yield url, folder / "s.db", folder


@pytest.mark.slow
def test_postgres_and_sqlite_give_identical_results(both, capsys):
    url, path, _ = both
    for extra in ([], ["--trials"]):
        args = ["results", QUICK, "--quick", "--format", "csv", *extra]
        pg, lite = (cli_out(capsys, *args, "--store", t) for t in (url, path))
        assert pg == lite and pg.count("\n") >= 2
    pg_store, lite_store = Store(url, create=False), Store(path, create=False)
    try:
        pg_rows, lite_rows = stored(pg_store, QUICK), stored(lite_store, QUICK)
        assert len(pg_rows) == len(plan(shipped.load(QUICK, quick=True))) == 4
        assert pg_rows == lite_rows  # metrics, curves (64-bit) and weights, bit for bit
        (run,) = pg_store.runs(QUICK)
        assert run["executor"] == "local" and run["status"] == "finished"
        workers = {r["worker"] for r in pg_store.trials(QUICK, "quick")}
        assert len(workers) == 1 and workers.pop().startswith(f"{socket.gethostname()}:")
    finally:
        pg_store.close()
        lite_store.close()


@pytest.mark.slow
def test_report_renders_from_postgres_and_sqlite_without_the_password(both, capsys):
    url, path, folder = both
    for name, target in (("pg", url), ("lite", path)):
        out = folder / name
        cli_out(capsys, "report", "--store", target, "--out", out)
        page = (out / f"{QUICK}.quick.html").read_text()
        assert "Statistics over seeds" in page and "data:image/png;base64," in page
        assert QUICK in (out / "index.html").read_text()
    u = make_url(url)
    texts = [p.read_text() for p in (folder / "pg").rglob("*") if p.is_file()]
    label = f"{u.drivername}://{u.username}@{u.host}:{u.port}/{u.database}"
    assert label in (folder / "pg" / "index.html").read_text()
    assert f"suite verify --store {label}" in (folder / "pg" / f"{QUICK}.quick.html").read_text()
    for mark in password_marks(url):
        assert not any(mark in t for t in texts), mark
    assert "***@" in (folder / "pg" / f"{QUICK}.quick" / "runs.csv").read_text()  # the command


def test_verify_re_runs_a_postgres_trial_bit_for_bit(both, capsys):
    url, _, _ = both
    assert cli.main(["verify", "--store", url, "--sample", "1"]) == 0
    assert "1 match, 0 mismatch" in capsys.readouterr().out


def test_resume_on_postgres_runs_only_what_is_missing(postgres_url, capsys):
    args = ["run", QUICK, "--quick", "--store", postgres_url, "--device", "cpu", "--no-progress"]
    first = cli_out(capsys, *args, "--seeds", "1")
    rest = cli_out(capsys, *args)
    again = cli_out(capsys, *args)
    assert "2 trials planned, 0 already in the store (skipped), 2 run" in first
    assert "4 trials planned, 2 already in the store (skipped), 2 run" in rest
    assert "4 trials planned, 4 already in the store (skipped), 0 run" in again
    store = Store(postgres_url, create=False)
    assert [r["run_id"] for r in store.runs(QUICK)] == [1, 2, 3]
    assert len(store.trials(QUICK, "quick")) == 4
    store.close()


def declare(folder: Path, name: str, epochs: int) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(SLOW_STUDY).replace('name = "kill-me"', f'name = "{name}"')
                    .replace("epochs = 60", f"epochs = {epochs}"))
    return path


def start(decl, url) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "suite", "run", str(decl), "--store", url,
                             "--no-progress", "--device", "cpu"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def count_trials(url: str, study: str) -> int:
    try:
        return sql(url, "SELECT COUNT(*) FROM suite.trials WHERE study = :s", s=study)[0][0]
    except sa.exc.ProgrammingError:  # the schema is not created yet
        return 0


@pytest.mark.slow
def test_two_drivers_on_different_studies_share_a_fresh_database(postgres_url, tmp_path):
    decls = [declare(tmp_path, f"concurrent-{k}", 20) for k in "ab"]
    procs = [start(d, postgres_url) for d in decls]  # both create the schema at once
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "8 trials planned, 0 already in the store (skipped), 8 run" in out
    store = Store(postgres_url, create=False)
    for d in decls:
        study = shipped.load(str(d))
        rows = store.trials(study.name, "full")
        assert sorted(r["trial_id"] for r in rows) == sorted(t.trial_id for t in plan(study))
        assert all(len(store.curves(r["trial_id"])["train_loss"]) == 20 for r in rows)
        (run,) = store.runs(study.name)
        assert run["status"] == "finished" and run["completed"] == 8
    assert sql(postgres_url, "SELECT COUNT(*) FROM suite.trials")[0][0] == 16
    assert sql(postgres_url, "SELECT value FROM suite.meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)]
    store.close()


@pytest.mark.slow
def test_same_study_twice_is_refused_and_a_killed_driver_leaves_no_lock(postgres_url, tmp_path):
    decl = declare(tmp_path, "kill-me", 500)  # about 5 s per pair of trials
    # 12 pairs, so that the first driver is still busy (about a minute) however long the
    # second takes to start and be refused on a loaded machine
    lrs = ", ".join(str(round(0.05 * (i + 1), 2)) for i in range(12))
    decl.write_text(decl.read_text().replace("lr = [0.05, 0.1, 0.2, 0.3]", f"lr = [{lrs}]"))
    first = start(decl, postgres_url)
    try:
        deadline = time.time() + 300
        while count_trials(postgres_url, "kill-me") < 1:
            assert first.poll() is None and time.time() < deadline, first.stderr.read()
            time.sleep(0.1)
        second = run_cli("run", decl, "--store", postgres_url, "--no-progress")
        assert first.poll() is None, "the first run ended too soon to test the refusal"
    finally:
        first.kill()  # SIGKILL: no chance to release anything itself
        first.wait()
    assert second.returncode == 2 and "Another 'suite run' of study 'kill-me'" in second.stderr
    assert "Traceback" not in second.stderr
    for mark in password_marks(postgres_url):
        assert mark not in second.stderr
    store = Store(postgres_url, create=False)
    deadline = time.time() + 30  # the server notices the closed connection at once
    while True:
        try:
            with store.study_lock("kill-me"):
                break
        except StoreError:
            assert time.time() < deadline, "the killed driver's lock outlived it"
            time.sleep(0.2)
    # The next command on the store marks the run killed (here, maybe already when the
    # store was opened above, if the server had let the lock go by then).
    store.mark_killed_runs()
    (run,) = store.runs("kill-me")
    assert run["status"] == "killed" and 1 <= len(store.trials("kill-me", "full")) < 24
    store.close()


def test_the_study_lock_is_per_study_and_released_with_its_block(postgres_url):
    first, second = Store(postgres_url), Store(postgres_url)
    check_study_lock(first, second)
    first.close()
    second.close()


def test_drivers_creating_one_fresh_store_at_once_create_it_once(postgres_url):
    errors = []

    def open_store():
        try:
            Store(postgres_url).close()
        except Exception as e:  # collected: a thread's exception would be lost
            errors.append(e)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(sql(postgres_url, "SELECT key, value FROM suite.meta")) == [
        ("app", "suite"), ("schema_version", str(SCHEMA_VERSION))]


def test_a_database_with_other_tables_is_fine_and_they_are_left_alone(postgres_url):
    sql(postgres_url, "CREATE TABLE public.trials (id INTEGER); INSERT INTO public.trials "
        "VALUES (7)")
    store = Store(postgres_url)
    store.save_study("s", "quick", "x.toml", {"a": 1}, "t")
    assert store.declaration("s", "quick") == {"a": 1}
    store.close()
    assert sql(postgres_url, "SELECT id FROM public.trials") == [(7,)]


def test_a_foreign_suite_schema_is_refused_and_left_untouched(postgres_url):
    sql(postgres_url, "CREATE SCHEMA suite; CREATE TABLE suite.customers (id INTEGER)")
    with pytest.raises(StoreError, match="schema 'suite'.*not a suite store.*customers"):
        Store(postgres_url)
    tables = sql(postgres_url, "SELECT table_name FROM information_schema.tables "
                 "WHERE table_schema = 'suite'")
    assert tables == [("customers",)]


def test_reading_a_database_with_no_store_creates_nothing(postgres_url, capsys):
    assert cli.main(["results", QUICK, "--store", postgres_url]) == 2
    err = capsys.readouterr().err
    assert "No store at" in err and "Traceback" not in err
    assert sql(postgres_url, "SELECT 1 FROM information_schema.schemata "
               "WHERE schema_name = 'suite'") == []


def test_a_store_from_a_newer_schema_is_refused(postgres_url):
    Store(postgres_url).close()
    sql(postgres_url, "UPDATE suite.meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer suite"):
        Store(postgres_url)


def test_a_version_1_store_on_postgres_is_upgraded(postgres_url):
    from test_store import V1_SCHEMA, v1_rows

    ddl = (V1_SCHEMA.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "SERIAL PRIMARY KEY")
           .replace("BLOB", "BYTEA").replace("REAL", "DOUBLE PRECISION"))
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA suite; SET search_path TO suite")
        for statement in filter(str.strip, ddl.split(";")):
            conn.exec_driver_sql(statement)
        for statement, params in v1_rows():
            conn.execute(sa.text(statement), params)
    engine.dispose()
    store = Store(postgres_url)
    (row,) = store.trials("s", "quick")
    assert row["worker"] == "" and row["metrics"] == {"a": 0.5} and row["wall_time"] == 0.1
    assert store.runs("s")[0]["executor"] == "" and store.curves("t1") == {"loss": [1.5]}
    assert sql(postgres_url, "SELECT value FROM suite.meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)]
    store.close()


@pytest.mark.slow
def test_class_area_optuna_studies_live_in_the_same_database(postgres_url):
    proc = run_cli("run", "blobs-class-area", "--quick", "--store", postgres_url,
                   "--no-progress", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    store = Store(postgres_url, create=False)
    rows = store.trials("blobs-class-area", "quick")
    store.close()
    storage = rdb_storage(optuna_storage_for(postgres_url))
    names = set(optuna.get_all_study_names(storage))
    assert names == {f"{r['trial_id']}-{m}" for r in rows for m in ("tpe", "brentq")}
    assert len(rows) == 2
    schemas = {s for (s,) in sql(postgres_url, "SELECT DISTINCT table_schema FROM "
                                 "information_schema.tables WHERE table_name = 'studies'")}
    assert schemas == {"suite", "optuna"}
    for r in rows:
        where = r["artifacts"]["optuna"]["storage"]
        assert "search_path%3Doptuna" in where
        assert all(mark not in where for mark in password_marks(postgres_url))


@pytest.mark.slow
def test_the_mnist_search_keeps_its_optuna_study_in_the_database(postgres_url):
    config = {**tasks.get("mnist-search").defaults(), "checkpoint_dir": "/nonexistent/never",
              "optuna_url": optuna_storage_for(postgres_url)}
    seeds = derive(1, 0)
    study, where, _ = mnist_search.open_study(config, seeds)
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
    again, where_again, _ = mnist_search.open_study(config, seeds)  # as a resumed search would
    assert where == where_again and "search_path%3Doptuna" in where
    assert all(mark not in where for mark in password_marks(postgres_url))
    assert [t.value for t in again.get_trials()] == [0.5]
    assert not Path("/nonexistent/never").exists()  # no journal file
    assert again.study_name in optuna.get_all_study_names(rdb_storage(config["optuna_url"]))


def connections(url: str, settle: float = 10.0) -> int:
    """Sessions open on the URL's database, besides the one asking, once closed ones are gone.

    A client's disconnect returns before its server process has left pg_stat_activity
    (seen under load: one stale row right after a close), so a nonzero count is asked
    again until `settle` seconds have passed; a session really held open stays counted."""
    deadline = time.monotonic() + settle
    while True:
        n = sql(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                "AND pid <> pg_backend_pid()", db=make_url(url).database)[0][0]
        if n == 0 or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


@pytest.mark.slow
def test_searches_leave_no_connections_open(postgres_url, tmp_path):
    """A Dask worker lives for many trials: each search's Optuna storage on the server must
    be closed when the trial ends, not held by its pool until the server refuses clients."""
    from test_area_search import step_area
    from test_mnist_search import write_learnable_test_set

    from suite.tasks.area_search import OptunaPlan, save_studies, tpe_search

    url = optuna_storage_for(postgres_url)
    for write in ("end", "live"):  # the class-area searches
        plan = OptunaPlan(url, f"leak-{write}", write)
        tpe = tpe_search(step_area, 0.3, (0.0, 1.0), 3, seed=2, plan=plan)
        assert save_studies(plan, tpe, None, (0.0, 1.0), 0.3, {}) == [f"leak-{write}-tpe"]
        assert connections(postgres_url) == 0
    write_learnable_test_set(tmp_path)  # the MNIST search
    config = {**tasks.get("mnist-search").defaults(), "data_root": str(tmp_path),
              "offline_test": 40, "n_trials": 2, "executions": 1, "epochs": 1,
              "max_layers": 1, "units_low": 8, "units_high": 16, "units_step": 8,
              "optuna_url": url}
    kept = [mnist_search.run(config, derive(1, i), "cpu") for i in range(2)]  # as a worker
    assert [o.metrics["n_trials_finished"] for o in kept] == [2, 2]
    assert connections(postgres_url) == 0
