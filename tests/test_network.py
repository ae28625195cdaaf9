"""neuron/network.py against independent references: central finite differences for the
gradients, scikit-learn's MLPClassifier step for step, and hand-built dead units."""

import warnings

import numpy as np
import pytest

from neuron import activations as A
from neuron import initializers as I
from neuron import network as N
from neuron.optimizers import GD

TRAINABLE = [n for n in A.NAMES if n != "step"]


@pytest.fixture(scope="module")
def data():
    from runner.data import PROJECT_ROOT

    raw = np.loadtxt(PROJECT_ROOT / "data" / "obesity.csv", delimiter=",", skiprows=1,
                     usecols=(0, 1))
    labels = np.loadtxt(PROJECT_ROOT / "data" / "obesity.csv", delimiter=",", skiprows=1,
                        usecols=2, dtype=str)
    X = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    return X, (labels == "Obese").astype(float)


SMALL_BIAS = I.Draw("uniform", -0.5, 0.5)


def net(seeds, hidden, n_features=2, scheme="xavier_uniform", bias=SMALL_BIAS):
    return tuple(N.Layer(W, b) for W, b in I.draw_layers(
        seeds, N.sizes(n_features, hidden), I.Draw(scheme), bias))


def test_draws_match_numpy_generator_from_the_seed():
    layers = net([7], [8, 3], scheme="uniform", bias=I.Draw("normal", mean=0.0, std=2.0))
    rng = np.random.default_rng(7)
    for layer, (fan_in, fan_out) in zip(layers, N.sizes(2, [8, 3]), strict=True):
        np.testing.assert_array_equal(layer.W[0], rng.uniform(-1, 1, (fan_out, fan_in)).T)
        np.testing.assert_array_equal(layer.b[0], rng.normal(0, 2, fan_out))


def test_a_one_neuron_network_draws_what_the_neuron_draws():
    W, b = I.draw(np.arange(20), 3, I.Draw("he_normal"), I.Draw("uniform"))
    (layer,) = I.draw_layers(np.arange(20), N.sizes(3, []), I.Draw("he_normal"),
                             I.Draw("uniform"))
    np.testing.assert_array_equal(layer[0][:, :, 0], W)
    np.testing.assert_array_equal(layer[1][:, 0], b)


@pytest.mark.parametrize("scheme, var", [("xavier_normal", 2 / (3 + 40)),
                                         ("he_uniform", 2 / 3), ("lecun_normal", 1 / 3)])
def test_fan_in_and_fan_out_per_layer(scheme, var):
    (W1, _), (W2, _) = I.draw_layers(np.arange(3000), [(3, 40), (40, 1)], I.Draw(scheme),
                                     I.Draw("zeros"))
    assert abs(W1.var() - var) < 0.03 * var
    var2 = {"xavier_normal": 2 / 41, "he_uniform": 2 / 40, "lecun_normal": 1 / 40}[scheme]
    assert abs(W2.var() - var2) < 0.03 * var2


def test_sizes_and_parameters():
    assert N.sizes(2, [8]) == [(2, 8), (8, 1)]
    assert N.n_params(2, [8]) == 2 * 8 + 8 + 8 + 1
    assert N.n_params(2, []) == 3


@pytest.mark.parametrize("hidden", [[3], [4, 2]], ids=["one hidden", "two hidden"])
@pytest.mark.parametrize("name", TRAINABLE)
def test_gradient_against_central_differences(data, name, hidden):
    X, y = data[0][::20], data[1][::20]  # 20 rows
    f = A.get(name)
    layers = net([1, 2], hidden)
    l2, eps = 0.03, 1e-6
    g = N.grad(X, y, layers, f, l2)
    for layer, lg in zip(layers, g, strict=True):
        for name_, arr, an in (("W", layer.W, lg.W), ("b", layer.b, lg.b)):
            num = np.empty_like(arr)
            for idx in np.ndindex(arr.shape[1:]):
                i = (slice(None), *idx)
                old = arr[i].copy()
                arr[i] = old + eps
                up = N.loss(X, y, layers, f, l2)
                arr[i] = old - eps
                down = N.loss(X, y, layers, f, l2)
                arr[i] = old
                num[i] = (up - down) / (2 * eps)
            np.testing.assert_allclose(an, num, rtol=1e-5, atol=1e-8, err_msg=name_)


