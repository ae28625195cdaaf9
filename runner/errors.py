"""The exception types whose message is shown to the user as is, without a traceback."""

import os

# `python -m runner` sets HYDRA_FULL_ERROR=1 for Hydra (so Hydra raises its refusals and the
# runner words them), and keeps the user's own choice here, where its jobs read it: in this
# process, and in the processes a launcher starts with its environment.
FULL_ERROR = "NEURON_LUCK_FULL_ERROR"


def full_error() -> bool:
    """Whether the user asked for tracebacks (HYDRA_FULL_ERROR=1)."""
    mine = os.environ.get(FULL_ERROR)
    if mine is not None:
        return mine == "1"
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


class UserError(Exception):
    """Bad input: the message names the culprit and how to fix it."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: stopped like Ctrl-C, at a clean point, the parent run marked FAILED."""


class LoggingFailed(Exception):
    """MLflow failed part-way; the message says what was logged and where the results are."""


class WriteFailed(LoggingFailed):
    """The run folder could not be written (a full disk, a file-size limit): a fault, not bad
    input, so exit code 3 as for MLflow's; a LoggingFailed because that is what the command
    line shows as one line with that code. Nothing was logged to MLflow yet."""
