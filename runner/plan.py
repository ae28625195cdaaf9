"""Config → plan: every value checked and the data loaded, before anything is evaluated or logged.

A `Plan` is what a job will do, as frozen typed values; making one raises UserError for any
bad input, so a refused command has computed nothing, written nothing and logged nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
from dataclasses import dataclass

import numpy as np

from neuron import activations, initializers, network
from runner import data, limits, seeds
from runner import runs as runs_
from runner.config import (
    ChildRuns,
    Config,
    LuckConfig,
    Mode,
    TrackingConfig,
    TrainerConfig,
    plain,
    to_yaml,
)
from runner.errors import UserError
from runner.uri import redact, resolve_uri, safe_key


@dataclass(frozen=True)
class Printed:
    """What a source printed for its worked example (the lesson's `printed:`), each value
    shown beside the one computed; None where it printed nothing."""

    x: tuple[float, ...] | None = None
    w: tuple[float, ...] | None = None
    b: float | None = None
    wx: float | None = None
    z: float | None = None
    y_hat: float | None = None
    cls: str | None = None  # `class` in the config
    activation: str = "sigmoid"  # whose values the source printed


@dataclass(frozen=True)
class TrackingPlan:
    """Where and how much a job logs to MLflow."""

    uri: str  # resolved: absolute for SQLite
    experiment: str
    n_children: int  # child runs to log: one per seed, or none
    processes: int  # processes that may log child runs (tracking.processes)
    sweep_id: str | None  # the multirun this job belongs to
    started: float  # time.time() when the command started: a parent of the same job that
    # finished after it was logged by an identical command running at the same time


@dataclass(frozen=True)
class Plan:
    """A checked job, ready to evaluate."""

    mode: Mode
    activation: activations.Activation
    dataset: data.Dataset
    seeds: np.ndarray  # (n_runs,) int64: each run's init seed; [-1] for explicit weights
    runs: runs_.Runs  # each run's seed, order seed and test rows
    seed_spec: str  # '1..50', '[3,7]', 'explicit weights'
    init: tuple[initializers.Draw, initializers.Draw]  # weights, bias
    explicit: tuple[np.ndarray, np.ndarray] | None  # W (1, n_features), b (1,) if given
    trainer: TrainerConfig  # the config's own typed settings, as the sweep reads them too
    luck: LuckConfig
    chunk_size: int  # seeds evaluated at once: chunk_size, less for memory (limits.py)
    train_chunk_size: int  # seeds trained at once in mini-batches (limits.TRAIN_CHUNK_SEEDS)
    highlight: tuple[int, str] | None  # a row the report speaks of by name, and its label
    printed: Printed | None  # what a source printed (the lesson), to compare
    lesson_train: data.Dataset | None  # the lesson's weights are trained on this
    tracking: TrackingPlan | None  # None: tracking=off
    hidden: tuple[int, ...]  # hidden-layer widths; (): the single neuron
    key: str  # what makes two jobs the same computation (resume finds a parent by it)
    config_yaml: str  # the resolved config, for the run folder
    notes: tuple[str, ...]

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def runs_spec(self) -> str:
        """The job's runs in words: the seeds ('1..50'), or the grid of their sources."""
        return self.runs.describe(self.seed_spec)

    @property
    def model_noun(self) -> str:
        return "network" if self.hidden else "neuron"

    @property
    def model_names(self) -> tuple[str, ...]:
        """How a run's name tells a network's shape; nothing for the single neuron (its
        names and params stay what they were before networks existed)."""
        return (f"hidden {list(self.hidden)}",) if self.hidden else ()

    @property
    def model_summary(self) -> str:
        """The same in the closing summary's first line."""
        return f" · hidden {list(self.hidden)}, sigmoid output" if self.hidden else ""

    @property
    def model_params(self) -> dict:
        """A network's shape as run params; none for the single neuron, likewise."""
        return {"hidden": str(list(self.hidden)), "n_params": self.n_params} if (
            self.hidden) else {}

    @property
    def output(self) -> activations.Activation:
        """What reads the output unit: the neuron's own activation, or a network's sigmoid
        output (ŷ ≥ 0.5, i.e. z ≥ 0, is positive: the lesson's rule)."""
        return network.output(self.activation, self.hidden)

    @property
    def n_params(self) -> int:
        return network.n_params(self.dataset.X.shape[1], self.hidden)


def make_plan(config: Config, seed_given: bool = False, started: float | None = None) -> Plan:
    """Check `config` and load its data; UserError on any bad input.

    `started`: time.time() when the command started (default: now).
    """
    check_values(config)
    act = _activation(config)
    ds = data.load(config.dataset)
    notes = []
    explicit = None
    if config.weights is not None:
        if config.model.hidden:
            raise UserError(
                f"weights={_fmt_list(config.weights)}: explicit weights are the single "
                f"neuron's; with model.hidden={_fmt_list(config.model.hidden)} drop weights= "
                "and bias=, or drop model.hidden")
        explicit = _explicit_weights(config, ds.features)
        seed_array = np.asarray([-1], dtype=np.int64)
        spec = "explicit weights"
        if seed_given:
            notes.append(f"weights are given, so seed={config.seed} plays no part")
    else:
        if config.bias is not None:
            raise UserError(f"bias={config.bias:g}: used only with weights=; drop bias= or "
                            "give the weights too, e.g. weights=[0.2,0.00001]")
        seed_array = seeds.parse_seeds(config.seed)
        spec = seeds.describe(seed_array)
    init = _init(config)
    if config.chunk_size < 1:
        raise UserError(f"chunk_size={config.chunk_size}: must be at least 1; the default is "
                        "10000 (a smaller chunk only saves memory)")
    hidden = _hidden(config, ds.X.shape[1])
    runs_.check(config, ds.y)
    runs = runs_.plan_runs(config, seed_array, ds.y)
    runs_.check_batch(config, runs)
    if config.mode == Mode.train:
        try:
            network.check_trainable(act, hidden)
        except ValueError as e:
            more = ("" if hidden or act.name in activations.UNTRAINABLE
                    else "; in a network it trains: add model.hidden=[4]")
            raise UserError(f"mode=train activation={act.name}: {e}{more}") from None
    lesson_train = None
    if config.lesson_train is not None and explicit is not None:
        # An activation that cannot be trained skips this part only (the report says why).
        lesson_train = data.load(config.lesson_train)
    highlight, note = _highlight(config, ds)
    if note:
        notes.append(note)
    if not config.tracking.enabled and config.tracking.uri:
        notes.append(f"tracking=off: tracking.uri={redact(config.tracking.uri)} is not used")
    started = time.time() if started is None else started
    tracking = _tracking(config, runs.n, started) if config.tracking.enabled else None
    if tracking is not None:
        _check_keys(ds.features)
        note = _no_children_note(config, len(seed_array), tracking)
        if note:
            notes.append(note)
    if (tracking is not None and tracking.processes < config.tracking.processes
            and config.tracking.processes > TrackingConfig.processes):  # asked for, not default
        notes.append(f"tracking.processes={config.tracking.processes}: {tracking.processes} "
                     f"used, one per core this job may run on")
    return Plan(
        mode=config.mode, activation=act, dataset=ds, seeds=runs.seed, runs=runs, seed_spec=spec,
        init=init, explicit=explicit,
        trainer=config.trainer, luck=config.luck,
        chunk_size=_chunk_size(config, ds, hidden),
        train_chunk_size=_train_chunk_size(config, ds, hidden), highlight=highlight,
        printed=_printed(config.printed) if config.printed is not None else None,
        lesson_train=lesson_train, tracking=tracking, hidden=hidden, key=job_key(config),
        config_yaml=to_yaml(config, redact(config.tracking.uri) if config.tracking.uri else None),
        notes=tuple(notes),
    )


def check_values(config: Config) -> None:
    """Every config value that has a meaning only within bounds, checked against them."""
    lk, t, tr = config.luck, config.trainer, config.tracking
    if not (_finite(lk.confidence) and 0 < lk.confidence < 1):
        raise UserError(f"luck.confidence={lk.confidence}: must be between 0 and 1 "
                        "(exclusive), e.g. 0.95")
    if not 2 <= lk.n_resamples <= limits.MAX_RESAMPLES:
        raise UserError(f"luck.n_resamples={lk.n_resamples}: must be from 2 to "
                        f"{limits.MAX_RESAMPLES:,}; the default is 10000")
    if not 0 <= lk.bootstrap_seed <= limits.MAX_SEED:
        raise UserError(f"luck.bootstrap_seed={lk.bootstrap_seed}: must be a whole number from "
                        f"0 to {limits.MAX_SEED}")
    if not (_finite(t.lr) and t.lr > 0):
        raise UserError(f"trainer.lr={t.lr}: must be a positive finite number, e.g. 0.5")
    if not 0 <= t.epochs <= limits.MAX_EPOCHS:
        raise UserError(f"trainer.epochs={t.epochs}: must be from 0 to {limits.MAX_EPOCHS:,}")
    if not (_finite(t.l2) and t.l2 >= 0):
        raise UserError(f"trainer.l2={t.l2}: must be a finite number >= 0 (0: no penalty)")
    if t.record_every is not None and t.record_every < 1:
        raise UserError(f"trainer.record_every={t.record_every}: must be at least 1 (epochs "
                        "between loss points), or null for about 200 points")
    for where, draw in (("init", config.init), ("init.bias", config.init.bias)):
        _check_draw(where, draw)
    for name, value in plain(config.activation).items():
        if name != "name" and not _finite(value):
            raise UserError(f"activation.{name}={value}: must be a finite number")
    if tr.max_child_runs < 0:
        raise UserError(f"tracking.max_child_runs={tr.max_child_runs}: must be 0 or more "
                        "(0: no child runs under tracking.child_runs=auto)")
    if not 1 <= tr.processes <= limits.MAX_LOGGING_PROCESSES:
        raise UserError(
            f"tracking.processes={tr.processes}: must be from 1 to "
            f"{limits.MAX_LOGGING_PROCESSES}; more processes only wait on the store's write "
            "lock (a job uses at most one per core)")
    if not tr.experiment.strip():
        raise UserError("tracking.experiment is empty; name the MLflow experiment, e.g. "
                        "tracking.experiment=neuron-luck")
    if tr.enabled:
        _check_name("tracking.experiment", tr.experiment, "the MLflow experiment")
        _check_name("dataset.name", config.dataset.name, "the dataset MLflow records")
    if config.sweep_id is not None and not _SWEEP_ID.fullmatch(str(config.sweep_id)):
        raise UserError(f"sweep_id={config.sweep_id}: letters, digits, '-', '_' and '.' only "
                        "(it is set by a multirun; leave it out)")
    ds = config.dataset
    if ds.negative is not None and str(ds.negative) == str(ds.positive):
        raise UserError(f"dataset.negative={ds.negative}: the same label as dataset.positive; "
                        "name the other class")
    if ds.highlight_label is not None and ds.highlight_row is None:
        raise UserError(f"dataset.highlight_label={ds.highlight_label}: names no row; give "
                        "dataset.highlight_row too")


_SWEEP_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _check_name(key: str, value: str, what: str) -> None:
    """A name MLflow refuses past its length: refused here, before any seed is evaluated
    (MLflow refused it only when the job logged, after all the work)."""
    if len(value) > limits.MLFLOW_NAME_LENGTH:
        raise UserError(
            f"{key}={value[:40]}…: {len(value):,} characters; MLflow holds at most "
            f"{limits.MLFLOW_NAME_LENGTH} for {what}: give a shorter name")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _check_draw(where: str, d) -> None:
    for name in ("low", "high", "mean", "std", "value"):
        value = getattr(d, name)
        if not (_finite(value) and abs(value) <= limits.MAX_PARAMETER):
            raise UserError(f"{where}.{name}={value}: must be a finite number of magnitude "
                            f"at most {limits.MAX_PARAMETER:g}")
    if not d.low < d.high:
        raise UserError(f"{where}.low={d.low}, {where}.high={d.high}: need low < high")
    if d.std < 0:
        raise UserError(f"{where}.std={d.std}: must be 0 or more")


def job_key(config: Config) -> str:
    """What makes two jobs the same computation: the config, less where and how it ran.

    `model` is left out while it is the single neuron (its default), so a job keeps the key
    it had before hidden layers existed and a re-run still finds its unfinished parent.
    """
    c = plain(config)
    for k in ("tracking", "chunk_size", "sweep_id"):
        c.pop(k, None)
    if not c["model"]["hidden"]:
        del c["model"]
    # Likewise the settings issue 20 added, while at their defaults: a job of before keeps its key.
    for where, schema in ((c, Config), (c["trainer"], TrainerConfig), (c["luck"], LuckConfig)):
        for name in _ADDED_IN_ISSUE_20.get(schema.__name__, ()):
            default = next(f for f in dataclasses.fields(schema) if f.name == name)
            value = default.default if default.default is not dataclasses.MISSING else (
                plain(default.default_factory()))
            if where.get(name) == plain(value):
                del where[name]
    for d in (c["dataset"], c.get("lesson_train") or {}):
        d.pop("highlight_values", None)  # how the report names a row, not what it computes
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]


