"""Checks that touch a tracking store, made before any seed is evaluated: is it there (an
HTTP server that answers, a database that connects), is it MLflow's (not another
application's tables), and is the experiment in it not deleted."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from runner import limits
from runner.errors import UserError
from runner.uri import error_text, is_http, redact, sqlite_path, store_kind

log = logging.getLogger(__name__)


def check_reachable(uri: str, experiment: str | None = None, timeout: float = 5.0) -> None:
    """Fail fast, before any seed is evaluated, when an HTTP tracking server is not there, or
    `experiment` is deleted on it."""
    if not is_http(uri):
        return
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urlsplit(uri)
    # No credentials in these URLs, and the message shows the URL redacted. A server that
    # wants them answers 401 here, and the experiment is checked when MLflow opens it.
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    base = urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
    try:
        urllib.request.urlopen(base + "/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # something answered: a server that lacks /health, or wants auth
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise UserError(
            f"tracking.uri={redact(uri)}: cannot reach the MLflow server ({reason}); start it, "
            "fix the address, or run with tracking=off"
        ) from None
    if experiment is None:
        return
    query = urllib.parse.urlencode({"experiment_name": experiment})
    try:
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?{query}",
                                    timeout=timeout) as answer:
            found = json.load(answer).get("experiment", {})
    except (OSError, ValueError):
        return  # not there yet (404), or not ours to read: MLflow will say
    refuse_deleted(uri, experiment, (found.get("experiment_id"), found.get("lifecycle_stage")))


# The tracking stores MLflow knows, by URI scheme (a database's driver after a '+').
KNOWN_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "file",
                 "databricks")
# Tables that make a database an MLflow store (it holds more; these two come first).
MLFLOW_TABLES = {"alembic_version", "experiments"}


def check_store(uri: str, experiment: str | None = None) -> None:
    """Whether `uri` can be an MLflow store, told quickly and before MLflow touches it: a
    known scheme; for SQLite its folder, its rights and its file; for another database, a
    connection within seconds. A database that holds another application's tables is
    refused: MLflow would add its own tables to it. So is an `experiment` a user deleted
    (in the UI): MLflow keeps its name and refuses new runs in it."""
    scheme = store_kind(uri)
    if scheme and scheme not in KNOWN_SCHEMES and not (len(scheme) == 1 and os.name == "nt"):
        raise UserError(
            f"tracking.uri={redact(uri)}: '{scheme}://' is not a tracking store MLflow knows; "
            "give http(s)://HOST:PORT, sqlite:///PATH.db or postgresql+psycopg://…"
        )
    if scheme in ("", "file") and os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in (
            "true", "1"):
        # MLflow 3 reads a plain path as its folder store and refuses that store when it opens
        # it, after the seeds are evaluated; say so now, with the SQLite file to use instead.
        local = Path(urlsplit(uri).path if scheme == "file" else uri)
        db = local if local.suffix == ".db" else local / "mlflow.db"
        raise UserError(
            f"tracking.uri={redact(uri)}: a path, which MLflow 3 reads as its folder store "
            f"and refuses (that store is in maintenance mode); give a SQLite file: "
            f"tracking.uri=sqlite:///{db}"
        )
    path = sqlite_path(uri)
    if scheme == "sqlite" and (path is None or not path.name or path.name == ":memory:"):
        raise UserError(f"tracking.uri={redact(uri)}: names no database file (an in-memory "
                        "store would lose every run); give sqlite:///PATH/mlflow.db")
    if path is None:
        if scheme in ("postgresql", "mysql", "mssql"):
            _check_database(uri, experiment)
        return
    if not path.parent.exists():
        raise UserError(f"tracking.uri={redact(uri)}: folder {path.parent} does not exist; "
                        "create it, or name a file in a folder that exists")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(
            f"tracking.uri={redact(uri)}: {path} is read-only; "
            "point tracking.uri at a writable place or use tracking=off"
        )
    if path.is_dir():
        raise UserError(f"tracking.uri={redact(uri)}: {path} is a folder, not a SQLite "
                        "database; name a .db file in it, e.g. sqlite:///"
                        f"{path / 'mlflow.db'}")
    if not path.exists() or path.stat().st_size == 0:
        return  # MLflow creates it
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\0":
            raise UserError(f"tracking.uri={redact(uri)}: {path} is not a SQLite database; "
                            "point tracking.uri at an MLflow store or a new file")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                                timeout=5)) as con:
            tables = {r[0] for r in con.execute(
                "select name from sqlite_master where type = 'table'")}
            stage = _stage(con.execute, tables, experiment)
    except sqlite3.Error as e:
        raise UserError(f"tracking.uri={redact(uri)}: {path} cannot be read as a SQLite "
                        f"database ({e}); point tracking.uri at an MLflow store") from None
    _refuse_foreign(uri, tables)
    refuse_deleted(uri, experiment, stage)


def wait_for_writer(uri: str, path: Path) -> None:
    """Return once no other process holds a write transaction on the SQLite store `path`:
    at once for another job's short one, else after a line saying what it waits for, up to
    limits.SQLITE_LOCK_WAIT_SECONDS; then refuse, naming the lock and its holder.

    MLflow met such a lock with a minute of retried engine creations (a warning and the
    error each, doubling waits), then a traceback. Probed in short steps, so Ctrl-C stops it.
    """
    deadline = time.monotonic() + limits.SQLITE_LOCK_WAIT_SECONDS
    timeout = min(limits.SQLITE_LOCK_PROBE_SECONDS, limits.SQLITE_LOCK_WAIT_SECONDS)
    said = False
    while not _can_write(path, timeout):
        holder = _lock_holder(path)
        if time.monotonic() >= deadline:
            raise UserError(
                f"tracking.uri={redact(uri)}: {path} is locked: {holder} has held a write "
                f"transaction open on it for over {limits.SQLITE_LOCK_WAIT_SECONDS:g} s; end "
                "that transaction (or process), or point tracking.uri at another store"
            )
        if not said:
            log.warning("%s holds a write lock on the MLflow store %s; waiting up to %g s "
                        "for it to end", holder, path, limits.SQLITE_LOCK_WAIT_SECONDS)
            said = True
        timeout = max(0.0, min(0.5, deadline - time.monotonic()))


def _can_write(path: Path, timeout: float) -> bool:
    """Whether a write transaction on `path` begins within `timeout` s (and is let go)."""
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=timeout,
                                                isolation_level=None)) as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            return False
        raise
    return True


def _lock_holder(path: Path) -> str:
    """'another process (pid N)', when Linux's /proc/locks names who holds a write lock on
    the database or its WAL index (where WAL keeps its writer's lock); else 'another
    process'."""
    try:
        inodes = {p.stat().st_ino for p in (path, Path(f"{path}-shm")) if p.exists()}
        pids = set()
        with open("/proc/locks") as fh:
            for line in fh:
                fields = line.split()
                # e.g. '1: POSIX  ADVISORY  WRITE 4242 08:01:1234567 1073741825 1073741825'
                if len(fields) >= 6 and fields[3] == "WRITE" and \
                        int(fields[5].rsplit(":", 1)[1]) in inodes:
                    pids.add(int(fields[4]))
    except (OSError, ValueError, IndexError):
        return "another process"
    pids -= {os.getpid(), -1}
    return f"another process (pid {', '.join(map(str, sorted(pids)))})" if pids else \
        "another process"


def _stage(execute, tables: set, experiment: str | None):
    """(id, lifecycle stage) of `experiment` in MLflow's own table, or None. `execute(sql,
    params)`: a connection's, sqlite3's or SQLAlchemy's (both take :named parameters)."""
    if experiment is None or "experiments" not in tables:
        return None
    return execute("select experiment_id, lifecycle_stage from experiments where name = :name",
                   {"name": experiment}).fetchone()


def refuse_deleted(uri: str, experiment: str | None, stage) -> None:
    """`stage`: (experiment id, lifecycle stage) or None."""
    if stage is None or stage[1] != "deleted":
        return
    raise UserError(
        f"tracking.experiment={experiment}: that experiment was deleted (MLflow keeps it, "
        "and its name, until it is purged, and refuses new runs in it); restore it with "
        f"MLFLOW_TRACKING_URI={redact(uri)} mlflow experiments restore --experiment-id "
        f"{stage[0]}, or log elsewhere: tracking.experiment=NEW_NAME"
    )


def _refuse_foreign(uri: str, tables: set) -> None:
    if tables and not MLFLOW_TABLES <= tables:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise UserError(
            f"tracking.uri={redact(uri)}: the database holds another application's tables "
            f"({shown}), not an MLflow store; point tracking.uri at an MLflow store or a new "
            "database"
        )


def _check_database(uri: str, experiment: str | None = None) -> None:
    """A database server: reachable within seconds, an MLflow store or empty, and
    `experiment` not deleted."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(
            uri, poolclass=sqlalchemy.pool.NullPool,
            connect_args={"connect_timeout": 5} if uri.startswith(("postgresql", "mysql"))
            else {})
    except Exception as e:  # no driver, a malformed URL
        raise UserError(f"tracking.uri={redact(uri)}: cannot open the database "
                        f"({error_text(e, uri)}); install its driver or fix the URI") from None
    try:
        with engine.connect() as con:
            tables = set(sqlalchemy.inspect(con).get_table_names())
            stage = _stage(lambda sql, params: con.execute(sqlalchemy.text(sql), params),
                           tables, experiment)
    except Exception as e:
        reason = (getattr(e, "orig", None) or e)
        raise UserError(
            f"tracking.uri={redact(uri)}: cannot use the database "
            f"({error_text(reason, uri)}); start it, fix the address, or run with tracking=off"
        ) from None
    finally:
        engine.dispose()
    _refuse_foreign(uri, tables)
    refuse_deleted(uri, experiment, stage)


def check(uri: str, experiment: str | None = None, *, writes: bool = True) -> None:
    """Everything that can be checked about the store, and the experiment in it, before a
    seed is evaluated; for a command that `writes` to a SQLite store, that no other process
    holds it locked (the UI only reads, which WAL lets it do meanwhile)."""
    check_store(uri, experiment)
    check_reachable(uri, experiment)
    path = sqlite_path(uri)
    if writes and path is not None and path.is_file() and path.stat().st_size > 0:
        wait_for_writer(uri, path)
