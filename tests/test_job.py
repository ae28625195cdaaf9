"""A job in-process: composed config → run folder → a real SQLite MLflow store, read back."""

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from runner.errors import LoggingFailed, UserError
from runner.job import run_job
from tests.conftest import ROOT


def _runs(store):
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("neuron-luck")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


def test_five_seeds_parent_and_children(make_cfg, store, tmp_path):
    cfg = make_cfg("seed=1..5", f"tracking.uri={store}")
    out = run_job(cfg, tmp_path / "run", ["seed=1..5"], seed_given=True)
    client, parents, children = _runs(store)
    assert len(parents) == 1 and len(children) == 5
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.info.run_id == out.parent_run_id
    assert parent.data.params["n_seeds"] == "5" and parent.data.params["activation"] == "sigmoid"
    assert parent.data.tags["neuron_luck.overrides"] == "seed=1..5"
    assert len(parent.inputs.dataset_inputs) == 1
    assert parent.inputs.dataset_inputs[0].dataset.name == "obesity"
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"seeds.parquet", "predictions.parquet", "config.yaml"} <= parent_files

    table = pd.read_parquet(tmp_path / "run" / "seeds.parquet")
    by_seed = {int(r.data.params["seed"]): r for r in children}
    assert sorted(by_seed) == [1, 2, 3, 4, 5]
    for _, row in table.iterrows():
        child = by_seed[int(row.seed)]
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.run_name == f"sigmoid · seed {int(row.seed)}"
        # Params are kept short (6 significant digits); the table has the exact values.
        for key in ("w.height_ft", "w.weight_kg", "bias"):
            assert child.data.params[key] == f"{row[key]:.6g}"
        for m in ("accuracy", "log_loss", "brier", "tp", "fp", "tn", "fn", "mean_output"):
            assert child.data.metrics[m] == pytest.approx(row[m], rel=1e-12)
        arts = [a.path for a in client.list_artifacts(child.info.run_id)]
        assert arts == ["predictions.csv"]
    # A child's predictions.csv says what the run folder's predictions.parquet says.
    child = by_seed[3]
    csv = pd.read_csv(client.download_artifacts(child.info.run_id, "predictions.csv"))
    preds = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    mine = preds[preds.seed == 3].drop(columns="seed").reset_index(drop=True)
    mine = mine.astype({"condition": str, "predicted": str})  # categoricals in the parquet
    pd.testing.assert_frame_equal(csv, mine, check_dtype=False)
    acc = table["accuracy"].to_numpy()
    assert parent.data.metrics["accuracy_mean"] == pytest.approx(acc.mean())


def test_predictions_agree_with_seeds_table(make_cfg, tmp_path):
    cfg = make_cfg("seed=[3,7]", "tracking=off")
    run_job(cfg, tmp_path, seed_given=True)
    preds = pd.read_parquet(tmp_path / "predictions.parquet")
    seeds = pd.read_parquet(tmp_path / "seeds.parquet")
    assert set(preds.columns) >= {"seed", "row", "height_ft", "weight_kg", "condition", "z",
                                  "y_hat", "predicted", "correct"}
    for _, s in seeds.iterrows():
        p = preds[preds.seed == s.seed]
        z = s["w.height_ft"] * p.height_ft + s["w.weight_kg"] * p.weight_kg + s.bias
        np.testing.assert_allclose(p.z, z, rtol=1e-12)
        assert p.correct.mean() == pytest.approx(s.accuracy)
        assert ((p.predicted == p.condition) == p.correct).all()


def test_seed_weights_do_not_depend_on_the_sweep(make_cfg, tmp_path):
    tables = {}
    for name, spec, chunk in [("one", "7", 10000), ("range", "1..50", 3), ("list", "[3,7]", 1)]:
        cfg = make_cfg(f"seed={spec}", "tracking=off", f"chunk_size={chunk}")
        run_job(cfg, tmp_path / name)
        t = pd.read_parquet(tmp_path / name / "seeds.parquet").set_index("seed")
        tables[name] = t.loc[7]
    assert tables["one"].equals(tables["range"]) and tables["one"].equals(tables["list"])


