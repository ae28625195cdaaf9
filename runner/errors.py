"""The exception types whose message is shown to the user as is, without a traceback."""

import contextlib
import os
import re

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


# A value quoted in an Error line is cut to this many characters (a CSV cell of several MB,
# pasted text), and a word of the line longer than LONG_WORD, wherever it came from.
QUOTED_MAX = 80
LONG_WORD = 200


def shown(value) -> str:
    """A user's value as an Error line quotes it: control characters escaped (a newline
    would break the line in two), at most QUOTED_MAX characters, the cut marked with '…'."""
    text = _escaped(str(value)[:QUOTED_MAX + 1])  # not a 2-MB cell whole: 0.14 s a call
    return text if len(text) <= QUOTED_MAX else text[:QUOTED_MAX - 1] + "…"


def error_line(message) -> str:
    """`Error: <message>` as the one line it must be, whatever the message quotes."""
    text = re.sub(rf"\S{{{LONG_WORD + 1},}}", lambda m: m.group(0)[:QUOTED_MAX - 1] + "…",
                  _escaped(str(message)))
    return f"Error: {text}"


def _escaped(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


class UserError(Exception):
    """Bad input: the message names the culprit and how to fix it."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: stopped like Ctrl-C, at a clean point, the parent run marked FAILED."""


_stop_asked: list[KeyboardInterrupt] = []


def note_stop(e: KeyboardInterrupt) -> KeyboardInterrupt:
    """Remember that this process was asked to stop; returns `e` to raise.

    A KeyboardInterrupt that lands inside a library's try/finally can come out as another
    exception (an UnboundLocalError in the multirun callback's imports), which Hydra's callback
    runner only warns about, and the jobs ran to exit 0 after a SIGTERM."""
    _stop_asked.append(e)
    return e


def stop(e: KeyboardInterrupt) -> None:
    """What the signal handlers do: raise `e` now or, inside a `shielded` section, at the
    start of the next one (or where the job checks, `raise_if_stopped`)."""
    note_stop(e)
    if _shields:
        _pending.append(e)
        return
    raise e


_shields: list[None] = []  # one entry per `shielded` section entered and not left
_pending: list[KeyboardInterrupt] = []


@contextlib.contextmanager
def shielded(cleanup: bool = False):
    """A section a Ctrl-C or SIGTERM does not cut in two: a stop that arrives inside it waits,
    and is raised as the next section starts, before it does anything. An MLflow call is one
    (runner.tracking.tracker.Shielded): a stop raised inside SQLAlchemy's session left its
    connection holding SQLite's write lock, and marking the parent FAILED then waited on this
    process's own lock, 20 s a try, and gave up. Not as the section ends: what it returns (a
    run just created) must reach the code that marks it FAILED. `cleanup`: a section that
    runs on the way out (marking runs FAILED) and so never raises a waiting stop."""
    if _pending and not _shields and not cleanup:
        stopped = _pending[0]
        _pending.clear()
        raise stopped
    _shields.append(None)
    try:
        yield
    finally:
        _shields.pop()


def raise_if_stopped() -> None:
    """Raise the stop asked for, if any: where a swallowed one must not let work begin."""
    if _stop_asked:
        _pending.clear()
        raise _stop_asked[0]


class LoggingFailed(Exception):
    """MLflow failed part-way; the message says what was logged and where the results are."""


class WriteFailed(LoggingFailed):
    """The run folder could not be written (a full disk, a file-size limit): a fault, not bad
    input, so exit code 3 as for MLflow's; a LoggingFailed because that is what the command
    line shows as one line with that code. Nothing was logged to MLflow yet."""
