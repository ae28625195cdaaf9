"""The MLflow side: one parent run per job, one nested child run per seed.

mlflow is imported here only, and only when tracking is on, so `tracking=off` and `--help`
never pay for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import re
import sqlite3
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from runner import processes
from runner.data import PROJECT_ROOT
from runner.errors import UserError
from runner.gc_tuning import heavy_imports
from runner.processes import Forked, can_fork

log = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
# Fewer child runs than this are logged by one process: a fork would cost more than it saves.
PARALLEL_FROM = 40


def _sqlite_pragmas(dbapi_connection, _record):
    # WAL lets the UI and parallel jobs read while a sweep writes; with WAL, NORMAL sync
    # stays safe against corruption and roughly halves MLflow's per-run cost.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def _remember_pid(_dbapi_connection, record):
    record.info["pid"] = os.getpid()


def _refuse_inherited(_dbapi_connection, record, proxy):
    # SQLAlchemy's recipe for pools across os.fork(): a forked process that checks out a
    # connection its parent opened drops it (unclosed: it is the parent's) and gets a new one.
    if record.info.get("pid", os.getpid()) != os.getpid():
        from sqlalchemy.exc import DisconnectionError

        record.dbapi_connection = proxy.dbapi_connection = None
        raise DisconnectionError("connection opened by the parent process")


def _install_sqlite_pragmas():
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)
        event.listen(Pool, "connect", _remember_pid)
        event.listen(Pool, "checkout", _refuse_inherited)


def _quiet():
    # MLflow sets its loggers to INFO on import; its store-migration chatter is not ours.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _import_mlflow(uri: str) -> None:
    # The SQL store is imported on first use otherwise, outside the collector pause.
    with heavy_imports("mlflow.tracking"):
        import mlflow.tracking  # noqa: F401

        if not uri.startswith(("http://", "https://", "file:")):
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401


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


def secrets(uri: str) -> list[str]:
    """The parts of `uri` that must never be logged or printed."""
    password = urlsplit(uri).password
    return [password] if password else []


def scrub(text: str, uri: str) -> str:
    for s in secrets(uri):
        text = text.replace(s, "***")
    return text


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any seed is evaluated, when an HTTP tracking server is not there."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    parts = urlsplit(uri)
    # Credentials go in a header, not the URL, and the message shows the URL redacted.
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    url = urlunsplit(parts._replace(netloc=netloc)).rstrip("/") + "/health"
    try:
        urllib.request.urlopen(url, timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # something answered: a server that lacks /health, or wants auth
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise UserError(
            f"tracking.uri={redact(uri)}: cannot reach the MLflow server ({reason}); start it, "
            "fix the address, or run with tracking=off"
        ) from None


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def check_store(uri: str) -> None:
    """What can be told about a SQLite store without opening it: its folder, its rights."""
    path = sqlite_path(uri)
    if path is None:
        return
    if not path.parent.exists():
        raise UserError(f"tracking.uri={redact(uri)}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(
            f"tracking.uri={redact(uri)}: {path} is read-only; "
            "point tracking.uri at a writable place or use tracking=off"
        )


def prepare_store(uri: str) -> None:
    """Create a SQLite store once, before any job opens it, and switch it to WAL.

    MLflow creates and migrates a new SQLite store without a lock, so parallel jobs that
    each create it collide; WAL lets the UI and other jobs read while a sweep writes.
    """
    check_store(uri)
    path = sqlite_path(uri)
    if path is None:
        return
    _import_mlflow(uri)
    from mlflow.tracking import MlflowClient

    _quiet()
    _install_sqlite_pragmas()
    # Processes that find the store missing at once would each create and migrate it; a
    # lock on the folder lets the first create it and the others find it done.
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _ = MlflowClient(uri)._tracking_client.store  # creates and migrates the tables
    finally:
        os.close(fd)  # releases the lock


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _param_value(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _short(x) -> str:
    return f"{float(x):.6g}"


def _safe(name: str) -> str:
    # MLflow keys allow letters, digits, _ - . space / only.
    return re.sub(r"[^\w\-. /]", "_", name)


class Tracker:
    """Logs one job's sweep to MLflow with as few client calls per run as the API allows."""

    def __init__(self, uri: str, experiment: str, helpers: int = 0):
        """`helpers`: processes to fork that will log a share of the child runs."""
        _import_mlflow(uri)
        from mlflow.tracking import MlflowClient

        _quiet()
        _install_sqlite_pragmas()
        # MLflow prints a "View run" line with the full URI, password included, for every
        # run it ends on a server; our summary prints one redacted link instead.
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
        self.uri = uri
        self.children_logged = 0
        # Forked now: MLflow starts its telemetry threads with the first run it creates, and a
        # process with threads cannot be forked safely. Only SQL stores: an HTTP client's
        # pooled sockets would be shared with the fork; a SQL engine's are not (see
        # _refuse_inherited).
        sql = urlsplit(uri).scheme.split("+")[0] in ("sqlite", "postgresql", "mysql")
        self.helpers = ([_Helper(uri, experiment) for _ in range(helpers)]
                        if helpers > 0 and sql and can_fork() else [])
        self.processes = len(self.helpers) + 1  # that log child runs
        self.client = MlflowClient(uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            from mlflow.exceptions import MlflowException

            try:
                self.experiment_id = self.client.create_experiment(experiment)
                return
            except MlflowException as e:  # another process created it meanwhile
                if e.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = exp.experiment_id

    def start_parent(self, name: str, tags: dict, key: str) -> tuple[str, set]:
        """A parent run for the job `key`, and the seeds it already holds as FINISHED.

        A parent that a crash or a kill left unfinished is taken up again: its finished
        children are kept, the rest deleted, so a re-run completes the sweep without
        duplicates. A finished parent is never touched: re-running then starts anew.
        """
        earlier = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`neuron_luck.job_key` = '{key}' "
            "and tags.`neuron_luck.kind` = 'sweep' and attributes.status != 'FINISHED'",
            order_by=["attributes.start_time DESC"], max_results=1,
        )
        if not earlier:
            run = self.client.create_run(
                self.experiment_id, run_name=name, tags={**tags, "neuron_luck.job_key": key}
            )
            return run.info.run_id, set()
        parent = earlier[0].info.run_id
        self.client.update_run(parent, status="RUNNING")
        for k, v in tags.items():
            self.client.set_tag(parent, k, v)
        done = set()
        for child in self._children(parent):
            if child.info.status == "FINISHED":
                done.add(int(child.data.tags["neuron_luck.seed"]))
            else:
                self.client.delete_run(child.info.run_id)
        log.info("resuming parent run %s: %d seeds already logged", parent, len(done))
        return parent, done

    def _children(self, parent_id):
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
                max_results=50_000, page_token=token,
            )
            yield from page
            token = page.token
            if not token:
                return

    def log_parent(self, run_id, params: dict, metrics: dict, tags: dict):
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(_safe(k), float(v), now, 0) for k, v in metrics.items()],
            params=[Param(_safe(k), _param_value(v)) for k, v in params.items()],
            tags=[RunTag(k, str(v)) for k, v in tags.items()],
        )

    def log_series(self, run_id, key, steps, values):
        """One metric as a series (e.g. step = seed), in batches of MLflow's 1000 limit."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, float(v), now, int(s)) for s, v in zip(steps, values, strict=True)]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(run_id, metrics=batch[i:i + 1000])

    def log_dataset(self, run_id, ds):
        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.exceptions import MlflowException

        with warnings.catch_warnings():
            # MLflow registers its local-file source twice and warns that a path is ambiguous.
            warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
            dataset = mlflow.data.from_pandas(
                ds.frame, source=str(ds.path), targets=ds.target, name=ds.name
            )
        inputs = [DatasetInput(dataset=dataset._to_mlflow_entity(),
                               tags=[InputTag(key="mlflow.data.context", value="evaluation")])]
        try:
            self.client.log_inputs(run_id, datasets=inputs)
        except MlflowException:
            # MLflow's SQL store inserts a dataset new to the experiment without allowing for
            # a parallel job inserting the same one (PostgreSQL: UniqueViolation on
            # dataset_pk), and the insert is all or nothing: a second try finds it there.
            time.sleep(0.5)
            self.client.log_inputs(run_id, datasets=inputs)

    def log_children(self, parent_id, result, base_params: dict, label: str, skip=frozenset()):
        """One child run per seed not in `skip`: params, metrics, predictions as a CSV table.

        With helper processes, each logs an equal share: MLflow's cost per run is mostly
        Python, so two writers on a WAL store get through ~1.3× as many runs.
        `self.children_logged` counts the children finished so far, for a failure message.
        """
        seeds = result.seeds.tolist()
        todo = [i for i, seed in enumerate(seeds) if seed not in skip]
        self.processes = len(self.helpers) + 1 if len(todo) >= PARALLEL_FROM else 1
        mine, *theirs = [todo[k::self.processes] for k in range(self.processes)]
        helpers = self.helpers[:len(theirs)]
        for helper, rows in zip(helpers, theirs, strict=True):
            helper.submit(rows, parent_id, result, base_params, label)
        errors = []
        try:
            self._log_rows(mine, parent_id, result, base_params, label, show=True)
        finally:
            for helper in helpers:
                done, error = helper.wait()
                self.children_logged += done
                errors += [error] if error else []
        if errors:
            raise RuntimeError("; ".join(errors))

    def close(self):
        """Stop the helper processes (they end when their pipe closes)."""
        for helper in self.helpers:
            helper.close()
        self.helpers = []

    def _log_rows(self, rows, parent_id, result, base_params, label, show):
        from mlflow.entities import Metric, Param

        ds = result.dataset
        pred = result.pred
        names = [f"w.{_safe(f)}" for f in ds.features]
        table = _PredictionsCsv(ds) if pred is not None else None
        seeds = result.seeds.tolist()
        if show:
            from runner.sweep import progress

            rows = progress(rows, "logging child runs", min_items=200 // (len(self.helpers) + 1))
        for i in rows:
            if processes.interrupted:
                raise KeyboardInterrupt
            seed = seeds[i]
            seed_label = "explicit weights" if result.explicit else f"seed {seed}"
            run = self.client.create_run(
                self.experiment_id,
                run_name=f"{label} · {seed_label}",
                tags={"mlflow.parentRunId": parent_id, "neuron_luck.seed": str(seed)},
            )
            rid = run.info.run_id
            try:
                now = int(time.time() * 1000)
                params = dict(base_params)
                params["seed"] = "explicit" if result.explicit else seed
                # Six significant digits keep the UI's columns readable; the exact values
                # are in the parent's seeds.parquet and follow from the seed anyway.
                params.update({n: _short(w) for n, w in zip(names, result.W[i], strict=True)})
                params["bias"] = _short(result.b[i])
                metrics = [Metric(k, float(v[i]), now, 0) for k, v in result.metrics.items()]
                before = result.before
                if before is not None:
                    # mode=train: where the seed started, and its training loss per epoch.
                    params.update({n.replace("w.", "w0.", 1): _short(w)
                                   for n, w in zip(names, before.W[i], strict=True)})
                    params["bias0"] = _short(before.b[i])
                    metrics += [Metric(f"{k}_before", float(v[i]), now, 0)
                                for k, v in before.metrics.items()]
                    metrics += [Metric("train_loss", float(v), now, int(e)) for e, v in
                                zip(result.loss_epochs, result.losses[:, i], strict=True)]
                self.client.log_batch(
                    rid, metrics=metrics,
                    params=[Param(k, _param_value(v)) for k, v in params.items()],
                )
                if table is not None:
                    self._log_text(run.info.artifact_uri, "predictions.csv",
                                   table.render(result.z[i], result.y_hat[i], pred[i]))
                self.client.set_terminated(rid, "FINISHED")
            except BaseException:
                # Not left RUNNING: a re-run deletes it and logs the seed again.
                with contextlib.suppress(Exception):
                    self.client.set_terminated(rid, "FAILED")
                raise
            self.children_logged += 1

    def _log_text(self, artifact_uri: str, name: str, text: str) -> None:
        """Store `text` as the artifact `name` of the run whose artifacts live at the URI."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        # create_run has told us the artifact location: no get_run as log_artifact does.
        repo = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
        if hasattr(repo, "log_artifact_from_stream"):  # MLflow ≥ 3.x local stores
            repo.log_artifact_from_stream(io.BytesIO(text.encode()), name)
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(text)
            repo.log_artifact(str(path))

    def finish(self, run_id, status="FINISHED"):
        self.client.set_terminated(run_id, status)