def test_lesson_experiment(make_cfg, tmp_path, store):
    cfg = make_cfg("+experiment=lesson", f"tracking.uri={store}")
    out = run_job(cfg, tmp_path)
    r = out.result
    assert r.plan.explicit is not None
    assert r.evaluation.z[0, 0] == pytest.approx(1.8008, abs=1e-12)
    assert r.evaluation.y_hat[0, 0] == pytest.approx(0.858246, abs=1e-6)
    assert bool(r.pred[0, 0])
    text = out.text
    assert "0.8008" in text and "1.8008" in text and "0.858246" in text
    assert text.count("✗ misprint") == 3
    assert "Obese (ŷ ≥ 0.5)" in text
    _, parents, children = _runs(store)
    assert len(parents) == 1 and len(children) == 1
    assert children[0].data.params["seed"] == "explicit"
    assert children[0].data.params["w.height_ft"] == "0.2"


def test_weights_and_seed_says_seed_plays_no_part(make_cfg, tmp_path):
    cfg = make_cfg("weights=[0.2,0.00001]", "bias=1", "seed=1..5", "tracking=off")
    out = run_job(cfg, tmp_path, seed_given=True)
    assert out.result.n_seeds == 1
    assert "seed=1..5 plays no part" in out.text


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["weights=[0.2]"], "1 weight(s) for 2 feature(s)"),
        (["weights=[0.2,nan]"], "every weight must be a finite number"),
        (["bias=1"], "bias=1: used only with weights=; drop bias= or give the weights too"),
        (["seed=abc"], "is not a whole number"),
        (["dataset.path=nowhere.csv"], "no such file"),
        (["dataset.positive=Fat"], "not a value of column 'condition'"),
    ],
)
def test_bad_input_is_a_user_error_and_leaves_no_run(make_cfg, store, tmp_path, overrides,
                                                     message):
    cfg = make_cfg(*overrides, f"tracking.uri={store}")
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_job(cfg, tmp_path)
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("neuron-luck")
    if exp is not None:
        assert client.search_runs([exp.experiment_id]) == []


def test_logging_failure_marks_the_parent_failed(make_cfg, store, tmp_path, monkeypatch):
    from runner.tracking.tracker import Tracker

    def broken(self, *a, **k):
        raise RuntimeError("store went away")

    monkeypatch.setattr(Tracker, "log_child_rows", broken)
    cfg = make_cfg("seed=1..3", f"tracking.uri={store}")
    with pytest.raises(LoggingFailed, match="store went away.*FAILED with 0 of 3 child runs"):
        run_job(cfg, tmp_path)
    _, parents, _ = _runs(store)
    assert [p.info.status for p in parents] == ["FAILED"]
    assert (tmp_path / "seeds.parquet").exists()


def test_child_runs_none_logs_only_the_parent(make_cfg, store, tmp_path):
    cfg = make_cfg("seed=1..20", f"tracking.uri={store}", "tracking.child_runs=none")
    run_job(cfg, tmp_path)
    _, parents, children = _runs(store)
    assert len(parents) == 1 and children == []


