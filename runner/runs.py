"""A job's runs: which initial weights, mini-batch order and test rows each one has.

The three sources of luck (Bouthillier et al. 2021) each take their own seeds: `seed` (the
initial weights), `order_seed` (the order of the mini-batches) and `split.seed` (which rows
are test; with split=kfold every fold too). A job runs their grid, or with
luck.sources=together run i takes the i-th seed for all three. Seeds become streams in
neuron.initializers and neuron.splits, so a run's numbers depend on its own seeds only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuron import splits
from runner import limits, seeds
from runner.config import Config, Mode, Sources, SplitKind
from runner.errors import UserError


@dataclass(frozen=True)
class Group:
    """Runs that share their training and test rows: one split seed (and fold)."""

    split_seed: int  # -1: no split
    fold: int  # -1: not k-fold
    train: np.ndarray  # (n_train,) sorted row numbers
    test: np.ndarray | None  # (n_test,) sorted row numbers; None: no split


@dataclass(frozen=True)
class Runs:
    """Every run of a job, (n_runs,) int64 each; -1 where a source plays no part."""

    seed: np.ndarray  # the initial weights' seed (-1: explicit weights)
    order: np.ndarray  # order_seed: the mini-batches' order
    split: np.ndarray  # split.seed
    fold: np.ndarray  # the fold that is the test set (split=kfold)
    group: np.ndarray  # index into groups
    groups: tuple[Group, ...]
    kind: SplitKind
    test_fraction: float | None  # holdout
    folds: int | None  # kfold
    order_spec: str | None  # '1..5', or None when no order is drawn
    split_spec: str | None
    together: bool  # luck.sources=together: run i's seed drives every source

    @property
    def n(self) -> int:
        return len(self.seed)

    @property
    def plain(self) -> bool:
        """The runs are the seeds alone: no split, no drawn order (the job of before)."""
        return self.test_fraction is None and self.folds is None and self.order_spec is None

    def key(self, i: int) -> str:
        """What names run i among the job's runs, for resuming: its seed, or all its seeds."""
        if self.plain:
            return str(int(self.seed[i]))
        return f"{self.seed[i]}/{self.order[i]}/{self.split[i]}/{self.fold[i]}"

    def label(self, i: int) -> str:
        """Run i in words: 'seed 3', or 'seed 3 · order 2 · split 1 · fold 0'."""
        parts = ["explicit weights" if self.seed[i] < 0 else f"seed {self.seed[i]}"]
        if self.order[i] >= 0:
            parts.append(f"order {self.order[i]}")
        if self.split[i] >= 0:
            parts.append(f"split {self.split[i]}")
        if self.fold[i] >= 0:
            parts.append(f"fold {self.fold[i]}")
        return " · ".join(parts)

    def describe(self, seed_spec: str) -> str:
        """The runs in words: the seeds alone ('1..50'), or the grid they make
        ('seeds 1..20 × order seeds 1..20 × split seeds 1..5')."""
        if self.plain:
            return seed_spec
        def seeds(what, spec, levels):
            return f"{what} seed{'s' if len(np.unique(levels)) > 1 else ''} {spec}"

        parts = [seeds("", seed_spec, self.seed).strip() if self.seed[0] >= 0 else seed_spec]
        if self.order_spec is not None:
            parts.append(seeds("order", self.order_spec, self.order))
        if self.split_spec is not None:
            parts.append(seeds("split", self.split_spec, self.split))
        if self.together:
            drives = ", ".join(["init", *(["order"] if self.order_spec else []),
                                *(["split"] if self.split_spec else [])])
            return (f"seeds {seed_spec}, each driving {drives} (luck.sources=together)"
                    + (f" × {self.folds} folds" if self.folds else ""))
        if self.folds is not None:
            parts.append(f"{self.folds} folds")
        return " × ".join(parts)

    def measured_on(self) -> str | None:
        """Which rows the metrics are measured on, when not every row."""
        if self.test_fraction is not None:
            return f"the held-out test rows ({self.test_fraction:.0%} of each class)"
        if self.folds is not None:
            return f"the test fold ({self.folds}-fold cross-validation)"
        return None

    def sources(self) -> dict[str, np.ndarray]:
        """The sources with more than one level in this job, by name: init, order, split
        (with k-fold the split's levels are its (seed, fold) groups)."""
        out = {}
        for name, levels in (("init", self.seed), ("order", self.order),
                             ("split", self.group)):
            if len(np.unique(levels)) > 1:
                out[name] = levels
        return out


