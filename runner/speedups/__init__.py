"""Speed-ups, behind one seam: the plain path (runner.tracking.publish.Publisher, in the job's
own process) is the reference, and these must store exactly the same runs.

- `start(argv)`, first thing in `python -m runner`: fork a worker that imports MLflow while
  Hydra starts here (`worker`), and keep the garbage collector off import-built objects
  (`gc_tuning`).
- `publisher(plan)`: the way a job publishes: through that worker (it logs while this
  process draws the plots), or from this process with helper processes that log a share of
  the child runs and a forked process that draws the plots (`local`, `helpers`).

`NEURON_LUCK_SPEEDUPS=0` turns all of them off; `NEURON_LUCK_WORKER=0` the worker only.
"""

from __future__ import annotations

import atexit
import contextlib
import os

from runner.speedups import gc_tuning, worker

# Imported first thing by `python -m runner`, before the worker is forked: what this module
# imports at the top stays light (the publishers are imported when a job asks for one).


def enabled() -> bool:
    return os.environ.get("NEURON_LUCK_SPEEDUPS", "1") != "0"


def start(argv: list[str]) -> None:
    """Before Hydra is imported: fork the MLflow worker if `argv` runs one job that logs."""
    if not enabled():
        return
    atexit.register(gc_tuning.fast_exit)
    if os.environ.get("NEURON_LUCK_WORKER", "1") != "0":
        worker.start(argv)


def forward_interrupt() -> None:
    """Interrupt the worker and helper processes this process forked."""
    from runner.speedups.processes import forward_interrupt

    forward_interrupt()


def heavy_imports(module: str):
    """A block that imports `module`: the collector paused, what it built frozen."""
    return gc_tuning.heavy_imports(module) if enabled() else contextlib.nullcontext()


@contextlib.contextmanager
def publisher(plan):
    """The publisher for `plan`'s job (None with tracking off), closed when the block ends.

    Made before the seeds are evaluated: it checks the store, and opens it meanwhile.
    """
    t = plan.tracking
    if t is None:
        yield None
        return
    from runner import limits
    from runner.speedups.local import LocalPublisher
    from runner.tracking.checks import check
    from runner.tracking.publish import Publisher

    if not enabled():
        chosen = Publisher(t)
    else:
        w = worker.claim()
        if w is not None and plan.n_seeds > limits.WORKER_MAX_SEEDS:
            w.stop()  # a long evaluation hides the import anyway; spare the copying
            w = None
        if w is not None:
            try:
                check(t.uri, t.experiment)
            except BaseException:
                w.stop()
                raise
            helpers = t.processes - 1 if t.n_children >= limits.PARALLEL_CHILDREN_FROM else 0
            chosen = worker.WorkerPublisher(w, t.uri, helpers)
        else:
            chosen = LocalPublisher(t)
    try:
        yield chosen
    finally:
        chosen.close()


def map_chunks(fn, items: list) -> list:
    """[fn(item) for item in items], the items shared out over the machine's cores.

    For work whose results do not depend on which items run together (chunks of seeds, each
    metric's own bootstrap stream): forked processes, so numpy's Python-side steps run in
    parallel too; where forking is unsafe (another thread runs), one after another.
    """
    workers = min(len(items), os.cpu_count() or 1)
    if not enabled() or workers < 2:
        return [fn(item) for item in items]
    from runner.speedups.processes import can_fork, fork_map

    if not can_fork():
        return [fn(item) for item in items]
    return fork_map(fn, items, workers)


def imap_threads(fn, items):
    """fn(item) for item in items, in order, computed by a thread per core.

    For numpy work on arrays of ~10⁵ cells and more, whose steps release the GIL: chunks of
    seeds evaluate side by side in one process, with no copying of their results. Each
    result depends on its item alone, so the order of computing them changes nothing."""
    workers = os.cpu_count() or 1
    if not enabled() or workers < 2:
        yield from map(fn, items)
        return
    import collections
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(workers, thread_name_prefix="neuron-luck")
    pending = collections.deque()
    try:
        for item in items:
            # In the caller's context, as the plain path runs: numpy's error state (np.errstate
            # around a trained network's evaluation) lives in a context variable.
            pending.append(pool.submit(contextvars.copy_context().run, fn, item))
            if len(pending) > 2 * workers:  # a few ahead, not the whole job's results
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def draw_aside(draw):
    """Start drawing the plots (`draw()` → paths) in a forked process, so this one can write
    the run folder meanwhile; returns what gives their paths, waiting if need be. Without the
    speed-ups, or where forking is unsafe, it draws them now."""
    from runner.speedups.local import Drawer
    from runner.speedups.processes import can_fork

    if not enabled() or not can_fork():
        paths = tuple(draw())
        return lambda: paths
    drawer = Drawer(draw)

    def wait():
        try:
            return tuple(drawer.wait())
        finally:
            drawer.close()

    return wait
