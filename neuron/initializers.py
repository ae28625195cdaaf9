"""Random initial weights and biases, one row per seed.

Each seed gets its own generator, `np.random.default_rng(seed)` (PCG64 from
`SeedSequence(seed)`), so seed s draws the same weights whatever other seeds share the job,
and in whatever chunk. What it draws, in order:

- one neuron (`draw`): its n_features weights, then its bias;
- a network (`draw_layers`): layer by layer, from the first hidden layer to the output unit,
  a (units, inputs) matrix (each unit's incoming weights, unit by unit), then the layer's
  biases (one per unit). A one-neuron network draws exactly what `draw` draws.

So seed 7 of `model.hidden=[8]` with the uniform scheme on two features is
    rng = np.random.default_rng(7)
    W1 = rng.uniform(-1, 1, (8, 2)).T; b1 = rng.uniform(-1, 1, 8)
    W2 = rng.uniform(-1, 1, (1, 8)).T; b2 = rng.uniform(-1, 1, 1)
(`low + (high − low)·rng.random(size)` is what rng.uniform computes, number for number).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neuron.rng import Streams

# The fan-based schemes take a layer's fan_in (its inputs) and fan_out (its units); for one
# neuron, fan_in = n_features and fan_out = 1.
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


def _sample(rng, lead, scheme, size, fan_in, fan_out, low, high, mean, std, value):
    """Draws of `scheme`: `rng` is a numpy Generator (lead = ()) or a neuron.rng.Streams of
    n seeds (lead = (n,)), whose numbers are the same; returns lead + size."""
    # random()/standard_normal() scaled by hand give the same numbers as uniform()/normal(),
    # without the argument checks that cost a third of a million-seed draw.
    if scheme == "uniform":
        return low + (high - low) * rng.random(size)
    if scheme == "normal":
        return mean + std * rng.standard_normal(size)
    if scheme == "zeros":
        return np.zeros(lead + size)
    if scheme == "constant":
        return np.full(lead + size, float(value))
    family, dist = scheme.split("_")
    # Glorot & Bengio 2010; He et al. 2015; LeCun et al. 1998.
    var = {"xavier": 2.0 / (fan_in + fan_out), "he": 2.0 / fan_in, "lecun": 1.0 / fan_in}[family]
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
    """Initial weights W: (n_seeds, n_features) and biases b: (n_seeds,): one neuron's.

    Per seed the weights are drawn first, then the bias, from the same generator,
    np.random.default_rng(seed): the network with no hidden layer's draw."""
    ((W, b),) = draw_layers(seeds, [(n_features, 1)], weights, bias)
    return W[:, :, 0], b[:, 0]


def draw_layers(seeds, sizes, weights: Draw, bias: Draw, per_seed: bool = False):
    """Initial parameters of a network for every seed.

    sizes: [(fan_in, fan_out), ...] per layer, the output unit last. Returns a list of
    (W (n_seeds, fan_in, fan_out), b (n_seeds, fan_out)), one pair per layer.

    Every seed's generator runs at once (neuron.rng.Streams, ~0.1 µs a seed and draw against
    ~9 µs a seed to build numpy's); `per_seed=True` builds `np.random.default_rng(seed)` seed
    by seed instead: the reference tests/test_rng.py compares the two with, bit for bit.
    """
    seeds = np.asarray(seeds, dtype=np.int64)
    w_scheme, b_scheme = check_scheme(weights.scheme), check_scheme(bias.scheme)
    w_args = (weights.low, weights.high, weights.mean, weights.std, weights.value)
    b_args = (bias.low, bias.high, bias.mean, bias.std, bias.value)
    if not per_seed:
        streams, lead, out = Streams(seeds), (len(seeds),), []
        for fan_in, fan_out in sizes:
            # Drawn (units, inputs), stored (inputs, units): x @ W is the layer's z.
            W = _sample(streams, lead, w_scheme, (fan_out, fan_in), fan_in, fan_out, *w_args)
            b = _sample(streams, lead, b_scheme, (fan_out,), fan_in, fan_out, *b_args)
            out.append((np.ascontiguousarray(W.transpose(0, 2, 1)), b))
        return out
    out = [(np.empty((len(seeds), fan_in, fan_out)), np.empty((len(seeds), fan_out)))
           for fan_in, fan_out in sizes]
    for i, s in enumerate(seeds.tolist()):
        rng = np.random.default_rng(s)
        for (W, b), (fan_in, fan_out) in zip(out, sizes, strict=True):
            W[i] = _sample(rng, (), w_scheme, (fan_out, fan_in), fan_in, fan_out, *w_args).T
            b[i] = _sample(rng, (), b_scheme, (fan_out,), fan_in, fan_out, *b_args)
    return out
