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
    history = client.get_metric_history(parent.info.run_id, "accuracy_by_seed")
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
    cfg = make_cfg("seed=1..30", f"tracking.uri={store}")
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
