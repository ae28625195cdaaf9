"""One Hydra job end to end: evaluate, write the run folder, log to MLflow, report."""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from runner import mlflow_worker, plots, processes, report, results, summary, sweep, tracking
from runner.errors import LoggingFailed, UserError

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    result: sweep.SweepResult
    run_dir: Path
    files: list
    luck: dict | None = None
    plots: list = field(default_factory=list)
    plot_names: list = field(default_factory=list)
    wait_for_plots: object = None  # () -> plot paths, once they are drawn
    parent_run_id: str | None = None
    tracking_uri: str | None = None
    text: str = ""


def _label(cfg, result) -> str:
    trained = " · trained" if cfg.mode == "train" else ""
    return f"{result.activation.name} · {cfg.init.scheme} · {result.dataset.name}{trained}"


def run_job(cfg, run_dir: Path, overrides=(), seed_given=False) -> JobOutcome:
    """Evaluate the sweep `cfg` describes, write it under `run_dir`, log it, and report."""
    run_dir = Path(run_dir)
    tracker = uri = worker = experiment_id = inputs = None
    n_processes = 1  # that logged child runs
    plan = sweep.plan(cfg, seed_given=seed_given)
    n_children = _n_children(cfg, plan.seeds) if cfg.tracking.enabled else 0
    if cfg.tracking.enabled:
        uri = tracking.resolve_uri(cfg.tracking.uri)
        tracking.check_reachable(uri)
        worker = mlflow_worker.claim()
        if worker and len(plan.seeds) > mlflow_worker.MAX_SEEDS:
            worker.stop()  # a long evaluation hides the import anyway; spare the copying
            worker = None
        if worker:  # it opens the store while the seeds are evaluated here
            tracking.check_store(uri)
            worker.prepare(uri)
        else:
            tracking.prepare_store(uri)
    start = time.perf_counter()
    result = sweep.run(cfg, checked=plan)
    result.seconds = time.perf_counter() - start

    run_dir.mkdir(parents=True, exist_ok=True)
    files = results.write(result, run_dir)
    resolved = run_dir / "config.yaml"
    text = OmegaConf.to_yaml(cfg, resolve=True)
    resolved.write_text(tracking.scrub(text, uri) if uri else text)
    files.append(resolved)
    outcome = JobOutcome(result=result, run_dir=run_dir, files=files)
    if result.n_seeds >= 2:
        outcome.luck = summary.compute(result, cfg.luck, _highlight(cfg))
        if result.before is not None:
            outcome.luck["training"] = summary.training(result, cfg.trainer)
        luck_json = run_dir / "luck.json"
        luck_json.write_text(json.dumps(outcome.luck, indent=1))
        files.append(luck_json)
        if cfg.luck.plots:
            inputs = _plot_inputs(result, outcome.luck)
            outcome.plot_names = plots.names(inputs)
            if not worker:  # with a worker, drawn here while it logs
                # Worth a second process only when there are child runs to log meanwhile.
                parallel = n_children >= 20
                outcome.wait_for_plots = _start_plots(inputs, run_dir / "plots", parallel)

    try:
        if cfg.tracking.enabled:
            helpers = (cfg.tracking.processes - 1
                       if n_children >= tracking.PARALLEL_FROM else 0)
            outcome.tracking_uri = uri
            if worker:
                worker.log(cfg, outcome, overrides, uri, n_children, helpers, inputs is not None)
                if inputs is not None:
                    try:
                        outcome.plots = plots.draw_all(inputs, run_dir / "plots")
                        worker.plots(True, outcome.plots)
                    except Exception as e:
                        worker.plots(False, f"{type(e).__name__}: {e}")
                outcome.parent_run_id, experiment_id, n_processes = worker.result()
            else:
                tracker = tracking.Tracker(uri, cfg.tracking.experiment, helpers)
                outcome.parent_run_id = _log(cfg, tracker, outcome, list(overrides))
                experiment_id, n_processes = tracker.experiment_id, tracker.processes
    finally:
        if worker is not None:
            worker.close()
        if tracker is not None:
            tracker.close()
        if outcome.wait_for_plots:
            outcome.plots = outcome.wait_for_plots()

    where = ui = None
    if outcome.parent_run_id:
        where = (
            f"{tracking.redact(uri)} · experiment {cfg.tracking.experiment!r} · parent run "
            f"{outcome.parent_run_id} + {n_children} child run(s)"
            + (f" logged by {n_processes} processes" if n_processes > 1 and n_children else "")
        )
        if uri.startswith(("http://", "https://")):
            ui = (f"{tracking.redact(uri).rstrip('/')}/#/experiments/{experiment_id}"
                  f"/runs/{outcome.parent_run_id}")
        elif uri == tracking.resolve_uri(None) and "mlflow.db" in uri:
            ui = "python -m runner.ui   (or: mlflow ui)"
        else:
            ui = f"mlflow ui --backend-store-uri {shlex.quote(tracking.redact(uri))}"
    text = report.summary(result, where, run_dir, ui)
    if outcome.luck:
        text = summary.table(outcome.luck) + "\n\n" + text
    if cfg.printed:
        lesson = report.lesson_table(result, OmegaConf.to_container(cfg.printed))
        if cfg.lesson_train is not None and result.explicit:
            lesson += "\n" + report.lesson_training(sweep.lesson_training(cfg, result), cfg,
                                                    result)
        text = lesson + "\n\n" + text
    outcome.text = text
    return outcome


