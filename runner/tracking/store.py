"""The tracking store: its URI, the secrets in it, whether it is there, and its creation."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from runner.errors import UserError

DEFAULT_URI = "sqlite:///mlflow.db"


def safe_key(name: str) -> str:
    """`name` as an MLflow key: letters, digits, _ - . space / only."""
    return re.sub(r"[^\w\-. /]", "_", name)


def resolve_uri(uri: str | None) -> str:
    """The tracking URI to use, with a relative SQLite path made absolute.

    Absolute, because jobs may run in other folders or processes and a relative path
    would change meaning with the working directory.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    return uri


def redact(uri: str) -> str:
    """`uri` with any password replaced by ***, for messages and tags."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


# The password field of any URL in a text: scheme://user:PASSWORD@ (up to the last '@'
# before the host, as urlsplit reads it, when the password holds an unencoded '@').
_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:)([^\s/'\"]*)(@)")


def scrub(text: str, uri: str) -> str:
    """`text` with the password field of `uri`, and of any other URL in it, replaced by ***.

    Only the URL's password field: a password that happens to be '1' leaves `low: -1.0` be.
    """
    if urlsplit(uri).password is not None:
        text = text.replace(uri, redact(uri))
    return _PASSWORD.sub(r"\1***\3", text)


def without_password(uri: str) -> str | None:
    """`uri` without its password, which moves to the environment the jobs inherit, where
    their client reads it: MLFLOW_TRACKING_USERNAME / _PASSWORD for an HTTP server,
    PGPASSWORD for PostgreSQL (unless already set there). None when no client reads it from
    the environment: such a URI stays in $MLFLOW_TRACKING_URI only, which the jobs inherit.
    """
    from urllib.parse import unquote

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    if is_http(uri):
        os.environ.setdefault("MLFLOW_TRACKING_USERNAME", unquote(parts.username or ""))
        os.environ.setdefault("MLFLOW_TRACKING_PASSWORD", unquote(parts.password))
        return _without_user(uri)
    if store_kind(uri) == "postgresql":
        os.environ.setdefault("PGPASSWORD", unquote(parts.password))
        user = parts.netloc.rpartition("@")[0].partition(":")[0]
        return urlunsplit(parts._replace(netloc=f"{user}@{host}"))
    return None


def error_text(e: BaseException, uri: str) -> str:
    """An exception as one line for the terminal: its type, its message scrubbed of any
    password, the first line only (a server's error page can follow), cut at 300 chars."""
    lines = scrub(str(e), uri).strip().splitlines()
    text = lines[0] if lines else ""
    if len(lines) > 1 or len(text) > 300:
        text = text[:300] + " …"
    return f"{type(e).__name__}: {text}"


def _without_user(uri: str) -> str:
    """`uri` without its user and password (the part of the netloc before the last '@')."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def browser_address(uri: str) -> str:
    """An HTTP tracking server's address for a browser: no user or password in it (the
    browser asks for them), no trailing slash."""
    return _without_user(uri).rstrip("/")


def store_kind(uri: str) -> str:
    """The URI's scheme without a database driver ('postgresql' for postgresql+psycopg://),
    lower-cased as urlsplit gives it; '' for a plain path."""
    return urlsplit(uri).scheme.split("+")[0]


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def is_sql(uri: str) -> bool:
    return store_kind(uri) in ("sqlite", "postgresql", "mysql")


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


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


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


def check(uri: str, experiment: str | None = None) -> None:
    """Everything that can be checked about the store, and the experiment in it, before a
    seed is evaluated."""
    check_store(uri, experiment)
    check_reachable(uri, experiment)


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


def git_commit() -> str | None:
    import subprocess

    from runner.data import PROJECT_ROOT

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
