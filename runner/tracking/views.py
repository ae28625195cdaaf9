"""How the MLflow UI (3.x) shows a project's runs: saved views and the links that open them.

What the UI lets a tracking client choose, as found in MLflow 3.17's web app:

- The workspace: a page opens in MLflow's GenAI workspace unless its URL carries
  `workflowType=machine_learning` (or the browser stored that choice); every link here does.
- The runs table pages by 100 runs, child runs included, so a few sweeps of many seeds hide
  all but one parent. A saved view is an experiment tag `mlflow.sharedViewState.<key>`,
  opened by `#/experiments/<id>/runs?viewStateShareKey=<key>`: its search filter, sort and
  columns apply; the link must carry no other filter or sort parameter, or the view is skipped.
- Child runs are listed by start time, newest first (the run page's "Child runs" box is
  fixed to it): a job gives its seeds descending start times, so the first seed is on top.
"""

from __future__ import annotations

import json
from typing import Sequence
from urllib.parse import quote

from runner import limits

WORKSPACE = "workflowType=machine_learning"
UI_PORT = 5000  # python -m runner.ui's default
TAG_PREFIX = "mlflow.sharedViewState."
JOBS_VIEW = "neuron-luck"  # one row per job (parent runs only)
# MLflow's kind of experiment; the UI of MLflow 3.17 ignores it, later versions follow it.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")

PARENTS_ONLY = "tags.`mlflow.parentRunId` IS NULL"
RUN_NAME_COLUMN = "attributes.`Run Name`"
RUN_NAME_WIDTH = 400  # px: the parent's name says what the job computed


def metric(name: str) -> str:
    return f"metrics.`{name}`"


def param(name: str) -> str:
    return f"params.`{name}`"


def jobs_state() -> dict:
    """The runs page's state that lists every job (parent run) with its accuracy and seeds."""
    columns = [param("seeds"), metric("accuracy_mean"), metric("accuracy_min"),
               metric("accuracy_max"), metric("accuracy_std"), param("mode"),
               param("activation"), param("init"), param("dataset"), param("standardize")]
    # The UI applies a column's width only to the columns named in columnOrder.
    return {"searchFilter": PARENTS_ONLY, "orderByKey": "attributes.start_time",
            "orderByAsc": False, "startTime": "ALL", "lifecycleFilter": "Active",
            "modelVersionFilter": "All Runs", "datasetsFilter": [],
            "selectedColumns": columns, "columnOrder": [RUN_NAME_COLUMN, *columns],
            "columnWidths": {RUN_NAME_COLUMN: RUN_NAME_WIDTH}}


def jobs_view() -> tuple[str, str]:
    """The experiment tag of the saved view of jobs_state(): (key, value)."""
    # An envelope with a name: the UI lists it in its "Views" menu.
    envelope = {"name": "neuron-luck: one row per job", "createdAt": 0,  # set when written
                "state": json.dumps(jobs_state())}
    return TAG_PREFIX + JOBS_VIEW, json.dumps(envelope)


def seeds_view_key(parent_id: str) -> str:
    return f"seeds-{parent_id}"


def seeds_view(parent_id: str, features: Sequence[str], trained: bool) -> tuple[str, str]:
    """The experiment tag of the view of one job's seeds, in seed order, with their accuracy
    and weights: (key, value). A bare state, not an envelope, so the "Views" menu does not
    list one view per job."""
    columns = [metric("seed"), metric("accuracy")]
    if trained:
        columns.append(metric("accuracy_before"))
    weights = [param(f"w.{f}") for f in features]

    def state(n_weights):
        shown = columns + weights[:n_weights] + [param("bias")]
        return json.dumps({"searchFilter": f"tags.`mlflow.parentRunId` = '{parent_id}'",
                           # By a metric, not by start time: the UI nests runs under their
                           # parent (and folds them) only when they are sorted by start time.
                           "orderByKey": metric("seed"), "orderByAsc": True,
                           "selectedColumns": shown, "columnOrder": shown})

    # A wide CSV's weights would not fit in the tag MLflow holds (it refused the job's whole
    # logging): the view shows the first weights that fit; the run page has them all.
    fits = len(weights)
    room = limits.MLFLOW_EXPERIMENT_TAG_LENGTH - len(state(0))
    for i, w in enumerate(weights):
        room -= 2 * (len(json.dumps(w)) + 2)
        if room < 0:
            fits = i
            break
    return TAG_PREFIX + seeds_view_key(parent_id), state(fits)


def runs_fragment(experiment_id: str, view: str = JOBS_VIEW) -> str:
    """The UI's address, after the host, of an experiment's runs through a saved view."""
    return f"#/experiments/{experiment_id}/runs?viewStateShareKey={quote(view)}&{WORKSPACE}"


def run_fragment(experiment_id: str, run_id: str, artifact: str | None = None) -> str:
    """The UI's address, after the host, of one run's page (or one of its artifacts)."""
    tail = f"/artifacts/{artifact}" if artifact else ""
    return f"#/experiments/{experiment_id}/runs/{run_id}{tail}?{WORKSPACE}"

