"""Plan → results: every seed's neuron evaluated over the data (and trained, with mode=train),
vectorized over seeds, chunk by chunk. A seed's results never depend on the chunk size or on
the other seeds of the job."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from neuron import initializers, luck, metrics, network, optimizers, scaling, splits
from neuron.network import Layer
from runner import limits, speedups
from runner.config import Mode, OptimizerName, TrainerConfig
from runner.plan import Plan
from runner.progress import progress
from runner.results import Evaluation, JobResult, LessonSkipped, LessonTraining, Training
from runner.runs import Group


def run(plan: Plan) -> JobResult:
    """Evaluate every seed of `plan`, then train them when it says mode=train, then train the
    lesson's weights when it has a lesson to go on with."""
    start = time.perf_counter()
    evaluation, trained = evaluate(plan), None
    if plan.mode == Mode.train:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging seed is counted
            evaluation, trained = _train(plan, evaluation)
    lesson = train_lesson(plan) if plan.lesson_train is not None else None
    return JobResult(plan, evaluation, trained, time.perf_counter() - start, lesson)


def _train(plan: Plan, before: Evaluation) -> tuple[Evaluation, Training]:
    """Train every run from `before`'s weights on its training rows: the trained evaluation
    and the training."""
    ds = plan.dataset
    parts = []  # (the runs, what their descent returned)
    for together in _descents(list(_group_slices(plan))):
        if len(together) > 1:
            runs = np.concatenate([np.arange(sl.start, sl.stop) for _, sl in together])
            parts.append((runs, descend_groups(plan, together, before.layers)))
        else:
            ((g, sl),) = together
            parts.append((sl, descend(plan, group_X(plan, g)[g.train], ds.y[g.train],
                                      network.take(before.layers, sl), sl)))
    layers = tuple(Layer(np.empty_like(layer.W), np.empty_like(layer.b))
                   for layer in before.layers)
    epochs = parts[0][1][2]
    losses = np.empty((len(epochs), plan.n_seeds))
    for runs, (trained, part_losses, _) in parts:
        for layer, part in zip(layers, trained, strict=True):
            layer.W[runs], layer.b[runs] = part.W, part.b
        losses[:, runs] = part_losses
    # A run diverged when its loss ended above where it started (too large a step
    # overshoots further each epoch), or its numbers overflowed to infinity or NaN.
    with np.errstate(invalid="ignore"):
        diverged = ~(losses[-1] <= losses[0])
    for layer in layers:
        for a in (layer.W, layer.b):
            diverged |= ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
    trained = Training(before=before, losses=losses, loss_epochs=epochs, diverged=diverged)
    evaluation = evaluate(plan, layers=layers)
    if plan.hidden:  # the single neuron's runs keep the metrics they always had
        acc = evaluation.metrics.accuracy
        evaluation = dataclasses.replace(evaluation, metrics=dataclasses.replace(
            evaluation.metrics,
            # Trained, yet no better than always guessing the majority class.
            stuck=luck.stuck(acc, luck.majority_baseline(ds.y)).astype(float),
            diverged=diverged.astype(float)))
    return evaluation, trained


def group_X(plan: Plan, group: Group) -> np.ndarray:
    """The features as the runs of `group` see them: with dataset.standardize and a split,
    z-scored by the training rows' statistics (the test rows must not inform them)."""
    ds = plan.dataset
    if ds.mean is None or group.test is None:
        return ds.X
    _, mean, std = scaling.standardize(ds.raw[group.train])
    return (ds.raw - mean) / std


def _group_slices(plan: Plan):
    """(group, slice of runs) for each group of runs sharing their rows, in run order."""
    g = plan.runs.group
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], g.size]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        yield plan.runs.groups[g[a]], slice(a, b)


