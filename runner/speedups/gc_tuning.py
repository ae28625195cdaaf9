"""Keep Python's cyclic garbage collector away from the objects that imports create.

Importing Hydra, MLflow and SQLAlchemy builds about a million long-lived objects. The
collector traces all of them again at every full collection while they are being built
(~0.2 s of MLflow's import here) and once more when the interpreter exits (~0.4 s).
Frozen objects are still freed by reference counting; only cycle detection skips them.
"""

from __future__ import annotations

import gc
import sys
from contextlib import contextmanager


@contextmanager
def heavy_imports(module: str):
    """Import inside this block with the collector paused; freeze what was built.

    Does nothing once `module` is imported, so a long-lived process (the tests, a Hydra
    multirun) freezes only once and its own garbage stays collectable.
    """
    if module in sys.modules:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def fast_exit() -> None:
    """At exit, spare the interpreter a last trace through every object (call via atexit)."""
    gc.freeze()