def test_tracking_off_logs_nothing(make_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = make_cfg("seed=1..3", "tracking=off")
    out = run_job(cfg, tmp_path / "run")
    assert out.parent_run_id is None and not (tmp_path / "mlflow.db").exists()
    assert (tmp_path / "run" / "seeds.parquet").exists()


def test_quotes_and_commas_in_names_and_labels_make_a_readable_predictions_csv(
        make_cfg, store, tmp_path):
    # Issue 15, item 2: cells were quoted by hand, and a '"' made the CSV unparseable.
    path = tmp_path / "q.csv"
    pd.DataFrame({'he said "a"': [1.0, -2.0, 3.0], "b,c": [0.5, 1.5, -1.0],
                  "label": ['the "big" one', "small, or none", 'the "big" one']}
                 ).to_csv(path, index=False)
    cfg = make_cfg("dataset=csv", f"dataset.path={path}",
                   """dataset.features=['he said "a"','b,c']""", "dataset.target=label",
                   """dataset.positive='the "big" one'""", "seed=1..2",
                   f"tracking.uri={store}", "luck.plots=false")
    run_job(cfg, tmp_path / "run", seed_given=True)
    client, _, children = _runs(store)
    preds = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    for child in children:
        seed = int(child.data.params["seed"])
        csv = pd.read_csv(client.download_artifacts(child.info.run_id, "predictions.csv"))
        mine = preds[preds.seed == seed].drop(columns="seed").reset_index(drop=True)
        mine = mine.astype({"label": str, "predicted": str})  # categoricals in the parquet
        pd.testing.assert_frame_equal(csv, mine, check_dtype=False)
        assert set(csv["predicted"]) <= {'the "big" one', "small, or none"}


@pytest.mark.parametrize("old_kind", ["job", "sweep"])
def test_a_rerun_takes_up_an_unfinished_parent_of_either_kind(make_cfg, store, tmp_path,
                                                              old_kind):
    # Issue 15: parents are tagged neuron_luck.kind='job'; those an older version tagged
    # 'sweep' are still taken up by a re-run.
    cfg = make_cfg("seed=1..5", f"tracking.uri={store}", "luck.plots=false")
    first = run_job(cfg, tmp_path / "a", seed_given=True)
    client, parents, children = _runs(store)
    assert parents[0].data.tags["neuron_luck.kind"] == "job"
    parent = first.parent_run_id
    client.set_tag(parent, "neuron_luck.kind", old_kind)
    client.update_run(parent, status="RUNNING")  # as a killed run leaves it
    for child in children:
        if int(child.data.params["seed"]) >= 4:
            client.delete_run(child.info.run_id)
    again = run_job(cfg, tmp_path / "b", seed_given=True)
    assert again.parent_run_id == parent
    client, parents, children = _runs(store)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.tags["neuron_luck.kind"] == "job"
    assert sorted(int(c.data.params["seed"]) for c in children) == [1, 2, 3, 4, 5]


def test_the_lessons_person_is_named_only_where_that_row_is(make_cfg, tmp_path):
    # obesity.yaml names row 0 "the lesson's person (4 ft, 80 kg)": another CSV given with
    # dataset.path= has another row 0, which the report must not call that person.
    other = tmp_path / "other.csv"
    other.write_text("height_ft,weight_kg,condition\n5.5,60,Not Obese\n4,80,Obese\n"
                     "6,120,Obese\n")
    copy = tmp_path / "copy.csv"
    copy.write_text((ROOT / "data" / "obesity.csv").read_text())
    common = ["seed=1..10", "tracking=off", "luck.plots=false"]

    def report(*overrides):
        out = run_job(make_cfg(*common, *overrides), tmp_path / str(len(list(tmp_path.iterdir()))))
        return out.report.highlight, out.text

    highlight, shown = report(f"dataset.path={other}")
    assert highlight is None and "lesson's person" not in shown
    highlight, shown = report()  # the obesity data itself
    assert highlight.row == 0 and "call the lesson's person (4 ft, 80 kg) Obese" in shown
    assert report(f"dataset.path={copy}")[0].row == 0  # the same rows, elsewhere
    # A row named by the user, without values to check, is named.
    highlight, _ = report(f"dataset.path={other}", "dataset.highlight_row=2",
                          "dataset.highlight_label=the tall one", "dataset.highlight_values=null")
    assert highlight.label == "the tall one" and highlight.row == 2


def _no_thread_left_by_earlier_tests(timeout=10.0):
    """A job forks its helper processes only when no other thread runs (can_fork). An MLflow
    client of an earlier test in this process leaves its artifact repository's thread pool
    running until the garbage collector frees it (a cycle), and MLflow's telemetry thread ends
    a moment after its last event: the job then logged from one process, and the test below
    failed now and then in the full suite. Collect, and give such threads time to end."""
    import gc
    import threading
    import time

    gc.collect()
    deadline = time.monotonic() + timeout
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_ui_lists_a_jobs_seeds_in_seed_order(make_cfg, store, tmp_path):
    # MLflow's UI lists child runs newest first (the run page's "Child runs" box cannot be
    # sorted otherwise): the seeds, logged by two processes here, start in reverse seed order.
    import json

    cfg = make_cfg("seed=[5,1,2,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,"
                   "27,28,29,30,31,32,33,34,35,36,37,38,39,40,41]",
                   f"tracking.uri={store}", "luck.plots=false")
    _no_thread_left_by_earlier_tests()
    out = run_job(cfg, tmp_path)
    client, (parent,), children = _runs(store)
    assert out.published.processes == 2
    listed = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        order_by=["attributes.start_time DESC"], max_results=100)
    assert [int(r.data.params["seed"]) for r in listed] == out.result.seeds.tolist()  # as given
    assert all(r.info.start_time > parent.info.start_time for r in listed)
    # The seed as a number too (the UI sorts params as text), and the units of the weights.
    assert {r.data.metrics["seed"] for r in children} == set(range(1, 42))
    assert {r.data.params["standardize"] for r in children} == {"False"}
    # The experiment's saved views: every job one row each, and this job's seeds.
    tags = client.get_experiment(parent.info.experiment_id).tags
    jobs = json.loads(json.loads(tags["mlflow.sharedViewState.neuron-luck"])["state"])
    assert jobs["searchFilter"] == "tags.`mlflow.parentRunId` IS NULL"
    assert "metrics.`accuracy_mean`" in jobs["selectedColumns"]
    seeds = json.loads(tags[f"mlflow.sharedViewState.seeds-{parent.info.run_id}"])
    assert seeds["searchFilter"] == f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    assert seeds["orderByKey"] == "metrics.`seed`" and seeds["orderByAsc"] is True
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    # A view the user changed in the UI is theirs: later jobs leave it alone.
    client.set_experiment_tag(parent.info.experiment_id, "mlflow.sharedViewState.neuron-luck",
                              '{"name": "mine", "createdAt": 1, "state": "{}"}')
    run_job(make_cfg("seed=1..2", f"tracking.uri={store}", "luck.plots=false"), tmp_path / "b")
    assert client.get_experiment(parent.info.experiment_id).tags[
        "mlflow.sharedViewState.neuron-luck"] == '{"name": "mine", "createdAt": 1, "state": "{}"}'
    note = parent.data.tags["mlflow.note.content"]
    assert (f"[The 41 seeds, in seed order](#/experiments/{parent.info.experiment_id}/runs?"
            f"viewStateShareKey=seeds-{parent.info.run_id}&workflowType=machine_learning)") in note


