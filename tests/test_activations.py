import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuron import activations as A

POINTS = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])


def _phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


CLOSED = {
    "sigmoid": lambda z: 1 / (1 + math.exp(-z)),
    "tanh": math.tanh,
    "relu": lambda z: max(z, 0.0),
    "leaky_relu": lambda z: z if z >= 0 else 0.01 * z,
    "elu": lambda z: z if z >= 0 else math.exp(z) - 1,
    "softplus": lambda z: math.log(1 + math.exp(z)),
    "step": lambda z: 1.0 if z >= 0 else 0.0,
    "linear": lambda z: z,
    "silu": lambda z: z / (1 + math.exp(-z)),
    "gelu": lambda z: z * _phi(z),
}


@pytest.mark.parametrize("name", A.NAMES)
def test_closed_form(name):
    f = A.get(name)
    expected = np.array([CLOSED[name](z) for z in POINTS])
    np.testing.assert_allclose(f(POINTS), expected, atol=1e-15, rtol=1e-12)


def test_gelu_against_math_erfc_across_the_range():
    z = np.linspace(-30, 30, 6001)
    expected = np.array([x * 0.5 * math.erfc(-x / math.sqrt(2)) for x in z])
    np.testing.assert_allclose(A.gelu(z), expected, rtol=1e-11, atol=1e-300)


def test_every_activation_has_a_closed_form_test():
    assert set(CLOSED) == set(A.NAMES)


def test_parameters():
    np.testing.assert_allclose(A.get("leaky_relu", slope=0.2)(np.array([-2.0, 2.0])), [-0.4, 2])
    np.testing.assert_allclose(
        A.get("elu", alpha=2.0)(np.array([-1.0])), [2 * (math.exp(-1) - 1)]
    )
    assert A.get("elu", alpha=2.0).low == -2.0


@pytest.mark.parametrize("name", A.NAMES)
def test_stable_at_extremes(name):
    f = A.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(np.array([-1000.0, 1000.0]))
    assert np.all(~np.isnan(out))
    assert out[0] >= f.low and out[1] <= f.high


def test_sigmoid_limits_exact():
    out = A.sigmoid(np.array([-1000.0, 1000.0]))
    assert out[0] == 0.0 and out[1] == 1.0


@pytest.mark.parametrize("name", A.NAMES)
def test_threshold_splits_at_z_zero(name):
    f = A.get(name)
    z = np.array([-2.0, -1e-3, 1e-3, 2.0])
    np.testing.assert_array_equal(f.classify(z), [False, False, True, True])
    # The rule on z is the rule on ŷ away from rounding: f(z) >= threshold.
    np.testing.assert_array_equal(f(z) >= f.threshold if f.inclusive else f(z) > f.threshold,
                                  [False, False, True, True])


def test_lesson_rule_exactly_half_is_class_b():
    f = A.get("sigmoid")
    assert f.threshold == 0.5 and f(np.array(0.0)) == 0.5
    assert f.classify(np.array(0.0))  # z = 0 gives ŷ = 0.5 exactly: class B


def test_only_sigmoid_is_a_probability():
    assert [n for n in A.NAMES if A.get(n).probability] == ["sigmoid"]


@pytest.mark.parametrize("name", A.NAMES)
def test_output_within_declared_range(name):
    f = A.get(name)
    z = np.linspace(-50, 50, 2001)
    y = f(z)
    assert y.min() >= f.low - 1e-12 and y.max() <= f.high + 1e-12


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="sigmod.*sigmoid, tanh"):
        A.get("sigmod")


def test_unknown_parameter_refused():
    with pytest.raises(ValueError, match="leaky_relu takes slope, not slop"):
        A.get("leaky_relu", slop=0.1)
    with pytest.raises(ValueError, match="sigmoid takes no parameters"):
        A.get("sigmoid", alpha=1.0)


# Property-based: finite in, finite out, within the declared range, and monotone where the
# function is (silu and gelu dip below zero before rising, so they are not).
_finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)
MONOTONE = [n for n in A.NAMES if n not in ("silu", "gelu")]


@pytest.mark.parametrize("name", A.NAMES)
@given(z=st.lists(_finite, min_size=1, max_size=20))
def test_property_finite_and_in_range(name, z):
    f = A.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = f(np.array(z))
    # Linear-like activations pass a finite z through; the others are bounded by f.low/high.
    assert np.all(np.isfinite(y))
    assert np.all(y >= f.low) and np.all(y <= f.high)


@pytest.mark.parametrize("name", MONOTONE)
@given(a=_finite, b=_finite)
def test_property_monotone(name, a, b):
    f = A.get(name)
    lo, hi = min(a, b), max(a, b)
    assert f(np.array(lo)) <= f(np.array(hi))


@pytest.mark.parametrize("name", A.NAMES)
@given(z=st.floats(min_value=-50, max_value=50, allow_nan=False))
def test_property_class_is_the_sign_of_z(name, z):
    f = A.get(name)
    y = float(f(np.array(z)))
    assert bool(f.classify(np.array(z))) == (z > 0 or (z == 0 and f.inclusive))
    if abs(z) > 1e-6 and abs(z) < 30:  # away from rounding, ŷ against the threshold agrees
        assert (y >= f.threshold if f.inclusive else y > f.threshold) == (z > 0)
