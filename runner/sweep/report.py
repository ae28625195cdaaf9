"""The report of a Hydra multirun (a sweep): how its jobs compare, and what the seed explains.

Jobs are found by what they left behind, never by process memory: the run folders under the
sweep folder, or, with MLflow on, the parent runs tagged with the sweep's id. Jobs that differ
only in their seeds (a huge range split across jobs) are pooled into one seed population.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from neuron import luck
from runner import limits
from runner.config import LuckConfig, override_key
from runner.report.markdown import escape
from runner.report.stats import Summary, percent, prob_greater_ci, summarize
from runner.tracking.tracker import JOB_KINDS

log = logging.getLogger(__name__)

# Override keys that say how or where a job ran, not what it computed.
NOT_FACTORS = ("seed", "sweep_id", "chunk_size", "tracking", "luck", "hydra")


@dataclass(frozen=True)
class Job:
    name: str  # the run folder or the parent run id
    overrides: tuple[str, ...]
    seeds: pd.DataFrame  # the job's seeds.parquet


@dataclass(frozen=True)
class ConfigSummary:
    """One configuration of the sweep: its jobs pooled into one seed population."""

    config: str  # "activation=tanh, init=normal", or "all jobs"
    jobs: tuple[str, ...]
    stats: Summary
    before: Summary | None = None  # mode=train: the metric with the random weights
    stuck: float | None = None  # mode=train, networks: share of seeds stuck after training
    dead: float | None = None  # networks: share of seeds with a dead hidden unit


@dataclass(frozen=True)
class Pair:
    """P(A > B): the chance a seed of configuration A beats one of B (rliable)."""

    a: str
    b: str
    p_a_beats_b: float
    ci_low: float
    ci_high: float
    paired: bool = False  # over the runs both share (the same seeds, order and split)


@dataclass(frozen=True)
class SweepReport:
    metric: str
    n_jobs: int
    configs: tuple[ConfigSummary, ...]
    pairs: tuple[Pair, ...]
    variance_split: Mapping[str, float] | None  # None with one configuration only
    confidence: float
    sweep_id: str | None = None

    def winners(self) -> list[Pair]:
        """Each pair once, in the direction where A is at least as likely to win."""
        return [p for p in self.pairs
                if p.p_a_beats_b > 0.5 or (p.p_a_beats_b == 0.5 and p.a < p.b)]

    def to_json(self) -> dict:
        return {
            "metric": self.metric, "n_jobs": self.n_jobs,
            "configs": [{"config": c.config, "jobs": list(c.jobs), **asdict(c.stats),
                         "before": asdict(c.before) if c.before else None,
                         "stuck": c.stuck, "dead": c.dead}
                        for c in self.configs],
            "pairs": [asdict(p) for p in self.pairs],
            "variance_split": dict(self.variance_split) if self.variance_split else None,
            "confidence": self.confidence, "sweep_id": self.sweep_id,
        }


def _is_factor(key: str) -> bool:
    return not any(key == k or key.startswith(k + ".") for k in NOT_FACTORS)


def jobs_from_folder(sweep_dir: Path) -> list[Job]:
    jobs = []
    for sub in sorted(Path(sweep_dir).iterdir(), key=lambda p: (len(p.name), p.name)):
        table, ov = sub / "seeds.parquet", sub / ".hydra" / "overrides.yaml"
        if table.exists():
            overrides = OmegaConf.to_container(OmegaConf.load(ov)) if ov.exists() else []
            jobs.append(Job(sub.name, tuple(overrides), pd.read_parquet(table)))
    return jobs


def jobs_from_mlflow(client, experiment_id: str, sweep_id: str) -> list[Job]:
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`neuron_luck.sweep_id` = '{sweep_id}'",
            max_results=limits.SEARCH_PAGE, page_token=token,
        )
        # A job's parent run, tagged 'job' (or 'sweep' by versions before issue 15).
        runs += [r for r in page if r.data.tags.get("neuron_luck.kind") in JOB_KINDS]
        token = page.token
        if not token:
            break
    jobs = []
    for run in sorted(runs, key=lambda r: r.info.start_time):
        if run.info.status != "FINISHED":
            continue
        path = client.download_artifacts(run.info.run_id, "seeds.parquet")
        overrides = run.data.tags.get("neuron_luck.overrides", "").split()
        jobs.append(Job(run.info.run_id, tuple(overrides), pd.read_parquet(path)))
    return jobs


# What names a run among a job's runs: its seed, and with a split or mini-batches its other
# sources' seeds (runner.runs).
RUN_KEYS = ("seed", "order_seed", "split_seed", "fold")


def _keys(jobs: list[Job]) -> list[str]:
    return [k for k in RUN_KEYS if all(k in j.seeds for j in jobs)]


def _pooled(jobs: list[Job], name: str) -> pd.DataFrame | None:
    """The column `name` of every job's seeds table with the runs' keys, pooled over
    distinct runs; None unless every job has it.

    Jobs pooled here differ only in their seeds (and settings that change no run's numbers,
    such as chunk_size), so a run found in two of them (`seed=1..50,1..50`) is one run with
    one result: counted once, where it first appears.
    """
    if not all(name in j.seeds for j in jobs):
        return None
    keys = _keys(jobs)
    pooled = pd.concat([j.seeds[[*keys, name]] for j in jobs], ignore_index=True)
    return pooled.drop_duplicates(keys) if keys and len(jobs) > 1 else pooled


def _column(jobs: list[Job], name: str) -> np.ndarray | None:
    pooled = _pooled(jobs, name)
    return None if pooled is None else pooled[name].to_numpy(float)


def _paired(a: pd.DataFrame, b: pd.DataFrame, name: str):
    """The two configurations' `name` run by run, when they hold the same runs (the same
    seeds, orders and splits); else None."""
    keys = [k for k in RUN_KEYS if k in a and k in b]
    if not keys or len(a) != len(b):
        return None
    both = a.merge(b, on=keys, suffixes=("_a", "_b"))
    if len(both) != len(a):
        return None
    return both[f"{name}_a"].to_numpy(float), both[f"{name}_b"].to_numpy(float)


def default_metric(jobs: list[Job]) -> str:
    """Test accuracy where every job held rows out, else accuracy."""
    return "test_accuracy" if jobs and all("test_accuracy" in j.seeds for j in jobs) else (
        "accuracy")


def factors_of(jobs: list[Job]) -> list[dict]:
    """Each job's levels of the factors that vary across the sweep."""
    levels = [{override_key(o): o.split("=", 1)[1] for o in j.overrides if "=" in o} for j in jobs]
    keys = sorted({k for lv in levels for k in lv if _is_factor(k)})
    varying = [k for k in keys if len({lv.get(k, "(default)") for lv in levels}) > 1]
    return [{k: lv.get(k, "(default)") for k in varying} for lv in levels]


