"""The sweep-level report of a Hydra multirun: how the jobs compare, and what the seed explains.

Jobs are found by what they left behind, never by process memory: the run folders under the
sweep folder, or, with MLflow on, the parent runs tagged with the sweep's id. Jobs that differ
only in their seeds (a huge range split across jobs) are pooled into one seed population.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from neuron import luck

log = logging.getLogger(__name__)

# Override keys that say how or where a job ran, not what it computed.
NOT_FACTORS = ("seed", "sweep_id", "chunk_size", "tracking", "luck", "hydra")


@dataclass
class Job:
    name: str  # the run folder or the parent run id
    overrides: list[str]
    seeds: pd.DataFrame  # the job's seeds.parquet


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _is_factor(key: str) -> bool:
    return not any(key == k or key.startswith(k + ".") for k in NOT_FACTORS)


def jobs_from_folder(sweep_dir: Path) -> list[Job]:
    jobs = []
    for sub in sorted(Path(sweep_dir).iterdir(), key=lambda p: (len(p.name), p.name)):
        table, ov = sub / "seeds.parquet", sub / ".hydra" / "overrides.yaml"
        if table.exists():
            overrides = OmegaConf.to_container(OmegaConf.load(ov)) if ov.exists() else []
            jobs.append(Job(sub.name, list(overrides), pd.read_parquet(table)))
    return jobs


def jobs_from_mlflow(client, experiment_id: str, sweep_id: str) -> list[Job]:
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`neuron_luck.sweep_id` = '{sweep_id}' "
        "and tags.`neuron_luck.kind` = 'sweep'",
        max_results=10_000,
    )
    jobs = []
    for run in sorted(runs, key=lambda r: r.info.start_time):
        if run.info.status != "FINISHED":
            continue
        path = client.download_artifacts(run.info.run_id, "seeds.parquet")
        overrides = run.data.tags.get("neuron_luck.overrides", "").split()
        jobs.append(Job(run.info.run_id, overrides, pd.read_parquet(path)))
    return jobs


def factors_of(jobs: list[Job]) -> list[dict]:
    """Each job's levels of the factors that vary across the sweep."""
    levels = [{_key(o): o.split("=", 1)[1] for o in j.overrides if "=" in o} for j in jobs]
    keys = sorted({k for lv in levels for k in lv if _is_factor(k)})
    varying = [k for k in keys if len({lv.get(k, "(default)") for lv in levels}) > 1]
    return [{k: lv.get(k, "(default)") for k in varying} for lv in levels]


def build(jobs: list[Job], metric="accuracy", bootstrap_seed=0, n_resamples=2000,
          confidence=0.95) -> dict:
    """Per-configuration statistics, pairwise P(A > B), and the variance split."""
    if not jobs:
        raise ValueError("no finished jobs to compare")
    factors = factors_of(jobs)
    groups: dict[tuple, list] = {}
    for job, f in zip(jobs, factors, strict=True):
        groups.setdefault(tuple(sorted(f.items())), []).append(job)
    names, scores, levels, members = [], [], [], []
    for key, members_ in groups.items():
        names.append(", ".join(f"{k}={v}" for k, v in key) or "all jobs")
        scores.append(np.concatenate([j.seeds[metric].to_numpy(float) for j in members_]))
        levels.append(dict(key))
        members.append([j.name for j in members_])
    rng = np.random.default_rng(bootstrap_seed)
    configs = []
    for name, s, m in zip(names, scores, members, strict=True):
        d = luck.describe(s)
        d["iqm"] = luck.iqm(s)
        d["ci_low"], d["ci_high"] = luck.bootstrap_ci(s, rng, confidence, n_resamples)
        configs.append({"config": name, "jobs": m, **{k: float(v) for k, v in d.items()}})
    pairs = []
    for (i, a), (j, b) in itertools.permutations(enumerate(scores), 2):
        low, high = luck.prob_greater_ci(a, b, rng, confidence, n_resamples)
        pairs.append({"a": names[i], "b": names[j], "p_a_beats_b": luck.prob_greater(a, b),
                      "ci_low": low, "ci_high": high})
    split = luck.variance_split(scores, levels) if len(scores) > 1 else None
    return {"metric": metric, "n_jobs": len(jobs), "configs": configs, "pairs": pairs,
            "variance_split": split, "confidence": confidence}


def _winners(report: dict) -> list[dict]:
    """Each pair once, in the direction where A is at least as likely to win."""
    return [p for p in report["pairs"]
            if p["p_a_beats_b"] > 0.5 or (p["p_a_beats_b"] == 0.5 and p["a"] < p["b"])]


