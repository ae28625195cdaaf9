"""The config schemas, and the one conversion of a composed config into typed objects.

The schemas are registered in Hydra's ConfigStore, so a key typo or a value of the wrong type
fails at composition; closed choices are enums, so a bad choice fails there too, with the
options. `to_config` turns the composed DictConfig into these dataclasses once, at the entry
point, after checking that nothing is missing and nothing was added; the rest of the runner
reads only the typed objects.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from runner.errors import UserError


class Choice(str, enum.Enum):
    """A closed choice: compares equal to its name, and prints as it."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Mode(Choice):
    evaluate = "evaluate"  # the random weights as drawn
    train = "train"  # gradient descent from each seed's weights first


class ChildRuns(Choice):
    all = "all"  # a child run per seed
    none = "none"  # the parent run only
    auto = "auto"  # all up to tracking.max_child_runs, else none


class ActivationName(Choice):
    sigmoid = "sigmoid"
    tanh = "tanh"
    relu = "relu"
    leaky_relu = "leaky_relu"
    elu = "elu"
    softplus = "softplus"
    step = "step"
    linear = "linear"
    silu = "silu"
    gelu = "gelu"


class SplitKind(Choice):
    none = "none"  # every row trains and is measured (the lesson's way)
    holdout = "holdout"  # a stratified test share, drawn by split.seed
    kfold = "kfold"  # stratified folds: each run's test rows are one fold


class OptimizerName(Choice):
    gd = "gd"  # plain gradient descent
    sgd = "sgd"  # with momentum (Nesterov's by default), as scikit-learn's sgd solver
    adam = "adam"  # Kingma & Ba 2015, as scikit-learn's adam solver


class Sources(Choice):
    grid = "grid"  # every combination of the given seed, order_seed and split.seed values
    together = "together"  # run i uses the i-th seed for all three (Bouthillier 2021)


class InitScheme(Choice):
    uniform = "uniform"
    normal = "normal"
    xavier_uniform = "xavier_uniform"
    xavier_normal = "xavier_normal"
    he_uniform = "he_uniform"
    he_normal = "he_normal"
    lecun_uniform = "lecun_uniform"
    lecun_normal = "lecun_normal"
    zeros = "zeros"
    constant = "constant"
    # Other names for the same schemes (their members are the ones above).
    glorot_uniform = "xavier_uniform"
    glorot_normal = "xavier_normal"
    kaiming_uniform = "he_uniform"
    kaiming_normal = "he_normal"


@dataclass
class DatasetConfig:
    name: str = MISSING
    path: str = MISSING
    features: Optional[List[str]] = None  # None: every column of the file but the target
    target: str = MISSING
    positive: str = MISSING
    negative: Optional[str] = None
    standardize: bool = False
    highlight_row: Optional[int] = None
    highlight_label: Optional[str] = None
    # The row's feature values: a file whose highlight_row differs is not named by the label.
    highlight_values: Optional[List[float]] = None


@dataclass
class ActivationConfig:
    name: ActivationName = MISSING


@dataclass
class LeakyReluConfig(ActivationConfig):
    slope: float = 0.01


@dataclass
class EluConfig(ActivationConfig):
    alpha: float = 1.0


@dataclass
class DrawConfig:
    scheme: InitScheme = MISSING
    low: float = -1.0
    high: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    value: float = 0.0


@dataclass
class InitConfig(DrawConfig):
    bias: DrawConfig = field(default_factory=lambda: DrawConfig(scheme=InitScheme.zeros))


@dataclass
class TrackingConfig:
    enabled: bool = True
    server: bool = False  # tracking=server: uri must name an HTTP server
    uri: Optional[str] = None
    experiment: str = "neuron-luck"
    child_runs: ChildRuns = ChildRuns.auto
    max_child_runs: int = 1000
    processes: int = 2


@dataclass
class LuckConfig:
    bootstrap_seed: int = 0
    n_resamples: int = 10_000
    confidence: float = 0.95
    plots: bool = True
    sources: Sources = Sources.grid


@dataclass
class TrainerConfig:
    lr: float = 0.5
    epochs: int = 1000
    l2: float = 0.0
    standardize: bool = True
    record_every: Optional[int] = None
    optimizer: OptimizerName = OptimizerName.gd
    batch_size: Optional[int] = None  # rows per step; null: the whole training set
    shuffle: bool = True  # with batch_size: each epoch in the order order_seed draws
    momentum: float = 0.9  # sgd
    nesterov: bool = True  # sgd
    beta1: float = 0.9  # adam
    beta2: float = 0.999  # adam
    epsilon: float = 1e-8  # adam


@dataclass
class SplitConfig:
    kind: SplitKind = SplitKind.none
    test_fraction: float = 0.25  # holdout: the share of each class held out
    folds: int = 5  # kfold
    seed: Any = 0  # which rows are test: an int, a range or a list, like seed


@dataclass
class ModelConfig:
    hidden: List[int] = field(default_factory=list)  # hidden-layer widths; []: one neuron


