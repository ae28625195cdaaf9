"""`python -m runner`: the Hydra entry point; a job's work is in runner.job."""

import logging
import os
import signal
import sys
import time
from pathlib import Path

# When this command started: a parent of the same job that finished after this was logged
# by an identical command running at the same time (runner.tracking.tracker.start_parent).
STARTED = time.time()

from runner import speedups  # noqa: E402
from runner.errors import Terminated, error_line, raise_if_stopped, stop  # noqa: E402
from runner.progress import say  # noqa: E402


def stopped(e: KeyboardInterrupt) -> None:
    """Ctrl-C or SIGTERM, wherever it came: one line that says how to resume, and the exit
    code of the signal (130, 143)."""
    what = "Terminated" if isinstance(e, Terminated) else "Interrupted"
    say(f"{what}: the parent run, if any, is marked FAILED; run the same command "
        "again to log the rest.", sys.stderr)
    sys.exit(143 if isinstance(e, Terminated) else 130)


def _terminate(_signum, _frame):
    # SIGTERM is Ctrl-C: the forked worker and helpers stop at a clean point, the parent run
    # is marked FAILED, and this process says how to resume (it was left RUNNING).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    speedups.forward_interrupt()
    stop(Terminated())


def _interrupt(_signum, _frame):
    stop(KeyboardInterrupt())


def _stop_while_starting(signum, _frame):
    # Ctrl-C or SIGTERM while Hydra is imported: nothing has run yet, and a KeyboardInterrupt
    # raised inside an import would be reported as that import's failure.
    speedups.forward_interrupt()
    stopped(Terminated() if signum == signal.SIGTERM else KeyboardInterrupt())


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop_while_starting)
    signal.signal(signal.SIGINT, _stop_while_starting)
    speedups.start(sys.argv[1:])  # first: the worker imports MLflow while Hydra starts here

with speedups.heavy_imports("hydra"):
    import hydra
    from hydra.core.hydra_config import HydraConfig

    from runner.config import check_overrides, register_configs, seed_given, to_config
    from runner.errors import FULL_ERROR, LoggingFailed, UserError, full_error

log = logging.getLogger("runner")
register_configs()


# conf/ by its absolute path: the same whether this runs as `python -m runner` or is called
# from another module (the tests run many refused command lines in one process).
@hydra.main(version_base="1.3", config_path=str(Path(__file__).resolve().parent.parent / "conf"),
            config_name="config")
def main(cfg) -> None:
    hc = HydraConfig.get()
    if hc.job.chdir:
        # Relative paths (the store, dataset.path) mean what they meant where the command was
        # typed; the job writes its run folder by its absolute path anyway. Hydra restores
        # the working directory after the job.
        os.chdir(hc.runtime.cwd)
    job(cfg, Path(hc.runtime.output_dir), list(hc.overrides.task))


def job(cfg, output_dir: Path, overrides: list[str]) -> None:
    """One job of a composed config: its outcome printed, or its refusal as one line and exit
    code 2 (3 when logging failed, 130 or 143 when stopped)."""
    from runner.job import run_job

    try:
        raise_if_stopped()  # a stop that a callback's library turned into a warning
        check_overrides(overrides)
        outcome = run_job(to_config(cfg), output_dir, overrides, seed_given(overrides),
                          started=STARTED)
        raise_if_stopped()  # a stop that came during the job's last MLflow call
    except (UserError, LoggingFailed) as e:
        if full_error():
            raise
        from runner.uri import scrub

        # No URL's password, whatever message carries one (the URI is redacted already).
        say(error_line(scrub(str(e), "")), sys.stderr)
        sys.exit(2 if isinstance(e, UserError) else 3)
    except KeyboardInterrupt as e:
        if full_error():
            raise
        stopped(e)
    try:
        say(outcome.text)  # whole: the jobs of a parallel launcher share the terminal
    except BrokenPipeError:
        # `python -m runner … | head`: the reader has what it wanted, and the job is done
        # and logged; no traceback, and no second error when Python flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run(args: list[str]) -> None:
    """main(), with the command line checked first (runner.cli) and what only Hydra finds
    worded as one line and exit code 2."""
    try:
        _run(args)
    except KeyboardInterrupt as e:
        # While the command line is checked, Hydra composes or imports the multirun callback
        # (where it was reported as "module 'runner.sweep' has no attribute 'callback'"), or
        # between a multirun's jobs.
        if full_error():
            raise
        stopped(e)


def before_hydra(args: list[str]) -> None:
    """--version, and the command line checked: a refusal is one line and exit code 2."""
    from runner import cli

    if "--version" in args:  # Hydra's own would name Hydra's version only
        print(cli.version())
        sys.exit(0)
    # With tracebacks asked for, Hydra sees the command line as typed: its own refusal, in
    # full, is the check of ours.
    refused = None if full_error() else cli.check(args)
    if refused is not None:
        say(error_line(refused), sys.stderr)
        sys.exit(2)
    note = cli.launcher_note(args)
    if note is not None:
        say(f"Note: {note}", sys.stderr)


def _run(args: list[str]) -> None:
    from runner.cli.runtime import explain

    before_hydra(args)
    user_full = full_error()
    os.environ[FULL_ERROR] = "1" if user_full else "0"  # for this job and launched ones
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises what it would print in many lines
    try:
        main()
    except Exception as e:
        # A stop that landed inside a library can come out as that library's error (Hydra's
        # "Error locating target … (Error loading …)" while it imports the multirun callback):
        # after a stop, any error is the stop.
        raise_if_stopped()
        if user_full:
            raise
        message = explain(e, args)
        if message is None:
            raise
        say(error_line(message), sys.stderr)
        sys.exit(2)
    # A stop that came during the sweep report's last MLflow call waited for a next call that
    # never came (errors.shielded): the command was still stopped.
    raise_if_stopped()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _interrupt)
    run(sys.argv[1:])