def variance_sentence(report: dict) -> str:
    split = report["variance_split"]
    if not split:
        return "One configuration only: the whole spread is the seed's."
    shares = {k: v for k, v in split.items() if k != "total_ss"}
    parts = [f"The seed explains {shares.pop('seed'):.0%} of the variance of "
             f"{report['metric']}"]
    inter = shares.pop("interaction", 0.0)
    parts += [f"{k} {v:.0%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])]
    if abs(inter) >= 0.005:
        parts.append(f"their interaction {inter:.0%}")
    return ", ".join(parts) + "."


def markdown(report: dict) -> str:
    m = report["metric"]
    lines = [f"## Sweep report: {report['n_jobs']} jobs, {m}", "",
             f"**{variance_sentence(report)}**", "",
             f"| configuration | seeds | mean | std | min | max | IQM | "
             f"{report['confidence']:.0%} CI of the mean |",
             "|---|---|---|---|---|---|---|---|"]
    for c in report["configs"]:
        lines.append(f"| {c['config']} | {c['n']:.0f} | {c['mean']:.4f} | {c['std']:.4f} | "
                     f"{c['min']:.4f} | {c['max']:.4f} | {c['iqm']:.4f} | "
                     f"[{c['ci_low']:.4f}, {c['ci_high']:.4f}] |")
    if report["pairs"]:
        lines += ["", f"| A | B | P(A > B) | {report['confidence']:.0%} CI |", "|---|---|---|---|"]
        for p in _winners(report):
            lines.append(f"| {p['a']} | {p['b']} | {p['p_a_beats_b']:.3f} | "
                         f"[{p['ci_low']:.3f}, {p['ci_high']:.3f}] |")
    return "\n".join(lines)


def table(report: dict) -> str:
    lines = [f"Sweep report over {report['n_jobs']} jobs ({report['metric']})"]
    width = max(len(c["config"]) for c in report["configs"]) + 2
    lines.append(f"  {'configuration':<{width}}{'seeds':>8}{'mean':>8}{'std':>8}{'min':>8}"
                 f"{'max':>8}")
    for c in report["configs"]:
        lines.append(f"  {c['config']:<{width}}{c['n']:>8.0f}{c['mean']:>8.4f}{c['std']:>8.4f}"
                     f"{c['min']:>8.4f}{c['max']:>8.4f}")
    for p in _winners(report):
        lines.append(f"  P({p['a']} > {p['b']}) = {p['p_a_beats_b']:.3f} "
                     f"[{p['ci_low']:.3f}, {p['ci_high']:.3f}]")
    lines.append("  " + variance_sentence(report))
    return "\n".join(lines)


def write(report: dict, folder: Path) -> list[Path]:
    folder = Path(folder)
    (folder / "sweep_report.json").write_text(json.dumps(report, indent=1))
    (folder / "sweep_report.md").write_text(markdown(report) + "\n")
    rows = pd.DataFrame(report["configs"]).drop(columns=["jobs"])
    buf = io.StringIO()
    rows.to_csv(buf, index=False)
    (folder / "sweep_configs.csv").write_text(buf.getvalue())
    return [folder / n for n in ("sweep_report.json", "sweep_report.md", "sweep_configs.csv")]


def log_to_mlflow(client, experiment_id: str, sweep_id: str, report: dict, files) -> str:
    """The report as its own run, tagged with the sweep id."""
    from mlflow.entities import Metric, Param, RunTag

    run = client.create_run(
        experiment_id, run_name=f"sweep report · {report['n_jobs']} jobs",
        tags={"neuron_luck.sweep_id": sweep_id, "neuron_luck.kind": "sweep_report"},
    )
    rid = run.info.run_id
    try:
        split = report["variance_split"] or {}
        metrics = [Metric(f"variance_share_{k}", float(v), 0, 0) for k, v in split.items()
                   if k != "total_ss"]
        client.log_batch(
            rid, metrics=metrics,
            params=[Param("n_jobs", str(report["n_jobs"])), Param("metric", report["metric"])],
            tags=[RunTag("mlflow.note.content", markdown(report))],
        )
        for f in files:
            client.log_artifact(rid, str(f))
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise
    client.set_terminated(rid, "FINISHED")
    return rid


def report_sweep(config, sweep_dir: Path) -> str | None:
    """Build, write and log the report of the sweep `config` describes; its terminal text."""
    sweep_id = config.get("sweep_id")
    jobs = jobs_from_folder(sweep_dir)
    client = exp_id = None
    if config.tracking.enabled:
        from runner import tracking

        tracker = tracking.Tracker(tracking.resolve_uri(config.tracking.uri),
                                   config.tracking.experiment)
        client, exp_id = tracker.client, tracker.experiment_id
        # Jobs on other nodes may have left no folder here; the store has them all.
        from_store = jobs_from_mlflow(client, exp_id, sweep_id)
        if len(from_store) >= len(jobs):
            jobs = from_store
    if len(jobs) < 2:
        return None
    report = build(jobs, bootstrap_seed=config.luck.bootstrap_seed,
                   confidence=config.luck.confidence)
    report["sweep_id"] = sweep_id
    files = write(report, sweep_dir)
    text = table(report)
    if client is not None:
        rid = log_to_mlflow(client, exp_id, sweep_id, report, files)
        text += f"\n  MLflow: sweep report run {rid} (tag neuron_luck.sweep_id={sweep_id})"
    return text
