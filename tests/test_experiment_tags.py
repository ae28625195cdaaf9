"""The jobs of a multirun write the experiment's shared tags (saved views, kind) at the same
moment, in real processes on one real SQLite store: none of them may fail on it (CI found one
job of a joblib multirun marked FAILED with UNIQUE constraint failed: experiment_tags.key)."""

import multiprocessing

from mlflow.tracking import MlflowClient

from runner.tracking import views
from runner.tracking.tracker import Tracker

PROCESSES = 6
KEYS = [f"neuron_luck.test.{i}" for i in range(40)]


def _write_at_once(uri, barrier, errors):
    try:
        tracker = Tracker(uri, "tags")
        barrier.wait(timeout=60)
        for key in KEYS:
            tracker.tag_experiment_once(key, "set by a job")
        tracker.save_views()
    except Exception as e:  # reported to the test, which names it
        errors.put(f"{type(e).__name__}: {str(e)[:200]}")


def test_jobs_writing_the_same_experiment_tags_at_once_all_succeed(store):
    uri = store
    Tracker(uri, "tags")  # the store and the experiment exist; none of the tags do
    ctx = multiprocessing.get_context("fork")
    barrier, errors = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_write_at_once, args=(uri, barrier, errors))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert not failures, failures
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    tags = MlflowClient(uri).get_experiment_by_name("tags").tags
    assert all(tags.get(k) == "set by a job" for k in KEYS)
    kind, value = views.EXPERIMENT_KIND
    assert tags[kind] == value
    assert views.jobs_view()[0] in tags


def test_a_tag_already_set_is_kept(store):
    uri = store
    tracker = Tracker(uri, "tags")
    tracker.client.set_experiment_tag(tracker.experiment_id, "neuron_luck.test.kept", "user's")
    again = Tracker(uri, "tags")
    again.tag_experiment_once("neuron_luck.test.kept", "ours")
    tracker.tag_experiment_once("neuron_luck.test.new", "ours")
    tracker.tag_experiment_once("neuron_luck.test.new", "changed")
    tags = MlflowClient(uri).get_experiment_by_name("tags").tags
    assert tags["neuron_luck.test.kept"] == "user's"
    assert tags["neuron_luck.test.new"] == "ours"


def test_a_lease_the_store_refuses_is_an_error_not_a_wait(store, monkeypatch):
    # A claim refused for any reason was taken for a lost race and retried forever: a job on
    # a server whose experiment was deleted hung without a word.
    import pytest
    from mlflow.exceptions import MlflowException

    from runner import limits
    from runner.tracking.lease import StoreLease

    monkeypatch.setattr(limits, "LEASE_POLL_SECONDS", 0.01)
    client = MlflowClient(store)
    exp = client.create_experiment("gone")
    client.delete_experiment(exp)
    polls = []

    def give_up():  # a wait ends here, as Ctrl-C would end it
        polls.append(1)
        return len(polls) > 20

    try:
        with pytest.raises(MlflowException, match="active"):
            StoreLease(client, exp, "k1").acquire(give_up)
    except KeyboardInterrupt:  # how acquire ends a wait it was told to give up
        pytest.fail(f"waited ({len(polls)} polls) for a lease the store refuses")
    assert polls == []


def test_a_wide_csvs_views_params_and_tags_fit_what_mlflow_holds(store, monkeypatch):
    """Issue 22, items 9 and 10: the seeds view of 3,000 features was longer than the 20,000
    characters MLflow holds in an experiment tag, and refused after every seed was evaluated;
    a param past 6,000 characters or a tag past 8,000 is cut by MLflow with a warning, or
    refused under MLFLOW_TRUNCATE_LONG_VALUES=false."""
    import json

    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "false")  # MLflow refuses what is long
    tracker = Tracker(store, "wide")
    features = [f"feature_{i}" for i in range(3000)]
    tracker.save_views("p" * 32, features, trained=True)
    key = views.TAG_PREFIX + views.seeds_view_key("p" * 32)
    state = json.loads(tracker.client.get_experiment(tracker.experiment_id).tags[key])
    columns = state["selectedColumns"]
    assert columns[:3] == ["metrics.`seed`", "metrics.`accuracy`", "metrics.`accuracy_before`"]
    assert columns[3:5] == ["params.`w.feature_0`", "params.`w.feature_1`"]
    assert columns[-1] == "params.`bias`" and 300 < len(columns) < 3000
    run = tracker.client.create_run(tracker.experiment_id).info.run_id
    tracker.log_parent(run, {"features": ",".join(features)}, {"m": 1.0},
                       {"neuron_luck.overrides": "x" * 9000})
    data = tracker.client.get_run(run).data
    assert len(data.params["features"]) == 6000 and data.params["features"].endswith("…")
    assert len(data.tags["neuron_luck.overrides"]) == 8000
