"""Config → plan: every value checked and the data loaded, before anything is evaluated or logged.

A `Plan` is what a job will do, as frozen typed values; making one raises UserError for any
bad input, so a refused command has computed nothing, written nothing and logged nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from neuron import activations, initializers, training
from runner import data, seeds
from runner.config import ChildRuns, Config, Mode, plain, to_yaml
from runner.errors import UserError
from runner.tracking.store import redact, resolve_uri


@dataclass(frozen=True)
class TrainerSettings:
    """Full-batch gradient descent (mode=train, and the lesson's training)."""

    lr: float
    epochs: int
    l2: float
    standardize: bool
    record_every: int | None


@dataclass(frozen=True)
class LuckSettings:
    """The across-seed report: bootstrap seed, resamples and confidence, and whether to plot."""

    bootstrap_seed: int
    n_resamples: int
    confidence: float
    plots: bool


@dataclass(frozen=True)
class TrackingPlan:
    """Where and how much a job logs to MLflow."""

    uri: str  # resolved: absolute for SQLite
    experiment: str
    n_children: int  # child runs to log: one per seed, or none
    processes: int  # processes that may log child runs (tracking.processes)
    sweep_id: str | None  # the multirun this job belongs to


@dataclass(frozen=True)
class Plan:
    """A checked job, ready to evaluate."""

    mode: Mode
    activation: activations.Activation
    dataset: data.Dataset
    seeds: np.ndarray  # (n_seeds,) int64; [-1] for explicit weights
    seed_spec: str  # '1..50', '[3,7]', 'explicit weights'
    init: tuple[initializers.Draw, initializers.Draw]  # weights, bias
    explicit: tuple[np.ndarray, np.ndarray] | None  # W (1, n_features), b (1,) if given
    trainer: TrainerSettings
    luck: LuckSettings
    chunk_size: int
    highlight: tuple[int, str] | None  # a row the report speaks of by name, and its label
    printed: Mapping[str, Any] | None  # what a source printed (the lesson), to compare
    lesson_train: data.Dataset | None  # the lesson's weights are trained on this
    tracking: TrackingPlan | None  # None: tracking=off
    key: str  # what makes two jobs the same computation (resume finds a parent by it)
    config_yaml: str  # the resolved config, for the run folder
    notes: tuple[str, ...]

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


def make_plan(config: Config, seed_given: bool = False) -> Plan:
    """Check `config` and load its data; UserError on any bad input."""
    act = _activation(config)
    ds = data.load(config.dataset)
    notes = []
    explicit = None
    if config.weights is not None:
        explicit = _explicit_weights(config, ds.features)
        seed_array = np.asarray([-1], dtype=np.int64)
        spec = "explicit weights"
        if seed_given:
            notes.append(f"weights are given, so seed={config.seed} plays no part")
    else:
        if config.bias is not None:
            raise UserError("bias= is used only with weights=; drop it or give weights too")
        seed_array = seeds.parse_seeds(config.seed)
        spec = seeds.describe(seed_array)
    init = _init(config)
    if config.chunk_size < 1:
        raise UserError(f"chunk_size={config.chunk_size}: must be at least 1")
    t = config.trainer
    if config.mode == Mode.train:
        try:
            training.check_trainable(act.name)
        except ValueError as e:
            raise UserError(f"mode=train activation={act.name}: {e}") from None
        if t.lr <= 0 or t.epochs < 0 or t.l2 < 0:
            raise UserError(
                f"trainer: lr={t.lr}, epochs={t.epochs}, l2={t.l2}; need lr > 0, "
                "epochs >= 0 and l2 >= 0"
            )
    lesson_train = None
    if config.lesson_train is not None and explicit is not None:
        lesson_train = data.load(config.lesson_train)
        try:
            training.check_trainable(act.name)
        except ValueError as e:
            raise UserError(f"lesson_train: {e}") from None
    highlight = _highlight(config, ds)
    tracking = _tracking(config, len(seed_array)) if config.tracking.enabled else None
    return Plan(
        mode=config.mode, activation=act, dataset=ds, seeds=seed_array, seed_spec=spec,
        init=init, explicit=explicit,
        trainer=TrainerSettings(t.lr, t.epochs, t.l2, t.standardize, t.record_every),
        luck=LuckSettings(config.luck.bootstrap_seed, config.luck.n_resamples,
                          config.luck.confidence, config.luck.plots),
        chunk_size=config.chunk_size, highlight=highlight,
        printed=plain(config.printed) if config.printed is not None else None,
        lesson_train=lesson_train, tracking=tracking, key=job_key(config),
        config_yaml=to_yaml(config, redact(config.tracking.uri) if config.tracking.uri else None),
        notes=tuple(notes),
    )


def job_key(config: Config) -> str:
    """What makes two jobs the same computation: the config, less where and how it ran."""
    c = plain(config)
    for k in ("tracking", "chunk_size", "sweep_id"):
        c.pop(k, None)
    for d in (c["dataset"], c.get("lesson_train") or {}):
        d.pop("highlight_values", None)  # how the report names a row, not what it computes
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]


def n_children(child_runs: ChildRuns, max_child_runs: int, n_seeds: int) -> int:
    """How many child runs `tracking.child_runs` asks for, for this many seeds."""
    if child_runs == ChildRuns.all:
        return n_seeds
    if child_runs == ChildRuns.none:
        return 0
    return n_seeds if n_seeds <= max_child_runs else 0


def _tracking(config: Config, n_seeds: int) -> TrackingPlan:
    t = config.tracking
    if t.server and not (t.uri or "").startswith(("http://", "https://")):
        given = f"tracking.uri={t.uri}" if t.uri else "tracking.uri is not set"
        raise UserError(f"tracking=server: {given}; give the server's address, e.g. "
                        "tracking.uri=http://127.0.0.1:5000")
    return TrackingPlan(
        uri=resolve_uri(t.uri), experiment=t.experiment,
        n_children=n_children(t.child_runs, t.max_child_runs, n_seeds),
        processes=t.processes, sweep_id=config.sweep_id,
    )


def _highlight(config: Config, ds: data.Dataset) -> tuple[int, str] | None:
    """The row the report names, if the file holds it: obesity.yaml's "the lesson's person"
    is row 0 of data/obesity.csv, not of another CSV given with dataset.path=."""
    d = config.dataset
    if d.highlight_row is None:
        return None
    row = int(d.highlight_row)
    if d.highlight_values is not None:
        if not 0 <= row < len(ds.frame) or len(d.highlight_values) != len(ds.features):
            return None
        values = ds.frame[ds.features].iloc[row].to_numpy(float)
        if not np.allclose(values, np.asarray(d.highlight_values, float), rtol=1e-9, atol=0):
            return None
    return row, d.highlight_label or f"row {row}"


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
    b = 0.0 if config.bias is None else float(config.bias)
    if not np.isfinite(b):
        raise UserError(f"bias={config.bias}: the bias must be a finite number")
    return W, np.asarray([b])


def _fmt_list(values):
    return "[" + ",".join(str(v) for v in values) + "]"
