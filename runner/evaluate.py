"""Plan → results: every seed's neuron evaluated over the data (and trained, with mode=train),
vectorized over seeds, chunk by chunk. A seed's results never depend on the chunk size or on
the other seeds of the job."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from neuron import activations, initializers, luck, metrics, network, scaling, training
from neuron.network import Layer
from neuron.neuron import forward
from runner import limits, speedups
from runner.config import Mode
from runner.plan import Plan
from runner.progress import progress
from runner.results import Evaluation, JobResult, LessonTraining, Training


def run(plan: Plan) -> JobResult:
    """Evaluate every seed of `plan`, then train them when it says mode=train."""
    start = time.perf_counter()
    evaluation, trained = evaluate(plan), None
    if plan.mode == Mode.train:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging seed is counted
            evaluation, trained = _train(plan, evaluation)
    return JobResult(plan, evaluation, trained, time.perf_counter() - start)


def _train(plan: Plan, before: Evaluation) -> tuple[Evaluation, Training]:
    """Train every seed from `before`'s weights: the trained evaluation and the training."""
    # With trainer.standardize the descent runs on z-scored features (one learning rate
    # suits every feature); weights are always reported in the dataset's units.
    ds = plan.dataset
    if plan.is_network:
        weights, losses, epochs = descend_network(plan, ds.X, ds.y, before.layers)
        arrays = [a for layer in weights for a in (layer.W, layer.b)]
    else:
        W, b, losses, epochs = descend(plan, ds.X, ds.y, before.W, before.b)
        weights, arrays = (W, b), [W, b[:, None]]
    # A seed diverged when its loss ended above where it started (too large a step
    # overshoots further each epoch), or its numbers overflowed to infinity or NaN.
    with np.errstate(invalid="ignore"):
        diverged = ~(losses[-1] <= losses[0])
    for a in arrays:
        diverged |= ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
    trained = Training(before=before, losses=losses, loss_epochs=epochs, diverged=diverged)
    evaluation = evaluate(plan, weights=weights)
    if plan.is_network:
        baseline = luck.majority_baseline(ds.y)
        evaluation = dataclasses.replace(evaluation, metrics={
            **evaluation.metrics,
            # Trained, yet no better than always guessing the majority class.
            "stuck": luck.stuck(evaluation.metrics["accuracy"], baseline).astype(float),
            "diverged": diverged.astype(float)})
    return evaluation, trained


def evaluate(plan: Plan, weights=None) -> Evaluation:
    """z, ŷ and the metrics for every seed, chunk by chunk.

    `weights`: for every seed, e.g. after training: (W (n_seeds, n_features), b (n_seeds,))
    for the single neuron, the Layers of a network; by default the plan's explicit weights or
    each seed's draw.
    """
    if plan.is_network:
        return _evaluate_network(plan, weights)
    act, ds = plan.activation, plan.dataset
    n_features = ds.X.shape[1]
    all_W, all_b = np.empty((plan.n_seeds, n_features)), np.empty(plan.n_seeds)
    tally = _Tally(plan)
    for sl in _chunks(plan):
        if weights is not None:
            Wc, bc = weights[0][sl], weights[1][sl]
        elif plan.explicit is not None:
            Wc, bc = plan.explicit
        else:
            Wc, bc = initializers.draw(plan.seeds[sl], n_features, *plan.init)
        z, y_hat = forward(ds.X, Wc, bc, act)
        pred = act.classify(z)
        tally.add(sl, z, y_hat, pred, metrics.per_seed(y_hat, pred, ds.y, act.probability))
        all_W[sl], all_b[sl] = Wc, bc
    return tally.evaluation(W=all_W, b=all_b)


def _evaluate_network(plan: Plan, layers=None) -> Evaluation:
    """evaluate() for a network: the output unit's z and σ(z), the metrics, dead units."""
    act, ds, n = plan.activation, plan.dataset, plan.n_seeds
    sizes = network.sizes(ds.X.shape[1], plan.hidden)
    kept = ([(np.empty((n, fan_in, fan_out)), np.empty((n, fan_out)))
             for fan_in, fan_out in sizes]
            if n * plan.n_params <= limits.MAX_KEPT_WEIGHTS else None)
    tally = _Tally(plan)
    for sl in _chunks(plan):
        if layers is not None:
            chunk = network.take(layers, sl)
        else:
            chunk = tuple(Layer(W, b) for W, b in initializers.draw_layers(
                plan.seeds[sl], sizes, *plan.init))
        fwd = network.forward(ds.X, chunk, act)
        y_hat, pred = activations.sigmoid(fwd.z), fwd.z >= 0
        m = metrics.per_seed(y_hat, pred, ds.y, probability=True)
        m["dead_units"] = network.dead_units(fwd)
        tally.add(sl, fwd.z, y_hat, pred, m)
        if kept is not None:
            for (W, b), layer in zip(kept, chunk, strict=True):
                W[sl], b[sl] = layer.W, layer.b
    return tally.evaluation(
        W=None, b=None, layers=None if kept is None else tuple(Layer(W, b) for W, b in kept))


def _chunks(plan: Plan):
    """Slices of plan.chunk_size seeds, with a progress bar on a terminal for long jobs."""
    n = plan.n_seeds
    starts = range(0, n, plan.chunk_size)
    for start in progress(starts, "evaluating", total_items=n, min_items=limits.PROGRESS_SEEDS,
                          unit="chunk"):
        yield slice(start, min(start + plan.chunk_size, n))