def minibatch(config: Config) -> bool:
    """Whether training draws an order: mode=train with mini-batches that are shuffled."""
    t = config.trainer
    return config.mode == Mode.train and t.batch_size is not None and t.shuffle


def plan_runs(config: Config, init_seeds: np.ndarray, y: np.ndarray) -> Runs:
    """The grid of runs `config` asks for; UserError for a split or order that cannot be."""
    s, t = config.split, config.trainer
    kind = s.kind
    order_given = not (isinstance(config.order_seed, int) and config.order_seed == 0)
    split_given = not (isinstance(s.seed, int) and s.seed == 0)
    if order_given and not minibatch(config):
        why = ("mode=evaluate trains nothing" if config.mode != Mode.train else
               "trainer.batch_size is null: every step sees every training row"
               if t.batch_size is None else "trainer.shuffle=false: the rows keep their order")
        raise UserError(
            f"order_seed={_text(config.order_seed)}: plays no part, {why}; for mini-batches "
            "use mode=train trainer=sgd (or trainer=adam), or drop order_seed")
    if split_given and kind == SplitKind.none:
        raise UserError(f"split.seed={_text(s.seed)}: no split is set, so no rows are held "
                        "out; add split=holdout (or split=kfold), or drop split.seed")
    orders = (seeds.parse_seeds(config.order_seed, "order_seed") if minibatch(config)
              else np.asarray([-1], np.int64))
    split_seeds = (seeds.parse_seeds(s.seed, "split.seed") if kind != SplitKind.none
                   else np.asarray([-1], np.int64))
    together = config.luck.sources == Sources.together
    if together:
        if order_given or split_given:
            given = "order_seed" if order_given else "split.seed"
            raise UserError(f"luck.sources=together: run i takes seed i for every source, so "
                            f"{given} is not given; drop it (or use luck.sources=grid)")
        if init_seeds[0] < 0:
            raise UserError("luck.sources=together: the weights are given, so there is no "
                            "seed to drive the other sources; drop weights= or use "
                            "luck.sources=grid")
        orders = init_seeds if minibatch(config) else orders
        split_seeds = init_seeds if kind != SplitKind.none else split_seeds
    groups = _groups(config, split_seeds, y)
    folds = max(1, s.folds if kind == SplitKind.kfold else 1)
    if together:
        n = init_seeds.size * folds
        seed = np.repeat(init_seeds, folds)
        order = np.repeat(orders if orders.size == init_seeds.size else
                          np.full(init_seeds.size, -1), folds)
        group = (np.repeat(np.arange(init_seeds.size), folds) * folds
                 + np.tile(np.arange(folds), init_seeds.size)) if kind != SplitKind.none \
            else np.zeros(n, np.int64)
    else:
        n_groups = len(groups)
        n = n_groups * orders.size * init_seeds.size
        if n > limits.MAX_SEEDS_PER_JOB:
            raise UserError(
                f"seed × order_seed × split.seed{' × folds' if folds > 1 else ''}: "
                f"{init_seeds.size:,} × {orders.size:,} × {split_seeds.size:,}"
                + (f" × {folds}" if folds > 1 else "") + f" = {n:,} runs, more than "
                f"{limits.MAX_SEEDS_PER_JOB:,} in one job; give fewer seeds")
        # Runs sharing their rows sit together (they train together); seeds vary fastest.
        group = np.repeat(np.arange(n_groups), orders.size * init_seeds.size)
        order = np.tile(np.repeat(orders, init_seeds.size), n_groups)
        seed = np.tile(init_seeds, n_groups * orders.size)
    split = np.asarray([groups[g].split_seed for g in group], np.int64)
    fold = np.asarray([groups[g].fold for g in group], np.int64)
    return Runs(
        seed=seed.astype(np.int64), order=order.astype(np.int64), split=split, fold=fold,
        group=group.astype(np.int64), groups=tuple(groups), kind=kind,
        test_fraction=s.test_fraction if kind == SplitKind.holdout else None,
        folds=s.folds if kind == SplitKind.kfold else None,
        order_spec=seeds.describe(orders) if orders[0] >= 0 else None,
        split_spec=seeds.describe(split_seeds) if split_seeds[0] >= 0 else None,
        together=together)


