"""Writing a job's runs: one parent run per job, one nested child run per seed, with as few
MLflow client calls per run as its public API allows."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from runner import limits
from runner.errors import shielded
from runner.progress import progress
from runner.report.tables import PredictionsCsv, layer_arrays
from runner.results import JobResult
from runner.tracking import views
from runner.tracking.checks import refuse_deleted
from runner.tracking.setup import import_mlflow
from runner.uri import error_text, safe_key

log = logging.getLogger(__name__)

# neuron_luck.kind of a job's parent run; versions before issue 15 tagged them 'sweep', which
# a resume and a sweep report still accept ("sweep" now means a Hydra multirun only).
JOB_KIND = "job"
JOB_KINDS = (JOB_KIND, "sweep")

# Set in a forked logging process when Ctrl-C reaches it: loops stop at their next clean
# point, so no MLflow call is cut off half-way and the runs can still be marked FAILED.
interrupted = False


class Shielded:
    """An MlflowClient whose every call runs to its end: a Ctrl-C or SIGTERM of this process
    that comes during one is raised as the next starts (errors.shielded), as the forked
    logging processes stop at their loops' clean points. Raised inside SQLAlchemy's session,
    the stop left a connection holding SQLite's write lock: marking the runs FAILED then
    waited on this process's own lock (20 s a try) and gave up, the parent left RUNNING (1
    SIGTERM in ~30)."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def shielded_call(*args, **kwargs):
            with shielded():
                return attr(*args, **kwargs)

        return shielded_call


