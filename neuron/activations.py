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
    # exp of a non-positive number only: sigmoid(±1000) is exactly 1 and 0, with no overflow.
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


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

    def __call__(self, z):
        return self.fn(z, **self.params)

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
    "sigmoid": dict(fn=sigmoid, low=0.0, high=1.0, threshold=0.5, probability=True),
    "tanh": dict(fn=tanh, low=-1.0, high=1.0, threshold=0.0),
    "relu": dict(fn=relu, low=0.0, high=math.inf, threshold=0.0, inclusive=False),
    "leaky_relu": dict(fn=leaky_relu, low=-math.inf, high=math.inf, threshold=0.0),
    "elu": dict(fn=elu, low=-math.inf, high=math.inf, threshold=0.0),
    "softplus": dict(fn=softplus, low=0.0, high=math.inf, threshold=math.log(2.0)),
    "step": dict(fn=step, low=0.0, high=1.0, threshold=0.5),
    "linear": dict(fn=linear, low=-math.inf, high=math.inf, threshold=0.0),
    "silu": dict(fn=silu, low=-0.2784645427610738, high=math.inf, threshold=0.0),
    "gelu": dict(fn=gelu, low=-0.17004021211213567, high=math.inf, threshold=0.0),
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
