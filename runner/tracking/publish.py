"""What a job publishes to MLflow: its parent run (params, summary metrics, the luck report as
its description, the run folder's files, the plots) and a child run per seed.

`publish` is the one way a job's runs are written, whichever process writes them; `Publisher`
is the plain way to call it, in the job's own process (runner.speedups has faster ones).
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from runner import limits
from runner.config import Mode, OptimizerName, override_key
from runner.errors import LoggingFailed, UserError
from runner.plan import TrackingPlan
from runner.report import markdown
from runner.report.luck import LuckReport
from runner.results import JobResult, LessonTraining
from runner.tracking import checks, setup, views
from runner.tracking.tracker import JOB_KIND, ChildRuns, Tracker
from runner.uri import browser_address, error_text, is_http, redact, resolve_uri, scrub

# Draws the plots and returns their paths (called once the rest is logged).
DrawPlots = Callable[[], Sequence[Path]]


@dataclass(frozen=True)
class Outcome:
    """Everything a job hands over to be published, once its run folder is written."""

    result: JobResult
    report: LuckReport | None  # jobs of two seeds or more
    files: tuple[Path, ...]  # the run folder's files, logged as the parent's artifacts
    run_dir: Path
    overrides: tuple[str, ...]  # the command line's overrides, for the parent's tags
    plot_names: tuple[str, ...]  # the plots that will follow, named in the description

    @property
    def tracking(self) -> TrackingPlan:
        return self.result.plan.tracking


@dataclass(frozen=True)
class Published:
    parent_run_id: str
    experiment_id: str
    processes: int  # that logged child runs
    plots: tuple[Path, ...] = ()


# Override keys the name shows in its own words, or that say where or how a job ran rather
# than what it computed: the rest of a job's overrides are part of its name.
_NAMED_OTHERWISE = {"seed", "sweep_id", "chunk_size", "luck.plots", "activation", "init",
                    "dataset", "dataset.standardize", "mode", "trainer", "experiment", "weights",
                    "bias"}
_NOT_COMPUTED = ("tracking", "hydra")
# ...but these change what a job logs, so two jobs that differ in them are told apart.
_NAMED_TRACKING = ("tracking.child_runs", "tracking.max_child_runs")
MAX_NAME = 250  # characters of a run name that every MLflow store keeps


def _named_override(override: str, explicit: bool) -> bool:
    key = override_key(override)
    if key in _NAMED_TRACKING:
        return True
    if key in _NAMED_OTHERWISE or key.split(".")[0] in _NOT_COMPUTED:
        return False
    return not (explicit and key.startswith("init."))  # explicit weights: init played no part


def _numbers(values) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


def parent_name(result: JobResult, overrides=()) -> str:
    """What tells a job's parent run from its neighbours: the activation, the init (when seeds
    drew the weights), the dataset and whether it is standardized, trained or not, every other
    setting the command changed, and the seeds (or the explicit weights)."""
    plan = result.plan
    parts = [plan.activation.name]
    parts += plan.model_names
    if plan.explicit is None:
        parts.append(plan.init[0].scheme)
    parts.append(plan.dataset.name)
    if plan.dataset.mean is not None:
        parts.append("standardized")
    if plan.mode == Mode.train:
        parts.append("trained")
    parts += [o for o in overrides if _named_override(o, plan.explicit is not None)]
    if plan.explicit is not None:
        w, b = plan.explicit
        parts.append(f"weights {_numbers(w[0])}, bias {float(b[0]):g}")
    else:
        parts.append(f"seeds {plan.seed_spec}")
    name = " · ".join(parts)
    return name if len(name) <= MAX_NAME else name[:MAX_NAME - 1] + "…"


def network_params(result: JobResult) -> dict:
    """A network's shape, for parent and child runs alike (the single neuron has none)."""
    return result.plan.model_params