def _groups(config: Config, split_seeds: np.ndarray, y: np.ndarray):
    s = config.split
    n_rows = len(y)
    if s.kind == SplitKind.none:
        return [Group(-1, -1, np.arange(n_rows), None)]
    smaller = int(min((y == 0).sum(), (y == 1).sum()))
    # (fold, train, test) with a row per split seed: all seeds at once where there are many
    # (limits.SPLITS_AT_ONCE; 100,000 split seeds one at a time took 6.7 s to plan)
    if len(split_seeds) >= limits.SPLITS_AT_ONCE:
        if s.kind == SplitKind.holdout:
            parts = [(-1, *splits.holdout_many(y, s.test_fraction, split_seeds))]
        else:
            parts = [(k, *p) for k, p in enumerate(splits.kfold_many(y, s.folds, split_seeds))]
    else:
        each = [[(-1, *splits.holdout(y, s.test_fraction, seed))] if s.kind == SplitKind.holdout
                else [(k, *p) for k, p in enumerate(splits.kfold(y, s.folds, seed))]
                for seed in split_seeds.tolist()]
        # a fold holds as many rows whatever the seed (the deal is by position)
        parts = [(fold, np.stack([e[k][1] for e in each]), np.stack([e[k][2] for e in each]))
                 for k, (fold, _, _) in enumerate(each[0])]
    for _, _, test in parts:
        positives = y[test].sum(axis=1)
        fewest = int(np.minimum(positives, test.shape[1] - positives).min())
        if fewest < 2:
            what = (f"split.test_fraction={s.test_fraction}" if s.kind == SplitKind.holdout
                    else f"split.folds={s.folds}")
            raise UserError(
                f"{what}: a test set with {fewest} row(s) of a class (the smaller class has "
                f"{smaller} rows), too few to measure it; hold out more rows "
                + ("(a larger test_fraction)" if s.kind == SplitKind.holdout
                   else "(fewer folds)"))
    return [Group(seed, fold, train[i], test[i]) for i, seed in enumerate(split_seeds.tolist())
            for fold, train, test in parts]


def check(config: Config, y: np.ndarray) -> None:
    """The split's and the mini-batch trainer's values, before any run is planned."""
    s, t = config.split, config.trainer
    if s.kind == SplitKind.holdout and not (
            isinstance(s.test_fraction, (int, float)) and 0 < s.test_fraction < 1):
        raise UserError(f"split.test_fraction={s.test_fraction}: must be between 0 and 1 "
                        "(exclusive), e.g. 0.25")
    smaller = int(min((y == 0).sum(), (y == 1).sum()))
    if s.kind == SplitKind.kfold and not 2 <= s.folds <= smaller:
        raise UserError(f"split.folds={s.folds}: must be from 2 to {smaller} (the rows of the "
                        "smaller class, so every fold holds both classes), e.g. 5")
    if t.batch_size is not None:
        n_train = len(y) if s.kind == SplitKind.none else None
        if t.batch_size < 1 or (n_train is not None and t.batch_size > n_train):
            top = f" to {n_train:,} (the training rows)" if n_train is not None else ""
            raise UserError(f"trainer.batch_size={t.batch_size}: must be from 1{top}, or null "
                            "for the whole training set")
    if not (0 <= t.momentum <= 1):
        raise UserError(f"trainer.momentum={t.momentum}: must be from 0 to 1, e.g. 0.9")
    for name in ("beta1", "beta2"):
        value = getattr(t, name)
        if not (0 <= value < 1):
            raise UserError(f"trainer.{name}={value}: must be from 0 to 1 (1 excluded), e.g. "
                            + ("0.9" if name == "beta1" else "0.999"))
    if not (t.epsilon > 0 and np.isfinite(t.epsilon)):
        raise UserError(f"trainer.epsilon={t.epsilon}: must be a positive number, e.g. 1e-8")


def check_batch(config: Config, runs: Runs) -> None:
    """A batch larger than the training rows of a split."""
    b = config.trainer.batch_size
    if b is None or runs.kind == SplitKind.none:
        return
    n_train = min(g.train.size for g in runs.groups)
    if b > n_train:
        raise UserError(f"trainer.batch_size={b}: more than the {n_train:,} training rows of "
                        "the split; give at most that, or null for the whole training set")


def _text(value) -> str:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)