_ADDED_IN_ISSUE_20 = {
    "Config": ("split", "order_seed"),
    "TrainerConfig": ("optimizer", "batch_size", "shuffle", "momentum", "nesterov", "beta1",
                      "beta2", "epsilon"),
    "LuckConfig": ("sources",),
}


def n_children(child_runs: ChildRuns, max_child_runs: int, n_seeds: int) -> int:
    """How many child runs `tracking.child_runs` asks for, for this many seeds."""
    if child_runs == ChildRuns.all:
        return n_seeds
    if child_runs == ChildRuns.none:
        return 0
    return n_seeds if n_seeds <= max_child_runs else 0


def _no_children_note(config: Config, n_seeds: int, tracking: TrackingPlan) -> str | None:
    """Why a job of many seeds logs no child run, when the user did not ask for none: the
    summary's "+ 0 child runs" alone reads like a failure."""
    t = config.tracking
    if tracking.n_children or n_seeds < 2 or t.child_runs != ChildRuns.auto:
        return None
    return (f"tracking.child_runs=auto logs a child run per seed up to "
            f"tracking.max_child_runs={t.max_child_runs:,}, so none for {n_seeds:,} seeds (each "
            f"seed is in the parent's seeds.parquet); tracking.child_runs=all logs all "
            f"{n_seeds:,}")


