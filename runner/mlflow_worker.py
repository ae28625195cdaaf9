"""MLflow imported in a second process while Hydra composes and the seeds are evaluated.

`python -m runner` forks this process first thing, before Hydra is imported, when its
arguments say it will log to MLflow. Importing MLflow and its SQL store (~0.7 s) then
overlaps the rest of the start; the job hands the logging over once its results are
ready, and draws the plots meanwhile. Without a worker (tests, multirun jobs, no fork)
the job logs in its own process: the same code and the same runs.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import sys

from runner.errors import LoggingFailed, UserError

_worker: Worker | None = None
# Past this many seeds a job logs in its own process: its results would take a while to
# copy to the worker, and evaluating them takes long enough to hide MLflow's import.
MAX_SEEDS = 100_000

# Arguments after which no single job logs to MLflow: Hydra's informational flags,
# multiruns (their jobs may run elsewhere) and tracking switched off.
_NOT_LOGGING = {"-h", "--help", "--hydra-help", "--info", "-i", "--cfg", "-c", "--resolve",
                "--shell-completion", "-sc", "--version", "-m", "--multirun", "-p", "--package"}
_OFF = {"tracking=off", "tracking.enabled=false", "tracking.enabled=False", "hydra.mode=MULTIRUN"}


def start(argv: list[str]) -> None:
    """Fork the worker if `argv` (a `python -m runner` command line) will log to MLflow."""
    global _worker
    if any(a in _NOT_LOGGING or a.split("=", 1)[0] in _NOT_LOGGING or a in _OFF
           for a in argv):
        return
    if os.environ.get("NEURON_LUCK_WORKER", "1") == "0" or not can_fork():
        return
    _worker = Worker(_uri_hint(argv))
    atexit.register(_stop_unclaimed)


def can_fork() -> bool:
    """Whether a child process can be forked safely: POSIX, and no other thread running."""
    import multiprocessing
    import threading

    return ("fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1)


def claim() -> Worker | None:
    """The worker, for the first job that asks; later jobs in this process log themselves."""
    global _worker
    worker, _worker = _worker, None
    return worker


def _stop_unclaimed():
    # A job that failed before logging (bad input) must not wait for the import to finish.
    if _worker is not None:
        _worker.process.kill()
        _worker.process.join()


def _uri_hint(argv) -> str:
    for a in argv:
        if a.startswith("tracking.uri="):
            return a.split("=", 1)[1]
    return os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///")


class Worker:
    """The main process's handle on the worker: send it work, wait for its answer."""

    def __init__(self, uri_hint: str):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.conn, theirs = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(theirs, self.conn, uri_hint, os.getpid()),
                                   name="mlflow-logger")
        self.process.start()
        theirs.close()
        self._sending = None

    def prepare(self, uri: str) -> None:
        """Open (create, migrate) the store now; a failure is reported by `result`."""
        self.conn.send(("prepare", uri))

    def log(self, cfg, outcome, overrides, uri: str, n_children: int, helpers: int,
            plots_follow: bool):
        """Hand over job._log; if `plots_follow`, send `plots` before asking for `result`."""
        import pickle
        import threading

        from omegaconf import OmegaConf

        wait, outcome.wait_for_plots = outcome.wait_for_plots, None
        result = outcome.result
        if not n_children:  # per-row outputs serve the child runs only
            outcome.result = dataclasses.replace(result, z=None, y_hat=None)
        try:
            job = (OmegaConf.to_container(cfg, resolve=True), outcome, list(overrides), uri,
                   helpers, plots_follow)
            data = pickle.dumps(("log", job), protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            outcome.wait_for_plots, outcome.result = wait, result
        # The pipe holds 64 KiB and the worker reads only once MLflow is imported: a thread
        # writes the rest, so this process goes on (to draw the plots) meanwhile.
        self._sending = threading.Thread(target=self.conn.send_bytes, args=(data,),
                                         name="to-mlflow-logger", daemon=True)
        self._sending.start()

    def plots(self, ok: bool, value) -> None:
        self._sending.join()
        self.conn.send(("plots", ok, value))

    def result(self) -> tuple[str, str]:
        """(parent run id, experiment id), or the worker's failure raised here."""
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
            return answer[1], answer[2]
        _, kind, message, trace = answer
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            print(trace, file=sys.stderr)
        if kind == "UserError":
            raise UserError(message)
        if kind == "LoggingFailed":
            raise LoggingFailed(message)
        raise LoggingFailed(f"MLflow logging failed ({kind}: {message})")

    def close(self) -> None:
        self.conn.close()  # the worker ends at end-of-file
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def _serve(conn, theirs, uri_hint: str, parent: int) -> None:
    """The worker: import MLflow, then serve messages until the pipe closes."""
    theirs.close()
    from runner import tracking

    tracking._die_with_parent(parent)
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
                if not isinstance(e, Exception):
                    conn.send(answer)
                    return
            conn.send(answer)
        # ("plots", …) after a failed "log": nobody waits for it any more.


def _log(conn, cfg, outcome, overrides, uri, helpers, plots_follow):
    from omegaconf import OmegaConf

    from runner import job, tracking

    def plots():
        _, ok, value = conn.recv()
        if not ok:
            raise RuntimeError(f"plots: {value}")
        return value

    outcome.wait_for_plots = plots if plots_follow else None
    cfg = OmegaConf.create(cfg)
    tracker = tracking.Tracker(uri, cfg.tracking.experiment, helpers)
    try:
        return job._log(cfg, tracker, outcome, overrides), tracker.experiment_id
    finally:
        tracker.close()