def _n_children(cfg, seeds) -> int:
    """How many child runs `tracking.child_runs` asks for, for these seeds."""
    mode, n = cfg.tracking.child_runs, len(seeds)
    if mode == "all":
        return n
    if mode == "none":
        return 0
    if mode == "auto":
        return n if n <= cfg.tracking.max_child_runs else 0
    raise UserError(f"tracking.child_runs={mode}: choose all, none or auto")


def _highlight(cfg):
    row = cfg.dataset.highlight_row
    if row is None:
        return None
    return int(row), cfg.dataset.highlight_label or f"row {row}"


def _plot_inputs(result, s) -> dict:
    """What the plots need, as plain arrays (small enough to hand to another process)."""
    ds, before, hl = result.dataset, result.before, s.get("highlight")
    k = min(4, result.n_seeds)
    return {
        "acc": result.metrics["accuracy"], "baseline": s["baseline_accuracy"],
        "best": s["expected_best"],
        "share_positive": result.positive_count / result.n_seeds,
        "share_correct": result.correct_count / result.n_seeds,
        "highlight": (hl["label"], hl["positive"] / hl["n_seeds"]) if hl else None,
        "W": result.W if result.W.shape[1] == 2 else None,
        "features": ds.features,
        # The weights act on the features as the neuron sees them (maybe z-scored).
        "boundary_features": ds.features if ds.mean is None else [
            f"{f} (z-score)" for f in ds.features],
        "X": ds.X, "y": ds.y, "seeds": result.seeds[:k].tolist(),
        "before": None if before is None else {
            "acc": before.metrics["accuracy"], "W": before.W[:k], "b": before.b[:k],
            "W_after": result.W[:k], "b_after": result.b[:k]},
    }


def _start_plots(inputs: dict, folder: Path, parallel: bool):
    """Draw the plots now, or in a forked process while this one logs to MLflow.

    Returns a callable giving the list of PNG paths, waiting for them if need be.
    """
    if parallel and processes.can_fork():
        drawer = processes.Forked(_draw_and_send, inputs, folder, name="plots")
        answer = []

        def wait():
            if not answer:  # asked again after a failure: the same answer
                try:
                    answer.append(drawer.conn.recv())
                except EOFError:
                    answer.append((False, f"the plotting process ended "
                                          f"({drawer.process.exitcode})"))
                drawer.close()
            ok, value = answer[0]
            if not ok:
                raise RuntimeError(f"plots: {value}")
            return value

        return wait
    paths = plots.draw_all(inputs, folder)
    return lambda: paths


def _draw_and_send(conn, inputs, folder):
    try:
        conn.send((True, plots.draw_all(inputs, folder)))
    except Exception as e:  # noqa: BLE001 - raised again in the parent
        conn.send((False, f"{type(e).__name__}: {e}"))