def _tracking(config: Config, n_seeds: int, started: float) -> TrackingPlan:
    t = config.tracking
    if t.server and not (t.uri or "").startswith(("http://", "https://")):
        given = f"tracking.uri={t.uri}" if t.uri else "tracking.uri is not set"
        raise UserError(f"tracking=server: {given}; give the server's address, e.g. "
                        "tracking.uri=http://127.0.0.1:5000")
    return TrackingPlan(
        uri=resolve_uri(t.uri), experiment=t.experiment,
        n_children=n_children(t.child_runs, t.max_child_runs, n_seeds),
        processes=min(t.processes, _cores()), sweep_id=config.sweep_id, started=started,
    )


def _hidden(config: Config, n_features: int) -> tuple[int, ...]:
    widths = list(config.model.hidden)
    text = _fmt_list(widths)
    bad = [w for w in widths if w < 1]
    if bad:
        raise UserError(f"model.hidden={text}: a layer needs at least 1 unit, got {bad[0]}; "
                        "give positive widths, e.g. model.hidden=[8], or [] for one neuron")
    n = network.n_params(n_features, widths)
    if n > limits.MAX_PARAMS_PER_SEED:
        layers = " + ".join(f"{a}·{b} + {b}" for a, b in network.sizes(n_features, widths))
        raise UserError(
            f"model.hidden={text}: {n:,} weights and biases per seed ({layers}), more than "
            f"{limits.MAX_PARAMS_PER_SEED:,}; use narrower or fewer layers")
    return tuple(widths)


