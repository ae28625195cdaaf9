"""A tracker that logs child runs from more than one process, and writes their predictions
straight into the artifact store.

MLflow's cost per run is mostly Python, so two writers on a WAL store get through ~1.3× as
many runs as one; the helpers are forked before MLflow starts its telemetry threads (a
process with threads cannot be forked safely), and each opens its own database connections.
"""

from __future__ import annotations

import contextlib
import io
import os

from runner import limits
from runner.speedups.gc_tuning import heavy_imports
from runner.speedups.processes import ChildEnded, Forked, can_fork
from runner.tracking import setup
from runner.tracking.tracker import ChildRuns, Tracker
from runner.uri import is_sql, scrub


def import_mlflow(uri: str) -> None:
    """runner.tracking.setup.import_mlflow with the collector kept off what it builds, and
    the database connections made safe to fork (before any is opened)."""
    with heavy_imports("mlflow.tracking"):
        setup.import_mlflow(uri)
    _install_fork_safety()


class FastTracker(Tracker):
    """A Tracker with `helpers` forked processes that log a share of the child runs."""

    def __init__(self, uri: str, experiment: str, helpers: int = 0):
        import_mlflow(uri)
        # Only SQL stores: an HTTP client's pooled sockets would be shared with the fork; a
        # SQL engine's are not (see _refuse_inherited).
        self.helpers = ([_Helper(uri, experiment) for _ in range(helpers)]
                        if helpers > 0 and is_sql(uri) and can_fork() else [])
        super().__init__(uri, experiment)

    def log_children(self, parent_id: str, children: ChildRuns, skip=frozenset()) -> None:
        """Each process (this one and its helpers) logs an equal share of the children."""
        todo = children.todo(skip)
        self.processes = (len(self.helpers) + 1
                          if len(todo) >= limits.PARALLEL_CHILDREN_FROM else 1)
        mine, *theirs = [todo[k::self.processes] for k in range(self.processes)]
        helpers = self.helpers[:len(theirs)]
        for helper, rows in zip(helpers, theirs, strict=True):
            helper.submit(rows, parent_id, children)
        errors = []
        try:
            self.log_child_rows(mine, parent_id, children, show=True)
        finally:
            for helper in helpers:
                done, error = helper.wait()
                self.children_logged += done
                errors += [error] if error else []
        if errors:
            raise RuntimeError("; ".join(errors))

    def write_artifact(self, run_info, name: str, data: bytes) -> None:
        """Straight into the run's artifact location: create_run has told us where it is, so
        no get_run and no temporary file, as MlflowClient.log_artifact needs."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        repo = get_artifact_repository(run_info.artifact_uri, tracking_uri=self.uri)
        if hasattr(repo, "log_artifact_from_stream"):  # MLflow ≥ 3.x local stores
            repo.log_artifact_from_stream(io.BytesIO(data), name)
            return
        super().write_artifact(run_info, name, data)

    def close(self) -> None:
        """Stop the helper processes (they end when their pipe closes)."""
        for helper in self.helpers:
            helper.close()
        self.helpers = []
        super().close()


class _Helper(Forked):
    """A forked process that logs the child runs it is sent, with its own MLflow client."""

    def __init__(self, uri: str, experiment: str):
        super().__init__(_helper_loop, uri, experiment, name="mlflow-child-runs")

    def submit(self, rows, parent_id: str, children: ChildRuns) -> None:
        self.conn.send((rows, parent_id, children))

    def wait(self) -> tuple[int, str | None]:
        """(children it logged, error message or None)."""
        try:
            return self.receive("the process logging a share of the child runs")
        except ChildEnded as e:
            return 0, str(e)


def _helper_loop(conn, uri, experiment):
    tracker = None
    while True:
        try:
            rows, parent_id, children = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            # Made once there is work: by then the parent has found or created the experiment.
            tracker = tracker or FastTracker(uri, experiment)
            tracker.children_logged = 0
            tracker.log_child_rows(rows, parent_id, children)
            conn.send((tracker.children_logged, None))
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises
            done = tracker.children_logged if tracker else 0
            with contextlib.suppress(OSError):  # the parent may be gone
                conn.send((done, f"{type(e).__name__}: {scrub(str(e), uri)}"))
            if not isinstance(e, Exception):
                return


def _remember_pid(_dbapi_connection, record):
    record.info["pid"] = os.getpid()


def _refuse_inherited(_dbapi_connection, record, proxy):
    # SQLAlchemy's recipe for pools across os.fork(): a forked process that checks out a
    # connection its parent opened drops it (unclosed: it is the parent's) and gets a new one.
    if record.info.get("pid", os.getpid()) != os.getpid():
        from sqlalchemy.exc import DisconnectionError

        record.dbapi_connection = proxy.dbapi_connection = None
        raise DisconnectionError("connection opened by the parent process")


def _install_fork_safety():
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    if not event.contains(Pool, "connect", _remember_pid):
        event.listen(Pool, "connect", _remember_pid)
        event.listen(Pool, "checkout", _refuse_inherited)
