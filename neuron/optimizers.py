"""How a trainer turns gradients into a step: the one piece an optimizer adds.

`network.train` computes every parameter's gradient, then calls the optimizer's update once
per epoch with the parameters and their gradients, arrays of the same shapes with a seeds
axis first. The update changes the parameters in place, element by element, so a seed's
result never depends on the seeds beside it. An optimizer with state (momentum, Adam's
moments) keeps it in `start`'s closure, one array per parameter.
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
