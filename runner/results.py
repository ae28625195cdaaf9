"""What a job computed, as frozen typed values: every seed's weights, metrics and outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from runner.plan import Plan


@dataclass(frozen=True)
class Evaluation:
    """The neuron evaluated with every seed's weights over the dataset."""

    W: np.ndarray  # (n_seeds, n_features)
    b: np.ndarray  # (n_seeds,)
    metrics: Mapping[str, np.ndarray]  # metric name → (n_seeds,)
    n_positive: np.ndarray  # (n_rows,) seeds that call each row positive
    n_correct: np.ndarray  # (n_rows,) seeds that get each row right
    z: np.ndarray | None = None  # (n_seeds, n_rows), kept when small enough
    y_hat: np.ndarray | None = None  # (n_seeds, n_rows)

    def without_outputs(self) -> Evaluation:
        """The same evaluation without the per-row outputs (they serve child runs only)."""
        return Evaluation(self.W, self.b, self.metrics, self.n_positive, self.n_correct)


@dataclass(frozen=True)
class Training:
    """mode=train: where the seeds started, and their training loss."""

    before: Evaluation  # the random weights, evaluated
    losses: np.ndarray  # (n_recorded, n_seeds)
    loss_epochs: np.ndarray  # (n_recorded,): epoch e means after e updates


@dataclass(frozen=True)
class JobResult:
    """One job's seeds, evaluated (and trained, with mode=train)."""

    plan: Plan
    evaluation: Evaluation  # after training, with mode=train
    training: Training | None
    seconds: float  # wall time of the evaluation and training

    @property
    def seeds(self) -> np.ndarray:
        return self.plan.seeds

    @property
    def n_seeds(self) -> int:
        return self.plan.n_seeds

    @property
    def pred(self) -> np.ndarray | None:
        """(n_seeds, n_rows) bool: the predicted class, when the outputs were kept."""
        z = self.evaluation.z
        return None if z is None else self.plan.activation.classify(z)

    def without_outputs(self) -> JobResult:
        return JobResult(self.plan, self.evaluation.without_outputs(), self.training,
                         self.seconds)


@dataclass(frozen=True)
class LessonTraining:
    """The lesson's weights trained on a dataset, and what its row gets then."""

    dataset: str
    n_rows: int
    w0: tuple[float, ...]
    b0: float
    w: tuple[float, ...]
    b: float
    loss: float
    y_hat: float  # the lesson's row
    positive: bool
    accuracy: float
