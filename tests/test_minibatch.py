"""Mini-batch training (network.train with rows, batch_size, orders) and the SGD and Adam
optimizers, against independent references: scikit-learn's MLPClassifier step for step,
central finite differences for the batch gradient, and the same seed trained alone."""

import warnings

import numpy as np
import pytest

from neuron import activations as A
from neuron import initializers as I
from neuron import network as N
from neuron.optimizers import GD, SGD, Adam

N_ROWS, N_FEATURES, BATCH, EPOCHS = 48, 3, 8, 20


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    # A noisy rule, so that no network fits it in a few epochs and every step still moves.
    y = (X[:, 0] - X[:, 1] * X[:, 2] + 0.7 * rng.normal(size=N_ROWS) > 0).astype(float)
    return X, y


def net(seeds, hidden):
    return tuple(N.Layer(W, b) for W, b in I.draw_layers(
        seeds, N.sizes(N_FEATURES, hidden), I.Draw("xavier_uniform"),
        I.Draw("uniform", -0.5, 0.5)))


OPTIMIZERS = {
    "sgd": (SGD(0.1, momentum=0.0), dict(solver="sgd", momentum=0.0)),
    "nesterov": (SGD(0.1, momentum=0.9, nesterov=True),
                 dict(solver="sgd", momentum=0.9, nesterovs_momentum=True)),
    "momentum": (SGD(0.1, momentum=0.9, nesterov=False),
                 dict(solver="sgd", momentum=0.9, nesterovs_momentum=False)),
    "adam": (Adam(0.01, beta1=0.8, beta2=0.99, epsilon=1e-7),
             dict(solver="adam", beta_1=0.8, beta_2=0.99, epsilon=1e-7)),
}