def _draw_params(prefix: str, draw) -> dict:
    """A draw's scheme and the parameters that scheme reads."""
    used = {"uniform": ("low", "high"), "normal": ("mean", "std"), "constant": ("value",)}
    return {prefix: draw.scheme,
            **{f"{prefix}.{k}": getattr(draw, k) for k in used.get(draw.scheme, ())}}


def parent_params(result: JobResult) -> dict:
    plan = result.plan
    params = {
        "mode": plan.mode.value,
        "activation": plan.activation.name,
        **{f"activation.{k}": v for k, v in plan.activation.params.items()},
    }
    if plan.explicit is None:
        params.update(_draw_params("init", plan.init[0]))
        params.update(_draw_params("init.bias", plan.init[1]))
    else:  # the weights were given: no init played a part
        w, b = plan.explicit
        params.update({"weights": _numbers(w[0]), "bias": float(b[0])})
    params.update({
        "dataset": plan.dataset.name,
        "features": ",".join(plan.dataset.features),
        "standardize": plan.dataset.mean is not None,
        "seeds": plan.seed_spec,
        "n_seeds": result.n_seeds,
        # A grid of runs: what it crosses, and which rows its metrics were measured on.
        **({} if plan.runs.plain else {"runs": plan.runs_spec,
                                        "measured_on": plan.runs.measured_on() or "every row"}),
        # The jobs view's `hidden` column: [] says the lesson's single neuron.
        "hidden": str(list(plan.hidden)),
        **network_params(result),
        **sweep_param(plan.tracking),
    })
    if plan.mode == Mode.train:
        params.update({f"trainer.{k}": getattr(plan.trainer, k) for k in trainer_keys(plan)})
    return params


_TRAINER_READS = {
    OptimizerName.gd: (),
    OptimizerName.sgd: ("momentum", "nesterov"),
    OptimizerName.adam: ("beta1", "beta2", "epsilon"),
}


def trainer_keys(plan) -> tuple[str, ...]:
    """The trainer settings a job's training read: gradient descent's as they always were,
    then the optimizer's own and the mini-batches' when there are any."""
    t = plan.trainer
    keys = ("lr", "epochs", "l2", "standardize", "record_every")
    if t.optimizer != OptimizerName.gd or t.batch_size is not None:
        keys += ("optimizer", "batch_size", *(("shuffle",) if t.batch_size else ()),
                 *_TRAINER_READS[t.optimizer])
    return keys


def sweep_param(tracking: TrackingPlan | None) -> dict:
    """The sweep (Hydra multirun) a job belongs to, as the jobs view's `sweep` column shows
    it beside the sweep report's own row; none for a job run alone."""
    return {"sweep": tracking.sweep_id} if tracking is not None and tracking.sweep_id else {}


def child_params(result: JobResult) -> dict:
    """The params every child run of a job shares: the weights' units among them."""
    plan = result.plan
    params = {"activation": plan.activation.name}
    if plan.explicit is None:
        params["init"] = plan.init[0].scheme
    params["mode"] = plan.mode.value
    params["standardize"] = plan.dataset.mean is not None  # w.* are per z-scored feature then
    params.update(network_params(result))
    return params


def report_metrics(s: LuckReport) -> dict:
    """The luck report as flat parent-run metrics: accuracy_mean, accuracy_ci_low, …"""
    out = {}
    for m in s.metrics:
        for stat in ("mean", "std", "min", "max", "median", "q1", "q3", "iqm", "ci_low",
                     "ci_high"):
            out[f"{m.name}_{stat}"] = getattr(m.stats, stat)
    out["baseline_accuracy"] = s.baseline_accuracy
    out["share_beating_baseline"] = s.share_beating_baseline
    out["rows_contested"] = s.rows.contested
    out["n_seeds"] = s.n_seeds
    if s.highlight is not None:
        out["highlight_share_positive"] = s.highlight.positive / s.n_seeds
    if s.training is not None:
        t = s.training
        for when in ("before", "after"):
            for stat in ("mean", "std", "range"):
                out[f"accuracy_{stat}_{when}_training"] = getattr(getattr(t, when), stat)
        if t.std_removed is not None:
            out["training_std_removed"] = t.std_removed
        out["training_beats_random_share"] = t.share_of_random_seeds_beaten
        if s.network is not None:  # the single neuron's parent keeps its metrics as they were
            out["seeds_stuck"] = t.stuck
            out["seeds_diverged"] = t.diverged
    if s.sources is not None:
        out.update(sources_metrics(s.sources))
    if s.network is not None:
        out["seeds_with_dead_units"] = s.network.dead.seeds_with_dead
        out["dead_units_mean"] = s.network.dead.mean_dead
        if s.network.dead_before is not None:
            out["seeds_with_dead_units_before_training"] = s.network.dead_before.seeds_with_dead
    return out


