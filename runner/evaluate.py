"""Plan → results: every seed's neuron evaluated over the data (and trained, with mode=train),
vectorized over seeds, chunk by chunk. A seed's results never depend on the chunk size or on
the other seeds of the job."""

from __future__ import annotations

import time

import numpy as np

from neuron import initializers, luck, metrics, scaling, training
from neuron.neuron import forward
from runner import limits
from runner.config import Mode
from runner.plan import Plan
from runner.progress import progress
from runner.results import Evaluation, JobResult, LessonTraining, Training


def run(plan: Plan) -> JobResult:
    """Evaluate every seed of `plan`, then train them when it says mode=train."""
    start = time.perf_counter()
    evaluation, trained = evaluate(plan), None
    if plan.mode == Mode.train:
        # With trainer.standardize the descent runs on z-scored features (one learning rate
        # suits every feature); weights are always reported in the dataset's units.
        ds, before = plan.dataset, evaluation
        W, b, losses, epochs = descend(plan, ds.X, ds.y, before.W, before.b)
        trained = Training(before=before, losses=losses, loss_epochs=epochs)
        evaluation = evaluate(plan, weights=(W, b))
    return JobResult(plan, evaluation, trained, time.perf_counter() - start)


def evaluate(plan: Plan, weights=None) -> Evaluation:
    """z, ŷ and the metrics for every seed, chunk by chunk.

    `weights`: (W (n_seeds, n_features), b (n_seeds,)), e.g. after training; by default the
    plan's explicit weights or each seed's draw.
    """
    act, ds, seed_array = plan.activation, plan.dataset, plan.seeds
    n_features = ds.X.shape[1]
    n, n_rows = len(seed_array), ds.X.shape[0]
    keep = n * n_rows <= limits.MAX_PREDICTION_CELLS
    all_W = np.empty((n, n_features))
    all_b = np.empty(n)
    z_keep = np.empty((n, n_rows)) if keep else None
    y_keep = np.empty((n, n_rows)) if keep else None
    per_seed: dict[str, list] = {}
    pos = np.zeros(n_rows, dtype=np.int64)
    cor = np.zeros(n_rows, dtype=np.int64)
    chunks = range(0, n, plan.chunk_size)
    for start in progress(chunks, "evaluating", total_items=n, min_items=limits.PROGRESS_SEEDS,
                          unit="chunk"):
        stop = min(start + plan.chunk_size, n)
        if weights is not None:
            Wc, bc = weights[0][start:stop], weights[1][start:stop]
        elif plan.explicit is not None:
            Wc, bc = plan.explicit
        else:
            Wc, bc = initializers.draw(seed_array[start:stop], n_features, *plan.init)
        z, y_hat = forward(ds.X, Wc, bc, act)
        pred = act.classify(z)
        for k, v in metrics.per_seed(y_hat, pred, ds.y, act.probability).items():
            per_seed.setdefault(k, []).append(v)
        n_positive, n_correct = luck.per_example_counts(pred, ds.y)
        pos += n_positive
        cor += n_correct
        all_W[start:stop], all_b[start:stop] = Wc, bc
        if keep:
            z_keep[start:stop], y_keep[start:stop] = z, y_hat
    return Evaluation(
        W=all_W, b=all_b, metrics={k: np.concatenate(v) for k, v in per_seed.items()},
        n_positive=pos, n_correct=cor, z=z_keep, y_hat=y_keep,
    )


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


def train_lesson(plan: Plan, result: JobResult) -> LessonTraining:
    """Train the explicit weights on plan.lesson_train; what the lesson's row gets then."""
    ds, act, ev = plan.lesson_train, plan.activation, result.evaluation
    W, b, losses, _ = descend(plan, ds.X, ds.y, ev.W[:1], ev.b[:1])
    x = plan.dataset.X[:1]
    z_all, _ = forward(ds.X, W, b, act)
    z, y_hat = forward(x, W, b, act)
    return LessonTraining(
        dataset=ds.name, n_rows=len(ds.y), w0=tuple(ev.W[0].tolist()), b0=float(ev.b[0]),
        w=tuple(W[0].tolist()), b=float(b[0]), loss=float(losses[-1, 0]),
        y_hat=float(y_hat[0, 0]), positive=bool(act.classify(z)[0, 0]),
        accuracy=float((act.classify(z_all)[0] == ds.y.astype(bool)).mean()),
    )
