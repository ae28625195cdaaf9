"""The one model, for many seeds at once: hidden layers of one activation f, then one output
unit. With no hidden layer it is the lesson's single neuron, z = X·w + b and ŷ = f(z); with
hidden layers the output unit is a sigmoid, ŷ = σ(z). Either way z ≥ 0 is the positive class
(relu's neuron: z > 0), the lesson's rule.

Shapes: X (n_rows, n_features), y (n_rows,) of 0/1. A network is a tuple of Layers, the hidden
layers first and the output unit last; layer l holds W (n_seeds, fan_in, fan_out) and
b (n_seeds, fan_out) (per seed, scikit-learn's coefs_[l] and intercepts_[l]); the single
neuron is one Layer with W (n_seeds, n_features, 1), b (n_seeds, 1). Activations are
(n_seeds, n_rows, width). Each seed's numbers go through their own matrix products (numpy's
matmul calls BLAS once per seed, on the same shapes whatever the number of seeds) and
element-wise operations, so a seed's results are bit-identical whichever seeds it is computed
beside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neuron import rng
from neuron.activations import Activation, activate_derive, get, sigmoid, sigmoid_into
from neuron.optimizers import GD, SGD, Adam, Optimizer

_SIGMOID = get("sigmoid")

# The single neuron trains on the log-loss of its own output read as a probability,
# p = σ(s·z): sigmoid is s = 1, and tanh reads as p = (tanh(z) + 1)/2, which is exactly σ(2z).
# A network's sigmoid output unit is s = 1.
TRAINABLE = {"sigmoid": 1.0, "tanh": 2.0}


@dataclass(frozen=True)
class Layer:
    W: np.ndarray  # (n_seeds, fan_in, fan_out)
    b: np.ndarray  # (n_seeds, fan_out)


def sizes(n_features: int, hidden) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of each layer, the output unit last."""
    widths = [n_features, *hidden, 1]
    return list(zip(widths[:-1], widths[1:], strict=True))


def n_params(n_features: int, hidden) -> int:
    """Weights and biases of one seed's network."""
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in sizes(n_features, hidden))


def hidden_widths(layers) -> tuple[int, ...]:
    return tuple(int(layer.W.shape[2]) for layer in layers[:-1])


def take(layers, rows) -> tuple[Layer, ...]:
    """The same network for the seeds `rows` (a slice or index array) only."""
    return tuple(Layer(layer.W[rows], layer.b[rows]) for layer in layers)


def neuron(W, b) -> tuple[Layer]:
    """The single neuron's weights W (n_seeds, n_features) and biases b (n_seeds,) as layers."""
    W, b = np.asarray(W, float), np.asarray(b, float)
    return (Layer(W[:, :, None], b[:, None]),)


def neuron_weights(layers) -> tuple[np.ndarray, np.ndarray]:
    """W (n_seeds, n_features), b (n_seeds,) of a network with no hidden layer."""
    (layer,) = layers
    return layer.W[:, :, 0], layer.b[:, 0]


def output(f: Activation, hidden) -> Activation:
    """What reads the output unit's z: the single neuron's own activation, or a network's
    sigmoid."""
    return _SIGMOID if hidden else f


def check_trainable(f: Activation, hidden) -> float:
    """s of the output's probability p = σ(s·z); ValueError if gradient descent cannot train
    this model: a hidden activation without a useful derivative (step), or a single neuron
    whose output is not a probability (relu, linear, …: no log-loss)."""
    if hidden:
        f.derivative(np.zeros(1), np.zeros(1))
        return 1.0
    if f.name not in TRAINABLE:
        raise ValueError(
            f"cannot train activation {f.name!r}: only {', '.join(TRAINABLE)} are trainable, "
            "because log-loss needs a probability output (sigmoid, or (tanh+1)/2); "
            "relu, step, linear and the others give no probability, so there is no log-loss"
        )
    return TRAINABLE[f.name]


class Forward(NamedTuple):
    """Pre-activations Z and activations A of each hidden layer, each (n_seeds, n_rows, width),
    the output unit's z (n_seeds, n_rows) and its output ŷ (n_seeds, n_rows)."""

    Z: list
    A: list
    z: np.ndarray
    y_hat: np.ndarray


def activate(f: Activation, Z, out):
    """out = f(Z), in place where a kernel for f exists (the common activations, in training's
    inner loop), else through f itself."""
    if f.name == "relu":
        return np.maximum(Z, 0.0, out=out)
    if f.name == "tanh":
        return np.tanh(Z, out=out)
    if f.name == "sigmoid":
        # 1/(1 + e^−z): e^−z overflowing to inf for z ≪ 0 gives the right 0.
        np.negative(Z, out=out)
        np.exp(out, out=out)
        out += 1.0
        return np.reciprocal(out, out=out)
    # The rest as neuron.activations computes them, number for number, without its temporary
    # arrays (at ~10⁵ cells a step, allocating them cost more than their arithmetic).
    slope, alpha = f.params.get("slope", 0.01), f.params.get("alpha", 1.0)
    if f.name == "leaky_relu" and 0.0 <= slope <= 1.0:
        # z ≥ 0 ? z : slope·z is max(z, slope·z) for such slopes (masked copies cost 6×).
        np.multiply(Z, slope, out=out)
        return np.maximum(out, Z, out=out)
    if f.name == "elu" and 0.0 < alpha <= 1.0:
        # z ≥ 0 ? z : alpha·expm1(min(z, 0)) is the larger of the two for such alphas
        # (alpha·(eᶻ − 1) ≥ z below 0, and 0 above).
        np.minimum(Z, 0.0, out=out)
        np.expm1(out, out=out)
        np.multiply(out, alpha, out=out)
        return np.maximum(out, Z, out=out)
    if f.name == "linear":
        np.copyto(out, Z)
        return out
    if f.name == "silu":  # z·σ(z)
        return np.multiply(Z, sigmoid_into(Z, out), out=out)
    out[...] = f(Z)
    return out