def sources_metrics(src) -> dict:
    """Where the luck comes from, as parent-run metrics: variance_share_<source> (init,
    order, split, their interactions, residual) with its interval, the same of log-loss,
    the finite test set's share and the train-test gap."""
    out = {}
    for prefix, shares in (("", src.accuracy), ("log_loss_", src.log_loss)):
        for sh in shares:
            out[f"{prefix}variance_share_{sh.term}"] = sh.share
            out[f"{prefix}variance_share_{sh.term}_ci_low"] = sh.low
            out[f"{prefix}variance_share_{sh.term}_ci_high"] = sh.high
    if src.test_set is not None:
        t = src.test_set
        out.update({"test_set_noise_share": t.share, "test_set_noise_variance": t.noise,
                    "test_accuracy_variance": t.observed, "luck_beyond_test_set": t.beyond})
    if src.gap is not None:
        out.update({"train_test_gap_mean": src.gap.mean, "train_test_gap_min": src.gap.min,
                    "train_test_gap_max": src.gap.max})
    return out


def lesson_metrics(result: JobResult) -> dict:
    """The lesson's weights trained on its training data (+experiment=lesson): what the
    closing text says of them, as parent-run metrics."""
    t = result.lesson
    if not isinstance(t, LessonTraining):
        return {}
    return {"lesson_trained_accuracy": t.accuracy, "lesson_trained_log_loss": t.loss,
            "lesson_trained_y_hat": t.y_hat}


SEED_SERIES = "per_seed/accuracy"  # each seed's accuracy, step = seed
_STATS = ("mean", "std", "min", "max", "median", "q1", "q3", "iqm", "ci_low", "ci_high")
SIGNIFICANT = 14  # digits of a summary metric: float64 holds ~16, the last ones are noise


def readable_metrics(metrics: dict) -> dict:
    """Summary metrics as they read in MLflow's UI, which shows a value's leading digits in a
    narrow column: accuracy_std 1.12e-16 read as 1.12, a mean of 0.5 as 0.49999999.

    Where the math gives an exact number it is logged exactly: a metric whose seeds all have
    one value has std 0 and every statistic that value (as has a training std whose range is
    0). Shares (in [0, 1]) are rounded to SIGNIFICANT decimals, so a share that is 0 in exact
    arithmetic is 0, not 2.5e-31; every other value to SIGNIFICANT significant digits, which
    keeps all it can tell (per-seed values are in seeds.parquet at full precision)."""
    out = dict(metrics)
    for key in metrics:
        family = key[:-len("_min")] if key.endswith("_min") else None
        if family is None or f"{family}_max" not in metrics:
            continue
        if metrics[key] == metrics[f"{family}_max"]:  # every seed the same: no spread at all
            for stat in _STATS:
                if f"{family}_{stat}" in out:
                    out[f"{family}_{stat}"] = 0.0 if stat == "std" else float(metrics[key])
    for key in metrics:
        if key.startswith("accuracy_range_") and metrics[key] == 0:
            std = key.replace("_range_", "_std_")
            if std in out:
                out[std] = 0.0
    return {k: _readable(k, v) for k, v in out.items()}


