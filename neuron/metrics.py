"""Per-seed classification metrics, vectorized over seeds.

y_hat, pred: (n_seeds, n_rows); y: (n_rows,) of 0/1 with 1 the positive class.
"""

from __future__ import annotations

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
    p = np.clip(np.asarray(p, float), _EPS, 1.0 - _EPS)
    y = np.asarray(y, float)
    return -(y * np.log(p) + (1.0 - y) * np.log1p(-p)).mean(axis=1)


def brier(p, y):
    return ((np.asarray(p, float) - np.asarray(y, float)) ** 2).mean(axis=1)


def per_seed(y_hat, pred, y, probability):
    """Dict of metric name → (n_seeds,) array.

    Always accuracy, the confusion counts and mean_output; log_loss and brier only when
    the output is a probability.
    """
    tp, fp, tn, fn = confusion(pred, y)
    n = np.asarray(y).shape[0]
    out = {
        "accuracy": (tp + tn) / n,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "mean_output": np.asarray(y_hat, float).mean(axis=1),
    }
    if probability:
        out["log_loss"] = log_loss(y_hat, y)
        out["brier"] = brier(y_hat, y)
    return out