@pytest.mark.parametrize("hidden", [[8], [5, 3]])
@pytest.mark.parametrize("name", TRAINABLE)
def test_the_fast_trainer_follows_the_plain_gradient(data, name, hidden):
    # train() for one hidden layer has its own loop (bias folded in, no dL/dZ array):
    # it must take the steps grad() says.
    X, y = data
    f = A.get(name)
    layers = net(np.arange(4), hidden)
    fast = N.train(X, y, layers, f, GD(0.3), epochs=30, l2=0.01)
    for layer in layers:  # the start is left as it was
        assert np.isfinite(layer.W).all()
    plain = [N.Layer(la.W.copy(), la.b.copy()) for la in layers]
    for _ in range(30):
        for la, g in zip(plain, N.grad(X, y, plain, f, 0.01), strict=True):
            W, b = la.W, la.b
            W -= 0.3 * g.W
            b -= 0.3 * g.b
    for a, b in zip(fast.layers, plain, strict=True):
        np.testing.assert_allclose(a.W, b.W, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.b, b.b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.losses[-1], N.loss(X, y, plain, f, 0.01), rtol=1e-10)


@pytest.mark.parametrize("name, sk", [("relu", "relu"), ("tanh", "tanh"),
                                      ("sigmoid", "logistic")])
