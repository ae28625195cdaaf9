"""Full-batch gradient descent on the mean log-loss, for many seeds' weights at once.

Shapes: X (n_rows, n_features), y (n_rows,) of 0/1, W (n_seeds, n_features), b (n_seeds,).
Each seed (row of W) trains from its own start and never sees the other rows: its result is
bit-identical whichever seeds it is trained beside.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# activation → s, with the probability of the positive class p = σ(s·z).
# tanh reads as p = (tanh(z) + 1)/2, which is exactly σ(2z); everything else below then
# follows from the sigmoid case with z replaced by s·z.
TRAINABLE = {"sigmoid": 1.0, "tanh": 2.0}


class TrainResult(NamedTuple):
    """W (n_seeds, n_features), b (n_seeds,) after training; losses (n_recorded, n_seeds)
    at the epochs in loss_epochs (n_recorded,), epoch e meaning after e updates."""

    W: np.ndarray
    b: np.ndarray
    losses: np.ndarray
    loss_epochs: np.ndarray


def check_trainable(name):
    """s of TRAINABLE[name]; ValueError unless `name`'s output can be read as a probability."""
    if name not in TRAINABLE:
        raise ValueError(
            f"cannot train activation {name!r}: only {', '.join(TRAINABLE)} are trainable, "
            "because log-loss needs a probability output (sigmoid, or (tanh+1)/2); "
            "relu, step, linear and the others give no probability, so there is no log-loss"
        )
    return TRAINABLE[name]


def _check(X, y, W, b):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if X.ndim != 2 or W.ndim != 2 or b.ndim != 1 or y.ndim != 1:
        raise ValueError(
            f"need X (n_rows, n_features), y (n_rows,), W (n_seeds, n_features), b (n_seeds,); "
            f"got X {X.shape}, y {y.shape}, W {W.shape}, b {b.shape}"
        )
    if X.shape[0] != y.shape[0] or X.shape[1] != W.shape[1] or W.shape[0] != b.shape[0]:
        raise ValueError(
            f"shapes disagree: X {X.shape}, y {y.shape}, W {W.shape}, b {b.shape}"
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must be 0/1 (1 = positive class)")
    return X, y, W, b


def _z(X, W, b, out, tmp):
    """z = b + Σⱼ wⱼ·xⱼ into `out` (n_seeds, n_rows), `tmp` being scratch of the same shape."""
    # Feature by feature in neuron.forward's order, so z is bit-identical to it: a BLAS
    # matmul picks its summation order by matrix shape, and a seed's z would then change in
    # the last bit with the seeds beside it. The buffers are reused across epochs because
    # fresh multi-megabyte arrays cost page faults each time.
    out[...] = b[:, None]
    for j in range(X.shape[1]):
        np.multiply(W[:, j, None], X[:, j], out=tmp)
        out += tmp
    return out


def _probability(z, s, out):
    """p = σ(s·z) = 1/(1 + e^(−s·z)) into `out`."""
    # Accurate to a few ulp for every z; e^(−s·z) overflowing to inf gives the right p = 0.
    np.multiply(z, -s, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.divide(1.0, out, out=out)


def _loss_from_z(z, signed_s, W, l2, out, tmp):
    """Loss (n_seeds,) from z; signed_s = s·(1 − 2y) (n_rows,); out, tmp: scratch like z."""
    # −[y log p + (1−y) log(1−p)] with p = σ(u) is softplus(u) − y·u, and for y ∈ {0, 1}
    # that is softplus(v) with v = u where y = 0, v = −u where y = 1. It is finite for any u,
    # where log of a clipped p would flatten the loss far from the boundary, and it avoids
    # the cancellation in softplus(u) − u when a confident right answer has a tiny loss.
    np.multiply(z, signed_s, out=tmp)
    # softplus(v) = max(v, 0) + log1p(e^(−|v|)), in place: temporaries of this size cost
    # more than the arithmetic.
    np.abs(tmp, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    np.maximum(tmp, 0.0, out=tmp)
    out += tmp
    return out.mean(axis=1) + 0.5 * l2 * (W * W).sum(axis=1)


def _grad_from_p(X, y, W, p, s, l2, tmp):
    """gW, gb from p = σ(s·z); overwrites p with the residual."""
    # dL/dz = s·(p − y) for p = σ(s·z): for tanh, dL/dp = (p−y)/(p(1−p)) and
    # dp/dz = (1 − tanh²z)/2 = 2p(1−p), so the p(1−p) cancels and leaves 2(p − y).
    r = p
    r -= y
    r *= s / X.shape[0]
    # Row sums feature by feature, not r @ X, for the same reason as in _z.
    gW = np.empty_like(W)
    for j in range(X.shape[1]):
        np.multiply(r, X[:, j], out=tmp)
        gW[:, j] = tmp.sum(axis=1)
    return gW + l2 * W, r.sum(axis=1)


def _buffers(X, W):
    return [np.empty((W.shape[0], X.shape[0])) for _ in range(3)]


def loss(X, y, W, b, activation="sigmoid", l2=0.0):
    """Mean log-loss + (l2/2)·‖w‖² per seed (bias not penalised): (n_seeds,)."""
    s = check_trainable(activation)
    X, y, W, b = _check(X, y, W, b)
    z, out, tmp = _buffers(X, W)
    return _loss_from_z(_z(X, W, b, z, tmp), s * (1.0 - 2.0 * y), W, l2, out, tmp)


def grad(X, y, W, b, activation="sigmoid", l2=0.0):
    """Gradient of `loss` in W and b: gW (n_seeds, n_features), gb (n_seeds,)."""
    s = check_trainable(activation)
    X, y, W, b = _check(X, y, W, b)
    z, p, tmp = _buffers(X, W)
    _probability(_z(X, W, b, z, tmp), s, p)
    return _grad_from_p(X, y, W, p, s, l2, tmp)


def train(X, y, W0, b0, activation="sigmoid", lr=0.1, epochs=1000, l2=0.0, record_every=None):
    """Plain gradient descent W ← W − lr·gW, b ← b − lr·gb, all seeds at once, in float64.

    X is used as given: standardize it first (and unstandardize the result) if its columns
    have different scales, or one lr cannot suit them all.
    Losses are recorded at epochs 0, record_every, 2·record_every, … and at `epochs`;
    record_every defaults to max(1, epochs // 200). Returns a TrainResult.
    """
    s = check_trainable(activation)
    X, y, W, b = _check(X, y, W0, b0)
    W, b = W.copy(), b.copy()
    epochs = int(epochs)
    if epochs < 0:
        raise ValueError(f"epochs={epochs}: must be >= 0")
    if record_every is None:
        record_every = max(1, epochs // 200)
    if record_every < 1:
        raise ValueError(f"record_every={record_every}: must be >= 1")
    loss_epochs = np.arange(0, epochs + 1, record_every)
    if loss_epochs[-1] != epochs:
        loss_epochs = np.append(loss_epochs, epochs)
    losses = np.empty((loss_epochs.size, W.shape[0]))

    z, p, tmp = _buffers(X, W)
    signed_s = s * (1.0 - 2.0 * y)
    k = 0
    for epoch in range(epochs + 1):
        _z(X, W, b, z, tmp)
        if epoch == loss_epochs[k]:
            losses[k] = _loss_from_z(z, signed_s, W, l2, p, tmp)
            k += 1
        if epoch == epochs:
            break
        gW, gb = _grad_from_p(X, y, W, _probability(z, s, p), s, l2, tmp)
        W -= lr * gW
        b -= lr * gb
    return TrainResult(W, b, losses, loss_epochs)