def build(jobs: list[Job], settings: LuckConfig, metric: str | None = None,
          sweep_id: str | None = None) -> SweepReport:
    """Per-configuration statistics, pairwise P(A > B) (paired where two configurations
    hold the same runs), and the variance split. `metric`: by default test accuracy where
    every job held rows out, else accuracy."""
    if not jobs:
        raise ValueError("no finished jobs to compare")
    metric = metric or default_metric(jobs)
    groups: dict[tuple, list] = {}
    for job, f in zip(jobs, factors_of(jobs), strict=True):
        groups.setdefault(tuple(sorted(f.items())), []).append(job)
    names, scores, levels, configs, tables = [], [], [], [], []
    for key, members in groups.items():
        name = ", ".join(f"{k}={v}" for k, v in key) or "all jobs"
        tables.append(_pooled(members, metric))
        s = _column(members, metric)
        names.append(name)
        scores.append(s)
        levels.append(dict(key))
        before, stuck, dead = (_column(members, c) for c in (f"{metric}_before", "stuck",
                                                              "dead_units"))
        configs.append(ConfigSummary(
            name, tuple(j.name for j in members), summarize(s, f"{metric} of {name}", settings),
            before=summarize(before, f"{metric} before training of {name}", settings)
            if before is not None else None,
            stuck=float(stuck.mean()) if stuck is not None else None,
            dead=float((dead > 0).mean()) if dead is not None else None))
    pairs = []
    for (i, a), (j, b) in itertools.permutations(enumerate(scores), 2):
        paired = _paired(tables[i], tables[j], metric)
        if paired is not None:
            a, b = paired
        low, high = prob_greater_ci(a, b, f"P({names[i]} > {names[j]}) on {metric}", settings,
                                    paired=paired is not None)
        pairs.append(Pair(names[i], names[j], luck.prob_greater(a, b, paired=paired is not None),
                          low, high, paired is not None))
    split = luck.variance_split(scores, levels) if len(scores) > 1 else None
    return SweepReport(metric, len(jobs), tuple(configs), tuple(pairs), split,
                       settings.confidence, sweep_id)


