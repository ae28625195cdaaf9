"""Random initial weights and biases, one row per seed.

Each seed gets its own `np.random.Generator` built from `SeedSequence(seed)`, so seed s
draws the same weights whatever other seeds share the job, and in whatever chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Fan-based schemes for one neuron: fan_in = n_features, fan_out = 1.
SCHEMES = (
    "uniform",
    "normal",
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "zeros",
    "constant",
)
ALIASES = {
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
    "kaiming_uniform": "he_uniform",
    "kaiming_normal": "he_normal",
}


def _sample(rng, scheme, size, fan_in, low, high, mean, std, value):
    # random()/standard_normal() scaled by hand give the same numbers as uniform()/normal(),
    # without the argument checks that cost a third of a million-seed draw.
    if scheme == "uniform":
        return low + (high - low) * rng.random(size)
    if scheme == "normal":
        return mean + std * rng.standard_normal(size)
    if scheme == "zeros":
        return np.zeros(size)
    if scheme == "constant":
        return np.full(size, float(value))
    family, dist = scheme.split("_")
    var = {"xavier": 2.0 / (fan_in + 1), "he": 2.0 / fan_in, "lecun": 1.0 / fan_in}[family]
    if dist == "uniform":
        # U(-a, a) has variance a²/3.
        a = math.sqrt(3.0 * var)
        return -a + 2.0 * a * rng.random(size)
    return math.sqrt(var) * rng.standard_normal(size)


def check_scheme(scheme: str) -> str:
    """The canonical name of `scheme`, or a ValueError that lists the choices."""
    scheme = ALIASES.get(scheme, scheme)
    if scheme not in SCHEMES:
        choices = ", ".join(SCHEMES + tuple(ALIASES))
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of: {choices}")
    return scheme


@dataclass(frozen=True)
class Draw:
    """How one kind of parameter (the weights, or the bias) is drawn: a scheme of SCHEMES
    (or an alias) and the parameters the scheme reads (uniform: low, high; normal: mean,
    std; constant: value; the fan-based schemes read none)."""

    scheme: str = "uniform"
    low: float = -1.0
    high: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    value: float = 0.0


def draw(seeds, n_features, weights: Draw, bias: Draw):
    """Initial weights W: (n_seeds, n_features) and biases b: (n_seeds,).

    Per seed the weights are drawn first, then the bias, from the same generator,
    np.random.default_rng(seed).
    """
    seeds = np.asarray(seeds, dtype=np.int64)
    w_scheme, b_scheme = check_scheme(weights.scheme), check_scheme(bias.scheme)
    w_args = (weights.low, weights.high, weights.mean, weights.std, weights.value)
    b_args = (bias.low, bias.high, bias.mean, bias.std, bias.value)
    W = np.empty((len(seeds), n_features))
    b = np.empty(len(seeds))
    # One generator per seed is what makes a seed's draw independent of its neighbours;
    # at ~7 µs a seed it is a small share of a job's time.
    for i, s in enumerate(seeds.tolist()):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(s)))
        W[i] = _sample(rng, w_scheme, n_features, n_features, *w_args)
        b[i] = _sample(rng, b_scheme, 1, n_features, *b_args)[0]
    return W, b