def sklearn_from(start, hidden, sk_activation, optimizer, l2, batch_size, X, y, epochs):
    """MLPClassifier(shuffle=False) fitted for `epochs` epochs on (X, y) from our start (one
    seed), with a fresh optimizer."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    ours, settings = OPTIMIZERS[optimizer]
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation=sk_activation,
                        batch_size=batch_size, learning_rate="constant",
                        learning_rate_init=ours.lr, alpha=l2 * batch_size, max_iter=1,
                        shuffle=False, tol=0.0, n_iter_no_change=10**9, warm_start=True,
                        **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)  # sets every fitted attribute up; the weights are replaced next
        clf.coefs_ = [layer.W[0].copy() for layer in start]
        clf.intercepts_ = [layer.b[0].copy() for layer in start]
        clf.max_iter = epochs
        clf.fit(X, y)  # warm start: our weights, and a fresh optimizer (a fit, not partial)
    return clf


def assert_same_network(ours, clf, start, seed=0):
    for layer, W, b in zip(ours, clf.coefs_, clf.intercepts_, strict=True):
        np.testing.assert_allclose(layer.W[seed], W, rtol=0, atol=1e-8)
        np.testing.assert_allclose(layer.b[seed], b, rtol=0, atol=1e-8)
    moved = max(np.abs(a.W[seed] - s.W[seed]).max() for a, s in zip(ours, start, strict=True))
    assert moved > 1e-2  # the comparison is not between two unmoved starts


@pytest.mark.parametrize("l2", [0.0, 0.01], ids=["no L2", "L2"])
@pytest.mark.parametrize("hidden", [[8], [5, 3]], ids=["one hidden", "two hidden"])
@pytest.mark.parametrize("name, sk", [("relu", "relu"), ("tanh", "tanh"),
                                      ("sigmoid", "logistic")])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_step_for_step_against_scikit_learn(data, optimizer, name, sk, hidden, l2):
    """MLPClassifier(batch_size=B, shuffle=False, alpha=l2·B) from the same weights reaches
    the same weights after EPOCHS epochs of N_ROWS/B steps each."""
    X, y = data
    start = net([3], hidden)
    ours = N.train(X, y, start, A.get(name), OPTIMIZERS[optimizer][0], epochs=EPOCHS, l2=l2,
                   batch_size=BATCH)
    clf = sklearn_from(start, hidden, sk, optimizer, l2, BATCH, X, y, EPOCHS)
    assert_same_network(ours.layers, clf, start)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_the_single_neuron_against_scikit_learn(data, optimizer):
    # scikit-learn's MLPClassifier with hidden_layer_sizes=() is the sigmoid neuron.
    X, y = data
    start = net([5], [])
    ours = N.train(X, y, start, A.get("sigmoid"), OPTIMIZERS[optimizer][0], epochs=EPOCHS,
                   l2=0.01, batch_size=BATCH)
    clf = sklearn_from(start, [], "logistic", optimizer, 0.01, BATCH, X, y, EPOCHS)
    assert_same_network(ours.layers, clf, start)


@pytest.mark.parametrize("hidden", [[], [8], [5, 3]], ids=["neuron", "one hidden", "two hidden"])
@pytest.mark.parametrize("optimizer", ["nesterov", "adam"])
def test_the_full_batch_kernels_with_momentum_and_adam_against_scikit_learn(data, optimizer,
                                                                            hidden):
    # batch_size=None keeps the full-batch kernels, which group their parameters their own
    # way (the bias folded into W1): the optimizers' state is per element, so no matter.
    X, y = data
    start = net([4], hidden)
    ours = N.train(X, y, start, A.get("sigmoid"), OPTIMIZERS[optimizer][0], epochs=EPOCHS,
                   l2=0.01)
    clf = sklearn_from(start, hidden, "logistic", optimizer, 0.01, N_ROWS, X, y, EPOCHS)
    assert_same_network(ours.layers, clf, start)


ROWS = np.array([np.arange(0, 40, 2), np.arange(N_ROWS - 1, 8, -2)])  # two seeds' 20 rows


def orders(*order_seeds):
    return [np.random.default_rng(s) for s in order_seeds]


# Batch 6 does not divide 20 (batches of 6, 6, 6, 2): scikit-learn penalises each batch of
# B rows with alpha/B·W, ours with l2·W whatever B, so alpha = l2·6 matches all but the last
# batch; its L2 is compared where B divides the rows.
@pytest.mark.parametrize("batch, l2", [(5, 0.01), (6, 0.0)])
@pytest.mark.parametrize("optimizer", ["nesterov", "adam"])
def test_each_seeds_own_rows_in_its_own_order_against_scikit_learn(data, optimizer, batch, l2):
    """Our documented order reproduced in scikit-learn: seed i's epoch e shows
    X[rows[i][orders[i].permutation(n_train)]] in consecutive batches. scikit-learn gets those
    rows as given (shuffle=False), one epoch per partial_fit, which keeps its optimizer's
    state from call to call; a fresh fit per epoch does not match (checked below)."""
    from sklearn.exceptions import ConvergenceWarning

    X, y = data
    start, epochs = net([1, 2], [4]), 6
    ours = N.train(X, y, start, A.get("tanh"), OPTIMIZERS[optimizer][0], epochs=epochs, l2=l2,
                   rows=ROWS, batch_size=batch, orders=orders(7, 8))
    for i, order_seed in enumerate((7, 8)):
        rng = np.random.default_rng(order_seed)
        shown = [ROWS[i][rng.permutation(ROWS.shape[1])] for _ in range(epochs)]
        seed_start = N.take(start, slice(i, i + 1))
        clf = sklearn_from(seed_start, [4], "tanh", optimizer, l2, batch, X[shown[0]],
                           y[shown[0]], epochs=1)
        refit = sklearn_from(seed_start, [4], "tanh", optimizer, l2, batch, X[shown[0]],
                             y[shown[0]], epochs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for idx in shown[1:]:
                clf.partial_fit(X[idx], y[idx])
                refit.fit(X[idx], y[idx])  # warm start keeps the weights, not the optimizer
        assert_same_network(ours.layers, clf, start, seed=i)
        assert max(np.abs(layer.W[i] - W).max()
                   for layer, W in zip(ours.layers, refit.coefs_, strict=True)) > 1e-4


@pytest.mark.parametrize("hidden", [[], [4], [3, 2]], ids=["neuron", "one hidden", "two hidden"])
def test_a_seed_trains_alone_on_its_rows_as_beside_any_seeds(data, hidden):
    """Bit for bit: seed i on X[rows[i]] in any chunk of seeds, each with other rows and
    its own order, and alone on the table X[rows[i]] itself."""
    X, y = data
    rng = np.random.default_rng(3)
    rows = np.stack([rng.choice(N_ROWS, 30, replace=False) for _ in range(6)])
    start = net(np.arange(6), hidden)
    f = A.get("tanh")
    kw = dict(epochs=5, l2=0.01, batch_size=7)
    whole = N.train(X, y, start, f, Adam(0.05), rows=rows, orders=orders(*range(6)), **kw)
    for chunk in (1, 4):
        for lo in range(0, 6, chunk):
            part = slice(lo, lo + chunk)
            alone = N.train(X, y, N.take(start, part), f, Adam(0.05), rows=rows[part],
                            orders=orders(*range(6))[part], **kw)
            for a, b in zip(alone.layers, N.take(whole.layers, part), strict=True):
                np.testing.assert_array_equal(a.W, b.W)
                np.testing.assert_array_equal(a.b, b.b)
            np.testing.assert_array_equal(alone.losses, whole.losses[:, part])
    own = N.train(X[rows[2]], y[rows[2]], N.take(start, [2]), f, Adam(0.05),
                  orders=orders(2), **kw)
    for a, b in zip(own.layers, N.take(whole.layers, [2]), strict=True):
        np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(own.losses, whole.losses[:, [2]])
    same_rows = N.train(X, y, start, f, Adam(0.05), rows=np.tile(rows[2], (6, 1)),
                        orders=orders(*range(6)), **kw)
    assert not np.array_equal(same_rows.layers[0].W[0], whole.layers[0].W[0])  # rows matter


@pytest.mark.parametrize("hidden", [[], [4]], ids=["neuron", "one hidden"])
def test_sgd_without_momentum_is_gd_bit_for_bit(data, hidden):
    X, y = data
    start = net(np.arange(3), hidden)
    for kw in ({}, dict(batch_size=BATCH), dict(rows=ROWS[[0, 1, 0]], batch_size=3)):
        gd = N.train(X, y, start, A.get("sigmoid"), GD(0.3), epochs=10, l2=0.01, **kw)
        sgd = N.train(X, y, start, A.get("sigmoid"), SGD(0.3, momentum=0.0), epochs=10,
                      l2=0.01, **kw)
        for a, b in zip(gd.layers, sgd.layers, strict=True):
            np.testing.assert_array_equal(a.W, b.W)
            np.testing.assert_array_equal(a.b, b.b)


@pytest.mark.parametrize("batch", [12, None], ids=["batch kernel", "full-batch kernels"])
@pytest.mark.parametrize("name, hidden", [("tanh", []), ("sigmoid", []), ("relu", [3]),
                                          ("gelu", [3]), ("tanh", [4, 2])])
def test_the_batch_gradient_against_central_differences(data, name, hidden, batch):
    """One GD step of lr 1 on a batch of all of a seed's rows is p − g: g is the gradient of
    that seed's `loss` on X[rows[i]], by central differences (the single neuron with tanh
    included, p = σ(2z)); through the mini-batch kernel and, with no batch size, the full
    batch's on each seed's rows."""
    X, y = data
    f, l2, eps = A.get(name), 0.03, 1e-6
    rows = ROWS[:, :12]
    start = net([1, 2], hidden)
    stepped = N.train(X, y, start, f, GD(1.0), epochs=1, l2=l2, rows=rows, batch_size=batch)
    for i in range(2):
        Xi, yi = X[rows[i]], y[rows[i]]
        layers = N.take(start, [i])
        for layer, after in zip(layers, N.take(stepped.layers, [i]), strict=True):
            for arr, new in ((layer.W, after.W), (layer.b, after.b)):
                num = np.empty_like(arr)
                for idx in np.ndindex(arr.shape):
                    old = arr[idx]
                    arr[idx] = old + eps
                    up = N.loss(Xi, yi, layers, f, l2)[0]
                    arr[idx] = old - eps
                    down = N.loss(Xi, yi, layers, f, l2)[0]
                    arr[idx] = old
                    num[idx] = (up - down) / (2 * eps)
                np.testing.assert_allclose(arr - new, num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("hidden", [[], [5], [4, 2]], ids=["neuron", "one hidden", "two hidden"])
def test_the_recorded_loss_is_over_each_seeds_whole_training_set(data, hidden):
    X, y = data
    f = A.get("tanh")
    start = net([1, 2], hidden)
    res = N.train(X, y, start, f, SGD(0.05), epochs=6, l2=0.01, record_every=3, rows=ROWS,
                  batch_size=BATCH, orders=orders(1, 2))
    assert res.loss_epochs.tolist() == [0, 3, 6]
    for i in range(2):
        Xi, yi = X[ROWS[i]], y[ROWS[i]]
        for at, layers in ((0, start), (-1, res.layers)):
            expected = N.loss(Xi, yi, N.take(layers, [i]), f, 0.01)[0]
            assert res.losses[at, i] == pytest.approx(expected, rel=1e-12)
    assert (res.losses[-1] < res.losses[0]).all()


TRAINABLE_HIDDEN = [name for name in A.NAMES if name != "step"]


@pytest.mark.parametrize("name, hidden", [
    *[(name, []) for name in ("tanh", "sigmoid")],  # the single neuron's two outputs
    *[(name, hidden) for name in TRAINABLE_HIDDEN for hidden in ([5], [4, 2])]])
def test_the_batch_kernel_on_the_full_batch_follows_the_full_batch_kernels(data, name,
                                                                            hidden):
    # rows = every row, in order, full batch: the same steps, summed in another order.
    # (elu and silu once took their derivative from a Z the derivative itself overwrote.)
    X, y = data
    start = net(np.arange(3), hidden)
    old = N.train(X, y, start, A.get(name), GD(0.5), epochs=30, l2=0.01)
    new = N.train(X, y, start, A.get(name), GD(0.5), epochs=30, l2=0.01,
                  rows=np.tile(np.arange(N_ROWS), (3, 1)), batch_size=N_ROWS)
    for a, b in zip(old.layers, new.layers, strict=True):
        np.testing.assert_allclose(a.W, b.W, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.b, b.b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(old.losses, new.losses, rtol=1e-10)


@pytest.mark.parametrize("kw, message", [
    (dict(batch_size=0), r"batch_size=0: must be an int in \[1, 48\]"),
    (dict(batch_size=49), r"batch_size=49: must be an int in \[1, 48\]"),
    (dict(batch_size=21, rows=ROWS), r"batch_size=21: must be an int in \[1, 20\]"),
    (dict(batch_size=2.5), "batch_size=2.5"),
    (dict(rows=ROWS[:1]), r"rows \(1, 20\): must be \(n_seeds=2"),
    (dict(rows=ROWS + 30), r"indices must be in \[0, 48\)"),
    (dict(rows=ROWS * 1.0), "must be integer row indices"),
    (dict(orders=orders(1)), "1 generators for 2 seeds"),
])
def test_bad_batches_are_refused_with_the_reason(data, kw, message):
    with pytest.raises(ValueError, match=message):
        N.train(data[0], data[1], net([1, 2], [3]), A.get("relu"), epochs=1, **kw)


@pytest.mark.parametrize("name, hidden", [
    ("tanh", []), ("sigmoid", []),  # the single neuron's kernel
    ("relu", [5]), ("tanh", [5]), ("gelu", [5]), ("silu", [5]),  # one hidden layer's
    ("relu", [4, 2]), ("elu", [4, 2])])  # any depth's
def test_the_full_batch_on_each_seeds_rows_is_each_seed_trained_alone(data, name, hidden):
    # rows and no batch size: the full-batch kernels on each seed's own training set (a
    # split seed per run), bit for bit each seed trained alone on X[rows[i]], y[rows[i]].
    X, y = data
    rng = np.random.default_rng(3)
    rows = np.array([np.sort(rng.choice(N_ROWS, 30, replace=False)) for _ in range(4)])
    start = net([1, 2, 3, 4], hidden)
    for opt in (GD(0.5), Adam(0.05)):
        together = N.train(X, y, start, A.get(name), opt, epochs=12, l2=0.01, rows=rows)
        for i in range(4):
            alone = N.train(X[rows[i]], y[rows[i]], N.take(start, [i]), A.get(name), opt,
                            epochs=12, l2=0.01)
            for a, b in zip(alone.layers, N.take(together.layers, [i]), strict=True):
                assert a.W.tobytes() == b.W.tobytes() and a.b.tobytes() == b.b.tobytes()
            assert alone.losses[:, 0].tobytes() == together.losses[:, i].tobytes()
        assert not np.array_equal(together.losses[:, 0], together.losses[:, 1])