@pytest.mark.parametrize("overrides, differs, computed", [
    # The user's CSV, whose row 0 is not the lesson's person: not the lesson's misprint.
    (["dataset=csv", "dataset.path={csv}", "dataset.features=[h,w]", "dataset.target=c",
      "dataset.positive=O"], "row 0 of csv is x = (6, 60), not the lesson's (4, 80)", "1.2006"),
    (["dataset.standardize=true"], "dataset.standardize=true", "0.731059"),
    (["mode=train"], "mode=train: w and b are the trained ones", "5.41921"),
    (["bias=null"], "bias=0, not the lesson's 1", "0.690146"),
    (["weights=[0.3,0.00001]"], "weights=(0.3, 1e-05), not the lesson's (0.2, 1e-05)",
     "1.2008"),
])
def test_lesson_compares_only_its_own_setup(make_cfg, tmp_path, overrides, differs, computed):
    # A change to the lesson's setup makes the computed values differ from the printed ones:
    # no "misprint" verdict blames the lesson for it; the table says what differs.
    csv = tmp_path / "mine.csv"
    csv.write_text("h,w,c\n6,60,N\n5,90,O\n")
    cfg = make_cfg("+experiment=lesson", "tracking=off",
                   *(o.format(csv=csv) for o in overrides))
    text = run_job(cfg, tmp_path / "run").text
    table = text.split("\n\n")[0]
    assert "misprint" not in text and "✓" not in table and "printed" not in table.split("\n")[1]
    assert "not compared with what the lesson printed" in table and differs in table
    assert computed in table
    # The training part speaks of the lesson's person (4 ft, 80 kg), from the given weights.
    assert "under them the lesson's person gets ŷ = 1 − 7.2e-08: Obese" in text or (
        "weights=" in overrides[0])


def test_lesson_standardized_table_adds_up(make_cfg, tmp_path):
    # x is what the neuron sees, so wᵀx + b is the z shown (it showed wᵀx 0.8008 and z 1).
    cfg = make_cfg("+experiment=lesson", "tracking=off", "dataset.standardize=true")
    table = run_job(cfg, tmp_path).text.split("\n\n")[0]
    assert "x (z-scored)    (0, 0)" in table and "wᵀx             0\n" in table
    assert "z = wᵀx + b     1\n" in table