def job_key(cfg) -> str:
    """What makes two jobs the same computation: the config, less where and how it ran."""
    c = OmegaConf.to_container(cfg, resolve=True)
    for k in ("tracking", "chunk_size", "sweep_id"):
        c.pop(k, None)
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _log(cfg, tracker, outcome, overrides) -> str:
    result, files = outcome.result, outcome.files

    n_children = _n_children(cfg, result.seeds)
    label = _label(cfg, result)
    ds = result.dataset
    parent, done = tracker.start_parent(
        f"{label} · seeds {result.seed_spec}" if not result.explicit else f"{label} · explicit",
        tags={"neuron_luck.kind": "sweep",
              **({"neuron_luck.sweep_id": cfg.sweep_id} if cfg.sweep_id else {})},
        key=job_key(cfg),
    )
    try:
        act_params = {f"activation.{k}": v for k, v in result.activation.params.items()}
        params = {
            "mode": cfg.mode,
            "activation": result.activation.name,
            **act_params,
            "init": cfg.init.scheme,
            "init.bias": cfg.init.bias.scheme,
            "dataset": ds.name,
            "features": ",".join(ds.features),
            "standardize": cfg.dataset.standardize,
            "seeds": result.seed_spec,
            "n_seeds": result.n_seeds,
        }
        if cfg.mode == "train":
            params.update({f"trainer.{k}": v for k, v in cfg.trainer.items()})
        acc = result.metrics["accuracy"]
        metrics = {"accuracy_mean": acc.mean(), "accuracy_min": acc.min(),
                   "accuracy_max": acc.max(), "n_seeds": result.n_seeds}
        tags = {"neuron_luck.overrides": tracking.scrub(" ".join(overrides), tracker.uri)}
        if outcome.luck:
            metrics.update(summary.metrics_for_mlflow(outcome.luck))
            names = [f"plots/{n}" for n in outcome.plot_names]
            tags["mlflow.note.content"] = summary.markdown(outcome.luck, names)
        commit = tracking.git_commit()
        if commit:
            tags["mlflow.source.git.commit"] = commit
        tracker.log_parent(parent, params, metrics, tags)
        tracker.log_dataset(parent, ds)
        for path in files:
            tracker.client.log_artifact(parent, str(path))
        if outcome.luck:
            if result.n_seeds <= summary.MAX_SERIES:
                tracker.log_series(parent, "accuracy_by_seed", result.seeds, acc)
            best = outcome.luck["expected_best"]
            tracker.log_series(parent, "expected_best_accuracy", best["k"], best["accuracy"])
        hydra_dir = Path(files[0]).parent / ".hydra"
        if hydra_dir.is_dir():
            _log_scrubbed(tracker, parent, hydra_dir, "hydra")
        if n_children:
            child_params = {"activation": result.activation.name, "init": cfg.init.scheme,
                            "mode": cfg.mode}
            child_label = result.activation.name + (" trained" if cfg.mode == "train" else "")
            tracker.log_children(parent, result, child_params, child_label, done)
        if outcome.wait_for_plots:
            outcome.plots = outcome.wait_for_plots()
            tracker.client.log_artifacts(parent, str(outcome.plots[0].parent), "plots")
    except BaseException as e:
        tracker.finish(parent, "FAILED")
        if not isinstance(e, Exception):
            raise
        have = len(done) + tracker.children_logged
        raise LoggingFailed(
            f"MLflow logging failed ({type(e).__name__}: {tracking.scrub(str(e), tracker.uri)}"
            f"); parent run {parent} is marked FAILED with {have} of {n_children} child runs "
            f"logged. The results are complete in {outcome.run_dir}; run the same command "
            "again to log the rest."
        ) from e
    tracker.finish(parent, "FINISHED")
    return parent


def _log_scrubbed(tracker, run_id, folder: Path, artifact_path: str):
    """Log a folder of text files with any tracking password replaced by ***."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in folder.iterdir():
            if f.is_file():
                (Path(tmp) / f.name).write_text(tracking.scrub(f.read_text(), tracker.uri))
        tracker.client.log_artifacts(run_id, tmp, artifact_path)
