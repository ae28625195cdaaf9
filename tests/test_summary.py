"""The luck report of one job: computed, written to the run folder, and on the parent run."""

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from neuron import luck
from runner.job import run_job
from runner.report import text


def _parent(store):
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("neuron-luck")
    runs = client.search_runs([exp.experiment_id], "tags.`neuron_luck.kind` = 'job'")
    assert len(runs) == 1
    return client, runs[0]


def test_parent_run_carries_the_report(make_cfg, store, tmp_path):
    cfg = make_cfg("seed=1..20", f"tracking.uri={store}", "dataset.standardize=true",
                   "luck.plots=false")
    out = run_job(cfg, tmp_path)
    client, parent = _parent(store)
    table = pd.read_parquet(tmp_path / "seeds.parquet")
    acc = table["accuracy"].to_numpy()
    m = parent.data.metrics
    assert m["accuracy_mean"] == pytest.approx(acc.mean())
    assert m["accuracy_std"] == pytest.approx(acc.std(ddof=1))
    assert m["accuracy_iqm"] == pytest.approx(luck.iqm(acc))
    assert m["accuracy_ci_low"] < acc.mean() < m["accuracy_ci_high"]
    assert {"log_loss_mean", "brier_median", "share_beating_baseline"} <= set(m)
    history = client.get_metric_history(parent.info.run_id, "per_seed/accuracy")
    assert "accuracy_by_seed" not in m  # issue 22, item 6: it read like a summary
    assert sorted((h.step, h.value) for h in history) == sorted(
        zip(table.seed.tolist(), acc.tolist(), strict=True))
    best = client.get_metric_history(parent.info.run_id, "expected_best_accuracy")
    assert len(best) == 20 and min(h.step for h in best) == 1
    note = parent.data.tags["mlflow.note.content"]
    assert "How much is luck?" in note and out.report.verdict in note
    assert "the lesson's person" in note
    on_disk = json.loads((tmp_path / "luck.json").read_text())
    assert on_disk["metrics"]["accuracy"]["mean"] == pytest.approx(acc.mean())
    arts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "luck.json" in arts


def test_report_is_reproducible_and_reads_well(make_cfg, tmp_path):
    texts = []
    for name in ("a", "b"):
        cfg = make_cfg("seed=1..40", "tracking=off", "luck.plots=false")
        texts.append(run_job(cfg, tmp_path / name).report)
    assert texts[0] == texts[1]
    s = texts[0]
    table = text.luck_table(s)
    assert "expected best accuracy of k seeds: k=1" in table
    assert s.expected_best.accuracy[0] == pytest.approx(s.metric("accuracy").mean)
    assert np.all(np.diff(s.expected_best.accuracy) >= -1e-12)


def test_lesson_row_sentence_counts_the_seeds(make_cfg, tmp_path):
    cfg = make_cfg("dataset=lesson", "seed=1..50", "tracking=off", "luck.plots=false")
    out = run_job(cfg, tmp_path)
    preds = pd.read_parquet(tmp_path / "predictions.parquet")
    k = int((preds.predicted == "Obese").sum())
    assert 0 < k < 50  # the lesson's point: with other weights the answer changes
    sentence = f"Of 50 seeds, {k} call the lesson's person (4 ft, 80 kg) Obese."
    assert out.report.highlight.sentence == sentence
    assert sentence in out.text


def test_single_seed_has_no_luck_report(make_cfg, tmp_path):
    out = run_job(make_cfg("seed=3", "tracking=off"), tmp_path)
    assert out.report is None and not (tmp_path / "luck.json").exists()


def test_constant_init_has_no_luck(make_cfg, tmp_path):
    out = run_job(make_cfg("init=constant", "seed=1..5", "tracking=off", "luck.plots=false"),
                  tmp_path)
    assert out.report.verdict.startswith("No luck involved")


def test_plots_are_written(make_cfg, tmp_path, store):
    cfg = make_cfg("seed=1..30", f"tracking.uri={store}", "luck.plots=true")
    out = run_job(cfg, tmp_path)
    names = sorted(p.name for p in out.plots)
    assert names == ["accuracy.png", "agreement.png", "best_of_k.png", "weights.png"]
    for p in out.plots:
        assert p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5000
    client, parent = _parent(store)
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert logged == {f"plots/{n}" for n in names}


def test_a_confidence_level_is_printed_with_all_its_digits(make_cfg, tmp_path):
    from runner.report import markdown

    cfg = make_cfg("seed=1..5", "tracking=off", "luck.plots=false", "luck.confidence=0.999")
    out = run_job(cfg, tmp_path)
    assert "   99.9% CI of the mean" in out.text and "100% CI" not in out.text
    assert "| 99.9% CI of the mean |" in markdown.description(out.report)


def test_parent_metrics_read_right_in_the_ui(make_cfg, store, tmp_path):
    """Issue 22, item 4: trained, every seed ends at accuracy 0.955, yet the parent had
    accuracy_std 1.12e-16 (the UI shows '1.12149461…'), accuracy_mean 0.9549999999999998, and
    before training a mean of 0.5 as 0.49999999999999994."""
    cfg = make_cfg("mode=train", "seed=1..50", "trainer.l2=0.01", f"tracking.uri={store}",
                   "luck.plots=false", "tracking.child_runs=none")
    run_job(cfg, tmp_path)
    client, parent = _parent(store)
    m = parent.data.metrics
    acc = pd.read_parquet(tmp_path / "seeds.parquet")["accuracy"]
    assert set(acc) == {0.955}  # every seed the same: exactly no spread
    assert m["accuracy_std"] == 0 and m["accuracy_std_after_training"] == 0
    for stat in ("mean", "median", "iqm", "q1", "q3", "ci_low", "ci_high"):
        assert m[f"accuracy_{stat}"] == 0.955, stat
    assert m["accuracy_mean_before_training"] == 0.5
    assert m["accuracy_range_before_training"] == 0.435
    assert m["share_beating_baseline"] == 1 and m["training_beats_random_share"] == 1
    # Full precision where it tells something: a log-loss to 14 significant digits.
    loss = pd.read_parquet(tmp_path / "seeds.parquet")["log_loss"].to_numpy()
    assert m["log_loss_mean"] == pytest.approx(loss.mean(), rel=1e-13)
    best = client.get_metric_history(parent.info.run_id, "expected_best_accuracy")
    assert {h.value for h in best} == {0.955}


def test_shares_have_no_float_noise():
    from runner.tracking.publish import readable_metrics

    assert readable_metrics({"variance_share_activation": 2.5e-31, "variance_share_seed": 1.0,
                             "training_std_removed": -1e-17, "n_seeds": 7}) == {
        "variance_share_activation": 0.0, "variance_share_seed": 1.0,
        "training_std_removed": 0.0, "n_seeds": 7}
