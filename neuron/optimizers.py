"""How a trainer turns gradients into a step: the one piece an optimizer adds.

`network.train` computes every parameter's gradient, then calls the optimizer's update once
per step (an epoch's full batch, or each mini-batch) with the parameters and their
gradients, arrays of the same shapes with a seeds axis first. The update changes the
parameters in place, element by element, so a seed's result never depends on the seeds
beside it. An optimizer with state (momentum, Adam's moments) keeps it in `start`'s closure,
one array per parameter.

SGD and Adam are scikit-learn's `SGDOptimizer` and `AdamOptimizer`
(sklearn/neural_network/_stochastic_optimizers.py) with a constant learning rate: the same
operations on each element in the same order, so from the same gradients they give the same
bits; they only work in place, in buffers kept from step to step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

# update(params, grads): one step, in place.
Update = Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], None]


class Optimizer(Protocol):
    def start(self, params: Sequence[np.ndarray]) -> Update:
        """The update for these parameters, with fresh state."""


@dataclass(frozen=True)
class GD:
    """Plain gradient descent: p ← p − lr·g."""

    lr: float = 0.5

    def start(self, params: Sequence[np.ndarray]) -> Update:
        lr = self.lr

        def update(params, grads):
            for p, g in zip(params, grads, strict=True):
                p -= lr * g

        return update



@dataclass(frozen=True)
class SGD:
    """Gradient descent with momentum, scikit-learn's SGDOptimizer:
    v ← momentum·v − lr·g, then p ← p + (momentum·v − lr·g) with Nesterov's momentum, else
    p ← p + v. v starts at 0.

    momentum=0 is GD(lr) bit for bit: it takes GD's step, p ← p − lr·g, which is what
    0·v − lr·g adds to p for every finite v (only a seed already overflowed could tell them
    apart, 0·inf being NaN).
    """

    lr: float
    momentum: float = 0.9
    nesterov: bool = True

    def taken(self) -> GD | SGD:
        """The optimizer whose step this one takes: GD(lr) for momentum 0, else itself."""
        return GD(self.lr) if self.momentum == 0.0 else self

    def start(self, params: Sequence[np.ndarray]) -> Update:
        lr, momentum, nesterov = self.lr, self.momentum, self.nesterov
        if momentum == 0.0:
            return self.taken().start(params)
        velocities = [np.zeros_like(p) for p in params]
        lr_g = [np.empty_like(p) for p in params]
        steps = [np.empty_like(p) for p in params] if nesterov else velocities

        def update(params, grads):
            for p, g, v, a, step in zip(params, grads, velocities, lr_g, steps, strict=True):
                np.multiply(g, lr, out=a)
                v *= momentum
                v -= a
                if nesterov:
                    np.multiply(v, momentum, out=step)
                    step -= a
                p += step

        return update


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2014), scikit-learn's AdamOptimizer: at step t = 1, 2, …
    m ← β₁·m + (1−β₁)·g, v ← β₂·v + (1−β₂)·g², lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ) and
    p ← p − lr_t·m/(√v + ε); m and v start at 0. t counts the steps of every seed at once,
    which all step together.
    """

    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    def rate(self, t: int) -> float:
        """lr_t of step t, as scikit-learn writes it, so the same float: a Python float
        through np.sqrt."""
        return self.lr * np.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)

    def start(self, params: Sequence[np.ndarray]) -> Update:
        beta1, beta2, epsilon = self.beta1, self.beta2, self.epsilon
        ms = [np.zeros_like(p) for p in params]
        vs = [np.zeros_like(p) for p in params]
        tmps = [np.empty_like(p) for p in params]
        roots = [np.empty_like(p) for p in params]
        t = 0

        def update(params, grads):
            nonlocal t
            t += 1
            lr_t = self.rate(t)
            for p, g, m, v, tmp, root in zip(params, grads, ms, vs, tmps, roots, strict=True):
                np.multiply(g, 1 - beta1, out=tmp)
                m *= beta1
                m += tmp
                np.multiply(g, g, out=tmp)
                tmp *= 1 - beta2
                v *= beta2
                v += tmp
                np.sqrt(v, out=root)
                root += epsilon
                np.multiply(m, -lr_t, out=tmp)
                tmp /= root
                p += tmp

        return update
