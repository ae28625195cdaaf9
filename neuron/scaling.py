"""Z-scored features, and weights carried between z-scored and raw units.

X: (n_rows, n_features); W: (…, n_features); b: (…).
"""

from __future__ import annotations

import numpy as np


def standardize(X):
    """Xs = (X − mean)/std per column; returns Xs (n_rows, n_features), mean, std (n_features,).

    Constant columns get std 1 and mean equal to their value, so they become exactly 0
    rather than 0/0 or rounding noise.
    """
    X = np.asarray(X, dtype=np.float64)
    constant = (X == X[:1]).all(axis=0)
    mean = np.where(constant, X[0], X.mean(axis=0))
    std = np.where(constant, 1.0, X.std(axis=0))
    return (X - mean) / std, mean, std


def unstandardize(W, b, mean, std):
    """Weights (…, n_features) and bias (…) for raw X, given ones trained on standardize(X).

    Xs·w + b = X·(w/std) + (b − Σ w·mean/std).
    """
    W = np.asarray(W, dtype=np.float64) / std
    return W, np.asarray(b, dtype=np.float64) - (W * mean).sum(axis=-1)


def standardize_weights(W, b, mean, std):
    """The inverse of unstandardize: weights for standardize(X), given ones for raw X.

    X·w + b = Xs·(w·std) + (b + Σ w·mean).
    """
    W = np.asarray(W, dtype=np.float64)
    return W * std, np.asarray(b, dtype=np.float64) + (W * mean).sum(axis=-1)