def _readable(key: str, value):
    if isinstance(value, (bool, int, np.integer)) or not np.isfinite(value):
        return value
    value = float(value) + 0.0  # + 0.0: no -0.0
    if "share" in key or key == "training_std_removed":
        return round(value, SIGNIFICANT) + 0.0
    return float(f"{value:.{SIGNIFICANT}g}")


def publish(outcome: Outcome, tracker: Tracker, plots: DrawPlots | None) -> str:
    """Write the job's parent run and its child runs; the parent's id.

    A failure marks the parent FAILED and raises LoggingFailed, which says how many child
    runs were logged and that a re-run logs the rest.
    """
    result, report, uri = outcome.result, outcome.report, tracker.uri
    plan = result.plan
    n_children = outcome.tracking.n_children
    sweep_id = outcome.tracking.sweep_id
    held = tracker.start_parent(
        scrub(parent_name(result, outcome.overrides), uri),
        tags={"neuron_luck.kind": JOB_KIND,
              **({"neuron_luck.sweep_id": sweep_id} if sweep_id else {})},
        key=plan.key, since=outcome.tracking.started,
    )
    parent, done = held.run_id, held.done
    if held.complete:
        tracker.release()
        if plots is not None:
            plots()  # the run folder gets them all the same
        return parent
    try:
        trained = plan.mode == Mode.train
        tracker.save_views(parent if n_children else None, plan.dataset.features, trained,
                           plan.runs.measured_on() is not None)
        acc = result.evaluation.metrics.accuracy
        metrics = {"accuracy_mean": acc.mean(), "accuracy_min": acc.min(),
                   "accuracy_max": acc.max(), "n_seeds": result.n_seeds}
        tags = {"neuron_luck.overrides": scrub(" ".join(outcome.overrides), uri)}
        metrics.update(lesson_metrics(result))
        if report is not None:
            metrics.update(report_metrics(report))
            tags["mlflow.note.content"] = markdown.description(
                report, _links(tracker.experiment_id, parent, outcome))
        commit = _git_commit()
        if commit:
            tags["mlflow.source.git.commit"] = commit
        tracker.log_parent(parent, parent_params(result), readable_metrics(metrics), tags)
        tracker.log_dataset(parent, plan.dataset)
        for path in outcome.files:
            tracker.client.log_artifact(parent, str(path))
        if report is not None:
            if result.n_seeds <= limits.MAX_SERIES:
                # Not accuracy_*: MLflow's compare view lists a series by its last value
                # (the last seed's), alphabetically, where that name read like a summary.
                tracker.log_series(parent, SEED_SERIES, result.seeds, acc)
            best = report.expected_best
            tracker.log_series(parent, "expected_best_accuracy", best.k,
                               [_readable("expected_best_accuracy", a) for a in best.accuracy])
        hydra_dir = outcome.run_dir / ".hydra"
        if hydra_dir.is_dir():
            _log_scrubbed(tracker, parent, hydra_dir, "hydra")
        tracker.heartbeat()
        if n_children:
            child_label = plan.activation.name + (" trained" if trained else "")
            start = tracker.client.get_run(parent).info.start_time
            tracker.log_children(
                parent, ChildRuns(result, child_params(result), child_label, start), done)
        if plots is not None:
            paths = plots()
            tracker.heartbeat()
            tracker.client.log_artifacts(parent, str(Path(paths[0]).parent), "plots")
        # In the try: a stop that came during the last call is raised as this one starts,
        # and the parent is marked FAILED, not left RUNNING.
        tracker.finish(parent, "FINISHED")
    except BaseException as e:
        tracker.fail(parent)
        tracker.release()
        if not isinstance(e, Exception):
            raise
        have = tracker.finished_children(parent, len(done) + tracker.children_logged)
        raise LoggingFailed(
            f"MLflow logging failed ({error_text(e, uri)}); parent run {parent} is "
            f"marked FAILED with {have} of {n_children} child runs "
            f"logged. The results are complete in {outcome.run_dir}; run the same command "
            "again to log the rest."
        ) from e
    tracker.release()
    return parent


