from pathlib import Path

import numpy as np

from neuron import activations, metrics, network


def forward(X, W, b, f):
    """The single neuron's z and ŷ: the network without hidden layers."""
    fwd = network.forward(X, network.neuron(W, b), f)
    return fwd.z, fwd.y_hat

ROOT = Path(__file__).resolve().parent.parent


def test_lesson_numbers():
    f = activations.get("sigmoid")
    z, y_hat = forward([[4.0, 80.0]], [[0.2, 0.00001]], [1.0], f)
    assert abs(z[0, 0] - 1.8008) < 1e-12
    assert abs(y_hat[0, 0] - 0.858246) < 1e-6
    assert abs(y_hat[0, 0] - 1 / (1 + np.exp(-1.8008))) < 1e-15
    assert f.classify(z)[0, 0] and y_hat[0, 0] >= f.threshold  # Obese


def test_single_neuron_is_one_layer_of_one_unit():
    f = activations.get("tanh")
    (layer,) = network.neuron([[0.5, -1.0]], [0.25])
    assert layer.W.shape == (1, 2, 1) and layer.b.shape == (1, 1)
    z, y_hat = forward([[2.0, 1.0]], [[0.5, -1.0]], [0.25], f)
    assert abs(y_hat[0, 0] - np.tanh(0.25)) < 1e-15 and z[0, 0] == 0.25


def test_forward_shapes_and_values():
    rng = np.random.default_rng(0)
    X, W, b = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.normal(size=4)
    z, y = forward(X, W, b, activations.get("linear"))
    assert z.shape == (4, 5)
    np.testing.assert_allclose(z, W @ X.T + b[:, None], rtol=1e-12)


def test_forward_bit_identical_whatever_the_batch():
    rng = np.random.default_rng(1)
    X, W, b = rng.normal(size=(300, 2)) * 50, rng.normal(size=(1000, 2)), rng.normal(size=1000)
    f = activations.get("sigmoid")
    z_all, _ = forward(X, W, b, f)
    z_one, _ = forward(X, W[123:124], b[123:124], f)
    assert np.array_equal(z_all[123], z_one[0])


def test_metrics_confusion_and_probability_scores():
    y = np.array([1, 0, 1, 0])
    y_hat = np.array([[0.9, 0.2, 0.4, 0.6], [0.5, 0.5, 0.5, 0.5]])
    pred = y_hat >= 0.5
    m = metrics.per_seed(y_hat, pred, y, probability=True)
    np.testing.assert_array_equal(m.tp, [1, 2])
    np.testing.assert_array_equal(m.fp, [1, 2])
    np.testing.assert_array_equal(m.tn, [1, 0])
    np.testing.assert_array_equal(m.fn, [1, 0])
    np.testing.assert_allclose(m.accuracy, [0.5, 0.5])
    expected = -np.mean([np.log(0.9), np.log(0.8), np.log(0.4), np.log(0.4)])
    assert abs(m.log_loss[0] - expected) < 1e-12
    assert abs(m.log_loss[1] - np.log(2)) < 1e-12
    np.testing.assert_allclose(m.brier, [(0.01 + 0.04 + 0.36 + 0.36) / 4, 0.25])
    np.testing.assert_allclose(m.mean_output, [0.525, 0.5])


def test_metrics_on_each_seeds_own_rows_are_its_metrics_alone():
    # A split seed per run: each seed measured on rows of its own, y (n_seeds, n_rows). Each
    # seed's metrics, every one, bit for bit those of the seed alone with its rows' y (the
    # log-loss takes each term on its own class's rows either way), and scikit-learn's.
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(4)
    y_hat = rng.random((6, 37))
    y_hat[0, :3] = [0.0, 1.0, 1e-17]  # clipped to [ε, 1 − ε]
    y = (rng.random((6, 37)) < 0.4).astype(int)
    together = metrics.per_seed(y_hat, y_hat >= 0.5, y, probability=True)
    for i in range(6):
        alone = metrics.per_seed(y_hat[i:i + 1], y_hat[i:i + 1] >= 0.5, y[i], True)
        for name, v in alone.items():
            assert together.get(name)[i].tobytes() == v[0].tobytes(), name
        clipped = np.clip(y_hat[i], 1e-15, 1 - 1e-15)  # scikit-learn clips at float64's ε
        assert abs(together.log_loss[i] - log_loss(y[i], clipped, labels=[0, 1])) < 1e-12


def test_no_probability_metrics_for_tanh():
    m = metrics.per_seed(np.zeros((1, 2)), np.zeros((1, 2), bool), np.array([0, 1]), False)
    assert m.log_loss is None and m.brier is None
    assert [k for k, _ in m.items()] == ["accuracy", "tp", "fp", "tn", "fn", "mean_output"]
