"""Progress bars for long loops, on an interactive terminal only."""

from __future__ import annotations

import sys


def progress(iterable, what: str, total_items: int | None = None, min_items: int = 0,
             unit: str = "seed"):
    """`iterable`, with a progress bar when it stands for at least `min_items` items
    (`total_items`, default its length) and stderr is a terminal."""
    if total_items is None:
        total_items = len(iterable)
    if total_items < min_items or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=what, unit=unit, leave=False, total=len(iterable))
