import math

import numpy as np
import pytest

from neuron import initializers as I

U = I.Draw("uniform", low=-1.0, high=1.0)
ZERO = I.Draw("zeros")


def test_seed_independent_of_company():
    W7, b7 = I.draw([7], 2, U, U)
    W, b = I.draw(np.arange(1, 51), 2, U, U)
    W2, b2 = I.draw([3, 7], 2, U, U)
    assert np.array_equal(W7[0], W[6]) and np.array_equal(W7[0], W2[1])
    assert b7[0] == b[6] == b2[1]


def test_matches_numpy_generator_from_seed_sequence():
    W, b = I.draw([42], 3, U, U)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(42)))
    np.testing.assert_array_equal(W[0], rng.uniform(-1, 1, 3))
    assert b[0] == rng.uniform(-1, 1, 1)[0]


def test_normal_matches_numpy_generator():
    N = I.Draw("normal", mean=0.5, std=2.0)
    W, b = I.draw([11, 12], 2, N, N)
    for row, s in enumerate([11, 12]):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(s)))
        np.testing.assert_array_equal(W[row], rng.normal(0.5, 2.0, 2))
        assert b[row] == rng.normal(0.5, 2.0, 1)[0]


def test_different_seeds_differ():
    W, _ = I.draw([1, 2], 2, U, ZERO)
    assert not np.array_equal(W[0], W[1])


@pytest.mark.parametrize(
    "scheme, var",
    [
        ("xavier_uniform", 2 / 5),
        ("xavier_normal", 2 / 5),
        ("he_uniform", 2 / 4),
        ("he_normal", 2 / 4),
        ("lecun_uniform", 1 / 4),
        ("lecun_normal", 1 / 4),
    ],
)
def test_fan_schemes_variance(scheme, var):
    W, b = I.draw(np.arange(20_000), 4, I.Draw(scheme), ZERO)
    assert abs(W.var() - var) < 0.03 * var
    assert abs(W.mean()) < 0.02
    assert np.all(b == 0)
    if scheme.endswith("uniform"):
        assert np.abs(W).max() <= math.sqrt(3 * var)


def test_normal_and_uniform_parameters():
    W, _ = I.draw(np.arange(20_000), 1, I.Draw("normal", mean=2.0, std=0.5), ZERO)
    assert abs(W.mean() - 2.0) < 0.02 and abs(W.std() - 0.5) < 0.02
    W, _ = I.draw(np.arange(5000), 2, I.Draw("uniform", low=3.0, high=4.0), ZERO)
    assert W.min() >= 3.0 and W.max() < 4.0


def test_constant_and_zeros():
    W, b = I.draw([1, 2], 3, I.Draw("constant", value=0.25), I.Draw("constant", value=-1))
    assert np.all(W == 0.25) and np.all(b == -1)


def test_aliases_and_unknown():
    assert I.check_scheme("glorot_uniform") == "xavier_uniform"
    assert I.check_scheme("kaiming_normal") == "he_normal"
    with pytest.raises(ValueError, match="unknown init scheme 'unifrom'"):
        I.check_scheme("unifrom")
