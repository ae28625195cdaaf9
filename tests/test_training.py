import ast
import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from neuron import network
from neuron.activations import get, sigmoid
from neuron.optimizers import GD
from neuron.scaling import standardize, unstandardize

# The single neuron is the network without hidden layers: these tests speak of its weights
# W (n_seeds, n_features) and b (n_seeds,), and go through neuron.network's one forward,
# loss, grad and train.
TRAINABLE = network.TRAINABLE


def forward(X, W, b, f):
    fwd = network.forward(X, network.neuron(W, b), f)
    return fwd.z, fwd.y_hat


def loss(X, y, W, b, activation="sigmoid", l2=0.0):
    return network.loss(X, y, network.neuron(W, b), get(activation), l2)


def grad(X, y, W, b, activation="sigmoid", l2=0.0):
    (g,) = network.grad(X, y, network.neuron(W, b), get(activation), l2)
    return g.W[:, :, 0], g.b[:, 0]


def check_trainable(name):
    return network.check_trainable(get(name), ())


def train(X, y, W0, b0, activation="sigmoid", lr=0.1, epochs=1000, l2=0.0, record_every=None):
    r = network.train(X, y, network.neuron(W0, b0), get(activation), GD(lr), epochs, l2,
                      record_every)
    W, b = network.neuron_weights(r.layers)
    return SimpleNamespace(W=W, b=b, losses=r.losses, loss_epochs=r.loss_epochs)

ROOT = Path(__file__).resolve().parent.parent
OBESITY_CSV = ROOT / "data" / "obesity.csv"


def seeded_weights(seeds, n_features, low=-1.0, high=1.0):
    """W0 (n_seeds, n_features), b0 (n_seeds,): each seed's row from its own generator."""
    rows = [np.random.default_rng(s).uniform(low, high, n_features + 1) for s in seeds]
    rows = np.array(rows)
    return rows[:, :-1], rows[:, -1]


def small_problem(seed=0, n_rows=30, n_features=3, n_seeds=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features))
    y = (rng.random(n_rows) < 0.5).astype(float)
    W = rng.normal(size=(n_seeds, n_features))
    b = rng.normal(size=n_seeds)
    return X, y, W, b


def obesity_data():
    """(height_ft, weight_kg) and 1 = Obese: the project's CSV, or the same recipe made here."""
    if OBESITY_CSV.exists():
        with OBESITY_CSV.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        X = np.array([[float(r["height_ft"]), float(r["weight_kg"])] for r in rows])
        y = np.array([r["condition"] == "Obese" for r in rows], dtype=float)
        return X, y
    rng = np.random.default_rng(2024)
    height_ft = rng.normal(5.5, 0.3, 400)
    bmi = rng.lognormal(np.log(26.5), 0.21, 400)
    weight_kg = bmi * (height_ft * 0.3048) ** 2
    return np.column_stack([height_ft, weight_kg]), (bmi >= 30).astype(float)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_grad_matches_central_differences(activation, l2):
    X, y, W, b = small_problem()
    gW, gb = grad(X, y, W, b, activation, l2)
    assert gW.shape == W.shape and gb.shape == b.shape
    h = 1e-6
    # Each seed's loss depends only on its own row, so one perturbation of column j of W
    # gives the j-th partial derivative for every seed at once.
    fd_W = np.empty_like(W)
    for j in range(W.shape[1]):
        step = np.zeros_like(W)
        step[:, j] = h
        fd_W[:, j] = (loss(X, y, W + step, b, activation, l2)
                      - loss(X, y, W - step, b, activation, l2)) / (2 * h)
    fd_b = (loss(X, y, W, b + h, activation, l2) - loss(X, y, W, b - h, activation, l2)) / (2 * h)
    np.testing.assert_allclose(gW, fd_W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gb, fd_b, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_loss_matches_log_loss_of_probability(activation):
    X, y, W, b = small_problem()
    f = TRAINABLE[activation]
    z, _ = forward(X, W, b, lambda z: z)
    p = sigmoid(f * z)
    if activation == "tanh":
        np.testing.assert_allclose(p, (np.tanh(z) + 1) / 2, atol=1e-15)
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)
    np.testing.assert_allclose(loss(X, y, W, b, activation), expected, rtol=1e-12)
    l2 = 0.5
    np.testing.assert_allclose(
        loss(X, y, W, b, activation, l2), expected + l2 / 2 * (W**2).sum(axis=1), rtol=1e-12
    )


def test_loss_is_finite_and_linear_far_from_boundary():
    # A clipped-probability loss would stop at −log(1e-15) ≈ 34.5; the true loss keeps growing.
    X = np.array([[1.0]])
    y = np.array([0.0])
    W = np.array([[100.0], [1000.0]])
    b = np.zeros(2)
    np.testing.assert_allclose(loss(X, y, W, b), [100.0, 1000.0], rtol=1e-12)
    np.testing.assert_allclose(loss(X, y, W, b, "tanh"), [200.0, 2000.0], rtol=1e-12)
    # A confident right answer keeps its tiny loss log1p(e^−z) instead of rounding to 0.
    W = np.array([[40.0], [700.0]])
    np.testing.assert_allclose(loss(X, [1.0], W, b), np.log1p(np.exp(-W[:, 0])), rtol=1e-12)
    assert (loss(X, [1.0], W, b) > 0).all()


