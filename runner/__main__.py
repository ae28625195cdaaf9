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

if __name__ == "__main__":
    speedups.start(sys.argv[1:])  # first: the worker imports MLflow while Hydra starts here

with speedups.heavy_imports("hydra"):
    import hydra
    from hydra.core.hydra_config import HydraConfig

    from runner.config import check_overrides, register_configs, seed_given, to_config
    from runner.errors import FULL_ERROR, LoggingFailed, Terminated, UserError, full_error

log = logging.getLogger("runner")
register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg) -> None:
    from runner.job import run_job

    hc = HydraConfig.get()
    if hc.job.chdir:
        # Relative paths (the store, dataset.path) mean what they meant where the command was
        # typed; the job writes its run folder by its absolute path anyway. Hydra restores
        # the working directory after the job.
        os.chdir(hc.runtime.cwd)
    overrides = list(hc.overrides.task)
    try:
        check_overrides(overrides)
        outcome = run_job(to_config(cfg), Path(hc.runtime.output_dir), overrides,
                          seed_given(overrides), started=STARTED)
    except (UserError, LoggingFailed) as e:
        if full_error():
            raise
        from runner.uri import scrub

        # No URL's password, whatever message carries one (the URI is redacted already).
        print(f"Error: {scrub(str(e), '')}", file=sys.stderr)
        sys.exit(2 if isinstance(e, UserError) else 3)
    except KeyboardInterrupt as e:
        if full_error():
            raise
        what = "Terminated" if isinstance(e, Terminated) else "Interrupted"
        print(f"{what}: the parent run, if any, is marked FAILED; run the same command "
              "again to log the rest.", file=sys.stderr)
        sys.exit(143 if isinstance(e, Terminated) else 130)
    try:
        print(outcome.text, flush=True)
    except BrokenPipeError:
        # `python -m runner … | head`: the reader has what it wanted, and the job is done
        # and logged; no traceback, and no second error when Python flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run(args: list[str]) -> None:
    """main(), with Hydra's refusals of bad input worded as one line and exit code 2."""
    from runner.cli_errors import check_args, explain, launcher_note, version

    if "--version" in args:  # Hydra's own would name Hydra's version only
        print(version())
        sys.exit(0)
    refused = check_args(args)
    if refused is not None:
        print(f"Error: {refused}", file=sys.stderr)
        sys.exit(2)
    note = launcher_note(args)
    if note is not None:
        print(f"Note: {note}", file=sys.stderr)
    user_full = full_error()
    os.environ[FULL_ERROR] = "1" if user_full else "0"  # for this job and launched ones
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises what it would print in many lines
    try:
        main()
    except Exception as e:
        if user_full:
            raise

        message = explain(e, args)
        if message is None:
            raise
        print(f"Error: {message}", file=sys.stderr)
        sys.exit(2)


def _terminate(_signum, _frame):
    # SIGTERM is Ctrl-C: the forked worker and helpers stop at a clean point, the parent run
    # is marked FAILED, and this process says how to resume (it was left RUNNING).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    speedups.forward_interrupt()
    raise Terminated


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    run(sys.argv[1:])
