"""Who may log a job: one process at a time per job key and experiment.

Two identical commands (or two jobs of a multirun that differ only in chunk_size) must not
both log the same job's child runs. Before a job touches its parent run it holds the job's
lock; the other waits for it (runner.tracking.tracker.Tracker.start_parent says what it does
then).

- A SQLite store is on this machine: an fcntl lock on a file beside the database
  (`<db>.locks/<experiment>-<key>.lock`). Taking it is atomic, and the kernel releases it
  when its owner dies, however it dies.
- Any other store (an HTTP server, PostgreSQL) may be shared with other machines: a lease,
  kept as a tag of the experiment, holding the owner's host, pid, a random token and a
  heartbeat time. The logging loop refreshes it (`refresh`, at most every
  limits.LEASE_REFRESH_SECONDS; never a thread: the runner forks helper processes). Another
  process takes it over only when its owner is gone: on the same host, the pid is dead;
  elsewhere, the heartbeat is older than limits.LEASE_EXPIRY_SECONDS. A claim is written,
  then read back after limits.LEASE_SETTLE_SECONDS: of two processes that claim at once,
  only the one whose claim is still there goes on. A refresh that finds another owner's
  claim raises LeaseLost, so a process that lost the lease stops logging.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from runner import limits
from runner.uri import sqlite_path

log = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """Another process took the job's lease over: this one must stop logging."""


@dataclass(frozen=True)
class Owner:
    """Who holds a job: host, process id, a token unique to this hold, and its heartbeat."""

    host: str
    pid: int
    token: str
    heartbeat: float  # time.time() of the last refresh

    def text(self) -> str:
        return f"{self.host} {self.pid} {self.token} {self.heartbeat:.3f}"

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        try:
            host, pid, token, beat = (text or "").split(" ")
            return cls(host, int(pid), token, float(beat))
        except ValueError:
            return None

    @classmethod
    def me(cls, token: str) -> Owner:
        return cls(socket.gethostname(), os.getpid(), token, time.time())

    def gone(self) -> bool:
        """Whether this owner can no longer be logging: its process is dead (same host),
        or its heartbeat stopped long ago (another host)."""
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return time.time() - self.heartbeat > limits.LEASE_EXPIRY_SECONDS

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}"


class JobLock:
    """The right to log one job; `acquire` waits for it, `release` gives it back."""

    def acquire(self, should_stop=lambda: False) -> bool:
        """Wait until this process holds the job; whether another held it meanwhile.

        `should_stop` is asked while waiting; when it says True, KeyboardInterrupt.
        """
        raise NotImplementedError

    def refresh(self) -> None:
        """Called by the logging loop: keep the hold alive (LeaseLost if it was lost)."""

    def release(self) -> None:
        raise NotImplementedError


class FileLock(JobLock):
    """An fcntl lock on a file beside a SQLite store."""

    def __init__(self, db: Path, experiment_id: str, key: str):
        folder = db.parent / f"{db.name}.locks"
        folder.mkdir(exist_ok=True)
        self.path = folder / f"{experiment_id}-{key}.lock"
        self.fd: int | None = None

    def acquire(self, should_stop=lambda: False) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        waited = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waited:
                        holder = Owner.parse(os.pread(fd, 200, 0).decode(errors="replace"))
                        _say_waiting(holder)
                        waited = True
                    if should_stop():
                        raise KeyboardInterrupt from None
                    time.sleep(limits.LOCK_POLL_SECONDS)
            os.ftruncate(fd, 0)
            os.pwrite(fd, Owner.me(secrets.token_hex(8)).text().encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return waited

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None


class StoreLease(JobLock):
    """A lease kept as the experiment's tag `neuron_luck.lease.<key>`."""

    def __init__(self, client, experiment_id: str, key: str):
        self.client, self.experiment_id = client, experiment_id
        self.tag = f"neuron_luck.lease.{key}"
        self.token = secrets.token_hex(8)
        self.held = False
        self.last_refresh = 0.0

    def holder(self) -> Owner | None:
        exp = self.client.get_experiment(self.experiment_id)
        return Owner.parse(exp.tags.get(self.tag))

    def _claim(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.set_experiment_tag(self.experiment_id, self.tag,
                                           Owner.me(self.token).text())
        except MlflowException:
            if self.holder() is not None:  # two first claims inserted the same tag at once
                return False
            raise  # refused for another reason (rights, a deleted experiment): not a wait
        time.sleep(limits.LEASE_SETTLE_SECONDS)
        holder = self.holder()
        return holder is not None and holder.token == self.token

    def acquire(self, should_stop=lambda: False) -> bool:
        waited = False
        while True:
            holder = self.holder()
            if holder is None or holder.gone():
                if holder is not None:
                    log.warning("taking the job over from %s, which is gone", holder)
                if self._claim():
                    self.held, self.last_refresh = True, time.monotonic()
                    return waited
            elif not waited:
                _say_waiting(holder)
            waited = True
            if should_stop():
                raise KeyboardInterrupt
            time.sleep(limits.LEASE_POLL_SECONDS)

    def refresh(self) -> None:
        if not self.held or time.monotonic() - self.last_refresh < limits.LEASE_REFRESH_SECONDS:
            return
        holder = self.holder()
        if holder is None or holder.token != self.token:
            self.held = False
            raise LeaseLost(f"another process ({holder}) took this job over")
        self.client.set_experiment_tag(self.experiment_id, self.tag, Owner.me(self.token).text())
        self.last_refresh = time.monotonic()

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(Exception):  # a lease left behind expires, or its pid dies
            holder = self.holder()
            if holder is not None and holder.token == self.token:
                self.client.delete_experiment_tag(self.experiment_id, self.tag)


def _say_waiting(holder: Owner | None) -> None:
    by = f" by {holder}" if holder else ""
    log.warning("this job is being logged%s; waiting for it to end (then this command "
                "reports its runs, or logs what it left undone)", by)


def job_lock(client, uri: str, experiment_id: str, key: str) -> JobLock:
    """The lock of job `key` in the experiment: a file beside a SQLite store, else a lease."""
    db = sqlite_path(uri)
    if db is not None:
        return FileLock(db, experiment_id, key)
    return StoreLease(client, experiment_id, key)
