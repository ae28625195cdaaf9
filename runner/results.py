"""What a job computed, as frozen typed values: every seed's weights, metrics and outputs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from neuron import network
from neuron.metrics import PerSeed
from neuron.network import Layer
from runner.plan import Plan


@dataclass(frozen=True)
class Evaluation:
    """The model evaluated with every seed's weights over the dataset.

    `layers` (neuron.network.Layer, the output unit last; the single neuron is one Layer) are
    kept while seeds × parameters is small enough (limits.MAX_KEPT_WEIGHTS).
    """

    layers: tuple[Layer, ...] | None  # every seed's weights and biases
    metrics: PerSeed
    n_positive: np.ndarray  # (n_rows,) seeds that call each row positive
    n_correct: np.ndarray  # (n_rows,) seeds that get each row right
    z: np.ndarray | None = None  # (n_seeds, n_rows) of the output unit, when small enough
    y_hat: np.ndarray | None = None  # (n_seeds, n_rows)
    # With a split, `metrics` are each run's test rows' and these its training rows'.
    train: PerSeed | None = None
    n_measured: np.ndarray | None = None  # (n_rows,) runs that measured each row (held it out)

    @property
    def W(self) -> np.ndarray | None:
        """The single neuron's weights (n_seeds, n_features): its own params and plots."""
        return None if self.layers is None or len(self.layers) != 1 else (
            network.neuron_weights(self.layers)[0])

    @property
    def b(self) -> np.ndarray | None:
        """The single neuron's biases (n_seeds,)."""
        return None if self.layers is None or len(self.layers) != 1 else (
            network.neuron_weights(self.layers)[1])

    def columns(self) -> dict[str, np.ndarray]:
        """Every per-run metric by the name the run folder and MLflow give it: as it is
        without a split; with one, test_<metric>, train_<metric> and the train-test gap."""
        if self.train is None:
            return dict(self.metrics.items())
        out = {f"test_{k}": v for k, v in self.metrics.items()}
        out.update({f"train_{k}": v for k, v in self.train.items()})
        out["train_test_gap"] = self.train.accuracy - self.metrics.accuracy
        return out

    def without_outputs(self) -> Evaluation:
        """The same evaluation without the per-row outputs (they serve child runs only)."""
        return dataclasses.replace(self, z=None, y_hat=None)


@dataclass(frozen=True)
class Training:
    """mode=train: where the seeds started, and their training loss."""

    before: Evaluation  # the random weights, evaluated
    losses: np.ndarray  # (n_recorded, n_seeds)
    loss_epochs: np.ndarray  # (n_recorded,): epoch e means after e updates
    diverged: np.ndarray  # (n_seeds,) bool: loss ended above its start, or overflowed


@dataclass(frozen=True)
class JobResult:
    """One job's seeds, evaluated (and trained, with mode=train)."""

    plan: Plan
    evaluation: Evaluation  # after training, with mode=train
    training: Training | None
    seconds: float  # wall time of the evaluation and training
    lesson: LessonTraining | LessonSkipped | None = None  # plan.lesson_train's training

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
        return None if z is None else self.plan.output.classify(z)

    def without_outputs(self) -> JobResult:
        return dataclasses.replace(self, evaluation=self.evaluation.without_outputs())


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


@dataclass(frozen=True)
class LessonSkipped:
    """The lesson's weights not trained: the activation cannot be."""

    dataset: str
    why: str
