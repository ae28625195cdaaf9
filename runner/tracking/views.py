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
RUN_NAME_WIDTH = 156  # px: a name's start; the settings columns beside it say the rest
CREATED_COLUMN = "runDateAndNestInfo"  # the UI's own id of its Created column
CREATED_WIDTH = 96


def metric(name: str) -> str:
    return f"metrics.`{name}`"


def param(name: str) -> str:
    return f"params.`{name}`"


# The jobs view's columns and their widths (px): the figures, then the settings that tell the
# jobs apart, on a laptop's first screen (1366 px, measured in Chromium: tests/test_ui.py),
# each wide enough for its whole header; then the spread and each job's sweep.
JOB_COLUMNS = (("params.`seeds`", 58), ("metrics.`accuracy_mean`", 104),
               ("metrics.`accuracy_min`", 95), ("metrics.`accuracy_max`", 95),
               ("params.`mode`", 76), ("params.`activation`", 82), ("params.`init`", 64),
               ("params.`dataset`", 64), ("params.`standardize`", 90), ("params.`hidden`", 58),
               ("metrics.`accuracy_std`", 92), ("params.`sweep`", 100))


def jobs_state() -> dict:
    """The runs page's state that lists every job (parent run) with its accuracy and seeds."""
    widths = {RUN_NAME_COLUMN: RUN_NAME_WIDTH, CREATED_COLUMN: CREATED_WIDTH,
              **{c: w for c, w in JOB_COLUMNS}}
    columns = [c for c, _ in JOB_COLUMNS]
    # The UI applies a column's width only to the columns named in columnOrder (the Created
    # column too, which it always shows; narrower, it leaves room for the settings).
    return {"searchFilter": PARENTS_ONLY, "orderByKey": "attributes.start_time",
            "orderByAsc": False, "startTime": "ALL", "lifecycleFilter": "Active",
            "modelVersionFilter": "All Runs", "datasetsFilter": [],
            "selectedColumns": columns,
            "columnOrder": [RUN_NAME_COLUMN, CREATED_COLUMN, *columns],
            "columnWidths": widths}


def jobs_view() -> tuple[str, str]:
    """The experiment tag of the saved view of jobs_state(): (key, value)."""
    # An envelope with a name: the UI lists it in its "Views" menu.
    envelope = {"name": "neuron-luck: one row per job", "createdAt": 0,  # set when written
                "state": json.dumps(jobs_state())}
    return TAG_PREFIX + JOBS_VIEW, json.dumps(envelope)


def seeds_view_key(parent_id: str) -> str:
    return f"seeds-{parent_id}"


def seeds_view(parent_id: str, features: Sequence[str], trained: bool,
               held_out: bool = False) -> tuple[str, str]:
    """The experiment tag of the view of one job's seeds, in seed order, with their accuracy
    and weights: (key, value). A bare state, not an envelope, so the "Views" menu does not
    list one view per job. `held_out`: the runs held rows out, so their test accuracy comes
    first, then their training accuracy, the gap, and their order and split seeds."""
    if held_out:
        columns = [metric("seed"), metric("test_accuracy"), metric("train_accuracy"),
                   metric("train_test_gap"), param("order_seed"), param("split.seed"),
                   param("fold")]
        if trained:
            columns.append(metric("test_accuracy_before"))
    else:
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


def jobs_fragment(experiment_id: str, served_by_runner_ui: bool) -> str:
    """The address, after the host, of an experiment's jobs. `python -m runner.ui` stores the
    jobs view as the experiment's own runs page in the browser (runner/ui_app.py), so its
    address is the plain one: MLflow greets a shared view's address with a banner ("You're
    viewing a shared view ... Override saved view"). Any other MLflow server needs the view's
    key in the address."""
    if served_by_runner_ui:
        return f"#/experiments/{experiment_id}/runs?{WORKSPACE}"
    return runs_fragment(experiment_id)


def run_fragment(experiment_id: str, run_id: str, artifact: str | None = None) -> str:
    """The UI's address, after the host, of one run's page (or one of its artifacts)."""
    tail = f"/artifacts/{artifact}" if artifact else ""
    return f"#/experiments/{experiment_id}/runs/{run_id}{tail}?{WORKSPACE}"

