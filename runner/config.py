"""Config schemas, registered in Hydra's ConfigStore so a typo fails at composition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class DatasetConfig:
    name: str = MISSING
    path: str = MISSING
    features: List[str] = MISSING
    target: str = MISSING
    positive: str = MISSING
    negative: Optional[str] = None
    standardize: bool = False
    highlight_row: Optional[int] = None
    highlight_label: Optional[str] = None


@dataclass
class ActivationConfig:
    name: str = MISSING


@dataclass
class LeakyReluConfig(ActivationConfig):
    slope: float = 0.01


@dataclass
class EluConfig(ActivationConfig):
    alpha: float = 1.0


@dataclass
class DrawConfig:
    scheme: str = MISSING
    low: float = -1.0
    high: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    value: float = 0.0


@dataclass
class InitConfig(DrawConfig):
    bias: DrawConfig = field(default_factory=lambda: DrawConfig(scheme="zeros"))


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: Optional[str] = None
    experiment: str = "neuron-luck"
    child_runs: str = "auto"
    max_child_runs: int = 1000
    processes: int = 2


@dataclass
class LuckConfig:
    bootstrap_seed: int = 0
    n_resamples: int = 10_000
    confidence: float = 0.95
    plots: bool = True


@dataclass
class TrainerConfig:
    lr: float = 0.5
    epochs: int = 1000
    l2: float = 0.0
    standardize: bool = True
    record_every: Optional[int] = None


@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    activation: ActivationConfig = MISSING
    init: InitConfig = MISSING
    tracking: TrackingConfig = MISSING
    trainer: TrainerConfig = MISSING
    mode: str = "evaluate"
    lesson_train: Optional[DatasetConfig] = None
    seed: Any = 1
    weights: Optional[List[float]] = None
    bias: Optional[float] = None
    chunk_size: int = 10_000
    luck: LuckConfig = field(default_factory=LuckConfig)
    printed: Optional[Dict[str, Any]] = None
    sweep_id: Optional[str] = None


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    cs.store(group="dataset", name="base_dataset", node=DatasetConfig)
    cs.store(group="activation", name="base_activation", node=ActivationConfig)
    cs.store(group="activation", name="base_leaky_relu", node=LeakyReluConfig)
    cs.store(group="activation", name="base_elu", node=EluConfig)
    cs.store(group="init", name="base_init", node=InitConfig)
    cs.store(group="tracking", name="base_tracking", node=TrackingConfig)
    cs.store(group="trainer", name="base_trainer", node=TrainerConfig)
