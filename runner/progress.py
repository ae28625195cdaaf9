"""What the terminal shows: lines written whole, and progress bars for long loops (on an
interactive terminal only)."""

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


def say(text: str, stream=None) -> None:
    """`text` and its newline in one write to `stream` (stdout by default), flushed. Other
    processes write to the same terminal (a server's log, the jobs of a parallel launcher),
    and print's text and newline go out as two writes when Python's output is unbuffered
    (PYTHONUNBUFFERED=1, as in CI): another process's line landed between them, glued to the
    end of ours (runner.ui's address, with the server's log line for our health check)."""
    stream = sys.stdout if stream is None else stream
    stream.write(text + "\n")
    stream.flush()