def test_z_is_bit_identical_to_neuron_forward():
    X, _, _, _ = small_problem(n_rows=41, n_features=7)
    W, b = seeded_weights(range(13), 7)
    z = network._neuron_z_into(X, W, b, np.empty((13, 41)), np.empty((13, 41)))
    assert np.array_equal(z, forward(X, W, b, lambda z: z)[0])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_separable_set_reaches_full_accuracy_from_every_seed(activation):
    rng = np.random.default_rng(1)
    X = rng.uniform(-3, 3, size=(200, 2))
    margin = X @ np.array([1.0, -2.0]) + 0.5
    keep = np.abs(margin) > 0.3
    X, y = X[keep], (margin[keep] > 0).astype(float)
    W0, b0 = seeded_weights(range(20), 2, -3.0, 3.0)
    # Some seeds start badly wrong: without training they would not all be perfect.
    before = (forward(X, W0, b0, lambda z: z)[0] >= 0) == y
    assert not before.all(axis=1).all()
    res = train(X, y, W0, b0, activation, lr=1.0, epochs=2000)
    z, _ = forward(X, res.W, res.b, lambda z: z)
    accuracy = ((z >= 0) == y).mean(axis=1)
    np.testing.assert_array_equal(accuracy, 1.0)


def test_matches_sklearn_logistic_regression_on_obesity_data():
    from sklearn.linear_model import LogisticRegression

    X, y = obesity_data()
    Xs, _, _ = standardize(X)
    n, l2 = len(y), 0.01
    # sklearn minimises ½‖w‖² + C·Σᵢ logloss_i (intercept unpenalised); we minimise
    # (1/n)·Σᵢ logloss_i + (l2/2)·‖w‖². Ours divided by l2 is ½‖w‖² + (1/(l2·n))·Σᵢ logloss_i,
    # a positive multiple with the same minimiser, so C = 1/(l2·n).
    ref = LogisticRegression(C=1 / (l2 * n), tol=1e-12, max_iter=10000).fit(Xs, y)
    w_ref, b_ref = ref.coef_[0], ref.intercept_[0]

    W0, b0 = seeded_weights(range(10), 2)
    res = train(Xs, y, W0, b0, lr=1.0, epochs=3000, l2=l2)
    # Both solvers reach the optimum to ~1e-9 here; the tolerances leave a wide margin.
    np.testing.assert_allclose(res.W, np.tile(w_ref, (10, 1)), atol=1e-6)
    np.testing.assert_allclose(res.b, b_ref, atol=1e-6)
    ref_loss = loss(Xs, y, w_ref[None], [b_ref], l2=l2)[0]
    np.testing.assert_allclose(res.losses[-1], ref_loss, atol=1e-10)
    # The reference is the optimum: no seed can end meaningfully below it.
    assert (res.losses[-1] >= ref_loss - 1e-9).all()


def test_seed_is_trained_bit_identically_alone_or_in_a_batch():
    X, y = obesity_data()
    Xs, _, _ = standardize(X)
    W_pair, b_pair = seeded_weights([3, 7], 2)
    W_one, b_one = seeded_weights([7], 2)
    assert np.array_equal(W_pair[1:], W_one) and np.array_equal(b_pair[1:], b_one)
    pair = train(Xs, y, W_pair, b_pair, lr=1.0, epochs=300, l2=0.01)
    one = train(Xs, y, W_one, b_one, lr=1.0, epochs=300, l2=0.01)
    assert np.array_equal(pair.W[1], one.W[0])
    assert np.array_equal(pair.b[1], one.b[0])
    assert np.array_equal(pair.losses[:, 1], one.losses[:, 0])


def test_seed_independence_holds_in_a_larger_batch():
    # Many seeds and many features, where a BLAS matmul would switch kernels.
    X, y, _, _ = small_problem(n_rows=97, n_features=9)
    W, b = seeded_weights(range(64), 9)
    batch = train(X, y, W, b, "tanh", lr=0.5, epochs=50, l2=0.1)
    for i in (0, 17, 63):
        alone = train(X, y, W[i : i + 1], b[i : i + 1], "tanh", lr=0.5, epochs=50, l2=0.1)
        assert np.array_equal(batch.W[i], alone.W[0])
        assert np.array_equal(batch.b[i], alone.b[0])


@pytest.mark.parametrize("name", ["relu", "step", "linear", "leaky_relu", "nonsense"])
def test_check_trainable_refuses_non_probability_activations(name):
    with pytest.raises(ValueError, match="sigmoid, tanh") as err:
        check_trainable(name)
    assert name in str(err.value) and "\n" not in str(err.value)
    X, y, W, b = small_problem()
    with pytest.raises(ValueError, match="sigmoid, tanh"):
        train(X, y, W, b, name, epochs=1)