@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    activation: ActivationConfig = MISSING
    init: InitConfig = MISSING
    tracking: TrackingConfig = MISSING
    trainer: TrainerConfig = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    mode: Mode = Mode.evaluate
    lesson_train: Optional[DatasetConfig] = None
    seed: Any = 1
    order_seed: Any = 0  # the mini-batch order: an int, a range or a list, like seed
    weights: Optional[List[float]] = None
    bias: Optional[float] = None
    chunk_size: int = 10_000
    luck: LuckConfig = field(default_factory=LuckConfig)
    printed: Optional[Dict[str, Any]] = None
    sweep_id: Optional[str] = None


# The schemas by their ConfigStore names; a group's YAML file extends its own with
# `- /base_x@_here_` (runner.cli reads which, to know the keys of each choice).
SCHEMAS = {"base_config": Config, "base_dataset": DatasetConfig,
           "base_activation": ActivationConfig, "base_leaky_relu": LeakyReluConfig,
           "base_elu": EluConfig, "base_init": InitConfig, "base_tracking": TrackingConfig,
           "base_trainer": TrainerConfig, "base_split": SplitConfig}


def new_folder(path: str) -> str:
    """`path`, or `path-2`, `path-3`…: the first that did not exist, made here.

    The run and sweep folders are named by the second a command starts: two commands started
    in the same second shared one, wrote over each other's tables and .hydra/ files, and MLflow
    logged one job's files in the other's run. Registered as a cached resolver (`${new_folder:…}`
    in conf/config.yaml), as Hydra's `now` is, so the name is made once per command and a
    launched job inherits it. Any other failure to make the folder is left to Hydra's own
    mkdir, which the command line reports (runner.cli.runtime)."""
    import itertools
    from pathlib import Path

    base = Path(path)
    for n in itertools.count(1):
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir()
        except FileExistsError:
            if folder.is_dir():
                continue
            return path
        except OSError:
            return path
        return str(folder)


def register_configs() -> None:
    # Hydra on first use: a forked MLflow worker unpickles these enums without needing it.
    from hydra.core.config_store import ConfigStore

    if not OmegaConf.has_resolver("new_folder"):
        OmegaConf.register_new_resolver("new_folder", new_folder, use_cache=True)

    # The schemas live outside the config groups (each group's YAML files extend theirs with
    # `- /base_x@_here_`), so they are neither listed nor accepted as choices of a group.
    cs = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        cs.store(name=name, node=schema)


GROUPS = ("dataset", "activation", "init", "tracking", "trainer", "split", "experiment")


def override_key(override: str) -> str:
    """The key an override sets: `+activation=relu`, `~seed` and `seed=7` → activation, seed."""
    return override.split("=", 1)[0].lstrip("+~")


def seed_given(overrides: list[str]) -> bool:
    """Whether the command line sets the seed (with explicit weights it then plays no part,
    which the job says)."""
    return any(override_key(o) == "seed" for o in overrides)


def check_overrides(overrides: list[str]) -> None:
    """What Hydra composes without complaint but a job cannot mean: several choices of one
    group at once (`activation=[relu,tanh]` merges both files into one)."""
    for o in overrides:
        key, value = override_key(o), o.partition("=")[2]
        if key in GROUPS and value.strip().startswith("["):
            values = value.strip()[1:-1]
            raise UserError(f"{o}: one {key} per job; to compare them, sweep: "
                            f"python -m runner -m {key}={values}")


def to_config(cfg: DictConfig) -> Config:
    """The composed config as typed objects; UserError if a value is missing or a key unknown."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise UserError(_missing_message(cfg, missing))
    _refuse_unknown_keys(cfg, Config, "")
    return OmegaConf.to_object(cfg)


def _missing_message(cfg, missing: list[str]) -> str:
    given = ", ".join(missing)
    hint = "give " + " ".join(f"{k}=…" for k in missing)
    if all(k.startswith("dataset.") for k in missing) and "dataset.path" not in missing:
        from runner.data import columns_hint

        hint += f" ({columns_hint(str(cfg.dataset.path))})"
    return f"{given}: not set; {hint}"


def _refuse_unknown_keys(node, schema, where: str) -> None:
    """Keys added with + (Hydra lets `+activaton=relu` through) that no schema field has."""
    if not dataclasses.is_dataclass(schema) or not isinstance(node, DictConfig):
        return
    schema = OmegaConf.get_type(node) or schema
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in node.keys():
        if key not in fields:
            full = f"{where}{key}"
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            fix = f"did you mean {where}{close[0]}?" if close else (
                f"the keys there are {', '.join(fields)}")
            raise UserError(f"{full}: no such setting; {fix}")
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_none():
            _refuse_unknown_keys(child, OmegaConf.get_type(child), f"{where}{key}.")
        elif isinstance(child, ListConfig):
            continue


def plain(value):
    """A typed config (or a part of it) as JSON-able values: enums by their names."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name if not isinstance(value, Choice) else value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def to_yaml(config: Config, tracking_uri: str | None = None) -> str:
    """The resolved config as YAML; `tracking_uri`, if given, stands for tracking.uri (the
    URI with its password redacted)."""
    values = plain(config)
    if tracking_uri is not None and values["tracking"]["uri"] is not None:
        values["tracking"]["uri"] = tracking_uri
    return OmegaConf.to_yaml(OmegaConf.create(values))
