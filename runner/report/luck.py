"""The luck report of one job: how much of its result the seed decided, as frozen values.

Built from a job's results (two seeds or more); `to_json()` is what `luck.json` holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from neuron import luck, sources
from runner import limits
from runner.config import OptimizerName, SplitKind
from runner.report.stats import Summary, rng_for, summarize
from runner.results import JobResult

# Metrics whose spread across seeds is worth a row; the confusion counts are in the tables.
SUMMARIZED = ("accuracy", "log_loss", "brier", "mean_output")
# Rows whose share of positive calls lies in this band are "decided by luck".
CONTESTED = (0.25, 0.75)


@dataclass(frozen=True)
class MetricSummary:
    name: str
    stats: Summary


@dataclass(frozen=True)
class ExpectedBest:
    """Expected best accuracy of k seeds (Dodge et al. 2019), and the spread of that best."""

    k: tuple[int, ...]
    accuracy: tuple[float, ...]
    sd: tuple[float, ...]

    def at(self, k: int) -> float | None:
        return self.accuracy[self.k.index(k)] if k in self.k else None

    def picks(self) -> list[int]:
        """The k worth quoting: 1, 2, 5, 10, … as far as the curve goes."""
        return [k for k in (1, 2, 5, 10, 20, 50, 100, 1000) if k in self.k]


@dataclass(frozen=True)
class RowAgreement:
    """Per data row, the share of seeds that call it positive and that get it right."""

    share_positive: tuple[float, ...]
    share_correct: tuple[float, ...]
    contested: int  # rows whose share of positive calls lies in CONTESTED
    unanimous: int  # rows every seed calls the same way


@dataclass(frozen=True)
class Highlight:
    """One row the report speaks of by name (the lesson's person)."""

    row: int
    label: str
    positive: int  # seeds that call it positive
    n_seeds: int
    truth: str
    sentence: str


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float
    min: float
    max: float
    range: float
    best_of_5: float | None


@dataclass(frozen=True)
class LossRange:
    min: float
    median: float
    max: float


@dataclass(frozen=True)
class DeadUnits:
    """Hidden units that output 0 on every row: a dead ReLU unit never learns again."""

    seeds_with_dead: int  # seeds with at least one dead hidden unit
    seeds_all_dead: int  # seeds whose every hidden unit is dead: their output is a constant
    mean_dead: float  # dead hidden units per seed, on average


@dataclass(frozen=True)
class NetworkSummary:
    hidden: tuple[int, ...]
    n_params: int  # weights and biases per seed
    dead: DeadUnits  # with the weights evaluated (after training, with mode=train)
    dead_before: DeadUnits | None  # mode=train: with the random weights


@dataclass(frozen=True)
class TrainingSummary:
    """mode=train: how much of the seed's influence on accuracy training removed.

    Spreads and shares are over the seeds that did not diverge (all seeds if every one did:
    then the report shows no figure after training, only the sentence).
    """

    lr: float
    epochs: int
    l2: float
    standardize: bool
    before: Spread
    after: Spread
    std_removed: float | None  # 1 − std after / std before; None when there was none
    trained_median_accuracy: float
    share_of_random_seeds_beaten: float
    final_loss: LossRange
    diverged: int  # seeds whose loss ended above its start, or overflowed
    stuck: int  # seeds no better than the constant guess after training
    sentence: str
    how: str | None = None  # the optimizer and batches, unless full-batch gradient descent


@dataclass(frozen=True)
class SourceShare:
    """One term of the variance of a metric across runs: a source of luck (init, order,
    split), an interaction of sources, or the residual."""

    term: str
    share: float  # of the total variance, method of moments (negatives as 0)
    low: float  # bootstrap interval of the share (Owen 2007's pigeonhole bootstrap)
    high: float
    variance: float


@dataclass(frozen=True)
class TestSet:
    """How much of the spread of test accuracy a finite test set gives alone (Jordan 2024)."""

    noise: float  # Σ pᵢ(1 − pᵢ)/n², pooled over the runs' test sets
    observed: float  # variance of the runs' test accuracy (ddof=1)
    share: float  # noise / observed, at most 1
    beyond: float  # observed − noise: the luck the test set does not explain


@dataclass(frozen=True)
class Sources:
    """Where the luck comes from: each source's share of the variance of test accuracy (and
    log-loss), the finite test set's share, and the train–test gap per run."""

    grid: str  # the runs' grid in words
    accuracy: tuple[SourceShare, ...]  # empty when the sources cannot be told apart
    log_loss: tuple[SourceShare, ...]
    test_set: TestSet | None  # with held-out rows whose per-run results were kept
    gap: Spread | None  # train accuracy − test accuracy, across runs
    sentence: str

    def share(self, term: str) -> SourceShare | None:
        return next((s for s in self.accuracy if s.term == term), None)


@dataclass(frozen=True)
class LuckReport:
    activation: str
    dataset: str
    n_rows: int
    n_seeds: int
    seeds: str
    confidence: float
    metrics: tuple[MetricSummary, ...]
    expected_best: ExpectedBest
    baseline_accuracy: float  # the constant guess: always the majority class
    share_beating_baseline: float
    rows: RowAgreement
    highlight: Highlight | None
    verdict: str
    training: TrainingSummary | None
    network: NetworkSummary | None = None
    measured_on: str | None = None  # with a split: the test rows (None: every row)
    sources: Sources | None = None  # a split, or more than one source of luck

    def metric(self, name: str) -> Summary:
        return next(m.stats for m in self.metrics if m.name == name)

    def to_json(self) -> dict:
        """The report as JSON-able values (luck.json)."""
        out = {
            "activation": self.activation, "dataset": self.dataset, "n_rows": self.n_rows,
            "n_seeds": self.n_seeds, "seeds": self.seeds, "confidence": self.confidence,
            "metrics": {m.name: asdict(m.stats) for m in self.metrics},
            "expected_best": {k: list(v) for k, v in asdict(self.expected_best).items()},
            "baseline_accuracy": self.baseline_accuracy,
            "share_beating_baseline": self.share_beating_baseline,
            "rows": {k: list(v) if isinstance(v, tuple) else v
                     for k, v in asdict(self.rows).items()},
        }
        if self.highlight is not None:
            out["highlight"] = asdict(self.highlight)
        out["verdict"] = self.verdict
        if self.training is not None:
            out["training"] = asdict(self.training)
            if self.training.how is None:  # full-batch gradient descent: as before
                del out["training"]["how"]
        if self.network is not None:
            out["network"] = {**asdict(self.network), "hidden": list(self.network.hidden)}
        if self.measured_on is not None:
            out["measured_on"] = self.measured_on
        if self.sources is not None:
            out["sources"] = asdict(self.sources)
        return out


def build(result: JobResult, map_metrics=None) -> LuckReport:
    """The luck report of a job of two or more seeds.

    `map_metrics(fn, names)`: how to compute each metric's statistics (their bootstraps are
    independent streams, so runner.speedups.map_chunks may run them side by side); by
    default one after another.
    """
    plan, ev = result.plan, result.evaluation
    ds, n = plan.dataset, result.n_seeds
    map_metrics = map_metrics or (lambda fn, names: [fn(name) for name in names])
    if n > limits.MAX_INDEX_BOOTSTRAP:
        import scipy.special  # noqa: F401 - once, before map_metrics forks (stats._mean_ci)
    metrics = tuple(m for m in map_metrics(
        lambda name: _summary(ev.metrics.get(name), name, plan.luck),
        [name for name in SUMMARIZED if ev.metrics.get(name) is not None]) if m is not None)
    acc = np.asarray(ev.metrics.accuracy, float)
    ks, best, sd = luck.expected_max(acc)
    baseline = float(luck.majority_baseline(ds.y))
    # Per row, over the runs that measured it (held it out, with a split); rows no run held
    # out are left out.
    n_measured = ev.n_measured if ev.n_measured is not None else np.full(len(ds.y), n)
    measured = n_measured > 0
    share_pos = ev.n_positive[measured] / n_measured[measured]
    share_cor = ev.n_correct[measured] / n_measured[measured]
    rows = RowAgreement(
        share_positive=tuple(share_pos.tolist()), share_correct=tuple(share_cor.tolist()),
        contested=int(((share_pos >= CONTESTED[0]) & (share_pos <= CONTESTED[1])).sum()),
        unanimous=int(((share_pos == 0) | (share_pos == 1)).sum()),
    )
    highlight = None
    if plan.highlight is not None and 0 <= plan.highlight[0] < len(ds.y) and (
            n_measured[plan.highlight[0]] > 0):
        row, label = plan.highlight
        k, m = int(ev.n_positive[row]), int(n_measured[row])
        what = "seed" if plan.runs.plain else "run"
        held = "" if plan.runs.plain else " that held it out"
        highlight = Highlight(
            row=row, label=label, positive=k, n_seeds=m,
            truth=ds.positive if ds.y[row] else ds.negative,
            sentence=f"Of {m:,} {what}{'s' if m != 1 else ''}{held}, {k:,} call {label} "
                     f"{ds.positive}.",
        )
    expected_best = ExpectedBest(tuple(ks.tolist()), tuple(best.tolist()), tuple(sd.tolist()))
    share_beating = float(luck.share_beating(acc, baseline))
    accuracy = next(m.stats for m in metrics if m.name == "accuracy")
    return LuckReport(
        activation=plan.activation.name, dataset=ds.name, n_rows=int(len(ds.y)),
        n_seeds=int(n), seeds=plan.runs_spec, confidence=plan.luck.confidence,
        metrics=metrics, expected_best=expected_best, baseline_accuracy=baseline,
        share_beating_baseline=share_beating, rows=rows, highlight=highlight,
        verdict=(f"No verdict on luck: all {n:,} seeds diverged in training, so their "
                 "accuracy measures the failed training, not the seed."
                 if result.training is not None and result.training.diverged.all()
                 else verdict(accuracy, n, expected_best, share_beating, baseline,
                              not plan.runs.plain)),
        training=_training(result, baseline) if result.training is not None else None,
        network=_network(result) if plan.hidden else None,
        measured_on=plan.runs.measured_on(),
        sources=None if plan.runs.plain else _sources(result),
    )


def _sources(result: JobResult) -> Sources:
    """Each source's share of the variance across runs, the test set's, the gap."""
    plan, ev = result.plan, result.evaluation
    runs, lk = plan.runs, plan.luck
    factors = runs.sources()
    shares: dict[str, tuple[SourceShare, ...]] = {}
    why = None
    for name in ("accuracy", "log_loss"):
        values = ev.metrics.get(name)
        if values is None or not factors:
            shares[name] = ()
            continue
        if runs.together:
            why = ("one seed drives every source (luck.sources=together), so their shares "
                   "cannot be told apart")
            shares[name] = ()
            continue
        values = np.asarray(values, float)
        if not np.isfinite(values).all():
            why = "some runs diverged, so the shares are left out"
            shares[name] = ()
            continue
        comp = sources.variance_components(values, factors)
        ci = sources.bootstrap_shares(values, factors, rng_for(lk.bootstrap_seed,
                                                               f"sources {name}"),
                                      min(lk.n_resamples, limits.MAX_SOURCE_RESAMPLES),
                                      lk.confidence)
        terms = [t for t in dict.fromkeys((*comp.terms, sources.RESIDUAL)) if t in comp.share]
        shares[name] = tuple(SourceShare(t, float(comp.share[t]), *ci.get(t, (0.0, 0.0)),
                                         float(comp.variance[t])) for t in terms)
    test_set = no_test_set = None
    pred = result.pred
    if runs.kind != SplitKind.none and pred is not None:
        y = plan.dataset.y.astype(bool)
        # Each group's runs (in group order, runs in run order), found in one sort: a mask
        # per group was a pass over every run for each (quadratic with a split per run).
        by_group = np.argsort(runs.group, kind="stable")
        groups = []
        for idx in np.split(by_group, np.flatnonzero(np.diff(runs.group[by_group])) + 1):
            test = runs.groups[runs.group[idx[0]]].test
            groups.append(pred[idx][:, test] == y[test])
        if max(len(c) for c in groups) >= 2:
            t = sources.test_set_noise_share(groups)
            test_set = TestSet(t.noise, t.observed, t.share, t.beyond)
        else:  # Jordan's Σp(1−p)/n² of one run is 0 whatever its rows
            no_test_set = ("Each run has test rows of its own, so what a finite test set "
                           "gives alone cannot be told (it needs several runs on the same "
                           "rows).")
    gap = None if ev.train is None else _spread(ev.train.accuracy - ev.metrics.accuracy)
    return Sources(grid=plan.runs_spec, accuracy=shares["accuracy"],
                   log_loss=shares["log_loss"], test_set=test_set, gap=gap,
                   sentence=_sources_sentence(shares["accuracy"], test_set, gap, why,
                                              runs.measured_on() is not None, no_test_set))


def _sources_sentence(shares, test_set, gap, why, held_out: bool,
                      no_test_set: str | None) -> str:
    """Where the luck comes from, in a sentence or two; no_test_set: why there is no
    test_set, when there is a reason to say."""
    what = "test accuracy" if held_out else "accuracy"
    out = []
    if shares:
        named = sorted((s for s in shares if s.share > 0), key=lambda s: -s.share)
        parts = [f"{s.term.replace('_x_', '×')} {s.share:.0%}" for s in named[:4]]
        out.append(f"Of the variance of {what} across runs: " + ", ".join(parts) + ".")
    elif why:
        out.append(why[0].upper() + why[1:] + ".")
    if no_test_set:
        out.append(no_test_set)
    elif test_set is not None:
        out.append(f"A finite test set alone accounts for {test_set.share:.0%} of it "
                   f"(Σp(1−p)/n² = {test_set.noise:.2e} of {test_set.observed:.2e}); "
                   f"{test_set.beyond:.2e} is luck beyond the test set.")
    if gap is not None:
        out.append(f"Train − test accuracy: mean {gap.mean:+.4f} (from {gap.min:+.4f} to "
                   f"{gap.max:+.4f}).")
    return " ".join(out)


def _dead(counts: np.ndarray, total: int) -> DeadUnits:
    return DeadUnits(int((counts > 0).sum()), int((counts == total).sum()),
                     float(counts.mean()))


def _network(result: JobResult) -> NetworkSummary:
    plan, total = result.plan, sum(result.plan.hidden)
    before = (_dead(result.training.before.metrics.dead_units, total)
              if result.training is not None else None)
    return NetworkSummary(hidden=plan.hidden, n_params=plan.n_params,
                          dead=_dead(result.evaluation.metrics.dead_units, total),
                          dead_before=before)


def _summary(values, name: str, settings) -> MetricSummary | None:
    # A diverged seed's probabilities are NaN: the statistics are over the rest. Each
    # metric's bootstrap has its own random stream, so they may run side by side.
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return MetricSummary(name, summarize(values, name, settings)) if values.size else None


def verdict(a: Summary, n: int, best: ExpectedBest, share_beating: float,
            baseline: float, runs: bool = False) -> str:
    """One or two plain sentences on how much the seed decided (`runs`: the luck of a grid
    of runs, every source together, on their test rows where they held rows out)."""
    seeds = "runs" if runs else "seeds"
    if a.max == a.min:
        return f"No luck involved: all {n:,} {seeds} give the same accuracy, {a.mean:.4f}."
    text = (
        f"{'Luck' if runs else 'The seed'} moves accuracy from {a.min:.4f} to {a.max:.4f} "
        f"(mean {a.mean:.4f}, std {a.std:.4f}) over {n:,} {seeds}; "
        f"{share_beating:.0%} of {seeds} beat the constant guess ({baseline:.4f})."
    )
    if best.at(5) is not None and best.k[-1] > 5:
        text += (f" Trying 5 {seeds} and keeping the best is expected to give "
                 f"{best.at(5):.4f}.")
    return text


def _spread(v: np.ndarray) -> Spread:
    ks, best, _ = luck.expected_max(v)
    return Spread(mean=float(v.mean()), std=float(v.std(ddof=1)) if v.size > 1 else 0.0,
                  min=float(v.min()),
                  max=float(v.max()), range=float(v.max() - v.min()),
                  best_of_5=float(best[list(ks).index(5)]) if 5 in ks else None)


def _training(result: JobResult, baseline: float) -> TrainingSummary:
    """How much of the seed's influence training removes: spreads before and after."""
    t, plan = result.training, result.plan
    trainer = plan.trainer
    n = result.n_seeds
    kept = ~t.diverged if not t.diverged.all() else np.ones(n, bool)
    before = np.asarray(t.before.metrics.accuracy, float)[kept]
    after = np.asarray(result.evaluation.metrics.accuracy, float)[kept]
    sb, sa = _spread(before), _spread(after)
    diverged = int(t.diverged.sum())
    std_removed = None if sb.std == 0 or diverged == n else float(1.0 - sa.std / sb.std)
    # Where the trained model lands among random weights: the share of random seeds it beats.
    med = float(np.median(after))
    beaten = float((before < med).mean())
    loss = t.losses[-1][kept]
    stuck = int(luck.stuck(after, baseline).sum())
    what = plan.model_noun
    removed = ("all" if std_removed == 1.0 else f"{std_removed:.0%}") if (
        std_removed is not None) else "none (there was none to remove)"
    sentence = (
        f"Training removed {removed} of the seed's influence on accuracy: std "
        f"{sb.std:.4f} → {sa.std:.4f}, range {sb.range:.4f} → {sa.range:.4f}. "
        f"The trained {what} (median accuracy {med:.4f}) beats {beaten:.0%} of the random "
        "seeds."
    )
    if baseline >= 1.0:
        sentence += (f" The constant guess is already perfect ({plan.dataset.name} holds one "
                     "class), so no seed can beat it and none is counted stuck.")
    elif stuck:
        sentence += (f" {stuck:,} of {kept.sum():,} seeds got stuck: no better than the "
                     f"constant guess ({baseline:.4f}) after training.")
    why = ("their loss ended higher than it started, or overflowed (lower trainer.lr"
           + ("" if trainer.standardize else ", or set trainer.standardize=true") + ")")
    if diverged == n:
        sentence = (f"All {n:,} seeds diverged: {why}. Training failed, so it tells nothing "
                    "about how much of the result is the seed's.")
    elif diverged:
        sentence = (f"{diverged:,} of {n:,} seeds diverged: {why}; they are left out of the "
                    "figures below. ") + sentence
    return TrainingSummary(
        lr=trainer.lr, epochs=trainer.epochs, l2=trainer.l2, standardize=trainer.standardize,
        before=sb, after=sa, std_removed=std_removed, trained_median_accuracy=med,
        share_of_random_seeds_beaten=beaten,
        final_loss=LossRange(float(loss.min()), float(np.median(loss)), float(loss.max())),
        diverged=diverged, stuck=stuck, sentence=sentence, how=_how(trainer),
    )


def _how(t) -> str | None:
    """The optimizer and its batches in words; None for full-batch gradient descent."""
    if t.optimizer == OptimizerName.gd and t.batch_size is None:
        return None
    how = {OptimizerName.gd: "gradient descent",
           OptimizerName.sgd: f"sgd, momentum {t.momentum:g}"
                              + (" (Nesterov)" if t.nesterov and t.momentum else ""),
           OptimizerName.adam: f"adam (β1 {t.beta1:g}, β2 {t.beta2:g}, ε {t.epsilon:g})"}[
        t.optimizer]
    if t.batch_size is None:
        return how + ", full batch"
    return how + f", batches of {t.batch_size}" + (", shuffled by order_seed" if t.shuffle
                                                     else ", unshuffled")
