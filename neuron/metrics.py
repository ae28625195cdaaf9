"""Per-seed classification metrics, vectorized over seeds.

y_hat, pred: (n_seeds, n_rows); y: (n_rows,) of 0/1 with 1 the positive class, or
(n_seeds, n_rows) when each seed is measured on rows of its own (a split seed per run).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# Clip probabilities away from 0 and 1 so a confident wrong answer costs a large, finite
# log-loss (as scikit-learn does) instead of inf.
_EPS = 1e-15


def confusion(pred, y):
    """tp, fp, tn, fn: each (n_seeds,) int."""
    pred = np.asarray(pred, bool)
    y = np.asarray(y, bool)
    tp = (pred & y).sum(axis=1)
    fp = (pred & ~y).sum(axis=1)
    fn = (~pred & y).sum(axis=1)
    tn = pred.shape[1] - tp - fp - fn
    return tp, fp, tn, fn


def log_loss(p, y):
    """−mean over rows of y·log p + (1 − y)·log(1 − p), p clipped to [ε, 1 − ε]: (n_seeds,).

    With y 0 or 1 each term is log p or log1p(−p) exactly (the other adds a signed zero), so
    each is computed only on the rows of its class, and the mean sums them in row order."""
    p = np.clip(np.asarray(p, float), _EPS, 1.0 - _EPS)
    y = np.asarray(y, float)
    if not np.isin(y, (0.0, 1.0)).all():
        return -(y * np.log(p) + (1.0 - y) * np.log1p(-p)).mean(axis=1)
    pos = y == 1.0
    if y.ndim == 2:  # each seed's own rows: both terms everywhere, each row's kept
        return -np.where(pos, np.log(p), np.log1p(-p)).mean(axis=1)
    terms = np.empty_like(p)
    terms[:, pos] = np.log(p[:, pos])
    neg = p[:, ~pos]
    np.negative(neg, out=neg)
    terms[:, ~pos] = np.log1p(neg, out=neg)
    return -terms.mean(axis=1)


def brier(p, y):
    return ((np.asarray(p, float) - np.asarray(y, float)) ** 2).mean(axis=1)


@dataclass(frozen=True)
class PerSeed:
    """Every per-seed metric, each (n_seeds,); None where the model or mode has none. The
    field order is the order of the run folder's columns and a child run's metrics."""

    accuracy: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tn: np.ndarray
    fn: np.ndarray
    mean_output: np.ndarray
    log_loss: np.ndarray | None = None  # the output is a probability
    brier: np.ndarray | None = None
    dead_units: np.ndarray | None = None  # hidden units dead on every row (a network)
    stuck: np.ndarray | None = None  # a trained network no better than the constant guess
    diverged: np.ndarray | None = None  # a trained network whose training diverged

    def items(self):
        """(name, values) of every metric that is set, in field order."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                yield f.name, v

    def get(self, name: str) -> np.ndarray | None:
        return getattr(self, name)

    @staticmethod
    def concat(parts) -> PerSeed:
        """Chunks' metrics, seeds in order."""
        first = parts[0]
        return PerSeed(**{f.name: None if getattr(first, f.name) is None else
                          np.concatenate([getattr(p, f.name) for p in parts])
                          for f in dataclasses.fields(first)})


def per_seed(y_hat, pred, y, probability) -> PerSeed:
    """Always accuracy, the confusion counts and mean_output; log_loss and brier only when
    the output is a probability."""
    tp, fp, tn, fn = confusion(pred, y)
    n = np.asarray(y).shape[-1]
    return PerSeed(
        accuracy=(tp + tn) / n, tp=tp, fp=fp, tn=tn, fn=fn,
        mean_output=np.asarray(y_hat, float).mean(axis=1),
        log_loss=log_loss(y_hat, y) if probability else None,
        brier=brier(y_hat, y) if probability else None,
    )
