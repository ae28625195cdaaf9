"""Activation functions f(z), each with its output range, decision threshold and meaning.

Every function takes z of any shape and returns an array of the same shape.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def sigmoid(z):
    return sigmoid_into(z, None)


def sigmoid_into(z, out):
    """σ(z), into `out` (an array of z's shape; training's kernels keep theirs), or a new
    array for None: `sigmoid`'s numbers either way."""
    # exp of a non-positive number only: sigmoid(±1000) is exactly 1 and 0, with no overflow:
    # 1/(1 + e) for z ≥ 0, e/(1 + e) below, e = exp(-|z|); one division, in place (a third
    # fewer passes over z than dividing both ways and choosing, the same numbers).
    z = np.asarray(z, dtype=float)
    e = np.asarray(np.copysign(z, -1.0, out=out))  # -|z| (an array also where z is 0-d)
    np.exp(e, out=e)
    num = np.asarray(np.maximum(e, z >= 0))  # z ≥ 0 ? 1 : e, e in [0, 1]; np.where is slower
    np.add(e, 1.0, out=e)
    return np.divide(num, e, out=e)


def tanh(z):
    return np.tanh(np.asarray(z, dtype=float))


def relu(z):
    return np.maximum(np.asarray(z, dtype=float), 0.0)


def leaky_relu(z, slope=0.01):
    z = np.asarray(z, dtype=float)
    return np.where(z >= 0, z, slope * z)


