"""MLflow imported in a second process while Hydra composes and the seeds are evaluated.

`python -m runner` forks this worker first thing, before Hydra is imported, when its
arguments say it will log to MLflow. Importing MLflow and its SQL store (~0.7 s) then
overlaps the rest of the start; the job hands its outcome over once the run folder is
written, and draws the plots meanwhile. The worker publishes with the same
`runner.tracking.publish.publish` as a job's own process.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import sys
import threading

from runner.errors import LoggingFailed, UserError, full_error
from runner.speedups.processes import ChildEnded, Forked, can_fork

# Imported before the worker is forked, by `python -m runner`: the imports up here stay light.

_worker: Worker | None = None
_live: set = set()  # workers not closed yet

# No single job logs to MLflow after Hydra's informational options, in a multirun (its jobs
# may run elsewhere) or with tracking switched off. Read before Hydra is imported, with the
# command line split as runner.cli splits it; a worker forked in vain is stopped at exit, and
# a job that finds none logs in its own process, so a wrong guess costs time, never a run.
_OFF = {"tracking=off", "tracking.enabled=false", "tracking.enabled=False"}


def wanted(argv: list[str]) -> bool:
    """Whether `argv` (a `python -m runner` command line) runs one job that logs to MLflow."""
    from runner.cli.options import split

    line = split(argv)
    return line.runs_jobs and not line.multirun and not _OFF & set(line.overrides)


def start(argv: list[str]) -> None:
    """Fork the worker if `argv` will log to MLflow and this process can fork."""
    global _worker
    if not wanted(argv) or not can_fork():
        return
    _worker = Worker(_uri_hint(argv))
    atexit.register(_stop_left_over)


def claim() -> Worker | None:
    """The worker, for the first job that asks; later jobs in this process log themselves."""
    global _worker
    worker, _worker = _worker, None
    return worker


def _stop_left_over():
    # A job that failed before it handed the logging over (bad input) must not wait at exit
    # for the worker's import to finish; multiprocessing would join it otherwise.
    for worker in list(_live):
        worker.stop()


def _uri_hint(argv) -> str:
    from runner.cli.options import split

    for a in split(argv).overrides:
        if a.startswith("tracking.uri="):
            return a.split("=", 1)[1]
    return os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///")


class Worker(Forked):
    """The main process's handle on the worker: send it work, wait for its answer."""

    def __init__(self, uri_hint: str):
        super().__init__(_serve, uri_hint, name="mlflow-logger")
        self._sending = None
        _live.add(self)

    def prepare(self, uri: str) -> None:
        """Open (create, migrate) the store now; a failure is reported by `result`."""
        self.conn.send(("prepare", uri))

    def log(self, outcome, helpers: int, plots_follow: bool) -> None:
        """Hand the outcome over; if `plots_follow`, send `plots` before asking for `result`."""
        data = pickle.dumps(("log", outcome, helpers, plots_follow, _logging_setup()),
                            protocol=pickle.HIGHEST_PROTOCOL)
        # The pipe holds 64 KiB and the worker reads only once MLflow is imported: a thread
        # writes the rest, so this process goes on (to draw the plots) meanwhile.
        self._sending = threading.Thread(target=self._send, args=(data,),
                                         name="to-mlflow-logger", daemon=True)
        self._sending.start()

    def _send(self, data: bytes) -> None:
        # A worker that died is reported by `result`, with the exit code, not here.
        try:
            self.conn.send_bytes(data)
        except OSError:
            pass

    def plots(self, ok: bool, value) -> None:
        self._sending.join()
        self._send(pickle.dumps(("plots", ok, value)))

    def result(self) -> tuple[str, str, int]:
        """(parent run id, experiment id, processes that logged child runs), or the failure."""
        if self._sending is not None:
            self._sending.join()
        try:
            answer = self.receive("the MLflow logging process")
        except ChildEnded as e:
            raise LoggingFailed(f"{e}; run the same command again to log the rest") from None
        if answer[0] == "ok":
            return answer[1:]
        _, kind, message, trace = answer
        if full_error():
            print(trace, file=sys.stderr)
        if kind == "UserError":
            raise UserError(message)
        if kind == "LoggingFailed":
            raise LoggingFailed(message)
        if kind == "KeyboardInterrupt":
            # Ctrl-C reaches the worker too, and it may answer first: the same interruption
            # as this process's, which says how to resume (not "logging failed", exit 3).
            raise KeyboardInterrupt
        first = (message.strip().splitlines() or [""])[0]
        raise LoggingFailed(f"MLflow logging failed ({kind}: {first})")

    def close(self) -> None:
        _live.discard(self)
        super().close()

    def stop(self) -> None:
        """End the worker now, whatever it is doing (nothing was handed over yet)."""
        self.process.kill()
        self.close()


