"""Which rows are test: a stratified holdout or stratified folds, drawn from the split seed's
own random stream; and the streams of the other sources of luck.

A run's luck has three sources, each with a numpy stream of its own, so a run is reproducible
from its three seeds alone, whatever ran beside it:

- init, the initial weights: ``np.random.default_rng(seed)`` (neuron.initializers);
- order, the order of the mini-batches: ``np.random.default_rng(
  np.random.SeedSequence(order_seed, spawn_key=(1,)))``;
- split, which rows are test: ``np.random.default_rng(np.random.SeedSequence(split_seed,
  spawn_key=(2,)))``.

A spawn key rather than a longer seed such as ``default_rng([seed, 1])``: SeedSequence reads
trailing zero words as absent (``default_rng([5, 0])`` is ``default_rng(5)``), so a tag in the
entropy could make two sources draw the same numbers, while a spawn key pads the entropy
first and cannot meet any plain seed below 2**128.

y: (n_rows,) of 0/1. Index arrays are sorted row numbers.
"""

from __future__ import annotations

import numpy as np

from neuron import rng

ORDER, SPLIT = 1, 2  # the spawn keys of the order and split streams


def stream(source: int, seed: int) -> np.random.Generator:
    """The generator of `source` (ORDER or SPLIT) for `seed`."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(source,)))


def streams(source: int, seeds) -> rng.Streams:
    """`stream(source, s)` for every seed s at once (neuron.rng.Streams, the same numbers):
    building numpy's generator costs ~15 µs a seed, as much as a few epochs of a small
    network's training."""
    return rng.Streams(np.asarray(seeds, dtype=np.int64), spawn_key=(source,))


def _shuffled_classes(y, seed: int) -> list[np.ndarray]:
    """Each class's rows (the negative class first), in the order the split stream deals
    them: one permutation per class, drawn in that order."""
    rng = stream(SPLIT, seed)
    y = np.asarray(y)
    return [rows[rng.permutation(rows.size)]
            for rows in (np.flatnonzero(y == 0), np.flatnonzero(y == 1))]


def holdout(y, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) rows: of each class, round(test_fraction · its rows) are test, the first
    ones of its permutation, so each class's share is within one row of exact."""
    test = np.concatenate([rows[:round(test_fraction * rows.size)]
                           for rows in _shuffled_classes(y, seed)])
    mask = np.zeros(len(y), bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def kfold(y, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) rows of each fold: each class's permuted rows dealt into the folds in
    turn (row i of the permutation to fold i mod folds), so the folds partition the rows and
    each fold holds every class within one row of its share."""
    fold_of = np.empty(len(y), np.int64)
    start = 0
    for rows in _shuffled_classes(y, seed):
        # Continue the deal where the previous class stopped: fold sizes stay within one.
        fold_of[rows] = (start + np.arange(rows.size)) % folds
        start += rows.size
    return [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(folds)]