def elu(z, alpha=1.0):
    z = np.asarray(z, dtype=float)
    return np.where(z >= 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def softplus(z):
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large z, no lost digits for small.
    z = np.asarray(z, dtype=float)
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def step(z):
    # Heaviside with H(0) = 1, matching the lesson's rule that exactly the threshold is class B.
    return (np.asarray(z, dtype=float) >= 0).astype(float)


def linear(z):
    return np.asarray(z, dtype=float).copy()


def silu(z):
    z = np.asarray(z, dtype=float)
    return z * sigmoid(z)


def gelu(z):
    """GELU (Hendrycks & Gimpel 2016), z·Φ(z) with Φ the standard normal CDF,
    Φ(z) = erfc(−z/√2)/2: erfc rather than 1 + erf keeps Φ's small values for z ≪ 0."""
    from scipy.special import erfc  # ~0.2 s to import: only when GELU is used

    z = np.asarray(z, dtype=float)
    return z * 0.5 * erfc(-z / math.sqrt(2.0))


# Derivatives f'(z), given z and a = f(z) (whichever is cheaper to use), for backpropagation.
# At a kink the derivative of the branch that f uses there: relu'(0) = 0, leaky_relu'(0) = 1.


def _d_sigmoid(z, a):
    return a * (1.0 - a)


def _d_tanh(z, a):
    return 1.0 - a * a


def _d_relu(z, a):
    return (np.asarray(z) > 0).astype(float)


def _d_leaky_relu(z, a, slope=0.01):
    return np.where(np.asarray(z) >= 0, 1.0, slope)


def _d_elu(z, a, alpha=1.0):
    return np.where(np.asarray(z) >= 0, 1.0, a + alpha)


def _d_softplus(z, a):
    return sigmoid(z)


def _d_linear(z, a):
    return np.ones_like(np.asarray(z, dtype=float))


def _d_silu(z, a):
    s = sigmoid(z)
    return s * (1.0 + np.asarray(z) * (1.0 - s))


def _d_gelu(z, a):
    from scipy.special import erfc  # as in gelu

    z = np.asarray(z, dtype=float)
    return 0.5 * erfc(-z / math.sqrt(2.0)) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Activation:
    """An activation f, what it outputs and how its output becomes a class.

    `threshold`: f(z) >= threshold is the positive class (class B in the lesson).
    `probability`: the output is read as P(positive), so log-loss and Brier apply.
    `inclusive`: whether z = 0 (f(z) == threshold) is positive; relu is 0 on all of
    z <= 0, so there only f(z) > 0 can mean positive.
    """

    name: str
    fn: Callable[..., np.ndarray]
    low: float
    high: float
    threshold: float
    probability: bool = False
    inclusive: bool = True
    params: dict = field(default_factory=dict)
    d: Callable[..., np.ndarray] | None = None  # f'(z) from (z, f(z)); None: not trainable

    def __call__(self, z):
        return self.fn(z, **self.params)

    def derivative(self, z, a):
        """f'(z), given z and a = f(z); ValueError for an activation gradient descent cannot
        train (step: its derivative is 0 wherever it exists)."""
        if self.d is None:
            raise ValueError(UNTRAINABLE[self.name])
        return self.d(z, a, **self.params)

    def classify(self, z):
        """The positive class where f(z) >= threshold, decided on z itself.

        Every threshold is f(0), so the rule is z >= 0 (relu: z > 0). Deciding on z
        keeps what rounding near the threshold loses: σ(-1e-17) rounds to exactly 0.5,
        and gelu(-39) underflows to -0.0, yet both z are negative.
        """
        z = np.asarray(z)
        return z >= 0 if self.inclusive else z > 0


# Thresholds sit at f(0) (step: between its two values), so every activation splits the
# inputs on the same hyperplane z = 0 as the lesson's sigmoid does at 0.5.
_TABLE = {
    "sigmoid": dict(fn=sigmoid, d=_d_sigmoid, low=0.0, high=1.0, threshold=0.5,
                    probability=True),
    "tanh": dict(fn=tanh, d=_d_tanh, low=-1.0, high=1.0, threshold=0.0),
    "relu": dict(fn=relu, d=_d_relu, low=0.0, high=math.inf, threshold=0.0, inclusive=False),
    "leaky_relu": dict(fn=leaky_relu, d=_d_leaky_relu, low=-math.inf, high=math.inf,
                       threshold=0.0),
    "elu": dict(fn=elu, d=_d_elu, low=-math.inf, high=math.inf, threshold=0.0),
    "softplus": dict(fn=softplus, d=_d_softplus, low=0.0, high=math.inf,
                     threshold=math.log(2.0)),
    "step": dict(fn=step, low=0.0, high=1.0, threshold=0.5),
    "linear": dict(fn=linear, d=_d_linear, low=-math.inf, high=math.inf, threshold=0.0),
    "silu": dict(fn=silu, d=_d_silu, low=-0.2784645427610738, high=math.inf, threshold=0.0),
    "gelu": dict(fn=gelu, d=_d_gelu, low=-0.17004021211213567, high=math.inf, threshold=0.0),
}
# Why an activation cannot be trained by gradient descent.
UNTRAINABLE = {
    "step": "step has derivative 0 wherever it has one, so gradient descent never moves its "
            "weights; choose another activation (sigmoid, tanh, relu, …) or mode=evaluate",
}

NAMES = tuple(_TABLE)


def get(name: str, **params) -> Activation:
    """The activation called `name`, with its parameters (leaky_relu: slope; elu: alpha)."""
    if name not in _TABLE:
        raise ValueError(f"unknown activation {name!r}; choose one of: {', '.join(NAMES)}")
    spec = dict(_TABLE[name])
    takes = set(inspect.signature(spec["fn"]).parameters) - {"z"}
    unknown = set(params) - takes
    if unknown:
        has = f"takes {', '.join(sorted(takes))}" if takes else "takes no parameters"
        raise ValueError(f"{name} {has}, not {', '.join(sorted(unknown))}")
    if name == "elu":
        spec["low"] = -params.get("alpha", 1.0)
    return Activation(name=name, params=params, **spec)


def activate_derive(f: Activation, Z, A, D):
    """A = f(Z) and D = f'(Z) for silu and gelu (arrays of one shape), as `network.activate`
    and `network.derive` compute them, number for number, with the one expensive function they
    share computed once: silu's σ(Z) (5 passes), gelu's erfc(−Z/√2) (scipy's, ~20 ns an
    element). Full-batch training calls it."""
    if f.name == "silu":  # A = z·σ, D = σ·(1 + z·(1 − σ))
        sig = sigmoid_into(Z, D)
        np.multiply(Z, sig, out=A)
        t = np.subtract(1.0, sig)
        np.multiply(Z, t, out=t)
        t += 1.0
        np.multiply(sig, t, out=D)
        return
    from scipy.special import erfc  # as activations.gelu

    phi = erfc(-Z / math.sqrt(2.0))  # A = z·Φ(z), D = Φ(z) + z·φ(z), Φ = erfc(−z/√2)/2
    np.multiply(Z * 0.5, phi, out=A)
    np.add(0.5 * phi, Z * np.exp(-0.5 * Z * Z) / math.sqrt(2.0 * math.pi), out=D)
