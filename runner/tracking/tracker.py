"""Writing a job's runs: one parent run per job, one nested child run per seed, with as few
MLflow client calls per run as its public API allows."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from runner import limits
from runner.progress import progress
from runner.report.tables import PredictionsCsv, layer_arrays
from runner.results import JobResult
from runner.tracking import views
from runner.tracking.store import import_mlflow

log = logging.getLogger(__name__)

# neuron_luck.kind of a job's parent run; versions before issue 15 tagged them 'sweep', which
# a resume and a sweep report still accept ("sweep" now means a Hydra multirun only).
JOB_KIND = "job"
JOB_KINDS = (JOB_KIND, "sweep")

# Set in a forked logging process when Ctrl-C reaches it: loops stop at their next clean
# point, so no MLflow call is cut off half-way and the runs can still be marked FAILED.
interrupted = False


def param_value(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def short(x) -> str:
    """Six significant digits keep the UI's columns readable; the exact values are in the
    parent's seeds.parquet and follow from the seed anyway."""
    return f"{float(x):.6g}"


def safe_key(name: str) -> str:
    """`name` as an MLflow key: letters, digits, _ - . space / only."""
    return re.sub(r"[^\w\-. /]", "_", name)


def weights_npz(result: JobResult, i: int) -> bytes:
    """Seed i's network as an .npz file (np.load reads it): W1, b1, … in the data's units,
    and with mode=train where it started, W1_start, b1_start, …"""
    from neuron.network import take

    arrays = {k: v[0] for k, v in layer_arrays(take(result.evaluation.layers, [i])).items()}
    if result.training is not None:
        start = take(result.training.before.layers, [i])
        arrays.update({k: v[0] for k, v in layer_arrays(start, "_start").items()})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@dataclass(frozen=True)
class ChildRuns:
    """What the child run of each seed of a job holds."""

    result: JobResult
    params: Mapping[str, str]  # the same for every child: activation, init, mode, standardize
    label: str  # the run name before " · seed N"
    # The start time (ms) of the parent run. The seed at position i starts n - i ms after it,
    # so the UI, which lists child runs newest first, lists them in seed order; a resumed
    # job's seeds take the same places.
    parent_start: int | None = None

    def start_time(self, i: int) -> int | None:
        if self.parent_start is None:
            return None
        return self.parent_start + len(self.result.seeds) - i