def derive(f: Activation, Z, A, out):
    """out = f'(Z), given A = f(Z); in place for the common activations. `out` must not be
    Z or A: some derivatives read them after writing it."""
    if f.name == "relu":
        return np.sign(A, out=out)  # A ≥ 0: 1 where Z > 0, else 0
    if f.name == "tanh":
        np.multiply(A, A, out=out)
        return np.subtract(1.0, out, out=out)
    if f.name == "sigmoid":
        np.multiply(A, A, out=out)
        return np.subtract(A, out, out=out)
    # As neuron.activations' _d_* compute them, in place.
    slope, alpha = f.params.get("slope", 0.01), f.params.get("alpha", 1.0)
    if f.name == "leaky_relu" and 0.0 <= slope <= 1.0:  # z ≥ 0 ? 1 : slope
        np.greater_equal(Z, 0.0, out=out, casting="unsafe")
        return np.maximum(out, slope, out=out)
    if f.name == "elu" and 0.0 < alpha <= 1.0:  # z ≥ 0 ? 1 : a + alpha, a + alpha in [0, 1]
        np.add(A, alpha, out=out)
        np.minimum(out, 1.0, out=out)
        return np.maximum(out, Z >= 0, out=out)
    if f.name == "linear":
        out.fill(1.0)
        return out
    if f.name == "silu":  # σ·(1 + z·(1 − σ))
        sig = sigmoid_into(Z, out)
        t = np.subtract(1.0, sig)
        np.multiply(Z, t, out=t)
        t += 1.0
        return np.multiply(sig, t, out=out)
    out[...] = f.derivative(Z, A)
    return out


def _neuron_z(X, W, b):
    """z = b + Σⱼ wⱼ·xⱼ (n_seeds, n_rows) for W (n_seeds, n_features), b (n_seeds,)."""
    # Summed feature by feature rather than by matmul: the single neuron's results have been
    # made this way since the start, and must not move in the last bit.
    z = np.repeat(b[:, None], X.shape[-2], axis=1)
    term = np.empty_like(z)
    for j in range(X.shape[-1]):
        z += np.multiply(W[:, j, None], X[..., j], out=term)
    return z


def forward(X, layers, f: Activation) -> Forward:
    """Every hidden layer's Z and A, the output's z and ŷ, for every seed and row."""
    X = np.asarray(X, dtype=float)
    Zs, As = [], []
    A = X
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in layers[:-1]:
            # (n_rows, fan_in) @ (n_seeds, fan_in, fan_out): X is shared by every seed.
            Z = np.matmul(A, layer.W)
            Z += layer.b[:, None, :]
            A = activate(f, Z, np.empty_like(Z))
            Zs.append(Z)
            As.append(A)
        out = layers[-1]
        if len(layers) == 1:
            z = _neuron_z(X, out.W[:, :, 0], out.b[:, 0])
        else:
            z = np.matmul(A, out.W)[..., 0]
            z += out.b
        return Forward(Zs, As, z, output(f, Zs)(z))


def dead_units(fwd: Forward, rows=None) -> np.ndarray:
    """Hidden units whose output is 0 on every row (of `rows`, e.g. the training rows, or
    (n_seeds, n) each seed's own; by default all), per seed: (n_seeds,) int.

    A ReLU unit whose input is negative on every row is dead: its gradient is 0 too, so
    gradient descent never brings it back.
    """
    if not fwd.A:
        return np.zeros(fwd.z.shape[0], dtype=np.int64)
    if rows is not None and np.ndim(rows) == 2:  # (n_seeds, n) each seed's own rows
        return sum(np.take_along_axis(A == 0, rows[:, :, None], axis=1).all(axis=1).sum(axis=1)
                   for A in fwd.A)
    rows = slice(None) if rows is None else rows
    return sum((A[:, rows] == 0).all(axis=1).sum(axis=1) for A in fwd.A)


def _log_loss(z, y):
    """Mean log-loss of p = σ(z) per seed: (n_seeds,), finite for any z.

    −[y log p + (1−y) log(1−p)] is softplus(v) with v = z where y = 0 and v = −z where y = 1.
    """
    v = z * (1.0 - 2.0 * y)
    return (np.maximum(v, 0.0) + np.log1p(np.exp(-np.abs(v)))).mean(axis=1)


