"""Forked helper processes: when a fork is safe, and a child that talks through a pipe.

The runner forks (rather than spawns) so a helper starts in milliseconds with everything
already imported; it forks only while the process has a single thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import weakref

# This process's ends of the pipes to the children it has forked and not closed yet. A child
# forked later closes its copies of them: else a child would hold a pipe to an older sibling
# open, and that sibling would never see end-of-file when this process closes its end.
_open_ends: weakref.WeakSet = weakref.WeakSet()


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
        _open_ends.add(self.conn)  # the child closes its copy of this end too
        self.process = ctx.Process(target=_child, args=(target, theirs, os.getpid(), args),
                                   name=name)
        self.process.start()
        theirs.close()

    def close(self) -> None:
        _open_ends.discard(self.conn)
        self.conn.close()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def receive(self, what: str):
        """The child's next message; RuntimeError naming `what` if it ended instead."""
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            raise ChildEnded(f"{what} ended unexpectedly (exit code "
                             f"{self.process.exitcode})") from None


class ChildEnded(RuntimeError):
    """A forked child ended before it answered."""


def _child(target, conn, parent: int, args) -> None:
    for end in list(_open_ends):  # this process's copies of the parent's ends, all of them
        with contextlib.suppress(OSError):
            end.close()
    _open_ends.clear()
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    signal.signal(signal.SIGINT, _note_interrupt)
    signal.signal(signal.SIGTERM, _note_interrupt)
    target(conn, *args)


def forward_interrupt() -> None:
    """Interrupt the children this process forked (they stop at their next clean point)."""
    import multiprocessing

    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError):
            os.kill(child.pid, signal.SIGINT)


def _note_interrupt(_signum, _frame):
    # Loops that log runs stop at their next clean point, so no MLflow call is cut off
    # half-way and the runs can still be marked FAILED.
    from runner.tracking import tracker

    if not tracker.interrupted:  # a SIGTERM reached this process only: pass it on
        forward_interrupt()
    tracker.interrupted = True