def test_check_trainable_accepts_sigmoid_and_tanh():
    assert set(TRAINABLE) == {"sigmoid", "tanh"}
    for name in TRAINABLE:
        check_trainable(name)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_losses_do_not_increase_for_small_lr(activation):
    X, y, W, b = small_problem(n_rows=60, n_features=4, n_seeds=8)
    W, b = 3 * W, 3 * b  # start far from the optimum so the early steps are large
    # The log-loss Hessian is at most s²/4 · X̃ᵀX̃/n with X̃ = [X, 1]: lr = 1/L guarantees descent.
    s = TRAINABLE[activation]
    Xt = np.column_stack([X, np.ones(len(X))])
    lipschitz = s**2 / 4 * np.linalg.eigvalsh(Xt.T @ Xt / len(X)).max() + 0.05

    def rises(lr):
        res = train(X, y, W, b, activation, lr=lr, epochs=400, l2=0.05, record_every=1)
        steps = np.diff(res.losses, axis=0)
        assert (steps[0] < -1e-3).all()  # it does move
        # Once converged, successive losses differ only by rounding of the last bits.
        return (steps > 4 * np.finfo(float).eps * res.losses[:-1]).any()

    assert not rises(1 / lipschitz)
    assert rises(3 / lipschitz)  # too large a step overshoots: the check can see a rise


def test_recorded_loss_shapes_and_epochs():
    X, y, W, b = small_problem(n_seeds=4)
    res = train(X, y, W, b, epochs=1000)
    assert res.W.shape == (4, 3) and res.b.shape == (4,)
    np.testing.assert_array_equal(res.loss_epochs, np.arange(0, 1001, 5))
    assert res.losses.shape == (201, 4)

    res = train(X, y, W, b, epochs=10, record_every=3)
    np.testing.assert_array_equal(res.loss_epochs, [0, 3, 6, 9, 10])
    assert res.losses.shape == (5, 4)

    res = train(X, y, W, b, epochs=7)
    np.testing.assert_array_equal(res.loss_epochs, np.arange(8))

    res = train(X, y, W, b, epochs=0)
    np.testing.assert_array_equal(res.loss_epochs, [0])
    assert np.array_equal(res.W, W) and np.array_equal(res.b, b)


def test_recorded_losses_are_the_loss_after_that_many_updates():
    X, y, W, b = small_problem()
    res = train(X, y, W, b, lr=0.5, epochs=10, l2=0.1, record_every=4)
    for epoch, recorded in zip(res.loss_epochs, res.losses, strict=True):
        short = train(X, y, W, b, lr=0.5, epochs=int(epoch), l2=0.1)
        np.testing.assert_array_equal(recorded, loss(X, y, short.W, short.b, l2=0.1))
    np.testing.assert_array_equal(res.losses[-1], loss(X, y, res.W, res.b, l2=0.1))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_each_epoch_is_one_plain_gradient_step(activation):
    X, y, W, b = small_problem()
    lr, l2 = 0.7, 0.2
    for _ in range(3):
        gW, gb = grad(X, y, W, b, activation, l2)
        W, b = W - lr * gW, b - lr * gb
    res = train(X, y, *small_problem()[2:], activation, lr=lr, epochs=3, l2=l2)
    np.testing.assert_allclose(res.W, W, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(res.b, b, rtol=1e-14, atol=1e-15)


def test_train_does_not_modify_its_inputs():
    X, y, W, b = small_problem()
    W_copy, b_copy = W.copy(), b.copy()
    res = train(X, y, W, b, epochs=5)
    assert np.array_equal(W, W_copy) and np.array_equal(b, b_copy)
    assert res.W.dtype == np.float64 and not np.array_equal(res.W, W)


def test_standardize_and_unstandardize_round_trip():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.normal(5.5, 0.3, 50), rng.normal(80, 15, 50), np.full(50, 0.1)])
    Xs, mean, std = standardize(X)
    np.testing.assert_allclose(Xs[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Xs[:, :2].std(axis=0), 1, rtol=1e-12)
    assert std[2] == 1.0 and (Xs[:, 2] == 0).all()  # constant column: no 0/0
    W, b = rng.normal(size=(6, 3)), rng.normal(size=6)
    W_raw, b_raw = unstandardize(W, b, mean, std)
    z_std, _ = forward(Xs, W, b, lambda z: z)
    z_raw, _ = forward(X, W_raw, b_raw, lambda z: z)
    np.testing.assert_allclose(z_raw, z_std, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("module", ["network.py", "optimizers.py"])
def test_the_model_and_its_optimizers_import_only_numpy(module):
    tree = ast.parse((ROOT / "neuron" / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "typing", "dataclasses", "numpy", "neuron"}
