"""One Hydra job's work as a plain function: config in, results out."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

import numpy as np

from neuron import activations, initializers, metrics, training
from neuron.neuron import forward
from runner import data, seeds
from runner.errors import UserError

log = logging.getLogger(__name__)

# Keep every seed's per-row outputs only while they fit in a few tens of MB; past that a
# sweep keeps per-seed metrics and per-row counts, which is all the luck report needs.
MAX_PREDICTION_CELLS = 5_000_000


@dataclass
class SweepResult:
    dataset: data.Dataset
    activation: activations.Activation
    seeds: np.ndarray  # (n_seeds,); -1 for explicit weights
    W: np.ndarray  # (n_seeds, n_features)
    b: np.ndarray  # (n_seeds,)
    metrics: dict  # name → (n_seeds,)
    positive_count: np.ndarray  # (n_rows,) seeds that call each row positive
    correct_count: np.ndarray  # (n_rows,) seeds that get each row right
    z: np.ndarray | None = None  # (n_seeds, n_rows) when small enough to keep
    y_hat: np.ndarray | None = None
    explicit: bool = False
    seed_spec: str = ""
    notes: list = field(default_factory=list)
    before: SweepResult | None = None  # mode=train: the same seeds before training
    losses: np.ndarray | None = None  # mode=train: (n_recorded, n_seeds) training loss
    loss_epochs: np.ndarray | None = None  # (n_recorded,)
    seconds: float | None = None  # wall time of the evaluation (and training)

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def pred(self):
        return None if self.z is None else self.activation.classify(self.z)


def progress(iterable, what, unit_scale=1, total_items=None, min_items=100_000):
    """`iterable`, with a progress bar on an interactive terminal for long loops only."""
    if total_items is None:
        total_items = len(iterable)
    if total_items < min_items or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=what, unit="chunk" if unit_scale > 1 else "seed",
                leave=False, total=len(iterable))


def make_activation(cfg) -> activations.Activation:
    params = {k: float(v) for k, v in cfg.items() if k != "name"}
    try:
        return activations.get(cfg.name, **params)
    except ValueError as e:
        raise UserError(f"activation.name: {e}") from None


def draw_weights(cfg, n_features, seed_array):
    """W: (n_seeds, n_features), b: (n_seeds,) from the init config, for these seeds."""
    w_args = {k: cfg.init[k] for k in ("scheme", "low", "high", "mean", "std", "value")}
    b_args = dict(cfg.init.bias)
    try:
        return initializers.draw(seed_array, n_features, w_args, b_args)
    except ValueError as e:
        raise UserError(f"init: {e}") from None


def explicit_weights(cfg, features):
    w = list(cfg.weights)
    if len(w) != len(features):
        raise UserError(
            f"weights={_fmt_list(w)}: {len(w)} weight(s) for {len(features)} feature(s) "
            f"({', '.join(features)}); give one weight per feature"
        )
    W = np.asarray([w], dtype=float)
    if not np.isfinite(W).all():
        raise UserError(f"weights={_fmt_list(w)}: every weight must be a finite number")
    b = 0.0 if cfg.bias is None else float(cfg.bias)
    if not np.isfinite(b):
        raise UserError(f"bias={cfg.bias}: the bias must be a finite number")
    return W, np.asarray([b])


def _fmt_list(values):
    return "[" + ",".join(str(v) for v in values) + "]"


@dataclass
class Plan:
    """A checked sweep, ready to evaluate: every input error is raised before this exists."""

    activation: activations.Activation
    dataset: data.Dataset
    seeds: np.ndarray
    W: np.ndarray | None  # explicit weights, else drawn per chunk
    b: np.ndarray | None
    explicit: bool
    seed_spec: str
    notes: list


def run(cfg, seed_given: bool = False, checked: Plan | None = None) -> SweepResult:
    """Evaluate (and with mode=train, train) the neuron for every seed over the dataset.

    `checked`: the plan, if the caller made it already (to check tracking in between).
    """
    p = checked or plan(cfg, seed_given)
    result = evaluate(cfg, p)
    return train(cfg, p, result) if cfg.mode == "train" else result


def plan(cfg, seed_given: bool = False) -> Plan:
    """Check the config and load the data; UserError on any bad input."""
    act = make_activation(cfg.activation)
    ds = data.load(cfg.dataset)
    notes = []
    if cfg.weights is not None:
        W, b = explicit_weights(cfg, ds.features)
        seed_array = np.asarray([-1], dtype=np.int64)
        explicit, spec = True, "explicit weights"
        if seed_given:
            notes.append(f"weights are given, so seed={cfg.seed} plays no part")
    else:
        if cfg.bias is not None:
            raise UserError("bias= is used only with weights=; drop it or give weights too")
        seed_array = seeds.parse_seeds(cfg.seed)
        initializers_check(cfg)
        W = b = None
        explicit, spec = False, seeds.describe(seed_array)
    if cfg.chunk_size < 1:
        raise UserError(f"chunk_size={cfg.chunk_size}: must be at least 1")
    if cfg.mode not in ("evaluate", "train"):
        raise UserError(f"mode={cfg.mode}: choose evaluate (random weights as drawn) or train")
    if cfg.mode == "train":
        try:
            training.check_trainable(act.name)
        except ValueError as e:
            raise UserError(f"mode=train activation={act.name}: {e}") from None
        t = cfg.trainer
        if t.lr <= 0 or t.epochs < 0 or t.l2 < 0:
            raise UserError(
                f"trainer: lr={t.lr}, epochs={t.epochs}, l2={t.l2}; need lr > 0, "
                "epochs >= 0 and l2 >= 0"
            )
    return Plan(act, ds, seed_array, W, b, explicit, spec, notes)


def evaluate(cfg, p: Plan, weights=None) -> SweepResult:
    """z, ŷ and the metrics for every seed, chunk by chunk.

    `weights`: (W, b) for all seeds, e.g. after training; by default the plan's explicit
    weights or each seed's draw.
    """
    act, ds, seed_array, W, b, explicit = p.activation, p.dataset, p.seeds, p.W, p.b, p.explicit
    n_features = ds.X.shape[1]
    n, n_rows = len(seed_array), ds.X.shape[0]
    keep = n * n_rows <= MAX_PREDICTION_CELLS
    all_W = np.empty((n, n_features))
    all_b = np.empty(n)
    z_keep = np.empty((n, n_rows)) if keep else None
    y_keep = np.empty((n, n_rows)) if keep else None
    per_seed: dict[str, list] = {}
    pos = np.zeros(n_rows, dtype=np.int64)
    cor = np.zeros(n_rows, dtype=np.int64)
    for start in progress(range(0, n, cfg.chunk_size), "evaluating",
                          unit_scale=cfg.chunk_size, total_items=n):
        stop = min(start + cfg.chunk_size, n)
        if weights is not None:
            Wc, bc = weights[0][start:stop], weights[1][start:stop]
        elif explicit:
            Wc, bc = W, b
        else:
            Wc, bc = draw_weights(cfg, n_features, seed_array[start:stop])
        z, y_hat = forward(ds.X, Wc, bc, act)
        pred = act.classify(z)
        for k, v in metrics.per_seed(y_hat, pred, ds.y, act.probability).items():
            per_seed.setdefault(k, []).append(v)
        pos += pred.sum(axis=0)
        cor += (pred == ds.y.astype(bool)).sum(axis=0)
        all_W[start:stop], all_b[start:stop] = Wc, bc
        if keep:
            z_keep[start:stop], y_keep[start:stop] = z, y_hat
    return SweepResult(
        dataset=ds, activation=act, seeds=seed_array, W=all_W, b=all_b,
        metrics={k: np.concatenate(v) for k, v in per_seed.items()},
        positive_count=pos, correct_count=cor, z=z_keep, y_hat=y_keep,
        explicit=explicit, seed_spec=p.seed_spec, notes=p.notes,
    )


def train(cfg, p: Plan, before: SweepResult) -> SweepResult:
    """Train every seed from its own starting weights, then evaluate the trained neurons.

    With trainer.standardize the descent runs on z-scored features (one learning rate
    suits every feature); the start and the result are converted, so weights are always
    reported in the dataset's units.
    """
    W, b, losses, epochs = descend(cfg, p.dataset.X, p.dataset.y, before.W, before.b,
                                   p.activation.name)
    after = evaluate(cfg, p, weights=(W, b))
    after.before = before
    after.losses, after.loss_epochs = losses, epochs
    return after


def descend(cfg, X, y, W0, b0, activation):
    """Gradient descent from W0: (n_seeds, n_features), b0: (n_seeds,), chunk by chunk.

    Returns W, b in the units of X, the losses (n_recorded, n_seeds) and their epochs.
    """
    t = cfg.trainer
    if t.standardize:
        Xs, mean, std = training.standardize(X)
    else:
        Xs, mean, std = X, np.zeros(X.shape[1]), np.ones(X.shape[1])
    W, b, losses = np.empty_like(W0), np.empty_like(b0), []
    for start in range(0, len(b0), cfg.chunk_size):
        sl = slice(start, start + cfg.chunk_size)
        # Xs·w' + b' = X·w + b  with  w' = w·std, b' = b + Σ w·mean.
        Ws, bs = W0[sl] * std, b0[sl] + (W0[sl] * mean).sum(axis=1)
        r = training.train(Xs, y, Ws, bs, activation, lr=t.lr, epochs=t.epochs, l2=t.l2,
                           record_every=t.record_every)
        W[sl], b[sl] = training.unstandardize(r.W, r.b, mean, std)
        losses.append(r.losses)
    return W, b, np.concatenate(losses, axis=1), r.loss_epochs


def lesson_training(cfg, result) -> dict:
    """Train the explicit weights on cfg.lesson_train; what the lesson's row gets then."""
    ds = data.load(cfg.lesson_train)
    act = result.activation
    try:
        training.check_trainable(act.name)
    except ValueError as e:
        raise UserError(f"lesson_train: {e}") from None
    W, b, losses, _ = descend(cfg, ds.X, ds.y, result.W[:1], result.b[:1], act.name)
    x = result.dataset.X[:1]
    z_all, _ = forward(ds.X, W, b, act)
    z, y_hat = forward(x, W, b, act)
    return {
        "dataset": ds.name, "n_rows": len(ds.y), "w0": result.W[0].tolist(),
        "b0": float(result.b[0]), "w": W[0].tolist(), "b": float(b[0]),
        "loss": float(losses[-1, 0]), "y_hat": float(y_hat[0, 0]),
        "positive": bool(act.classify(z)[0, 0]),
        "accuracy": float((act.classify(z_all)[0] == ds.y.astype(bool)).mean()),
    }


def initializers_check(cfg):
    parts = (("init.scheme", cfg.init.scheme), ("init.bias.scheme", cfg.init.bias.scheme))
    for part, scheme in parts:
        try:
            initializers.check_scheme(scheme)
        except ValueError as e:
            raise UserError(f"{part}: {e}") from None