class WorkerPublisher:
    """Publishes through the worker: it logs while this process draws the plots."""

    def __init__(self, worker: Worker, uri: str, helpers: int):
        self.worker, self.helpers = worker, helpers
        worker.prepare(uri)  # while the seeds are evaluated here

    def publish(self, outcome, draw):
        """runner.tracking.publish.Publisher.publish, through the worker."""
        from runner.tracking.publish import Published

        if not outcome.tracking.n_children:  # per-row outputs serve the child runs only
            outcome = _replace_result(outcome)
        self.worker.log(outcome, self.helpers, draw is not None)
        paths = ()
        if draw is not None:
            try:
                paths = tuple(draw())
                self.worker.plots(True, paths)
            except Exception as e:
                self.worker.plots(False, f"{type(e).__name__}: {e}")
        parent, experiment_id, processes = self.worker.result()
        return Published(parent, experiment_id, processes, paths)

    def close(self) -> None:
        self.worker.close()


def _replace_result(outcome):
    import dataclasses

    return dataclasses.replace(outcome, result=outcome.result.without_outputs())


def _serve(conn, uri_hint: str) -> None:
    """The worker: import MLflow, then serve messages until the pipe closes."""
    from runner.speedups.helpers import import_mlflow
    from runner.tracking import setup
    from runner.uri import scrub

    import_mlflow(uri_hint)
    prepared = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if message[0] == "prepare":
            try:
                setup.prepare(message[1])
            except Exception as e:  # noqa: BLE001 - reported when the logging is asked for
                prepared = e
        elif message[0] == "log":
            try:
                if prepared is not None:
                    raise prepared
                answer = ("ok", *_publish(conn, *message[1:]))
            except BaseException as e:  # noqa: BLE001 - the main process raises it
                import traceback

                uri = message[1].tracking.uri
                answer = ("error", type(e).__name__, scrub(str(e), uri),
                          scrub(traceback.format_exc(), uri))
            try:
                conn.send(answer)
            except OSError:  # the main process is gone (Ctrl-C): nobody to tell
                return
            if answer[0] == "error" and answer[1] == "KeyboardInterrupt":
                return
        # ("plots", …) after a failed "log": nobody waits for it any more.


def _publish(conn, outcome, helpers: int, plots_follow: bool, logging_setup):
    from runner.speedups.helpers import FastTracker
    from runner.tracking.publish import open_tracker, publish

    def plots():
        _, ok, value = conn.recv()
        if not ok:
            raise RuntimeError(f"plots: {value}")
        return value

    _copy_logging(logging_setup)
    tracker = open_tracker(
        lambda o: FastTracker(o.tracking.uri, o.tracking.experiment, helpers), outcome)
    try:
        parent = publish(outcome, tracker, plots if plots_follow else None)
        return parent, tracker.experiment_id, tracker.processes
    finally:
        tracker.close()


def _logging_setup() -> list:
    """The root logger's handlers as (kind, level, format, file), for the worker to copy.

    Hydra sets logging up after the worker was forked: the worker's messages should still
    reach the terminal and the run folder's log file.
    """
    setup = []
    for h in logging.getLogger().handlers:
        fmt = h.formatter._fmt if h.formatter else None
        if isinstance(h, logging.FileHandler):
            setup.append(("file", h.level, fmt, h.baseFilename))
        elif isinstance(h, logging.StreamHandler):
            setup.append(("stream", h.level, fmt, None))
    return [("level", logging.getLogger().level, None, None), *setup]


def _copy_logging(setup: list) -> None:
    root = logging.getLogger()
    for kind, level, fmt, path in setup:
        if kind == "level":
            root.setLevel(level)
            continue
        handler = logging.FileHandler(path) if kind == "file" else logging.StreamHandler()
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(fmt))
        root.addHandler(handler)
