"""MLflow imported in a second process while Hydra composes and the seeds are evaluated.

`python -m runner` forks this process first thing, before Hydra is imported, when its
arguments say it will log to MLflow. Importing MLflow and its SQL store (~0.7 s) then
overlaps the rest of the start; the job hands the logging over once its results are
ready, and draws the plots meanwhile. Without a worker (tests, multirun jobs, no fork)
the job logs in its own process: the same code and the same runs.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import pickle
import sys

from runner.errors import LoggingFailed, UserError
from runner.processes import Forked, can_fork

_worker: Worker | None = None
_live: set = set()  # workers not closed yet
# Past this many seeds a job logs in its own process: its results would take a while to
# copy to the worker, and evaluating them takes long enough to hide MLflow's import.
MAX_SEEDS = 100_000

# Arguments after which no single job logs to MLflow: Hydra's informational flags,
# multiruns (their jobs may run elsewhere) and tracking switched off.
_NOT_LOGGING = {"-h", "--help", "--hydra-help", "--info", "-i", "--cfg", "-c", "--resolve",
                "--shell-completion", "-sc", "--version", "-m", "--multirun", "-p", "--package"}
_OFF = {"tracking=off", "tracking.enabled=false", "tracking.enabled=False", "hydra.mode=MULTIRUN"}


def wanted(argv: list[str]) -> bool:
    """Whether `argv` (a `python -m runner` command line) runs one job that logs to MLflow."""
    return not any(a in _NOT_LOGGING or a.split("=", 1)[0] in _NOT_LOGGING or a in _OFF
                   for a in argv)


def start(argv: list[str]) -> None:
    """Fork the worker if `argv` will log to MLflow and this process can fork."""
    global _worker
    if not wanted(argv) or os.environ.get("NEURON_LUCK_WORKER", "1") == "0" or not can_fork():
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
    for a in argv:
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

    def log(self, cfg, outcome, overrides, uri: str, n_children: int, helpers: int,
            plots_follow: bool):
        """Hand over job._log; if `plots_follow`, send `plots` before asking for `result`."""
        import threading

        from omegaconf import OmegaConf

        wait, outcome.wait_for_plots = outcome.wait_for_plots, None
        result = outcome.result
        if not n_children:  # per-row outputs serve the child runs only
            outcome.result = dataclasses.replace(result, z=None, y_hat=None)
        try:
            job = (OmegaConf.to_container(cfg, resolve=True), outcome, list(overrides), uri,
                   helpers, plots_follow, _logging_setup())
            data = pickle.dumps(("log", job), protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            outcome.wait_for_plots, outcome.result = wait, result
        # The pipe holds 64 KiB and the worker reads only once MLflow is imported: a thread
        # writes the rest, so this process goes on (to draw the plots) meanwhile.
        self._sending = threading.Thread(target=self._send, args=(data,),
                                         name="to-mlflow-logger", daemon=True)
        self._sending.start()

    def _send(self, data: bytes) -> None:
        # A worker that died is reported by `result`, with the exit code, not here.
        with contextlib.suppress(OSError):
            self.conn.send_bytes(data)

    def plots(self, ok: bool, value) -> None:
        self._sending.join()
        self._send(pickle.dumps(("plots", ok, value)))

    def result(self) -> tuple[str, str, int]:
        """(parent run id, experiment id, processes that logged child runs), or the failure."""
        if self._sending is not None:
            self._sending.join()
        try:
            answer = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            raise LoggingFailed(
                f"the MLflow logging process ended unexpectedly (exit code "
                f"{self.process.exitcode}); run the same command again to log the rest"
            ) from None
        if answer[0] == "ok":
            return answer[1:]
        _, kind, message, trace = answer
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            print(trace, file=sys.stderr)
        if kind == "UserError":
            raise UserError(message)
        if kind == "LoggingFailed":
            raise LoggingFailed(message)
        raise LoggingFailed(f"MLflow logging failed ({kind}: {message})")

    def close(self) -> None:
        _live.discard(self)
        super().close()

    def stop(self) -> None:
        """End the worker now, whatever it is doing (nothing was handed over yet)."""
        self.process.kill()
        self.close()


def _serve(conn, uri_hint: str) -> None:
    """The worker: import MLflow, then serve messages until the pipe closes."""
    from runner import tracking

    tracking._import_mlflow(uri_hint)
    prepared = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if message[0] == "prepare":
            try:
                tracking.prepare_store(message[1])
            except Exception as e:  # noqa: BLE001 - reported when the logging is asked for
                prepared = e
        elif message[0] == "log":
            try:
                if prepared is not None:
                    raise prepared
                answer = ("ok", *_log(conn, *message[1]))
            except BaseException as e:  # noqa: BLE001 - the main process raises it
                import traceback

                answer = ("error", type(e).__name__, str(e), traceback.format_exc())
            try:
                conn.send(answer)
            except OSError:  # the main process is gone (Ctrl-C): nobody to tell
                return
            if answer[0] == "error" and answer[1] == "KeyboardInterrupt":
                return
        # ("plots", …) after a failed "log": nobody waits for it any more.


def _logging_setup() -> list:
    """The root logger's handlers as (kind, level, format, file), for the worker to copy.

    Hydra sets logging up after the worker was forked: the worker's messages should still
    reach the terminal and the run folder's log file.
    """
    import logging

    setup = []
    for h in logging.getLogger().handlers:
        fmt = h.formatter._fmt if h.formatter else None
        if isinstance(h, logging.FileHandler):
            setup.append(("file", h.level, fmt, h.baseFilename))
        elif isinstance(h, logging.StreamHandler):
            setup.append(("stream", h.level, fmt, None))
    return [("level", logging.getLogger().level, None, None), *setup]


def _copy_logging(setup: list) -> None:
    import logging

    root = logging.getLogger()
    for kind, level, fmt, path in setup:
        if kind == "level":
            root.setLevel(level)
            continue
        handler = logging.FileHandler(path) if kind == "file" else logging.StreamHandler()
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(fmt))
        root.addHandler(handler)


def _log(conn, cfg, outcome, overrides, uri, helpers, plots_follow, logging_setup):
    from omegaconf import OmegaConf

    from runner import job, tracking

    def plots():
        _, ok, value = conn.recv()
        if not ok:
            raise RuntimeError(f"plots: {value}")
        return value

    _copy_logging(logging_setup)
    outcome.wait_for_plots = plots if plots_follow else None
    cfg = OmegaConf.create(cfg)
    tracker = tracking.Tracker(uri, cfg.tracking.experiment, helpers)
    try:
        parent = job._log(cfg, tracker, outcome, overrides)
        return parent, tracker.experiment_id, tracker.processes
    finally:
        tracker.close()
