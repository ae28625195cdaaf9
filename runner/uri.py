"""A tracking URI as text: resolved, redacted, scrubbed from messages, and read for its kind.

Pure string functions (no MLflow, no store touched), so that `plan` can check a config's
URI and keys without importing runner.tracking; what touches a store is in
`runner.tracking.checks` (is it there, is it MLflow's) and `runner.tracking.setup` (MLflow
imported, the store created).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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


def error_text(e: BaseException, uri: str) -> str:
    """An exception as one line for the terminal: its type, its message scrubbed of any
    password, the first line only (a server's error page can follow), cut at 300 chars."""
    lines = scrub(str(e), uri).strip().splitlines()
    text = lines[0] if lines else ""
    if len(lines) > 1 or len(text) > 300:
        text = text[:300] + " …"
    return f"{type(e).__name__}: {text}"


def without_user(uri: str) -> str:
    """`uri` without its user and password (the part of the netloc before the last '@')."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def browser_address(uri: str) -> str:
    """An HTTP tracking server's address for a browser: no user or password in it (the
    browser asks for them), no trailing slash."""
    return without_user(uri).rstrip("/")


def store_kind(uri: str) -> str:
    """The URI's scheme without a database driver ('postgresql' for postgresql+psycopg://),
    lower-cased as urlsplit gives it; '' for a plain path."""
    return urlsplit(uri).scheme.split("+")[0]


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def is_sql(uri: str) -> bool:
    return store_kind(uri) in ("sqlite", "postgresql", "mysql")


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