@pytest.mark.parametrize("hidden", [[8], [6, 3]])
def test_step_for_step_against_scikit_learn(data, name, sk, hidden):
    """MLPClassifier(solver="sgd", momentum=0, batch_size=n_rows, learning_rate="constant")
    started from the same weights reaches the same weights after 100 epochs.

    Penalty: ours is (l2/2)·Σ‖W‖² on top of the mean log-loss; scikit-learn's is
    alpha/(2·n_rows)·Σ‖W‖², so alpha = l2·n_rows.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = data
    l2, lr = 0.01, 0.5
    for seed in (3, 11):
        start = net([seed], hidden)
        ours = N.train(X, y, start, A.get(name), GD(lr), epochs=100, l2=l2)
        clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation=sk, solver="sgd",
                            momentum=0.0, batch_size=len(y), learning_rate="constant",
                            learning_rate_init=lr, alpha=l2 * len(y), max_iter=1,
                            shuffle=False, tol=0.0, n_iter_no_change=10**9, warm_start=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)  # sets every fitted attribute up; the weights are replaced next
            clf.coefs_ = [layer.W[0].copy() for layer in start]
            clf.intercepts_ = [layer.b[0].copy() for layer in start]
            clf.max_iter = 100
            clf.fit(X, y)  # warm start: 100 full-batch steps from our weights
        for layer, W, b in zip(ours.layers, clf.coefs_, clf.intercepts_, strict=True):
            np.testing.assert_allclose(layer.W[0], W, rtol=0, atol=1e-8)
            np.testing.assert_allclose(layer.b[0], b, rtol=0, atol=1e-8)
        moved = max(np.abs(layer.W[0] - s.W[0]).max() for layer, s in zip(ours.layers, start,
                                                                           strict=True))
        assert moved > 1e-3  # the comparison is not between two unmoved starts


def test_a_dead_relu_unit_is_reported_and_never_moves(data):
    X, y = data
    layers = net([1, 2, 3], [4], scheme="uniform")
    W1, b1 = layers[0].W, layers[0].b
    # Unit 2 of seed 1: a weight and bias that make its input negative on every row.
    W1[1, :, 2] = [0.1, 0.1]
    b1[1, 2] = -50.0
    fwd = N.forward(X, layers, A.get("relu"))
    assert (fwd.A[0][1, :, 2] == 0).all()
    dead = N.dead_units(fwd)
    assert dead[1] >= 1
    trained = N.train(X, y, layers, A.get("relu"), GD(0.5), epochs=300)
    np.testing.assert_array_equal(trained.layers[0].W[1, :, 2], W1[1, :, 2])
    assert trained.layers[0].b[1, 2] == b1[1, 2]
    assert trained.layers[1].W[1, 2, 0] == layers[1].W[1, 2, 0]  # nothing flows from it
    after = N.dead_units(N.forward(X, trained.layers, A.get("relu")))
    assert after[1] >= 1


def test_dead_units_on_each_seeds_own_rows(data):
    # A unit is dead for a seed when it is 0 on every row of that seed's own (training) rows:
    # the count per seed is the one for its rows alone.
    X, _ = data
    layers = net([1, 2, 3], [4, 3], scheme="uniform")
    layers[0].b[:, :2] = [-2.0, 2.0]  # units that are 0 on some rows, not on others
    fwd = N.forward(X, layers, A.get("relu"))
    rng = np.random.default_rng(0)
    rows = np.array([rng.choice(len(X), 3, replace=False) for _ in range(3)])
    rows[0] = np.argsort(X @ layers[0].W[0, :, 0])[:3]  # where unit 0 of seed 0 is lowest
    each = N.dead_units(fwd, rows)
    for i in range(3):
        alone = N.dead_units(N.forward(X, N.take(layers, slice(i, i + 1)), A.get("relu")),
                             rows[i])
        assert each[i] == alone[0]
    assert each.sum() > 0 and not (each == each[0]).all()


@pytest.mark.parametrize("name", ["relu", "tanh", "gelu"])
def test_a_seed_trains_to_the_same_weights_beside_any_seeds(data, name):
    X, y = data
    layers = net(np.arange(12), [5])
    whole = N.train(X, y, layers, A.get(name), epochs=40)
    for chunk in (1, 5):
        for start in range(0, 12, chunk):
            part = N.train(X, y, N.take(layers, slice(start, start + chunk)), A.get(name),
                           epochs=40)
            for a, b in zip(part.layers, N.take(whole.layers, slice(start, start + chunk)),
                            strict=True):
                np.testing.assert_array_equal(a.W, b.W)
                np.testing.assert_array_equal(a.b, b.b)
            np.testing.assert_array_equal(part.losses, whole.losses[:, start:start + chunk])


def test_step_is_refused_with_the_reason(data):
    with pytest.raises(ValueError, match="derivative 0 wherever it has one"):
        N.train(data[0], data[1], net([1], [3]), A.get("step"), epochs=1)


def test_loss_is_the_mean_log_loss(data):
    X, y = data
    layers = net([4], [3])
    f = A.get("tanh")
    p = A.sigmoid(N.forward(X, layers, f).z[0])
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert N.loss(X, y, layers, f)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", TRAINABLE)
@pytest.mark.parametrize("params", [{}, {"slope": 0.2, "alpha": 0.5}], ids=["defaults", "set"])
def test_training_in_place_kernels_are_the_activations_own_numbers(name, params):
    """network.activate/derive (in place, for training's inner loop) give exactly what
    neuron.activations computes, edges included."""
    spec = A.get(name)
    given = {k: v for k, v in params.items() if k in spec.params}
    f = A.get(name, **given) if given else spec
    Z = np.concatenate([np.random.default_rng(3).normal(0, 4, 500),
                        [0.0, -0.0, 1e-300, -1e-300, 40.0, -40.0, 800.0, -800.0]]).reshape(2, -1)
    with np.errstate(over="ignore"):  # training's sigmoid: e^800 overflows to the right 0
        out = N.activate(f, Z, np.empty_like(Z))
    want = f(Z)
    if name == "sigmoid":
        # Training's hidden sigmoid has always been 1/(1 + e^−z) (one pass fewer than the
        # two-sided form): the same to a rounding.
        # Its derivative, a − a², is a·(1 − a) to a rounding too.
        np.testing.assert_allclose(out, want, rtol=1e-15, atol=0)
        D = N.derive(f, Z, out, np.empty_like(Z))
        np.testing.assert_allclose(D, f.derivative(Z, out), rtol=1e-12, atol=1e-16)
        return
    assert out.tobytes() == np.asarray(want, float).tobytes()
    D = N.derive(f, Z, out, np.empty_like(Z))
    assert D.tobytes() == np.asarray(f.derivative(Z, want), float).tobytes()


@pytest.mark.parametrize("name", ["silu", "gelu"])
def test_f_and_its_derivative_at_once_are_activate_and_derive(name):
    """Full-batch training's activate_derive (silu's σ, gelu's erfc computed once) gives
    activate's and derive's numbers bit for bit, edges included."""
    f = A.get(name)
    Z = np.concatenate([np.random.default_rng(4).normal(0, 4, 500),
                        [0.0, -0.0, 1e-300, -1e-300, 40.0, -40.0, 800.0, -800.0]]).reshape(2, -1)
    A_, D = np.empty_like(Z), np.empty_like(Z)
    with np.errstate(over="ignore", under="ignore"):
        A.activate_derive(f, Z, A_, D)
        want_A = N.activate(f, Z, np.empty_like(Z))
        want_D = N.derive(f, Z, want_A, np.empty_like(Z))
    assert A_.tobytes() == want_A.tobytes()
    assert D.tobytes() == want_D.tobytes()