def variance_sentence(report: SweepReport) -> str:
    split = report.variance_split
    if not split:
        return "One configuration only: the whole spread is the seed's."
    shares = {k: v for k, v in split.items() if k != "total_ss"}
    parts = [f"The seed explains {shares.pop('seed'):.0%} of the variance of {report.metric}"]
    inter = shares.pop("interaction", 0.0)
    parts += [f"{k} {v:.0%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])]
    if abs(inter) >= 0.005:
        parts.append(f"their interaction {inter:.0%}")
    return ", ".join(parts) + "."


def _extra_columns(report: SweepReport) -> list[tuple[str, str]]:
    """(header, attribute) of the columns some configuration has: before training, stuck
    seeds, seeds with dead units."""
    cols = [("before", "before"), ("stuck", "stuck"), ("dead", "dead")]
    return [(h, a) for h, a in cols if any(getattr(c, a) is not None for c in report.configs)]


def _cell(c: ConfigSummary, attr: str) -> str:
    value = getattr(c, attr)
    if value is None:
        return "–"
    return f"{value.mean:.4f}" if attr == "before" else f"{value:.0%}"


def markdown(report: SweepReport) -> str:
    conf = percent(report.confidence)
    extra = _extra_columns(report)
    lines = [f"## Sweep report: {report.n_jobs} jobs, {report.metric}", "",
             f"**{escape(variance_sentence(report))}**", "",
             f"| configuration | seeds | mean | std | min | max | IQM | {conf} CI of the mean |"
             + "".join(f" {h} |" for h, _ in extra),
             "|---|---|---|---|---|---|---|---|" + "---|" * len(extra)]
    for c in report.configs:
        t = c.stats
        lines.append(f"| {escape(c.config)} | {t.n:.0f} | {t.mean:.4f} | {t.std:.4f} | "
                     f"{t.min:.4f} | {t.max:.4f} | {t.iqm:.4f} | "
                     f"[{t.ci_low:.4f}, {t.ci_high:.4f}] |"
                     + "".join(f" {_cell(c, a)} |" for _, a in extra))
    if report.pairs:
        lines += ["", f"| A | B | P(A > B) | {conf} CI |", "|---|---|---|---|"]
        for p in report.winners():
            lines.append(f"| {escape(p.a)} | {escape(p.b)} | {p.p_a_beats_b:.3f}"
                         f"{' (paired)' if p.paired else ''} | "
                         f"[{p.ci_low:.3f}, {p.ci_high:.3f}] |")
    return "\n".join(lines)


def table(report: SweepReport) -> str:
    lines = [f"Sweep report over {report.n_jobs} jobs ({report.metric})"]
    head = "configuration"
    width = max(len(head), *(len(c.config) for c in report.configs)) + 2
    extra = _extra_columns(report)
    lines.append(f"  {head:<{width}}{'seeds':>8}{'mean':>8}{'std':>8}{'min':>8}{'max':>8}"
                 + "".join(f"{h:>8}" for h, _ in extra))
    for c in report.configs:
        t = c.stats
        lines.append(f"  {c.config:<{width}}{t.n:>8.0f}{t.mean:>8.4f}{t.std:>8.4f}"
                     f"{t.min:>8.4f}{t.max:>8.4f}"
                     + "".join(f"{_cell(c, a):>8}" for _, a in extra))
    legend = {"before": f"before: mean {report.metric} with the random weights",
              "stuck": "stuck: seeds no better than the constant guess after training",
              "dead": "dead: seeds with a hidden unit that outputs 0 on every row"}
    if extra:  # only the columns shown
        lines.append("  " + "; ".join(legend[a] for _, a in extra))
    for p in report.winners():
        lines.append(f"  P({p.a} > {p.b}) = {p.p_a_beats_b:.3f} "
                     f"[{p.ci_low:.3f}, {p.ci_high:.3f}]"
                     + (" paired: the same seeds, order and split on both sides"
                        if p.paired else ""))
    lines.append("  " + variance_sentence(report))
    return "\n".join(lines)


def write(report: SweepReport, folder: Path) -> list[Path]:
    folder = Path(folder)
    (folder / "sweep_report.json").write_text(json.dumps(report.to_json(), indent=1))
    (folder / "sweep_report.md").write_text(markdown(report) + "\n")
    rows = pd.DataFrame([{"config": c.config, **asdict(c.stats),
                          "before_mean": c.before.mean if c.before else None,
                          "stuck": c.stuck, "dead": c.dead} for c in report.configs])
    buf = io.StringIO()
    rows.to_csv(buf, index=False)
    (folder / "sweep_configs.csv").write_text(buf.getvalue())
    return [folder / n for n in ("sweep_report.json", "sweep_report.md", "sweep_configs.csv")]


def plot(report: SweepReport, jobs: list[Job], folder: Path) -> Path:
    """sweep_accuracy.png: every configuration's seeds, before and after training."""
    from runner.report import plots

    groups: dict[str, list[Job]] = {c.config: [] for c in report.configs}
    for c in report.configs:
        groups[c.config] = [j for j in jobs if j.name in c.jobs]
    m = report.metric
    after = [_column(groups[c.config], m) for c in report.configs]
    before = [_column(groups[c.config], f"{m}_before") for c in report.configs]
    return plots.configurations(
        [c.config for c in report.configs], after, Path(folder) / "sweep_accuracy.png",
        before=None if any(b is None for b in before) else before, metric=m)


def run_name(report: SweepReport) -> str:
    """What the sweep compared, so two sweeps' reports are told apart in the UI's list:
    'sweep report · activation × dataset.standardize · 4 jobs'."""
    keys = dict.fromkeys(part.split("=", 1)[0] for c in report.configs
                         for part in c.config.split(", ") if "=" in part)
    return f"sweep report · {' × '.join(keys) or 'seeds only'} · {report.n_jobs} jobs"


def overall(report: SweepReport) -> dict:
    """The metric over every seed of the sweep, for the jobs view's columns: its mean, and
    the lowest and highest any configuration reached."""
    m, n = report.metric, sum(c.stats.n for c in report.configs)
    return {f"{m}_mean": sum(c.stats.mean * c.stats.n for c in report.configs) / n,
            f"{m}_min": min(c.stats.min for c in report.configs),
            f"{m}_max": max(c.stats.max for c in report.configs)}


def log_to_mlflow(client, experiment_id: str, report: SweepReport, files) -> str:
    """The report as its own run, tagged with the sweep id."""
    from mlflow.entities import Metric, Param, RunTag

    from runner.tracking.publish import readable_metrics

    run = client.create_run(
        experiment_id, run_name=run_name(report),
        tags={"neuron_luck.sweep_id": report.sweep_id, "neuron_luck.kind": "sweep_report"},
    )
    rid = run.info.run_id
    try:
        split = report.variance_split or {}
        values = {f"variance_share_{k}": float(v) for k, v in split.items() if k != "total_ss"}
        values.update(overall(report))
        metrics = [Metric(k, v, 0, 0) for k, v in readable_metrics(values).items()]
        params = {"n_jobs": str(report.n_jobs), "metric": report.metric,
                  "seeds": str(sum(c.stats.n for c in report.configs))}  # all jobs' seeds
        if report.sweep_id:
            params["sweep"] = report.sweep_id
        client.log_batch(
            rid, metrics=metrics, params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag("mlflow.note.content", markdown(report))],
        )
        for f in files:
            client.log_artifact(rid, str(f))
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise
    client.set_terminated(rid, "FINISHED")
    return rid