def _links(experiment_id: str, parent: str, outcome: Outcome) -> markdown.Links:
    """Where the description points: the job's seeds in a table, its plots."""
    n = outcome.tracking.n_children
    seeds = views.runs_fragment(experiment_id, views.seeds_view_key(parent)) if n else None
    plots = tuple((f"plots/{p}", views.run_fragment(experiment_id, parent, f"plots/{p}"))
                  for p in outcome.plot_names)
    return markdown.Links(seeds=seeds, n_children=n, plots=plots)


def _log_scrubbed(tracker: Tracker, run_id, folder: Path, artifact_path: str):
    """Log a folder of text files with any tracking password replaced by ***."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in folder.iterdir():
            if f.is_file():
                (Path(tmp) / f.name).write_text(scrub(f.read_text(), tracker.uri))
        tracker.client.log_artifacts(run_id, tmp, artifact_path)


def open_tracker(make: Callable[[Outcome], Tracker], outcome: Outcome) -> Tracker:
    """`make(outcome)`, with a failure (the store refuses, a server that answered its health
    check fails) as LoggingFailed: one line, no password, what to do."""
    try:
        return make(outcome)
    except UserError as e:  # a setting the store refuses, found only when it is opened
        raise UserError(f"{e}; the results are complete in {outcome.run_dir}") from None
    except Exception as e:
        raise LoggingFailed(
            f"MLflow logging failed before any run was logged ("
            f"{error_text(e, outcome.tracking.uri)}); the results are complete in "
            f"{outcome.run_dir}; run the same command again to log them"
        ) from e


class Publisher:
    """Publishes a job from its own process: the store is opened when the publisher is made,
    the plots are drawn when the rest is logged."""

    def __init__(self, tracking: TrackingPlan):
        checks.check(tracking.uri, tracking.experiment)
        setup.prepare(tracking.uri)

    def publish(self, outcome: Outcome, draw: DrawPlots | None) -> Published:
        tracker = open_tracker(self.tracker, outcome)
        try:
            drawn: list[Path] = []

            def plots():
                drawn.extend(draw())
                return drawn

            parent = publish(outcome, tracker, plots if draw else None)
            return Published(parent, tracker.experiment_id, tracker.processes, tuple(drawn))
        finally:
            tracker.close()

    def tracker(self, outcome: Outcome) -> Tracker:
        return Tracker(outcome.tracking.uri, outcome.tracking.experiment)

    def close(self) -> None:
        """Nothing to release here; a publisher with other processes stops them."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def where(tracking: TrackingPlan, published: Published) -> tuple[str, str]:
    """The summary's MLflow line, and how to open the UI on it."""
    uri, n_children = tracking.uri, tracking.n_children
    text = (
        f"{redact(uri)} · experiment {tracking.experiment!r} · parent run "
        f"{published.parent_run_id} "
        + (f"+ {n_children} child run(s)" if n_children else "only, no child runs")
        + (f" logged by {published.processes} processes"
           if published.processes > 1 and n_children else "")
    )
    page = views.run_fragment(published.experiment_id, published.parent_run_id)
    return text, ui_hint(uri, page, "this job")


def ui_hint(uri: str, page: str, what: str) -> str:
    """How to see `page` (a UI address after the host) of the store at `uri`: its address on
    the tracking server, or the command that starts the UI and the address it then serves."""
    if is_http(uri):
        return f"{browser_address(uri)}/{page}"
    command = "python -m runner.ui"
    if uri != resolve_uri(None):
        command += f" --uri {shlex.quote(redact(uri))}"
    return f"{command}   then {what}: http://127.0.0.1:{views.UI_PORT}/{page}"


def _git_commit() -> str | None:
    """This checkout's commit, for the parent run's mlflow.source.git.commit tag."""
    import subprocess

    from runner.data import PROJECT_ROOT

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