def test_lesson_with_an_untrainable_activation_skips_only_the_training(make_cfg, tmp_path):
    cfg = make_cfg("+experiment=lesson", "tracking=off", "activation=relu")
    text = run_job(cfg, tmp_path).text
    assert "ŷ = relu(z)     1.8008" in text and "misprint" not in text
    assert "Not trained on obesity as the lesson goes on to do: activation=relu: cannot train" \
        in text and "Trained from" not in text


def test_lesson_unchanged_still_finds_its_misprints(make_cfg, tmp_path):
    text = run_job(make_cfg("+experiment=lesson", "tracking=off"), tmp_path).text
    assert text.count("✗ misprint") == 3 and "not compared" not in text
    assert "Trained from the lesson's start on obesity" in text


def test_trained_explicit_weights_are_said_trained(make_cfg, tmp_path):
    cfg = make_cfg("mode=train", "weights=[0.2,0.00001]", "bias=1", "tracking=off")
    out = run_job(cfg, tmp_path)
    before = out.result.training.before.metrics.accuracy[0]
    after = out.result.evaluation.metrics.accuracy[0]
    assert before != after
    assert (f"trained          the explicit weights (no seed involved): accuracy {before:.4f} → "
            f"{after:.4f}") in out.text and "evaluated        the explicit" not in out.text


def test_the_lessons_training_is_a_result_and_is_logged(make_cfg, tmp_path, store,
                                                         monkeypatch):
    # Issue 19: the lesson's training ran while the closing text was formatted, so it reached
    # neither the result nor MLflow. Now it is computed with the job and logged.
    import json

    from neuron import network
    from runner.job import closing_text
    from runner.results import LessonSkipped, LessonTraining

    out = run_job(make_cfg("+experiment=lesson", f"tracking.uri={store}"), tmp_path)
    t = out.result.lesson
    assert isinstance(t, LessonTraining) and t.dataset == "obesity" and t.n_rows == 400
    assert t.w0 == (0.2, 0.00001) and t.w != t.w0 and t.positive
    saved = json.loads((tmp_path / "lesson_training.json").read_text())
    assert saved["trained"] is True and saved["w"] == list(t.w) and saved["y_hat"] == t.y_hat
    _, (parent,), _ = _runs(store)
    # As logged: 14 significant digits (runner.tracking.publish.readable_metrics).
    assert parent.data.metrics["lesson_trained_accuracy"] == pytest.approx(t.accuracy, 1e-13)
    assert parent.data.metrics["lesson_trained_log_loss"] == pytest.approx(t.loss, 1e-13)
    assert parent.data.metrics["lesson_trained_y_hat"] == pytest.approx(t.y_hat, 1e-13)
    # The closing text only formats what the job computed: no training while it is written.
    monkeypatch.setattr(network, "train", lambda *a, **k: pytest.fail("trained while formatting"))
    assert closing_text(out.result.plan, out.result, out.report, out.published,
                        tmp_path) == out.text
    skipped = run_job(make_cfg("+experiment=lesson", "tracking=off", "activation=relu"),
                      tmp_path / "relu").result.lesson
    assert isinstance(skipped, LessonSkipped) and "cannot train" in skipped.why


def test_jobs_alike_in_the_ui_are_told_apart_by_their_names(make_cfg, store, tmp_path):
    """Issue 22, item 5: re-runs, and jobs that differ in tracking.child_runs, had the same
    name five times in the UI's list of jobs."""
    import time

    from mlflow.tracking import MlflowClient

    from runner.job import run_job

    def run(*overrides):
        cfg = make_cfg("seed=1..3", f"tracking.uri={store}", "luck.plots=false", *overrides)
        run_job(cfg, tmp_path / str(len(list(tmp_path.iterdir()))), list(overrides),
                started=time.time())

    run()
    run()
    run("tracking.child_runs=none")
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("neuron-luck")
    names = sorted(r.info.run_name for r in client.search_runs(
        [exp.experiment_id], "tags.`neuron_luck.kind` = 'job'"))
    assert names == ["sigmoid · uniform · obesity · seeds 1..3",
                     "sigmoid · uniform · obesity · seeds 1..3 · repeat 2",
                     "sigmoid · uniform · obesity · tracking.child_runs=none · seeds 1..3 · "
                     "repeat 3"]