def bytes_per_seed(n_rows: int, n_features: int, hidden, train: bool) -> int:
    """Working memory one seed takes in a chunk: its per-row arrays (z and ŷ, each hidden
    layer's Z and A, the metrics' temporaries, and with train the trainer's buffers)."""
    per_row = 80 + 16 * sum(hidden)
    if train:
        per_row += 8 * (4 + n_features + 3 * sum(hidden)) if hidden else 48
    return n_rows * per_row


def _chunk_size(config: Config, ds, hidden) -> int:
    """chunk_size seeds at once, fewer where the memory budget or the caches need it."""
    n_rows, n_features = ds.X.shape
    need = bytes_per_seed(n_rows, n_features, hidden, config.mode == Mode.train)
    if need > limits.MEMORY_BUDGET:
        raise UserError(
            f"dataset.path={config.dataset.path}: {n_rows:,} rows take {need / 2**30:.1f} GiB "
            f"of working memory per seed, more than the {limits.MEMORY_BUDGET / 2**30:.0f} GiB "
            "budget; use fewer rows" + (" or narrower layers" if hidden else ""))
    cells = n_rows * max([1, *hidden])
    return max(1, min(config.chunk_size, limits.MEMORY_BUDGET // need,
                      limits.CHUNK_CELLS // cells))


def _train_chunk_size(config: Config, ds, hidden) -> int:
    """Seeds trained at once in mini-batches: limits.TRAIN_CHUNK_SEEDS, fewer for chunk_size or
    the memory budget. Not capped by the caches as _chunk_size is: the compiled kernels hold a
    batch's rows, not all rows (a [32] network on 400 rows got 23 seeds, 41 of the 64 lanes
    idle, 2.8x the time)."""
    need = bytes_per_seed(*ds.X.shape, hidden, True)
    return max(1, min(config.chunk_size, limits.TRAIN_CHUNK_SEEDS, limits.MEMORY_BUDGET // need))


def _highlight(config: Config, ds: data.Dataset) -> tuple[tuple[int, str] | None, str | None]:
    """The row the report names and its label, if the file holds it: obesity.yaml's "the
    lesson's person" is row 0 of data/obesity.csv, not of another CSV given with
    dataset.path=. Else None, and a note saying why when a row was named. UserError for a
    row past the file's or values that are not one per feature."""
    d = config.dataset
    row, values = d.highlight_row, d.highlight_values
    if row is None:
        return None, None
    if not 0 <= row < len(ds.y):
        raise UserError(f"dataset.highlight_row={row}: {ds.name} has rows 0 to {len(ds.y) - 1}; "
                        "give one of them, or null")
    if values is not None:
        if len(values) != len(ds.features):
            raise UserError(
                f"dataset.highlight_values={_fmt_list(values)}: {len(values)} values for "
                f"{len(ds.features)} features ({', '.join(ds.features)}); give one per feature, "
                "or null")
        held = ds.frame[ds.features].iloc[row].to_numpy(float)
        if not np.allclose(held, np.asarray(values, float), rtol=1e-9, atol=0):
            return None, (f"row {row} of {ds.name} holds {_fmt_list(held.tolist())}, not "
                          f"dataset.highlight_values={_fmt_list(values)}, so the report names "
                          "no row; dataset.highlight_values=null names it")
    return (int(row), d.highlight_label or f"row {row}"), None


def _check_keys(features) -> None:
    """A child run holds a param w.<feature> per feature: each within MLflow's key length,
    and no two features under the same key (MLflow keys allow few characters)."""
    seen: dict[str, str] = {}
    for f in features:
        key = f"w0.{safe_key(f)}"
        if len(key) > limits.MLFLOW_KEY_LENGTH:
            raise UserError(
                f"dataset.features: {f[:40]!r}… is {len(f)} characters long; MLflow's keys hold "
                f"{limits.MLFLOW_KEY_LENGTH} (w0.<feature>): rename the column")
        if key in seen:
            raise UserError(
                f"dataset.features: {seen[key]!r} and {f!r} would both be logged as "
                f"w.{safe_key(f)} (MLflow keys hold letters, digits and _ - . / and space); "
                "rename one of the columns")
        seen[key] = f


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _activation(config: Config) -> activations.Activation:
    a = config.activation
    params = {k: float(v) for k, v in plain(a).items() if k != "name"}
    try:
        return activations.get(str(a.name), **params)
    except ValueError as e:
        raise UserError(f"activation.name: {e}") from None


def _init(config: Config) -> tuple[initializers.Draw, initializers.Draw]:
    i, b = config.init, config.init.bias
    return (initializers.Draw(str(i.scheme), i.low, i.high, i.mean, i.std, i.value),
            initializers.Draw(str(b.scheme), b.low, b.high, b.mean, b.std, b.value))


def _explicit_weights(config: Config, features) -> tuple[np.ndarray, np.ndarray]:
    w = list(config.weights)
    if len(w) != len(features):
        raise UserError(
            f"weights={_fmt_list(w)}: {len(w)} weight(s) for {len(features)} feature(s) "
            f"({', '.join(features)}); give one weight per feature"
        )
    W = np.asarray([w], dtype=float)
    if not np.isfinite(W).all():
        raise UserError(f"weights={_fmt_list(w)}: every weight must be a finite number")
    if np.abs(W).max() > limits.MAX_PARAMETER:
        raise UserError(f"weights={_fmt_list(w)}: every weight must be of magnitude at most "
                        f"{limits.MAX_PARAMETER:g}")
    b = 0.0 if config.bias is None else float(config.bias)
    if not (np.isfinite(b) and abs(b) <= limits.MAX_PARAMETER):
        raise UserError(f"bias={config.bias}: the bias must be a finite number of magnitude "
                        f"at most {limits.MAX_PARAMETER:g}")
    return W, np.asarray([b])


def _printed(values) -> Printed:
    given = dict(plain(values))
    given["cls"] = given.pop("class", None)
    names = [f.name for f in dataclasses.fields(Printed)]
    for key, value in given.items():
        if key not in names:
            raise UserError(f"printed.{key}: not a value a source prints; the keys are "
                            f"{', '.join('class' if n == 'cls' else n for n in names)}")
        try:
            if key in ("x", "w") and value is not None:
                given[key] = tuple(float(v) for v in value)
            elif key in ("b", "wx", "z", "y_hat") and value is not None:
                given[key] = float(value)
            elif value is not None:
                given[key] = str(value)
        except (TypeError, ValueError):
            raise UserError(f"printed.{key}={value}: not a number"
                            + (" list" if key in ("x", "w") else "")) from None
    return Printed(**{k: v for k, v in given.items() if v is not None})


def _fmt_list(values):
    return "[" + ",".join(str(v) for v in values) + "]"