class Tracker:
    """One MLflow client on one experiment, and the runs a job writes through it."""

    def __init__(self, uri: str, experiment: str):
        import_mlflow(uri)
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.children_logged = 0  # by this process, for a failure message
        self.processes = 1  # that logged child runs
        self.client = MlflowClient(uri)
        self.experiment_tags: dict[str, str] = {}
        self.experiment_id = self._experiment(experiment)

    def _experiment(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            self.experiment_tags = dict(exp.tags)
            return exp.experiment_id
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(name)
        except MlflowException as e:  # another process created it meanwhile
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    def save_views(self, seeds_of: str | None = None, features=(), trained=False) -> None:
        """The experiment's saved view of its jobs (once: a user may edit it in the UI), and,
        for the parent run `seeds_of`, the view of its seeds (runner.tracking.views)."""
        key, value = views.jobs_view()
        if key not in self.experiment_tags:
            envelope = json.loads(value)
            envelope["createdAt"] = int(time.time() * 1000)
            self.client.set_experiment_tag(self.experiment_id, key, json.dumps(envelope))
            self.experiment_tags[key] = value
        kind, value = views.EXPERIMENT_KIND
        if kind not in self.experiment_tags:
            self.client.set_experiment_tag(self.experiment_id, kind, value)
            self.experiment_tags[kind] = value
        if seeds_of is not None:
            self.client.set_experiment_tag(self.experiment_id,
                                           *views.seeds_view(seeds_of, features, trained))

    def start_parent(self, name: str, tags: dict, key: str) -> tuple[str, set]:
        """A parent run for the job `key`, and the seeds it already holds as FINISHED.

        A parent that a crash or a kill left unfinished is taken up again: its finished
        children are kept, the rest deleted, so a re-run completes the job without
        duplicates. A finished parent is never touched: re-running then starts anew.
        """
        earlier = [r for r in self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`neuron_luck.job_key` = '{key}' "
            "and attributes.status != 'FINISHED'",
            order_by=["attributes.start_time DESC"],
        ) if r.data.tags.get("neuron_luck.kind") in JOB_KINDS][:1]
        if not earlier:
            run = self.client.create_run(
                self.experiment_id, run_name=name, tags={**tags, "neuron_luck.job_key": key}
            )
            return run.info.run_id, set()
        parent = earlier[0].info.run_id
        self.client.update_run(parent, status="RUNNING")
        for k, v in tags.items():
            self.client.set_tag(parent, k, v)
        done = set()
        for child in self.children_of(parent):
            if child.info.status == "FINISHED":
                done.add(int(child.data.tags["neuron_luck.seed"]))
            else:
                self.client.delete_run(child.info.run_id)
        log.info("resuming parent run %s: %d seeds already logged", parent, len(done))
        return parent, done

    def children_of(self, parent_id):
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
                max_results=50_000, page_token=token,
            )
            yield from page
            token = page.token
            if not token:
                return

    def log_parent(self, run_id, params: dict, metrics: dict, tags: dict):
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(safe_key(k), float(v), now, 0) for k, v in metrics.items()],
            params=[Param(safe_key(k), param_value(v)) for k, v in params.items()],
            tags=[RunTag(k, str(v)) for k, v in tags.items()],
        )

    def log_series(self, run_id, key, steps, values):
        """One metric as a series (e.g. step = seed), in batches of MLflow's limit."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, float(v), now, int(s)) for s, v in zip(steps, values, strict=True)]
        for i in range(0, len(batch), limits.MLFLOW_BATCH):
            self.client.log_batch(run_id, metrics=batch[i:i + limits.MLFLOW_BATCH])

    def log_dataset(self, run_id, ds):
        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.exceptions import MlflowException

        with warnings.catch_warnings():
            # MLflow registers its local-file source twice and warns that a path is ambiguous.
            warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
            dataset = mlflow.data.from_pandas(
                ds.frame, source=str(ds.path), targets=ds.target, name=ds.name
            )
        inputs = [DatasetInput(dataset=dataset._to_mlflow_entity(),
                               tags=[InputTag(key="mlflow.data.context", value="evaluation")])]
        try:
            self.client.log_inputs(run_id, datasets=inputs)
        except MlflowException:
            # MLflow's SQL store inserts a dataset new to the experiment without allowing for
            # a parallel job inserting the same one (PostgreSQL: UniqueViolation on
            # dataset_pk), and the insert is all or nothing: a second try finds it there.
            time.sleep(0.5)
            self.client.log_inputs(run_id, datasets=inputs)

    def log_children(self, parent_id: str, children: ChildRuns, skip=frozenset()) -> None:
        """One child run per seed not in `skip`, all from this process."""
        seeds = children.result.seeds.tolist()
        todo = [i for i, seed in enumerate(seeds) if seed not in skip]
        self.log_child_rows(todo, parent_id, children, show=True)

    def log_child_rows(self, rows: Sequence[int], parent_id: str, children: ChildRuns,
                       show: bool = False) -> None:
        """The child runs of the seeds at positions `rows`: params, metrics and predictions.

        `self.children_logged` counts the children finished so far, for a failure message.
        """
        from mlflow.entities import Metric, Param

        result = children.result
        ds, ev, training = result.plan.dataset, result.evaluation, result.training
        pred = result.pred
        names = [f"w.{safe_key(f)}" for f in ds.features]
        table = PredictionsCsv(ds) if pred is not None else None
        seeds = result.seeds.tolist()
        explicit = result.plan.explicit is not None
        if show:
            rows = progress(rows, "logging child runs", unit="run",
                            min_items=limits.PROGRESS_CHILD_RUNS // self.processes)
        for i in rows:
            if interrupted:
                raise KeyboardInterrupt
            seed = seeds[i]
            seed_label = "explicit weights" if explicit else f"seed {seed}"
            run = self.client.create_run(
                self.experiment_id,
                start_time=children.start_time(i),
                run_name=f"{children.label} · {seed_label}",
                tags={"mlflow.parentRunId": parent_id, "neuron_luck.seed": str(seed)},
            )
            rid = run.info.run_id
            try:
                now = int(time.time() * 1000)
                params = dict(children.params)
                params["seed"] = "explicit" if explicit else seed
                if ev.W is not None:  # the single neuron: its weights as params
                    params.update({n: short(w) for n, w in zip(names, ev.W[i], strict=True)})
                    params["bias"] = short(ev.b[i])
                metrics = [Metric(k, float(v[i]), now, 0) for k, v in ev.metrics.items()]
                if not explicit:  # a number the UI sorts by (the param is text: 1, 10, 11, …)
                    metrics.append(Metric("seed", float(seed), now, 0))
                if training is not None:
                    # mode=train: where the seed started, and its training loss per epoch.
                    before = training.before
                    if before.W is not None:
                        params.update({n.replace("w.", "w0.", 1): short(w)
                                       for n, w in zip(names, before.W[i], strict=True)})
                        params["bias0"] = short(before.b[i])
                    metrics += [Metric(f"{k}_before", float(v[i]), now, 0)
                                for k, v in before.metrics.items()]
                    metrics += [Metric("train_loss", float(v), now, int(e)) for e, v in
                                zip(training.loss_epochs, training.losses[:, i], strict=True)]
                self.client.log_batch(
                    rid, metrics=metrics,
                    params=[Param(k, param_value(v)) for k, v in params.items()],
                )
                if table is not None:
                    self.write_artifact(run.info, "predictions.csv",
                                        table.render(ev.z[i], ev.y_hat[i], pred[i]).encode())
                if ev.layers is not None:
                    self.write_artifact(run.info, "weights.npz", weights_npz(result, i))
                self.client.set_terminated(rid, "FINISHED")
            except BaseException:
                # Not left RUNNING: a re-run deletes it and logs the seed again.
                with contextlib.suppress(Exception):
                    self.client.set_terminated(rid, "FAILED")
                raise
            self.children_logged += 1

    def write_artifact(self, run_info, name: str, data: bytes) -> None:
        """Store `data` as the artifact `name` of the run."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            self.client.log_artifact(run_info.run_id, str(path))

    def finish(self, run_id, status="FINISHED"):
        self.client.set_terminated(run_id, status)

    def close(self) -> None:
        """Nothing to release here; a tracker with helper processes stops them."""