class _PredictionsCsv:
    """One seed's predictions as CSV text; the columns that no seed changes are made once."""

    def __init__(self, ds):
        cols = ["row"] + ds.features + [ds.target, "z", "y_hat", "predicted", "correct"]
        self.header = ",".join(_csv_cell(c) for c in cols) + "\n"
        values = ds.frame[ds.features].to_numpy(float).tolist()
        labels = ds.frame[ds.target].astype(str).tolist()
        self.prefix = [
            ",".join([str(r), *(repr(v) for v in vals), _csv_cell(label)])
            for r, (vals, label) in enumerate(zip(values, labels, strict=True))
        ]
        self.truth = ds.y.astype(bool)
        self.classes = (_csv_cell(ds.negative), _csv_cell(ds.positive))

    def render(self, z, y_hat, pred) -> str:
        correct = (pred == self.truth).tolist()
        lines = [
            f"{p},{zv!r},{yv!r},{self.classes[c]},{k}"
            for p, zv, yv, c, k in zip(self.prefix, z.tolist(), y_hat.tolist(),
                                       pred.tolist(), correct, strict=True)
        ]
        return self.header + "\n".join(lines) + "\n"


def _csv_cell(v: str) -> str:
    return f'"{v}"' if ("," in v or '"' in v) else v


class _Helper(Forked):
    """A forked process that logs the child runs it is sent, with its own MLflow client."""

    def __init__(self, uri: str, experiment: str):
        super().__init__(_helper_loop, uri, experiment, name="mlflow-child-runs")

    def submit(self, rows, *args):
        self.conn.send((rows, *args))

    def wait(self) -> tuple[int, str | None]:
        """(children it logged, error message or None)."""
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            code = self.process.exitcode
            return 0, f"the process logging a share of the child runs ended (exit code {code})"


def _helper_loop(conn, uri, experiment):
    tracker = None
    while True:
        try:
            rows, *args = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            # Made once there is work: by then the parent has found or created the experiment.
            tracker = tracker or Tracker(uri, experiment)
            tracker.children_logged = 0
            tracker._log_rows(rows, *args, show=False)
            conn.send((tracker.children_logged, None))
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises
            done = tracker.children_logged if tracker else 0
            with contextlib.suppress(OSError):  # the parent may be gone
                conn.send((done, f"{type(e).__name__}: {scrub(str(e), uri)}"))
            if not isinstance(e, Exception):
                return
