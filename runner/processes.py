"""Forked helper processes: when a fork is safe, and a child that talks through a pipe.

The runner forks (rather than spawns) so a helper starts in milliseconds with everything
already imported; it forks only while the process has a single thread.
"""

from __future__ import annotations

import contextlib
import os
import sys

# Set in a forked child when Ctrl-C reaches it: loops stop at their next clean point, so
# no MLflow call is cut off half-way and the runs can still be marked FAILED.
interrupted = False


def can_fork() -> bool:
    """Whether a child process can be forked safely: POSIX, and no other thread running."""
    import multiprocessing
    import threading

    return ("fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1)


class Forked:
    """A forked child running `target(conn, *args)`, and this side's end of their pipe.

    The child dies with this process (Linux), so a `kill -9` leaves nothing behind; it should
    return when its end of the pipe reports end-of-file, which `close` causes.
    """

    def __init__(self, target, *args, name: str):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.conn, theirs = ctx.Pipe()
        self.process = ctx.Process(target=_child, args=(target, theirs, self.conn, os.getpid(),
                                                        args), name=name)
        self.process.start()
        theirs.close()

    def close(self) -> None:
        self.conn.close()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _child(target, conn, parents_end, parent: int, args) -> None:
    import signal

    parents_end.close()  # else this process would never see end-of-file on its own end
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    signal.signal(signal.SIGINT, _note_interrupt)
    target(conn, *args)


def _note_interrupt(_signum, _frame):
    global interrupted
    interrupted = True