def loss(X, y, layers, f: Activation, l2: float = 0.0, fwd: Forward | None = None):
    """Mean log-loss + (l2/2)·Σ‖W‖² over every layer's weights (biases not penalised):
    (n_seeds,). The penalty is scikit-learn's MLPClassifier alpha/(2·n_rows)·Σ‖W‖², so
    alpha = l2·n_rows."""
    y = np.asarray(y, dtype=float)
    s = check_trainable(f, layers[:-1])
    fwd = fwd or forward(X, layers, f)
    penalty = sum((layer.W ** 2).sum(axis=(1, 2)) for layer in layers)
    return _log_loss(s * fwd.z, y) + 0.5 * l2 * penalty


def grad(X, y, layers, f: Activation, l2: float = 0.0, fwd: Forward | None = None):
    """Gradient of `loss` in every layer's W and b, as Layers of the same shapes."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    s = check_trainable(f, layers[:-1])
    fwd = fwd or forward(X, layers, f)
    # dL/dz of the output unit: s·(σ(s·z) − y)/n_rows, for the mean log-loss of p = σ(s·z).
    G = ((sigmoid(s * fwd.z) - y) / X.shape[-2])[..., None]
    if s != 1.0:
        G *= s
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        inputs = fwd.A[i - 1] if i > 0 else X
        # Σ over rows of inputsᵀ·G: (n_seeds, fan_in, fan_out).
        dW = np.matmul(np.swapaxes(inputs, -1, -2), G)
        dW += l2 * layer.W
        grads.append(Layer(dW, G.sum(axis=1)))
        if i > 0:
            dA = np.matmul(G, np.swapaxes(layer.W, -1, -2))
            G = dA * derive(f, fwd.Z[i - 1], fwd.A[i - 1], np.empty_like(dA))
    return tuple(reversed(grads))


class TrainResult(NamedTuple):
    """The trained network; losses (n_recorded, n_seeds) at the epochs in loss_epochs
    (n_recorded,), epoch e meaning after e updates."""

    layers: tuple
    losses: np.ndarray
    loss_epochs: np.ndarray


def recorded_epochs(epochs: int, record_every: int | None) -> np.ndarray:
    """0, record_every, 2·record_every, …, and `epochs`; record_every defaults to
    max(1, epochs // 200)."""
    if record_every is None:
        record_every = max(1, epochs // 200)
    if record_every < 1:
        raise ValueError(f"record_every={record_every}: must be >= 1")
    at = np.arange(0, epochs + 1, record_every)
    return at if at[-1] == epochs else np.append(at, epochs)


_GD = GD()


def train(X, y, layers, f: Activation, optimizer: Optimizer = _GD, epochs=1000, l2=0.0,
          record_every=None, *, rows=None, batch_size=None, orders=None,
          reference=None) -> TrainResult:
    """Training on the mean log-loss + (l2/2)·Σ‖W‖², every seed at once: each step computes
    every gradient on a batch of rows, then `optimizer` takes one step (GD: p ← p − lr·g).

    rows: None (every seed trains on every row of X) or int (n_seeds, n_train): seed i
        trains on X[rows[i]], its own training set; every seed has the same n_train.
    batch_size: None (one step per epoch on the whole training set) or an int in
        [1, n_train]: each epoch walks the seed's training rows in consecutive batches of
        batch_size, the last one smaller when it does not divide n_train (scikit-learn's
        gen_batches), one step per batch.
    orders: None (the training rows in their given order every epoch: no shuffling), one
        np.random.Generator per seed, or a neuron.rng.Streams (a stream per seed, seeded
        without building a generator each: neuron.splits.streams): at the start of every
        epoch seed i's rows are taken in the order rows[i][orders[i].permutation(n_train)]
        (X's rows for rows=None), the project's documented permutation; it draws nothing
        else from the generator, and leaves it where those draws leave it.

    The loss of a step is the batch's mean log-loss + (l2/2)·Σ‖W‖² (biases not penalised),
    whose gradient is Xbᵀδ/B + l2·W for a batch of B rows: scikit-learn's MLPClassifier
    alpha/B·W, so alpha = l2·B (l2·n_rows for the full batch). The losses recorded (at
    `recorded_epochs`, after that many epochs) are over each seed's whole training set, with
    the penalty.

    X is used as given: z-score it first if its columns have different scales. The layers
    given are not changed. A seed whose numbers overflow goes on as NaN (the caller reports it).

    One function, four kernels, each the same arithmetic as `forward`/`grad` in an order
    that keeps its buffers. For the full batch (batch_size and orders None; on every row, or
    with `rows` on each seed's own, gathered into X (n_seeds, n_train, F): the same numbers
    as each seed trained alone on X[rows[i]]): no hidden layer (the single neuron, feature
    by feature as `forward` sums it), one hidden layer (the common network), and any depth;
    kept apart because the general
    path costs, at 1,000 seeds × 400 rows, 1.6× the time for one hidden layer of 8
    (`benchmarks/network_speed.py`) and allocates per epoch what the neuron's kernel keeps in
    three buffers. Anything else goes through one mini-batch kernel for every depth, whose
    sums (matrix products) differ in the last bits from the full-batch kernels'; its
    products are numpy's (reference=True) or neuron.compiled's (False), by default
    (None) whichever `compiled_pays` for these layers. The full batch with one hidden layer
    of gelu takes neuron.compiled's gelu (`gelu_both`) unless reference=True (scipy's erfc).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],) or layers[0].W.shape[1] != X.shape[1]:
        raise ValueError(f"shapes disagree: X {X.shape}, y {y.shape}, first layer's W "
                         f"{layers[0].W.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must be 0/1 (1 = positive class)")
    s = check_trainable(f, layers[:-1])
    epochs = int(epochs)
    if epochs < 0:
        raise ValueError(f"epochs={epochs}: must be >= 0")
    loss_epochs = recorded_epochs(epochs, record_every)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if batch_size is not None or orders is not None:
            if reference is None:
                reference = not trains_compiled(layers, batch_size, orders is not None,
                                                rows is not None)
            rows, batch_size = _check_batches(X.shape[0], layers[0].W.shape[0], rows,
                                              batch_size, orders)
            return _train_batches(X, y, layers, f, s, optimizer, epochs, l2, loss_epochs,
                                  rows, batch_size, orders, reference)
        if rows is not None:  # the full batch on each seed's own rows: X (n_seeds, n, F)
            rows, _ = _check_batches(X.shape[0], layers[0].W.shape[0], rows, None, None)
            X, y = X[rows], y[rows]
        if len(layers) == 1:
            return _train_neuron(X, y, layers[0], s, optimizer, epochs, l2, loss_epochs)
        if len(layers) == 2:
            return _train_one_hidden(X, y, layers, f, optimizer, epochs, l2, loss_epochs,
                                     compiled_gelu=reference is not True)
        return _train_any(X, y, layers, f, optimizer, epochs, l2, loss_epochs)


def _check_batches(n_rows, n_seeds, rows, batch_size, orders):
    """rows as an int array (n_seeds, n_train) (None stays None) and the batch size as an
    int (n_train for None); ValueError naming what is wrong."""
    n_train = n_rows
    if rows is not None:
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[0] != n_seeds or rows.shape[1] < 1:
            raise ValueError(f"rows {rows.shape}: must be (n_seeds={n_seeds}, n_train >= 1)")
        if not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(f"rows of dtype {rows.dtype}: must be integer row indices")
        if rows.min() < 0 or rows.max() >= n_rows:
            raise ValueError(f"rows: indices must be in [0, {n_rows}), X's rows")
        n_train = rows.shape[1]
    if batch_size is None:
        batch_size = n_train
    elif isinstance(batch_size, bool) or int(batch_size) != batch_size or not (
            1 <= batch_size <= n_train):
        raise ValueError(f"batch_size={batch_size}: must be an int in [1, {n_train}], "
                         "the training rows")
    if orders is not None and len(orders) != n_seeds:
        raise ValueError(f"orders: {len(orders)} generators for {n_seeds} seeds; "
                         "one per seed")
    return rows, int(batch_size)


def compiled_pays(layers) -> bool:
    """Whether neuron.compiled's kernels train these layers in mini-batches faster than
    numpy's products: a hidden layer or more, on at most 32 features, each later hidden
    layer's fan-in at most 32. `python benchmarks/kernels_crossover.py` (64 seeds, 512
    rows, batch 32, relu, one core; µs a seed an epoch, compiled / numpy; the full table in
    benchmarks/README.md):

        features  hidden     compiled  numpy        features  hidden       compiled  numpy
        2         [8]          22       50          2         [8, 8]         46       83
        2         [64]         61      257          2         [16, 16]       90      144
        8         [64]        154      293          2         [32, 32]      251      358
        30        [8]          56       71          8         [16, 16, 16]  191      277
        30        [64]        336      396          30        [16, 16]      164      171
        50        [32]        301      273          2         [64, 64]      852      969
        100       [32]        676      418          16        [64, 64]     1177     1027
        2         []           18       21          30        []             39       29

    The kernels run a seed a SIMD lane, eight lanes one LLVM vector; a layer's sums over its
    inputs (and its gradients' sums over the rows) go four rows by four units at a time.
    Ahead of numpy's products up to ~30 features (1.04-5.6×), level at 50 and behind at 100,
    where each seed's rows of features, gathered into the lanes, outgrow the caches numpy's
    matrix products (BLAS) use well; behind too between wide hidden layers (64 × 64 on 16
    features). Without a hidden layer the kernels are ahead at one to four features
    (1.1-1.8×); the single neuron keeps numpy's path, the one it has always taken."""
    return (len(layers) >= 2 and layers[0].W.shape[1] <= 32
            and all(layer.W.shape[1] <= 32 for layer in layers[1:-1]))


def trains_compiled(layers, batch_size=None, shuffled=False, split=False) -> bool:
    """Whether `train(..., batch_size=batch_size)`, given `orders` if shuffled and `rows` if
    split, runs neuron.compiled's kernels by default (reference=None): the mini-batch path
    does, for the layers `compiled_pays` for. The caller sizes its chunks by it (the
    kernels' lanes), so it asks here rather than deciding a second time."""
    return (batch_size is not None or shuffled or split) and compiled_pays(layers)


def _train_batches(X, y, layers, f, s, optimizer, epochs, l2, loss_epochs, rows, batch_size,
                   orders, reference):
    """Mini-batches of each seed's own rows, in its own order; any depth.

    Every layer's weights lie side by side in one (n_seeds, n_params) array, each layer's
    bias as a last row of its weights, (n_seeds, fan_in + 1, fan_out), and the gradients in
    another: the optimizer steps one array per batch rather than one per layer, which at a
    few dozen rows a batch is much of a step's time. The gradients, and the output's z for
    the recorded losses, come from neuron.compiled's kernels (every seed a SIMD lane, the
    parameters in its layout, (blocks, n_params, LANES)), or with reference=True from
    numpy's matrix products (`_batch_grad`, `_batch_z`), the reference the kernels are
    tested against: the same arithmetic, summed in another order.
    """
    n_seeds = layers[0].W.shape[0]
    streams = orders if isinstance(orders, rng.Streams) else None
    if streams is not None and reference:
        orders = streams.generators()  # numpy's own permutations: the reference
    params, net = _flat_layers(layers)
    for W, layer in zip(net, layers, strict=True):
        W[:, :-1] = layer.W
        W[:, -1] = layer.b
    # l2 for every weight, 0 for every bias: the penalty's gradient is decay·params.
    decay = np.zeros(params.shape[1])
    for W in _flat_layers(layers, decay[None])[1]:
        W[:, :-1] = l2
    n_train = X.shape[0] if rows is None else rows.shape[1]
    # (n_seeds, n_train), the kernels' one type of index array: a writable copy, as numba
    # types a read-only array apart (one seed's broadcast rows, contiguous, were passed as
    # they were: every kernel compiled a second time).
    given = np.array(
        np.broadcast_to(np.arange(n_train), (n_seeds, n_train)) if rows is None else rows,
        dtype=np.int64, order="C")
    Xa = np.hstack([X, np.ones((X.shape[0], 1))])
    if reference:
        theta, grads = params, np.empty_like(params)
        grad_net = _flat_layers(layers, grads)[1]
        batches = {}  # the hidden layers' buffers by batch size: batch_size, and the last one

        def step(order, lo, size):
            idx = order[:, lo:lo + size]  # (n_seeds, B)
            if idx.shape not in batches:
                batches[idx.shape] = _buffers(idx.shape, net)
            # take, not Xa[idx]: the same rows, in a tenth of the time.
            _batch_grad(np.take(Xa, idx, axis=0), np.take(y, idx), net, grad_net, f, s,
                        batches[idx.shape])
    else:
        from neuron import compiled  # numba: imported by the first mini-batch training only

        # (blocks, n_params, lanes): a seed a lane
        theta = compiled.to_lanes(params, compiled.lanes_for(n_seeds))
        kernels = _Compiled(X, y, layers, f, s, theta, batch_size)
        grads, step = kernels.grads, kernels.grad
        # The orders' permutations, compiled too (where the generators are PCG64's).
        states = (streams.pcg64_states() if streams is not None
                  else None if orders is None else rng.pcg64_states(orders))
        shuffled = np.empty_like(given)
    fused = None if reference else fused_step(optimizer, theta, decay, l2 != 0.0)
    if fused is None:
        update = optimizer.start([theta])
        if not reference:
            decay = decay[None, :, None]  # over (blocks, n_params, lanes)
    if reference:  # rows None: X (n_rows, F + 1) against each seed's weights, no copies
        y_train = y[given]
        X_train = Xa if rows is None else np.take(Xa, rows, axis=0)
        record = _buffers((n_seeds, n_train), net)
    losses = np.empty((loss_epochs.size, n_seeds))
    k = 0
    for epoch in range(epochs + 1):
        if epoch == loss_epochs[k]:
            if not reference:
                params[...] = compiled.from_lanes(theta, n_seeds)
                fit = kernels.log_loss(given)
            else:
                fit = _log_loss(s * _batch_z(X_train, net, f, record), y_train)
            penalty = sum((W[:, :-1] ** 2).sum(axis=(1, 2)) for W in net)
            losses[k] = fit + 0.5 * l2 * penalty
            k += 1
        if epoch == epochs:
            break
        if orders is None:
            order = given
        elif not reference and states is not None:
            order = shuffled
            compiled.shuffle(states, given, order)
        else:
            order = np.stack([seed_rows[g.permutation(n_train)]
                              for seed_rows, g in zip(given, orders, strict=True)])
        for lo in range(0, n_train, batch_size):
            step(order, lo, min(batch_size, n_train - lo))
            if fused is not None:
                fused(grads)
                continue
            if l2:
                grads += decay * theta
            update([theta], [grads])
    if not reference:
        params[...] = compiled.from_lanes(theta, n_seeds)
        if streams is not None:
            streams.set_pcg64_states(states)
        elif states is not None:
            rng.set_pcg64_states(orders, states)
    elif streams is not None:
        streams.set_pcg64_states(rng.pcg64_states(orders))
    trained = tuple(Layer(W[:, :-1].copy(), W[:, -1].copy()) for W in net)
    return TrainResult(trained, losses, loss_epochs)


def fused_step(optimizer, theta, decay, penalised):
    """The optimizer's step on theta (neuron.compiled's layout), the penalty's gradient added
    first, as one compiled pass: fused(grads). The same bits as optimizer.start's update
    after grads += decay·theta; None for an optimizer neuron.compiled has no step for."""
    from neuron import compiled

    if isinstance(optimizer, SGD):
        optimizer = optimizer.taken()  # GD's step for momentum 0, as SGD.start takes it
    if isinstance(optimizer, GD):
        return lambda grads: compiled.gd_step(theta, grads, decay, penalised, optimizer.lr)
    if isinstance(optimizer, SGD):
        V = np.zeros_like(theta)
        return lambda grads: compiled.momentum_step(
            theta, grads, decay, penalised, V, optimizer.lr, optimizer.momentum,
            optimizer.nesterov)
    if isinstance(optimizer, Adam):
        M, V, t = np.zeros_like(theta), np.zeros_like(theta), [0]

        def adam(grads):
            t[0] += 1
            compiled.adam_step(theta, grads, decay, penalised, M, V, optimizer.rate(t[0]),
                               optimizer.beta1, optimizer.beta2, optimizer.epsilon)

        return adam
    return None


class _Compiled:
    """neuron.compiled's kernels for one training: `grad` puts into `grads` each seed's
    gradient on a batch, `log_loss` gives each seed's mean log-loss on many rows, both at
    `theta`, in neuron.compiled's layout; the activations the kernels do not compute go
    through numpy (`activate`, `derive`) between them."""

    def __init__(self, X, y, layers, f, s, theta, batch_size):
        from neuron import compiled

        self.kernels, self.f, self.s, self.theta = compiled, f, s, theta
        self.X = np.ascontiguousarray(X, dtype=float)
        self.y = np.ascontiguousarray(y, dtype=float)
        self.fans = np.array([layers[0].W.shape[1], *(layer.W.shape[2] for layer in layers)],
                             np.int64)
        sizes = [(layer.W.shape[1] + 1) * layer.W.shape[2] for layer in layers]
        self.offsets = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
        self.at = np.concatenate([[0], np.cumsum(self.fans)])
        # The activation's parameter: leaky_relu's slope, elu's alpha.
        self.c = float(f.params.get("slope", 0.01) if f.name == "leaky_relu"
                       else f.params.get("alpha", 1.0))
        code = compiled.CODES.get(f.name, compiled.NUMPY)
        if f.name == "leaky_relu" and not 0.0 <= self.c <= 1.0:
            code = compiled.NUMPY  # network.activate's max(z, slope·z) needs such a slope
        self.code = code
        self.in_kernel = code != compiled.NUMPY
        self.has_D = code == compiled.NUMPY or code >= compiled.CODES["elu"]
        self.grads = np.empty_like(theta)
        self.batch_size = batch_size
        self.buffers = {}  # Z, A, D and forward_pass's t by batch size
        self.backward = {}  # backward_pass's dZ, dZb, t by batch size
        self.sums = np.empty(theta.shape[::2])  # log_loss's, (blocks, lanes)

    def _forward(self, order, lo, size, keep=True):
        """Z, A and D of the batch (keep false: the output's z, Z[:, :, -1], alone is kept)."""
        k, n_layers = self.kernels, len(self.offsets)
        if size not in self.buffers:
            shape = (self.theta.shape[0], size, self.at[-1], self.theta.shape[2])
            # D only where numpy differentiates (the kernels take an empty one otherwise).
            D = np.empty(shape if self.has_D else (1, 1, 1, 1))
            self.buffers[size] = (np.empty(shape), np.empty(shape), D,
                                  k.unit_buffer(size, shape[3]))
        Z, A, D, t = self.buffers[size]
        args = (self.X, order, lo, self.theta, self.fans, self.offsets)
        if self.in_kernel:
            k.forward_pass(*args, 0, n_layers, Z, A, D, self.code, self.c, t, keep)
            return Z, A, D
        for layer in range(n_layers):
            k.forward_pass(*args, layer, layer + 1, Z, A, D, self.code, self.c, t, True)
            if layer < n_layers - 1:
                units = slice(self.at[layer + 1], self.at[layer + 2])
                activate(self.f, Z[:, :, units], A[:, :, units])
                derive(self.f, Z[:, :, units], A[:, :, units], D[:, :, units])
        return Z, A, D

    def grad(self, order, lo, size):
        """Into self.grads: seed i's gradient on rows order[i, lo:lo + size]."""
        Z, A, D = self._forward(order, lo, size)
        if size not in self.backward:
            self.backward[size] = self.kernels.backward_buffers(self.fans, size,
                                                                self.theta.shape[2])
        self.kernels.backward_pass(self.y, order, lo, self.theta, self.grads, self.fans,
                                   self.offsets, Z, A, D, self.code, self.c, self.s,
                                   *self.backward[size])

    def log_loss(self, rows):
        """Each seed's mean log-loss (n_seeds,) on its rows (n_seeds, n), a batch at a time
        (in the batches' buffers: no array of every row's units), summed row after row."""
        k = self.kernels
        n_seeds, n = rows.shape
        self.sums[...] = 0.0
        for lo in range(0, n, self.batch_size):
            size = min(self.batch_size, n - lo)
            Z = self._forward(rows, lo, size, keep=False)[0]
            k.add_log_loss(self.y, rows, lo, Z, self.s, self.sums, self.buffers[size][3])
        return k.from_lanes(self.sums[:, None, :], n_seeds)[:, 0] / n


def _flat_layers(layers, flat=None):
    """An (n_seeds, n_params) array (`flat`, or a new one), and views into it of each layer's
    weights with its bias as a last row, (n_seeds, fan_in + 1, fan_out)."""
    n_seeds = layers[0].W.shape[0] if flat is None else flat.shape[0]
    if flat is None:
        flat = np.empty((n_seeds, sum(layer.W[0].size + layer.b[0].size for layer in layers)))
    views, at = [], 0
    for layer in layers:
        fan_in, fan_out = layer.W.shape[1:]
        size = (fan_in + 1) * fan_out
        views.append(flat[:, at:at + size].reshape(n_seeds, fan_in + 1, fan_out))
        at += size
    return flat, tuple(views)


def _buffers(lead, net) -> list:
    """Z, A and D = f'(Z) per hidden layer for inputs of leading shape `lead` (n_seeds, B),
    A's last column ones: kept from step to step, because fresh arrays of a few megabytes
    cost more in page faults than the arithmetic done in them."""
    out = []
    for W in net[:-1]:
        A = np.empty((*lead, W.shape[2] + 1))
        A[..., -1] = 1.0
        out.append((np.empty((*lead, W.shape[2])), A, np.empty((*lead, W.shape[2]))))
    return out


def _batch_z(Xa, net, f, buffers):
    """Each hidden layer's Z and A, into `buffers` (`_buffers`), and returns the output's z
    (n_seeds, B), for Xa (n_seeds, B, F + 1) (each seed its own rows) or (B, F + 1) (shared),
    its last column ones."""
    A = Xa
    for W, (Z, A_next, _) in zip(net[:-1], buffers, strict=True):
        np.matmul(A, W, out=Z)
        activate(f, Z, A_next[..., :-1])
        A = A_next
    return np.matmul(A, net[-1])[..., 0]


def _batch_grad(Xa, yb, net, grads, f, s, hidden):
    """Into `grads`, the gradient of each seed's mean log-loss over its batch Xa
    (n_seeds, B, F + 1), yb (n_seeds, B): `grad`'s arithmetic without the penalty, with
    matrix products and the biases as last rows; `hidden` are the batch's `_buffers`."""
    z = _batch_z(Xa, net, f, hidden)
    # dL/dz of the output unit: s·(σ(s·z) − y)/B, for the mean log-loss of p = σ(s·z).
    if s != 1.0:
        z *= s
    G = activate(_SIGMOID, z, z)
    G -= yb
    G *= s / Xa.shape[1]
    G = G[..., None]
    for i in range(len(net) - 1, -1, -1):
        W = net[i]
        inputs = hidden[i - 1][1] if i > 0 else Xa
        np.matmul(np.swapaxes(inputs, 1, 2), G, out=grads[i])
        if i == 0:
            break
        if W.shape[2] == 1:  # the output unit: an outer product, one multiply an element
            dA = G * np.swapaxes(W[:, :-1], 1, 2)
        else:
            dA = np.matmul(G, np.swapaxes(W[:, :-1], 1, 2))
        Z, A, D = hidden[i - 1]
        if f.name == "relu":
            dA *= Z > 0.0
        else:  # into D, not Z: elu's and silu's derivatives read Z after writing `out`
            dA *= derive(f, Z, A[..., :-1], D)
        G = dA


def _train_any(X, y, layers, f, optimizer, epochs, l2, loss_epochs):
    layers = tuple(Layer(layer.W.copy(), layer.b.copy()) for layer in layers)
    params = [a for layer in layers for a in (layer.W, layer.b)]  # updated in place
    update = optimizer.start(params)
    losses = np.empty((loss_epochs.size, layers[0].W.shape[0]))
    k = 0
    for epoch in range(epochs + 1):
        fwd = forward(X, layers, f)
        if epoch == loss_epochs[k]:
            losses[k] = loss(X, y, layers, f, l2, fwd)
            k += 1
        if epoch == epochs:
            break
        update(params, [a for g in grad(X, y, layers, f, l2, fwd) for a in (g.W, g.b)])
    return TrainResult(layers, losses, loss_epochs)


def _train_neuron(X, y, layer, s, optimizer, epochs, l2, loss_epochs):
    """The single neuron: W (n_seeds, n_features), b (n_seeds,) and three (n_seeds, n_rows)
    buffers reused every epoch (fresh multi-megabyte arrays cost page faults each time)."""
    W, b = layer.W[:, :, 0].copy(), layer.b[:, 0].copy()
    update = optimizer.start([W, b])
    losses = np.empty((loss_epochs.size, W.shape[0]))
    z, p, tmp = (np.empty((W.shape[0], X.shape[-2])) for _ in range(3))
    signed_s = s * (1.0 - 2.0 * y)
    k = 0
    for epoch in range(epochs + 1):
        _neuron_z_into(X, W, b, z, tmp)
        if epoch == loss_epochs[k]:
            losses[k] = _neuron_loss(z, signed_s, W, l2, p, tmp)
            k += 1
        if epoch == epochs:
            break
        # p = σ(s·z), accurate to a few ulp for every z; e^(−s·z) overflowing to inf gives
        # the right p = 0.
        np.multiply(z, -s, out=p)
        np.exp(p, out=p)
        p += 1.0
        np.divide(1.0, p, out=p)
        update([W, b], _neuron_grad(X, y, W, p, s, l2, tmp))
    return TrainResult(neuron(W, b), losses, loss_epochs)


def _neuron_z_into(X, W, b, out, tmp):
    """_neuron_z into `out`, `tmp` being scratch of the same shape: the same sums, in the
    same order, without allocating."""
    out[...] = b[:, None]
    for j in range(X.shape[-1]):
        np.multiply(W[:, j, None], X[..., j], out=tmp)
        out += tmp
    return out


def _neuron_loss(z, signed_s, W, l2, out, tmp):
    """_log_loss(s·z, y) + the penalty, in place: signed_s = s·(1 − 2y) (n_rows,)."""
    np.multiply(z, signed_s, out=tmp)
    # softplus(v) = max(v, 0) + log1p(e^(−|v|)): temporaries of this size cost more than
    # the arithmetic.
    np.abs(tmp, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    np.maximum(tmp, 0.0, out=tmp)
    out += tmp
    return out.mean(axis=1) + 0.5 * l2 * (W * W).sum(axis=1)


def _neuron_grad(X, y, W, p, s, l2, tmp):
    """gW, gb from p = σ(s·z); overwrites p with the residual."""
    # dL/dz = s·(p − y) for p = σ(s·z): for tanh, dL/dp = (p−y)/(p(1−p)) and
    # dp/dz = (1 − tanh²z)/2 = 2p(1−p), so the p(1−p) cancels and leaves 2(p − y).
    r = p
    r -= y
    r *= s / X.shape[-2]
    # Row sums feature by feature, not r @ X, as _neuron_z sums.
    gW = np.empty_like(W)
    for j in range(X.shape[-1]):
        np.multiply(r, X[..., j], out=tmp)
        gW[:, j] = tmp.sum(axis=1)
    return gW + l2 * W, r.sum(axis=1)


def _train_one_hidden(X, y, layers, f, optimizer, epochs, l2, loss_epochs,
                      compiled_gelu=False):
    """One hidden layer of width H, in preallocated buffers.

    The first layer's bias rides as a last row of its weights against a column of ones in X,
    so one matrix product gives both. With r = (σ(z) − y)/n_rows the output's dL/dz and
    D = f'(Z), the hidden layer's gradient Σ_rows X_aug·(r·w_out·D) is w_out ⊙ (V·D) with
    V = r ⊙ X_augᵀ: no (n_seeds, n_rows, H) array for dL/dZ is ever formed.
    """
    n_seeds, n_features, width = layers[0].W.shape
    n_rows = X.shape[-2]
    # (n_rows, n_features + 1), or (n_seeds, …) each seed's own
    Xa = np.concatenate([X, np.ones((*X.shape[:-1], 1))], axis=-1)
    W1 = np.concatenate([layers[0].W, layers[0].b[:, None, :]], axis=1)  # (S, F + 1, H)
    w2 = layers[1].W.copy()  # (S, H, 1)
    b2 = layers[1].b[:, 0].copy()  # (S,)
    update = optimizer.start([W1, w2, b2])
    Z = np.empty((n_seeds, n_rows, width))
    A, D = np.empty_like(Z), np.empty_like(Z)
    zb = np.empty((n_seeds, n_rows, 1))
    z = zb[..., 0]
    r = np.empty((n_seeds, n_rows))
    V = np.empty((n_seeds, n_features + 1, n_rows))
    losses = np.empty((loss_epochs.size, n_seeds))
    k = 0
    relu = f.name == "relu"
    # silu's σ(Z) and gelu's erfc(−Z/√2) serve f and f' both: D is computed with A.
    shared = f.name in ("silu", "gelu")
    gelu_both = None
    if compiled_gelu and f.name == "gelu":
        # gelu through neuron.compiled (its own erfc, vectorised: ~9 ns an element for f and
        # f', against ~16 for scipy's erfc alone); reference=True keeps scipy's.
        from neuron.compiled import gelu_both
    for epoch in range(epochs + 1):
        np.matmul(Xa, W1, out=Z)
        if relu:  # D = 1[Z > 0] and A = Z·D: half the time of maximum() and sign()
            np.greater(Z, 0.0, out=D, casting="unsafe")
            np.multiply(Z, D, out=A)
        elif gelu_both is not None:
            gelu_both(Z, A, D)
        elif shared:
            activate_derive(f, Z, A, D)
        else:
            activate(f, Z, A)
        np.matmul(A, w2, out=zb)
        z += b2[:, None]
        if epoch == loss_epochs[k]:
            penalty = (W1[:, :n_features] ** 2).sum(axis=(1, 2)) + (w2 ** 2).sum(axis=(1, 2))
            losses[k] = _log_loss(z, y) + 0.5 * l2 * penalty
            k += 1
        if epoch == epochs:
            break
        activate(_SIGMOID, z, r)
        r -= y
        r *= 1.0 / n_rows
        dw2 = np.matmul(np.swapaxes(A, 1, 2), r[..., None])  # (S, H, 1)
        db2 = r.sum(axis=1)
        if not relu and not shared:
            derive(f, Z, A, D)
        np.multiply(r[:, None, :], np.swapaxes(Xa, -1, -2), out=V)
        dW1 = np.matmul(V, D)  # (S, F + 1, H)
        dW1 *= np.swapaxes(w2, 1, 2)
        if l2:
            dW1[:, :n_features] += l2 * W1[:, :n_features]
            dw2 += l2 * w2
        update([W1, w2, b2], [dW1, dw2, db2])
    trained = (Layer(np.ascontiguousarray(W1[:, :n_features]), W1[:, n_features].copy()),
               Layer(w2, b2[:, None]))
    return TrainResult(trained, losses, loss_epochs)
