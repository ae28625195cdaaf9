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


def fork_map(fn, items: list, workers: int) -> list:
    """[fn(item) for item in items], the items dealt round-robin to this process and
    workers − 1 forked ones; the results come back through pipes, in order."""
    groups = [list(range(k, len(items), workers)) for k in range(workers)]
    children = [Forked(_map_items, fn, [items[i] for i in g], name="neuron-luck-chunks")
                for g in groups[1:]]
    out = [None] * len(items)
    try:
        for i in groups[0]:
            out[i] = fn(items[i])
        for child, group in zip(children, groups[1:], strict=True):
            ok, values = child.receive("a process computing a share of the seeds")
            if not ok:
                raise RuntimeError(values)
            for i, value in zip(group, values, strict=True):
                out[i] = value
    finally:
        for child in children:
            child.close()
    return out


def _map_items(conn, fn, items) -> None:
    try:
        conn.send((True, [fn(item) for item in items]))
    except Exception as e:  # noqa: BLE001 - raised again in the parent
        conn.send((False, f"{type(e).__name__}: {e}"))


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
