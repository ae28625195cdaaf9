"""A tracking store set up for a job: MLflow imported and quieted, SQLite connections in
WAL mode, a new store created once under a lock, and a URI's password handed to the jobs
through the environment."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from urllib.parse import unquote, urlsplit, urlunsplit

from runner.uri import is_http, sqlite_path, store_kind, without_user


def without_password(uri: str) -> str | None:
    """`uri` without its password, which moves to the environment the jobs inherit, where
    their client reads it: MLFLOW_TRACKING_USERNAME / _PASSWORD for an HTTP server,
    PGPASSWORD for PostgreSQL (unless already set there). None when no client reads it from
    the environment: such a URI stays in $MLFLOW_TRACKING_URI only, which the jobs inherit.
    """
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    if is_http(uri):
        os.environ.setdefault("MLFLOW_TRACKING_USERNAME", unquote(parts.username or ""))
        os.environ.setdefault("MLFLOW_TRACKING_PASSWORD", unquote(parts.password))
        return without_user(uri)
    if store_kind(uri) == "postgresql":
        os.environ.setdefault("PGPASSWORD", unquote(parts.password))
        user = parts.netloc.rpartition("@")[0].partition(":")[0]
        return urlunsplit(parts._replace(netloc=f"{user}@{host}"))
    return None


def import_mlflow(uri: str) -> None:
    """Import MLflow's client, and its SQL store for a database URI (else imported on first
    use), then quiet its loggers and set the store's connections up."""
    import mlflow.tracking  # noqa: F401

    if not uri.startswith(("http://", "https://", "file:")):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    # MLflow sets its loggers to INFO on import; its store-migration chatter is not ours.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # MLflow prints a "View run" line with the full URI, password included, for every run it
    # ends on a server; our summary prints one redacted link instead.
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    # The sweep report reads each job's seeds.parquet back: no "Downloading artifacts" bar each.
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    _install_sqlite_pragmas()


def _sqlite_pragmas(dbapi_connection, _record):
    # WAL lets the UI and parallel jobs read while a job writes; with WAL, NORMAL sync
    # stays safe against corruption and roughly halves MLflow's per-run cost.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def _install_sqlite_pragmas():
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


def prepare(uri: str) -> None:
    """Create a SQLite store once, before any job opens it, and switch it to WAL.

    MLflow creates and migrates a new SQLite store without a lock, so parallel jobs that
    each create it collide; WAL lets the UI and other jobs read while a job writes. The
    caller has checked the store (`check`): MLflow must not add its tables to a foreign one.
    """
    path = sqlite_path(uri)
    if path is None:
        if store_kind(uri) == "postgresql":
            _prepare_postgres(uri)
        return
    import_mlflow(uri)
    from mlflow.tracking import MlflowClient

    # Processes that find the store missing at once would each create and migrate it; a
    # lock on the folder lets the first create it and the others find it done.
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        MlflowClient(uri).search_experiments(max_results=1)  # creates and migrates the tables
    finally:
        os.close(fd)  # releases the lock


# Any number of our own, the same in every process: PostgreSQL advisory locks are named by one.
_PG_INIT_LOCK = 0x6E6C75636B  # "nluck"


def _prepare_postgres(uri: str) -> None:
    """Create a new PostgreSQL store's tables once, when commands start on it at once.

    MLflow creates them without a lock there too: two commands on an empty database both ran
    CREATE TABLE and one failed (duplicate key in pg_type) after its seeds were evaluated.
    A PostgreSQL advisory lock, held on a connection of our own while MLflow opens the
    store, lets the first create the tables and the others find them made, on any machine.
    """
    import sqlalchemy

    import_mlflow(uri)
    from mlflow.tracking import MlflowClient

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as con:
            lock = sqlalchemy.text("select pg_advisory_lock(:key)")
            con.execute(lock, {"key": _PG_INIT_LOCK})
            con.commit()  # the lock is the session's: no transaction held open meanwhile
            try:
                MlflowClient(uri).search_experiments(max_results=1)  # creates the tables
            finally:
                con.execute(sqlalchemy.text("select pg_advisory_unlock(:key)"),
                            {"key": _PG_INIT_LOCK})
                con.commit()
    finally:
        engine.dispose()
