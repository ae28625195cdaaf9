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


def _shuffled_classes_many(y, seeds):
    """_shuffled_classes for every seed at once: each class's rows, (n_seeds, n_c), row i
    in seed i's order, the same numbers: neuron.compiled's shuffle (numpy's Fisher-Yates
    on the split streams' states, `streams`), a class after the other (yielded one at a
    time: at 100,000 seeds each is ~100-250 MB)."""
    from neuron import compiled  # numba: only jobs of many split seeds come here

    y = np.asarray(y)
    states = streams(SPLIT, seeds).pcg64_states()
    for rows in (np.flatnonzero(y == 0), np.flatnonzero(y == 1)):
        out = np.ascontiguousarray(np.broadcast_to(rows.astype(np.int64),
                                                   (len(states), rows.size)))
        compiled.shuffle(states, out, out)  # in place: the kernel copies given to out first
        yield out


def holdout_many(y, test_fraction: float, seeds) -> tuple[np.ndarray, np.ndarray]:
    """`holdout` for every seed at once: (train, test), (n_seeds, n_train) and (n_seeds,
    n_test), row i seed i's, the same rows (~6 µs a seed against ~35)."""
    test = np.zeros((len(seeds), len(y)), bool)
    for rows in _shuffled_classes_many(y, seeds):
        np.put_along_axis(test, rows[:, :round(test_fraction * rows.shape[1])], True, axis=1)
    test_rows = _rows(test)
    np.logical_not(test, out=test)
    return _rows(test), test_rows


def _rows(where) -> np.ndarray:
    """(n_seeds, n) the sorted columns where `where` (n_seeds, n_rows) holds, n of each
    row's: a mask's row numbers, faster than sorting them."""
    rows = np.flatnonzero(where)
    rows %= where.shape[1]  # in place: at 100,000 seeds a copy is 240 MB
    return rows.reshape(len(where), -1)


def kfold_many(y, folds: int, seeds) -> list[tuple[np.ndarray, np.ndarray]]:
    """`kfold` for every seed at once: each fold's (train, test), (n_seeds, n) each, row i
    seed i's, the same rows (a fold holds as many rows whatever the seed: the deal is by
    position)."""
    fold_of = np.empty((len(seeds), len(y)), np.int64)
    start = 0
    for rows in _shuffled_classes_many(y, seeds):
        np.put_along_axis(fold_of, rows, ((start + np.arange(rows.shape[1])) % folds)[None],
                          axis=1)
        start += rows.shape[1]
    return [(_rows(fold_of != k), _rows(fold_of == k)) for k in range(folds)]


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