def param_value(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return fit(str(v), limits.MLFLOW_PARAM_LENGTH)


def fit(text: str, limit: int) -> str:
    """`text` cut to MLflow's `limit` with an ellipsis: MLflow would cut it with a warning
    on the terminal, or refuse it under MLFLOW_TRUNCATE_LONG_VALUES=false."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def short(x) -> str:
    """Six significant digits keep the UI's columns readable; the exact values are in the
    parent's seeds.parquet and follow from the seed anyway."""
    return f"{float(x):.6g}"


@dataclass(frozen=True)
class ParentRun:
    """The parent run a job logs into, and what it holds already."""

    run_id: str
    done: frozenset  # seeds it holds as FINISHED child runs
    complete: bool  # logged whole by an identical command meanwhile: log nothing more


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

    def todo(self, skip) -> list[int]:
        """The positions of the runs not among `skip` (the keys of runs already logged)."""
        runs = self.result.plan.runs
        return [i for i in range(runs.n) if runs.key(i) not in skip]

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
        self.lock = None  # the job's lock, from start_parent to release
        self.children_logged = 0  # by this process, for a failure message
        self.processes = 1  # that logged child runs
        self.client = Shielded(MlflowClient(uri))
        self.experiment_tags: dict[str, str] = {}
        self.experiment_id = self._experiment(experiment)

    def _experiment(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            # Deleted since the store was checked, or on a server that hid it from the check.
            refuse_deleted(self.uri, name, (exp.experiment_id, exp.lifecycle_stage))
            self.experiment_tags = dict(exp.tags)
            return exp.experiment_id
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(name)
        except MlflowException as e:  # another process created it meanwhile
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    def save_views(self, seeds_of: str | None = None, features=(), trained=False,
                   held_out=False) -> None:
        """The experiment's saved view of its jobs (once: a user may edit it in the UI), and,
        for the parent run `seeds_of`, the view of its seeds (runner.tracking.views)."""
        key, value = views.jobs_view()
        if key not in self.experiment_tags:
            envelope = json.loads(value)
            envelope["createdAt"] = int(time.time() * 1000)
            self.tag_experiment_once(key, json.dumps(envelope))
        self.tag_experiment_once(*views.EXPERIMENT_KIND)
        if seeds_of is not None:
            self.client.set_experiment_tag(self.experiment_id,
                                           *views.seeds_view(seeds_of, features, trained,
                                                             held_out))

    def tag_experiment_once(self, key: str, value: str) -> None:
        """Sets the experiment's tag `key` unless it is set: what is there was put by this
        tool, or edited by a user in the UI, and is kept.

        The jobs of a multirun set the same tags at once. MLflow's stores read, then insert
        (SQLAlchemy's merge), so two first writes of one key can both insert and one fails on
        the table's unique key: the tag is then there, which is all this asks for.
        """
        if key in self.experiment_tags:
            return
        from mlflow.exceptions import MlflowException

        try:
            self.client.set_experiment_tag(self.experiment_id, key, value)
        except MlflowException:
            value = self.client.get_experiment(self.experiment_id).tags.get(key)
            if value is None:
                raise
        self.experiment_tags[key] = value

    def start_parent(self, name: str, tags: dict, key: str, since: float) -> ParentRun:
        """The parent run of job `key`, held by this process until `release`.

        Waits while another process logs the same job (runner.tracking.lease). Then:
        - a parent that a crash, a kill or a failure left unfinished is taken up again: its
          finished children are kept, the rest deleted, so a re-run completes the job
          without duplicates;
        - a finished parent of this job that ended after this command started (`since`,
          time.time()), or that belongs to the same multirun, was logged by an identical
          command meanwhile: it is reported as it is, and nothing is logged twice;
        - else a new parent: re-running a job that finished before starts anew.
        Duplicates left by versions before issue 15 (the same seed finished twice under one
        parent, several unfinished parents for one job) are removed on the way.
        """
        from runner.tracking.lease import job_lock

        self.lock = job_lock(self.client, self.uri, self.experiment_id, key)
        self.lock.acquire(lambda: interrupted)
        try:
            return self._parent(name, tags, key, since)
        except BaseException:
            self.release()
            raise

    def _parent(self, name: str, tags: dict, key: str, since: float) -> ParentRun:
        parents = [r for r in self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`neuron_luck.job_key` = '{key}'",
            order_by=["attributes.start_time DESC"], max_results=limits.SEARCH_PAGE,
        ) if r.data.tags.get("neuron_luck.kind") in JOB_KINDS]
        for p in parents:
            if p.info.status == "FINISHED" and p.data.tags.get("neuron_luck.kind") != JOB_KIND:
                self._heal(p.info.run_id)  # finished by a version before issue 15
                self.client.set_tag(p.info.run_id, "neuron_luck.kind", JOB_KIND)
        unfinished = [p for p in parents if p.info.status != "FINISHED"]
        if unfinished:
            done = {p.info.run_id: self._heal(p.info.run_id) for p in unfinished}
            # Older versions could leave several: keep the one with most seeds logged.
            keep = max(unfinished, key=lambda p: len(done[p.info.run_id])).info.run_id
            for p in unfinished:
                if p.info.run_id != keep:
                    self._delete_with_children(p.info.run_id)
            self.client.update_run(keep, status="RUNNING")
            for k, v in tags.items():
                self.client.set_tag(keep, k, v)
            log.info("resuming parent run %s: %d seeds already logged", keep, len(done[keep]))
            return ParentRun(keep, frozenset(done[keep]), complete=False)
        sweep = tags.get("neuron_luck.sweep_id")
        for p in parents:
            if (p.info.end_time or 0) >= since * 1000 or (
                    sweep and p.data.tags.get("neuron_luck.sweep_id") == sweep):
                log.warning("this job was logged meanwhile by an identical command: parent "
                            "run %s; nothing is logged twice", p.info.run_id)
                return ParentRun(p.info.run_id, frozenset(), complete=True)
        if parents:  # the same job finished before: the UI would show two rows alike
            name = f"{name} · repeat {len(parents) + 1}"
        run = self.client.create_run(
            self.experiment_id, run_name=name, tags={**tags, "neuron_luck.job_key": key}
        )
        return ParentRun(run.info.run_id, frozenset(), complete=False)

    def _heal(self, parent_id: str) -> set:
        """The runs `parent_id` holds as FINISHED (their keys: runner.runs.Runs.key), each
        once: its other children deleted."""
        done = set()
        for child in sorted(self.children_of(parent_id), key=lambda r: r.info.start_time):
            key = child.data.tags.get("neuron_luck.seed")
            if child.info.status == "FINISHED" and key is not None and key not in done:
                done.add(key)
            else:  # unfinished, or a second copy of a seed
                self.client.delete_run(child.info.run_id)
        return done

    def _delete_with_children(self, parent_id: str) -> None:
        for child in list(self.children_of(parent_id)):
            self.client.delete_run(child.info.run_id)
        self.client.delete_run(parent_id)

    def finished_children(self, parent_id: str, otherwise: int) -> int:
        """The FINISHED child runs of `parent_id`, counted in the store (a helper process
        killed part-way cannot say what it logged); `otherwise` if the store cannot tell."""
        try:
            return sum(c.info.status == "FINISHED" for c in self.children_of(parent_id))
        except Exception:  # noqa: BLE001 - the store that just failed may fail again
            return otherwise

    def heartbeat(self) -> None:
        """Called by the logging loops: keeps this process's hold on the job alive."""
        if self.lock is not None:
            self.lock.refresh()

    def release(self) -> None:
        """Let another process log this job (once its parent is finished or FAILED)."""
        if self.lock is not None:
            with shielded(cleanup=True):  # on the way out of a stop too
                self.lock.release()
            self.lock = None

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
            tags=[RunTag(k, fit(str(v), limits.MLFLOW_TAG_LENGTH)) for k, v in tags.items()],
        )

    def log_series(self, run_id, key, steps, values):
        """One metric as a series (e.g. step = seed), in batches of MLflow's limit."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, float(v), now, int(s)) for s, v in zip(steps, values, strict=True)]
        for i in range(0, len(batch), limits.MLFLOW_BATCH):
            self.heartbeat()
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
        """One child run per run not in `skip`, all from this process."""
        self.log_child_rows(children.todo(skip), parent_id, children, show=True)

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
        runs = result.plan.runs
        explicit = result.plan.explicit is not None
        columns = ev.columns()
        before_columns = training.before.columns() if training is not None else {}
        if show:
            rows = progress(rows, "logging child runs", unit="run",
                            min_items=limits.PROGRESS_CHILD_RUNS // self.processes)
        for i in rows:
            if interrupted:
                raise KeyboardInterrupt
            # A child whole: a stop that comes meanwhile is raised as the next one starts.
            with shielded():
                self.heartbeat()
                seed = seeds[i]
                run = self.client.create_run(
                    self.experiment_id,
                    start_time=children.start_time(i),
                    run_name=f"{children.label} · {runs.label(i)}",
                    tags={"mlflow.parentRunId": parent_id, "neuron_luck.seed": runs.key(i)},
                )
                rid = run.info.run_id
                try:
                    now = int(time.time() * 1000)
                    params = dict(children.params)
                    params["seed"] = "explicit" if explicit else seed
                    if not runs.plain:  # its other sources of luck
                        params.update({"order_seed": runs.order[i], "split.seed": runs.split[i],
                                       "fold": runs.fold[i]})
                    if ev.W is not None:  # the single neuron: its weights as params
                        params.update({n: short(w) for n, w in zip(names, ev.W[i], strict=True)})
                        params["bias"] = short(ev.b[i])
                    metrics = [Metric(k, float(v[i]), now, 0) for k, v in columns.items()]
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
                                    for k, v in before_columns.items()]
                        metrics += [Metric("train_loss", float(v), now, int(e)) for e, v in
                                    zip(training.loss_epochs, training.losses[:, i], strict=True)]
                    self.client.log_batch(
                        rid, metrics=metrics,
                        params=[Param(k, param_value(v)) for k, v in params.items()],
                    )
                    if table is not None:
                        self.write_artifact(run.info, "predictions.csv",
                                            table.render(ev.z[i], ev.y_hat[i], pred[i]).encode())
                    if ev.layers is not None and ev.W is None:  # a network's; a neuron's are params
                        self.write_artifact(run.info, "weights.npz", weights_npz(result, i))
                    self.client.set_terminated(rid, "FINISHED")
                except BaseException:
                    # Not left RUNNING: a re-run deletes it and logs the seed again.
                    with contextlib.suppress(Exception), shielded(cleanup=True):
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

    def fail(self, run_id) -> bool:
        """Mark `run_id` FAILED on the way out of an error or an interrupt, without raising
        over what brought us here: a store busy past SQLite's wait (another writer finishing)
        gets a second try; if that fails too, one warning, and a re-run of the same command
        takes the parent up. MLflow's own error log, a traceback, is held back meanwhile."""
        quiet = logging.getLogger("mlflow.store.db.utils")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            for _attempt in (1, 2):
                try:
                    with shielded(cleanup=True):  # on the way out of a stop too
                        self.client.set_terminated(run_id, "FAILED")
                    return True
                except Exception as e:  # noqa: BLE001 - the error that brought us here wins
                    last = e
            log.warning("could not mark parent run %s FAILED (%s); run the same command again "
                        "to take it up", run_id, error_text(last, self.uri).splitlines()[0])
            return False
        finally:
            quiet.setLevel(level)

    def close(self) -> None:
        """Release the job; a tracker with helper processes also stops them."""
        self.release()