def evaluate(plan: Plan, layers=None) -> Evaluation:
    """z, ŷ and the metrics for every run, chunk by chunk: on its test rows (and its
    training rows) when the plan splits the data, else on every row.

    `layers`: every run's weights (neuron.network.Layer, the output unit last), e.g. after
    training; by default the plan's explicit weights or each seed's draw.
    """
    ds, n = plan.dataset, plan.n_seeds
    sizes = network.sizes(ds.X.shape[1], plan.hidden)
    kept = ([(np.empty((n, fan_in, fan_out)), np.empty((n, fan_out)))
             for fan_in, fan_out in sizes]
            if n * plan.n_params <= limits.MAX_KEPT_WEIGHTS else None)
    tally = _Tally(plan)

    def pieces():
        drawn = slice(0, 0)
        for piece in _chunks(plan):
            sl = piece.runs
            if layers is not None:
                chunk = network.take(layers, sl)
            elif plan.explicit is not None:
                chunk = network.neuron(*plan.explicit)
            else:
                # Many chunks' seeds drawn at once (a seed's draw is its own whatever its
                # neighbours): per chunk, the seeding's numpy calls would cost more than
                # the numbers.
                if not drawn.start <= sl.start < sl.stop <= drawn.stop:
                    many = min(DRAW_SEEDS, DRAW_PARAMS // plan.n_params)
                    drawn = slice(sl.start, max(sl.stop, min(sl.start + many, n)))
                    block = initializers.draw_layers(plan.seeds[drawn], sizes, *plan.init)
                part = slice(sl.start - drawn.start, sl.stop - drawn.start)
                chunk = tuple(Layer(W[part], b[part]) for W, b in block)
            yield piece, chunk

    def one(item):
        piece, chunk = item
        return piece.runs, chunk, _evaluate_chunk(plan, piece, chunk)

    # Chunks side by side, on threads (numpy's steps release the GIL); tallied in order.
    for sl, chunk, (fwd, counts, m, train) in speedups.imap_threads(one, pieces()):
        tally.add(sl, fwd.z, fwd.y_hat, counts, m, train)
        if kept is not None:
            for (W, b), layer in zip(kept, chunk, strict=True):
                W[sl], b[sl] = layer.W, layer.b
    return tally.evaluation(None if kept is None else tuple(Layer(W, b) for W, b in kept))


# Seeds whose initial weights are drawn at once, for the chunks that evaluate them: at most
# this many, holding at most DRAW_PARAMS parameters (32 MB; a wide network's chunk alone can
# hold more, and is then drawn by itself).
DRAW_SEEDS = 65_536
DRAW_PARAMS = 4_000_000


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """Runs evaluated at once: `runs`, made of consecutive groups' runs (`parts`: each group
    and its runs), every group with as many test and training rows, so that the runs' rows
    make one (n_runs, n) array of row numbers. A split seed per run (luck.sources=together)
    makes a group per run, and a chunk a group cost ~0.4 ms apiece in numpy's calls."""

    runs: slice
    parts: tuple[tuple[Group, slice], ...]

    @property
    def split(self) -> bool:
        return self.parts[0][0].test is not None

    def rows(self, test: bool) -> np.ndarray:
        """(n_runs, n) each run's test (else training) row numbers."""
        return np.concatenate([np.broadcast_to(g.test if test else g.train,
                                               (s.stop - s.start, (g.test if test else
                                                                    g.train).size))
                               for g, s in self.parts])


def _chunks(plan: Plan):
    """_Chunks of at most plan.chunk_size runs, in run order, with a progress bar on a
    terminal for long jobs."""
    def shape(g: Group):
        return None if g.test is None else g.test.size, g.train.size

    pieces, parts, filled = [], [], 0
    for g, sl in _group_slices(plan):
        a = sl.start
        while a < sl.stop:
            if parts and (filled == plan.chunk_size or shape(parts[0][0]) != shape(g)):
                pieces.append(_Chunk(slice(parts[0][1].start, parts[-1][1].stop),
                                     tuple(parts)))
                parts, filled = [], 0
            b = min(sl.stop, a + plan.chunk_size - filled)
            parts.append((g, slice(a, b)))
            filled, a = filled + b - a, b
    pieces.append(_Chunk(slice(parts[0][1].start, parts[-1][1].stop), tuple(parts)))
    yield from progress(pieces, "evaluating", total_items=plan.n_seeds,
                        min_items=limits.PROGRESS_SEEDS, unit="chunk")


def _forward(plan: Plan, piece: _Chunk, chunk: tuple[Layer, ...]) -> network.Forward:
    """network.forward for the chunk's runs, each on its group's features (group_X)."""
    act = plan.activation
    if plan.dataset.mean is None or not piece.split:  # every group sees the same features
        return network.forward(plan.dataset.X, chunk, act)
    a = piece.runs.start
    fwds = [network.forward(group_X(plan, g), network.take(chunk, slice(s.start - a,
                                                                          s.stop - a)), act)
            for g, s in piece.parts]
    if len(fwds) == 1:
        return fwds[0]
    return network.Forward(*(
        [np.concatenate([f[k][i] for f in fwds]) for i in range(len(fwds[0][k]))]
        for k in (0, 1)), *(np.concatenate([f[k] for f in fwds]) for k in (2, 3)))


def _evaluate_chunk(plan: Plan, piece: _Chunk, chunk: tuple[Layer, ...]):
    """The runs of `piece` with weights `chunk`: their Forward, per-row counts of their
    predictions (n_measured, n_positive, n_correct; neuron.luck.per_example_counts, on the
    measured rows) and metrics (test and train)."""
    ds, out = plan.dataset, plan.output
    fwd = _forward(plan, piece, chunk)
    pred = out.classify(fwd.z)
    if not piece.split:
        m, train = metrics.per_seed(fwd.y_hat, pred, ds.y, out.probability), None
        counts = (np.full(ds.y.size, len(pred)), *luck.per_example_counts(pred, ds.y))
        trained_on = piece.parts[0][0].train
    else:
        test, trained_on = piece.rows(test=True), piece.rows(test=False)
        m, train = (metrics.per_seed(_gather(fwd.y_hat, rows), _gather(pred, rows),
                                     ds.y[rows], out.probability)
                    for rows in (test, trained_on))
        counts = luck.per_example_counts_on(_gather(pred, test), ds.y, test)
    if plan.hidden:
        dead = network.dead_units(fwd, trained_on)
        m = dataclasses.replace(m, dead_units=dead)
        train = None if train is None else dataclasses.replace(train, dead_units=dead)
    return fwd, counts, m, train


def _gather(a, rows):
    """a[i, rows[i]] for every run i: (n_runs, n), C-ordered. numpy may lay a gather out
    by the number of runs, and a mean over a strided axis sums in another order (a run's
    bits would then depend on the runs beside it)."""
    return np.ascontiguousarray(np.take_along_axis(a, rows, axis=1))


class _Tally:
    """What the chunks of an evaluation add up to: per-seed metrics, per-row counts, and
    every seed's outputs while seeds × rows is small enough to keep."""

    def __init__(self, plan: Plan):
        n, n_rows = plan.n_seeds, plan.dataset.X.shape[0]
        keep = n * n_rows <= limits.MAX_PREDICTION_CELLS
        self.z = np.empty((n, n_rows)) if keep else None
        self.y_hat = np.empty((n, n_rows)) if keep else None
        self.metrics: list[metrics.PerSeed] = []
        self.train: list[metrics.PerSeed] = []
        self.n_measured = np.zeros(n_rows, dtype=np.int64)
        self.n_positive = np.zeros(n_rows, dtype=np.int64)
        self.n_correct = np.zeros(n_rows, dtype=np.int64)

    def add(self, sl: slice, z, y_hat, counts, per_seed: metrics.PerSeed,
            train: metrics.PerSeed | None) -> None:
        """counts: (n_measured, n_positive, n_correct) of the chunk's runs, per row, over the
        runs that measured it (held it out, with a split)."""
        self.metrics.append(per_seed)
        if train is not None:
            self.train.append(train)
        for total, c in zip((self.n_measured, self.n_positive, self.n_correct), counts,
                            strict=True):
            total += c
        if self.z is not None:
            self.z[sl], self.y_hat[sl] = z, y_hat

    def evaluation(self, layers) -> Evaluation:
        return Evaluation(
            layers=layers, metrics=metrics.PerSeed.concat(self.metrics),
            n_positive=self.n_positive, n_correct=self.n_correct, z=self.z, y_hat=self.y_hat,
            train=metrics.PerSeed.concat(self.train) if self.train else None,
            n_measured=self.n_measured)


def optimizer(t: TrainerConfig):
    """The step trainer.optimizer names, with its settings."""
    if t.optimizer == OptimizerName.sgd:
        return optimizers.SGD(t.lr, momentum=t.momentum, nesterov=t.nesterov)
    if t.optimizer == OptimizerName.adam:
        return optimizers.Adam(t.lr, beta1=t.beta1, beta2=t.beta2, epsilon=t.epsilon)
    return optimizers.GD(t.lr)


def descend(plan: Plan, X, y, start, runs: slice | None = None):
    """Train every run's model from `start` (Layers) on X, y, in chunks of seeds (which the
    speed-ups may train side by side): at most plan.train_chunk_size, evenly, where
    mini-batches go through the compiled kernels (one block of their lanes), else at most
    plan.chunk_size and limits.TRAIN_CHUNK_SEEDS.

    `runs`: which of the plan's runs `start` holds (their order seeds draw the mini-batches'
    order), by default the first ones. With trainer.standardize the descent runs on z-scored
    features (one learning rate suits every feature; the statistics are X's, the training
    rows'); the Layers returned are in the units of X, with the losses (n_recorded, n_runs)
    and their epochs.
    """
    t, act = plan.trainer, plan.activation
    Xs, mean, std = _standardized(t, X)
    # The first layer meets the features: its weights change units, the later ones do not.
    W1, b1 = scaling.standardize_weights(np.swapaxes(start[0].W, 1, 2), start[0].b, mean, std)
    start = (Layer(np.swapaxes(W1, 1, 2), b1), *start[1:])
    n = len(start[0].b)
    step = optimizer(t)
    order_seeds = plan.runs.order[runs if runs is not None else slice(0, n)]
    # Mini-batches through neuron.compiled's kernels, which hold a batch's rows, not all rows.
    slices = _train_chunks(plan, n, network.trains_compiled(
        start, t.batch_size, shuffled=order_seeds[0] >= 0))

    def one(sl):
        # Each run's own stream, used by that run alone: its order does not depend on the
        # chunk or on the runs beside it.
        orders = None if order_seeds[0] < 0 else splits.streams(splits.ORDER, order_seeds[sl])
        return network.train(Xs, y, network.take(start, sl), act, step, epochs=t.epochs,
                             l2=t.l2, record_every=t.record_every, batch_size=t.batch_size,
                             orders=orders)

    parts = speedups.map_chunks(one, slices)
    layers = [Layer(np.concatenate([p.layers[i].W for p in parts]),
                    np.concatenate([p.layers[i].b for p in parts])) for i in range(len(start))]
    W1, b1 = scaling.unstandardize(np.swapaxes(layers[0].W, 1, 2), layers[0].b, mean, std)
    layers[0] = Layer(np.ascontiguousarray(np.swapaxes(W1, 1, 2)), b1)
    losses = np.concatenate([p.losses for p in parts], axis=1)
    return tuple(layers), losses, parts[0].loss_epochs


def _descents(groups) -> list[list]:
    """The groups (group, slice of runs) whose runs train in one descent, each on its own
    rows (`descend_groups` where there are many): those with as many training rows (folds
    of unequal sizes make two descents)."""
    by_size = {}
    for g, sl in groups:
        by_size.setdefault(g.train.size, []).append((g, sl))
    return list(by_size.values())


def descend_groups(plan: Plan, groups, start):
    """`descend` for the runs of many groups at once (`_descents`): each chunk of runs
    trains in one call on its groups' training rows stacked, each run on its own group's
    (network.train's rows), z-scored, weights carried in and out, by its group's
    statistics as `descend` does for a group alone: the same numbers, run for run. One
    descent a group cost ~2 ms of its own in mini-batches (luck.sources=together, 10,000
    runs: 10,000 descents of one seed each, 7 of 8 lanes empty), and with the full batch
    its 1,000 epochs of numpy calls for one seed (2,000 runs: 63.6 s on one core).

    groups: (group, slice of the plan's runs), in run order, each with as many training rows;
    start: every run of the plan's Layers. Returns what descend does, for the groups' runs
    in that order."""
    t, act, ds = plan.trainer, plan.activation, plan.dataset
    runs = np.concatenate([np.arange(sl.start, sl.stop) for _, sl in groups])
    start, order_seeds = network.take(start, runs), plan.runs.order[runs]
    n, n_train = len(runs), groups[0][0].train.size
    which = np.empty(n, np.int64)
    at = np.cumsum([0] + [sl.stop - sl.start for _, sl in groups])
    groups = [(g, slice(at[k], at[k + 1])) for k, (g, _) in enumerate(groups)]  # in `runs`
    for k, (_, sl) in enumerate(groups):
        which[sl] = k
    slices = _train_chunks(plan, n, network.trains_compiled(
        start, t.batch_size, shuffled=order_seeds[0] >= 0, split=True))
    step = optimizer(t)

    def one(sl):
        X, y, W1, b1 = [], [], [], []
        rows = np.empty((sl.stop - sl.start, n_train), np.int64)
        stats = {}
        for pos, g in enumerate(np.unique(which[sl]).tolist()):
            group, gsl = groups[g]
            Xs, mean, std = _standardized(t, group_X(plan, group)[group.train])
            stats[g] = (mean, std)
            X.append(Xs)
            y.append(ds.y[group.train])
            # the group's weights as descend z-scores them, all its runs at once
            W, b = scaling.standardize_weights(np.swapaxes(start[0].W[gsl], 1, 2),
                                               start[0].b[gsl], mean, std)
            a, e = max(gsl.start, sl.start), min(gsl.stop, sl.stop)
            W1.append(W[a - gsl.start:e - gsl.start])
            b1.append(b[a - gsl.start:e - gsl.start])
            rows[a - sl.start:e - sl.start] = pos * n_train + np.arange(n_train)
        first = Layer(np.swapaxes(np.concatenate(W1), 1, 2), np.concatenate(b1))
        orders = None if order_seeds[0] < 0 else splits.streams(splits.ORDER,
                                                                  order_seeds[sl])
        r = network.train(np.vstack(X), np.concatenate(y),
                          (first, *network.take(start, sl)[1:]), act, step, epochs=t.epochs,
                          l2=t.l2, record_every=t.record_every, batch_size=t.batch_size,
                          rows=rows, orders=orders)
        return r, stats

    results = speedups.map_chunks(one, slices)
    stats = {g: s for _, part in results for g, s in part.items()}
    layers = [Layer(np.concatenate([r.layers[i].W for r, _ in results]),
                    np.concatenate([r.layers[i].b for r, _ in results]))
              for i in range(len(start))]
    W1, b1 = np.empty_like(layers[0].W), np.empty_like(layers[0].b)
    for g, (_, gsl) in enumerate(groups):  # back to raw units, a group at a time as descend
        W, b = scaling.unstandardize(np.swapaxes(layers[0].W[gsl], 1, 2), layers[0].b[gsl],
                                     *stats[g])
        W1[gsl], b1[gsl] = np.swapaxes(W, 1, 2), b
    layers[0] = Layer(W1, b1)
    losses = np.concatenate([r.losses for r, _ in results], axis=1)
    return tuple(layers), losses, results[0][0].loss_epochs


def _train_chunks(plan: Plan, n: int, lanes: bool) -> list[slice]:
    """The chunks of n runs a descent trains side by side, for the compiled kernels (`lanes`,
    which it then loads, once here, not in every worker) at most plan.train_chunk_size, as
    many as that needs, of sizes as even as can be: 100 seeds as 50 and 50, on 56 lanes each
    (neuron.compiled.lanes_for), not 64 and 36 on 64 each, the slower core's share 12% less;
    else at most plan.chunk_size and limits.TRAIN_CHUNK_SEEDS. Results never depend on the
    chunks."""
    if not lanes:
        size = min(limits.TRAIN_CHUNK_SEEDS, plan.chunk_size)
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]
    from neuron import compiled

    compiled.warm_up()
    k = -(-n // plan.train_chunk_size)
    bounds = [i * n // k for i in range(k + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(k)]


def _standardized(t: TrainerConfig, X):
    """(X as the descent sees it, mean, std): z-scored with trainer.standardize."""
    if t.standardize:
        return scaling.standardize(X)
    return X, np.zeros(X.shape[1]), np.ones(X.shape[1])


def train_lesson(plan: Plan) -> LessonTraining | LessonSkipped:
    """Train the explicit weights on plan.lesson_train; what the lesson's person gets then.

    The person is the row the lesson printed (printed.x, in the units of its file), not row 0
    of whatever dataset the job evaluated; the start is the weights given, even with
    mode=train (whose trained weights are the job's dataset's, not the lesson's start).
    """
    ds, act = plan.lesson_train, plan.activation
    try:
        network.check_trainable(act, plan.hidden)
    except ValueError as e:
        return LessonSkipped(ds.name, str(e))
    W0, b0 = plan.explicit
    layers, losses, _ = descend(plan, ds.X, ds.y, network.neuron(W0, b0), slice(0, 1))
    x = (np.asarray([plan.printed.x], float) if plan.printed is not None
         and plan.printed.x is not None
         else plan.dataset.frame[plan.dataset.features].to_numpy(float)[:1])
    if ds.mean is not None:  # the weights are in the units the lesson's data was given in
        x = (x - ds.mean) / ds.std
    every = network.forward(ds.X, layers, act)
    person = network.forward(x, layers, act)
    W, b = network.neuron_weights(layers)
    return LessonTraining(
        dataset=ds.name, n_rows=len(ds.y), w0=tuple(W0[0].tolist()), b0=float(b0[0]),
        w=tuple(W[0].tolist()), b=float(b[0]), loss=float(losses[-1, 0]),
        y_hat=float(person.y_hat[0, 0]), positive=bool(act.classify(person.z)[0, 0]),
        accuracy=float((act.classify(every.z)[0] == ds.y.astype(bool)).mean()),
    )