class _Tally:
    """What the chunks of an evaluation add up to: per-seed metrics, per-row counts, and
    every seed's outputs while seeds × rows is small enough to keep."""

    def __init__(self, plan: Plan):
        n, n_rows = plan.n_seeds, plan.dataset.X.shape[0]
        keep = n * n_rows <= limits.MAX_PREDICTION_CELLS
        self.y = plan.dataset.y
        self.z = np.empty((n, n_rows)) if keep else None
        self.y_hat = np.empty((n, n_rows)) if keep else None
        self.metrics: dict[str, list] = {}
        self.n_positive = np.zeros(n_rows, dtype=np.int64)
        self.n_correct = np.zeros(n_rows, dtype=np.int64)

    def add(self, sl: slice, z, y_hat, pred, per_seed: dict) -> None:
        for k, v in per_seed.items():
            self.metrics.setdefault(k, []).append(v)
        n_positive, n_correct = luck.per_example_counts(pred, self.y)
        self.n_positive += n_positive
        self.n_correct += n_correct
        if self.z is not None:
            self.z[sl], self.y_hat[sl] = z, y_hat

    def evaluation(self, **weights) -> Evaluation:
        return Evaluation(
            metrics={k: np.concatenate(v) for k, v in self.metrics.items()},
            n_positive=self.n_positive, n_correct=self.n_correct, z=self.z, y_hat=self.y_hat,
            **weights)


def descend(plan: Plan, X, y, W0, b0):
    """Gradient descent from W0: (n_seeds, n_features), b0: (n_seeds,), chunk by chunk.

    Returns W, b in the units of X, the losses (n_recorded, n_seeds) and their epochs.
    """
    t = plan.trainer
    if t.standardize:
        Xs, mean, std = scaling.standardize(X)
    else:
        Xs, mean, std = X, np.zeros(X.shape[1]), np.ones(X.shape[1])
    W, b, losses = np.empty_like(W0), np.empty_like(b0), []
    for start in range(0, len(b0), plan.chunk_size):
        sl = slice(start, start + plan.chunk_size)
        Ws, bs = scaling.standardize_weights(W0[sl], b0[sl], mean, std)
        r = training.train(Xs, y, Ws, bs, plan.activation.name, lr=t.lr, epochs=t.epochs,
                           l2=t.l2, record_every=t.record_every)
        W[sl], b[sl] = scaling.unstandardize(r.W, r.b, mean, std)
        losses.append(r.losses)
    return W, b, np.concatenate(losses, axis=1), r.loss_epochs


def descend_network(plan: Plan, X, y, start):
    """Gradient descent for every seed's network from `start` (Layers), in chunks of
    limits.TRAIN_CHUNK_SEEDS (which the speed-ups may train side by side).

    Returns the Layers in the units of X, the losses (n_recorded, n_seeds), their epochs.
    """
    t, act = plan.trainer, plan.activation
    if t.standardize:
        Xs, mean, std = scaling.standardize(X)
    else:
        Xs, mean, std = X, np.zeros(X.shape[1]), np.ones(X.shape[1])
    # The first layer meets the features: its weights change units, the later ones do not.
    W1, b1 = scaling.standardize_weights(np.swapaxes(start[0].W, 1, 2), start[0].b, mean, std)
    start = (Layer(np.swapaxes(W1, 1, 2), b1), *start[1:])
    size = min(limits.TRAIN_CHUNK_SEEDS, plan.chunk_size)
    slices = [slice(i, i + size) for i in range(0, plan.n_seeds, size)]

    def one(sl):
        return network.train(Xs, y, network.take(start, sl), act, lr=t.lr, epochs=t.epochs,
                             l2=t.l2, record_every=t.record_every)

    parts = speedups.map_chunks(one, slices)
    layers = [Layer(np.concatenate([p.layers[i].W for p in parts]),
                    np.concatenate([p.layers[i].b for p in parts])) for i in range(len(start))]
    W1, b1 = scaling.unstandardize(np.swapaxes(layers[0].W, 1, 2), layers[0].b, mean, std)
    layers[0] = Layer(np.ascontiguousarray(np.swapaxes(W1, 1, 2)), b1)
    losses = np.concatenate([p.losses for p in parts], axis=1)
    return tuple(layers), losses, parts[0].loss_epochs


def train_lesson(plan: Plan) -> LessonTraining:
    """Train the explicit weights on plan.lesson_train; what the lesson's person gets then.

    The person is the row the lesson printed (printed.x, in the units of its file), not row 0
    of whatever dataset the job evaluated; the start is the weights given, even with
    mode=train (whose trained weights are the job's dataset's, not the lesson's start).
    """
    ds, act = plan.lesson_train, plan.activation
    W0, b0 = plan.explicit
    W, b, losses, _ = descend(plan, ds.X, ds.y, W0, b0)
    x = np.asarray([plan.printed["x"]], float) if "x" in (plan.printed or {}) else (
        plan.dataset.frame[plan.dataset.features].to_numpy(float)[:1])
    if ds.mean is not None:  # the weights are in the units the lesson's data was given in
        x = (x - ds.mean) / ds.std
    z_all, _ = forward(ds.X, W, b, act)
    z, y_hat = forward(x, W, b, act)
    return LessonTraining(
        dataset=ds.name, n_rows=len(ds.y), w0=tuple(W0[0].tolist()), b0=float(b0[0]),
        w=tuple(W[0].tolist()), b=float(b[0]), loss=float(losses[-1, 0]),
        y_hat=float(y_hat[0, 0]), positive=bool(act.classify(z)[0, 0]),
        accuracy=float((act.classify(z_all)[0] == ds.y.astype(bool)).mean()),
    )


def lesson_untrainable(plan: Plan) -> str | None:
    """Why the lesson's weights cannot be trained with the plan's activation, or None."""
    try:
        training.check_trainable(plan.activation.name)
    except ValueError as e:
        return str(e)
    return None
