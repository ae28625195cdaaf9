"""The statistics of a set of per-seed scores, with one random-number policy for every report.

Each bootstrap draws from its own stream, keyed by the bootstrap seed and the name of what it
summarizes, so adding a metric or a configuration moves no other interval; both the job's luck
report and a multirun's report go through here, with the user's `luck.*` settings.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass

import numpy as np

from neuron import luck
from runner import limits
from runner.config import LuckConfig


@dataclass(frozen=True)
class Summary:
    """Where a metric lands across seeds: luck.describe, the IQM and a CI of the mean."""

    n: int
    mean: float
    std: float
    min: float
    max: float
    median: float
    q1: float
    q3: float
    iqm: float
    ci_low: float
    ci_high: float
    ci_method: str  # "bootstrap" (percentile, Efron) or "normal"


def rng_for(bootstrap_seed: int, name: str) -> np.random.Generator:
    """The generator for the statistic called `name`: one stream per name."""
    return np.random.default_rng([bootstrap_seed, zlib.crc32(name.encode())])


def summarize(values, name: str, settings: LuckConfig) -> Summary:
    """values: (n,) finite scores of one metric across seeds, called `name`."""
    values = np.asarray(values, float)
    d = luck.describe(values)
    low, high, method = _mean_ci(values, name, settings)
    return Summary(**dataclasses.asdict(d), iqm=luck.iqm(values), ci_low=low, ci_high=high,
                   ci_method=method)


def _mean_ci(values, name, settings: LuckConfig) -> tuple[float, float, str]:
    if (len(values) > limits.MAX_INDEX_BOOTSTRAP
            and len(np.unique(values)) > limits.MIN_DISTINCT_FOR_NORMAL_CI):
        # scipy.stats.norm.ppf's own function, without scipy.stats' ~0.6 s import.
        from scipy.special import ndtri

        z = float(ndtri(0.5 + settings.confidence / 2))
        half = z * values.std(ddof=1) / np.sqrt(len(values))
        return float(values.mean() - half), float(values.mean() + half), "normal"
    low, high = luck.bootstrap_ci(values, rng_for(settings.bootstrap_seed, name),
                                  settings.confidence, settings.n_resamples)
    return low, high, "bootstrap"


def prob_greater_ci(a, b, name: str, settings: LuckConfig,
                    paired: bool = False) -> tuple[float, float]:
    """Bootstrap CI of P(A > B) (rliable's probability of improvement), its own stream;
    `paired`: a[i] and b[i] share their seeds."""
    return luck.prob_greater_ci(a, b, rng_for(settings.bootstrap_seed, name),
                                settings.confidence, settings.n_resamples, paired=paired)


def percent(confidence: float) -> str:
    """A confidence level as a percent with every digit it was given: 0.95 → '95%',
    0.999 → '99.9%' (a fixed format rounded 0.999 to '100%')."""
    return f"{confidence * 100:.10g}%"
