"""The neuron: z = X·wᵀ + b and ŷ = f(z), for many weight vectors at once."""

from __future__ import annotations

import numpy as np


def forward(X, W, b, f):
    """Pre-activations and outputs for every seed and row.

    X: (n_rows, n_features), W: (n_seeds, n_features), b: (n_seeds,).
    Returns z, y_hat: (n_seeds, n_rows).
    """
    X, W, b = np.asarray(X, float), np.asarray(W, float), np.asarray(b, float)
    # Summed feature by feature rather than by matmul: BLAS picks kernels by matrix shape,
    # and a seed's z must not change in the last bit with the seeds it is evaluated beside.
    z = np.repeat(b[:, None], X.shape[0], axis=1)
    for j in range(X.shape[1]):
        z += W[:, j, None] * X[None, :, j]
    return z, f(z)


class Neuron:
    """One neuron with weights w: (n_features,), bias b and activation f."""

    def __init__(self, w, b, f):
        self.w, self.b, self.f = np.asarray(w, float), float(b), f

    def __call__(self, x):
        z = float(self.w @ np.asarray(x, float) + self.b)
        return float(self.f(z))

    def __repr__(self):
        return f"Neuron(w={self.w.tolist()}, b={self.b}, f={getattr(self.f, 'name', self.f)})"
