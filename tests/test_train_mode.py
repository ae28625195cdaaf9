"""mode=train: each seed trained from its own weights, logged beside where it started."""

import numpy as np
import pandas as pd
import pytest
from hydra.errors import ConfigCompositionException
from mlflow.tracking import MlflowClient

from runner.errors import UserError
from runner.job import run_job


def test_seed_7_trains_to_the_same_weights_in_any_sweep(make_cfg, tmp_path):
    rows = {}
    for name, spec, chunk in [("one", "7", 10000), ("range", "1..30", 4), ("list", "[3,7]", 1)]:
        cfg = make_cfg("mode=train", f"seed={spec}", f"chunk_size={chunk}", "tracking=off",
                       "trainer.epochs=200", "luck.plots=false")
        run_job(cfg, tmp_path / name)
        rows[name] = pd.read_parquet(tmp_path / name / "seeds.parquet").set_index("seed").loc[7]
    assert rows["one"].equals(rows["range"]) and rows["one"].equals(rows["list"])


def test_training_removes_the_luck_and_is_logged(make_cfg, store, tmp_path):
    cfg = make_cfg("mode=train", "seed=1..12", f"tracking.uri={store}", "trainer.l2=0.01",
                   "trainer.epochs=3000", "trainer.lr=1.0", "luck.plots=true")
    out = run_job(cfg, tmp_path)
    t = out.report.training
    assert t.before.std > 0.1  # random weights: a coin toss between two modes
    assert t.after.std < 1e-9  # with an L2 penalty the optimum is unique
    assert t.std_removed == pytest.approx(1.0)
    assert "Training removed all of the seed's influence" in out.text
    # The first table's numbers are after training: it says so.
    assert out.text.startswith("Luck across 12 seeds (1..12), after training (before and "
                               "after: the table below)\n")
    assert {"before_after.png", "boundaries.png"} <= {p.name for p in out.plots}
    assert "\n  seeds trained    12 (1..12) in " in out.text and "seeds evaluated" not in out.text

    client = MlflowClient(store)
    exp = client.get_experiment_by_name("neuron-luck")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("neuron_luck.kind") == "job")
    assert parent.data.params["mode"] == "train" and parent.data.params["trainer.l2"] == "0.01"
    assert parent.data.metrics["training_std_removed"] == pytest.approx(1.0)
    child = next(r for r in runs if r.data.params.get("seed") == "5")
    assert child.info.run_name == "sigmoid trained · seed 5"
    before = out.result.training.before
    i = list(out.result.seeds).index(5)
    assert child.data.params["w0.height_ft"] == f"{before.W[i, 0]:.6g}"
    assert child.data.params["bias0"] == f"{before.b[i]:.6g}"
    assert child.data.params["w.height_ft"] == f"{out.result.evaluation.W[i, 0]:.6g}"
    assert child.data.metrics["accuracy_before"] == before.metrics.accuracy[i]
    curve = client.get_metric_history(child.info.run_id, "train_loss")
    steps = sorted(m.step for m in curve)
    assert steps[0] == 0 and steps[-1] == 3000 and 100 < len(steps) <= 202
    values = [m.value for m in sorted(curve, key=lambda m: m.step)]
    assert values[-1] < values[0]


@pytest.mark.parametrize("activation", ["relu", "step", "linear"])
def test_untrainable_activations_refused(make_cfg, tmp_path, activation):
    cfg = make_cfg("mode=train", f"activation={activation}", "tracking=off")
    with pytest.raises(UserError, match="only sigmoid, tanh are trainable") as e:
        run_job(cfg, tmp_path)
    # The single neuron cannot; a network can (every activation but step).
    hint = "; in a network it trains: add model.hidden=[4]"
    assert str(e.value).endswith(hint) == (activation != "step")


def test_tanh_trains(make_cfg, tmp_path):
    cfg = make_cfg("mode=train", "activation=tanh", "seed=1..5", "tracking=off",
                   "luck.plots=false")
    out = run_job(cfg, tmp_path)
    assert np.all(out.result.evaluation.metrics.accuracy > 0.9)


def test_bad_mode_and_trainer(make_cfg, tmp_path):
    # A closed choice: refused at composition, with the options.
    with pytest.raises(ConfigCompositionException) as e:
        make_cfg("mode=fit", "tracking=off")
    assert "expected one of [evaluate, train]" in str(e.value.__cause__)
    with pytest.raises(UserError, match="trainer.lr=0.0: must be a positive finite number"):
        run_job(make_cfg("mode=train", "trainer.lr=0", "tracking=off"), tmp_path)


def test_lesson_gains_the_trained_line(make_cfg, tmp_path):
    out = run_job(make_cfg("+experiment=lesson", "tracking=off"), tmp_path)
    assert "Trained from the lesson's start on obesity (400 rows" in out.text
    assert "w = (0.2, 1e-05), b = 1  →  w = (" in out.text
    assert "under them the lesson's person gets ŷ = " in out.text
    # One fixed weight vector: no seed count, no speed.
    assert "  evaluated        the explicit weights (no seed involved)\n" in out.text
    assert "seeds/s" not in out.text and "seeds evaluated" not in out.text
    # No line of the worked example's table ends in padding.
    assert not [line for line in out.text.splitlines() if line != line.rstrip()]


@pytest.mark.parametrize("overrides, standardize", [
    (["trainer.lr=1e308"], True), (["trainer.lr=5", "trainer.standardize=false"], False)])
def test_all_seeds_diverged_shows_no_figures_after_training(make_cfg, tmp_path, overrides,
                                                            standardize):
    cfg = make_cfg("mode=train", "seed=1..5", "tracking=off", "luck.plots=false", *overrides)
    out = run_job(cfg, tmp_path)
    assert out.report.training.diverged == 5
    training = out.text.split("\n\nTraining (")[1].split("\n\n")[0]
    # Diverged seeds are left out of the training figures: with all diverged, none is left.
    assert "\n  before " in training and "\n  after " not in training
    assert "final training loss" not in training and "All 5 seeds diverged" in training
    # Standardizing is advised only when it is not already on.
    assert ("trainer.standardize=true" in training) is not standardize
    # The luck table's verdict does not call diverged seeds' equal accuracy "no luck".
    assert "No luck involved" not in out.text
    assert "all 5 seeds diverged in training" in out.report.verdict


@pytest.mark.parametrize("hidden", [[], [2]], ids=["neuron", "network"])
def test_one_class_data_has_no_stuck_seeds(make_cfg, tmp_path, hidden):
    # The lesson's one row: always guessing its class is already perfect (1.0000), so a
    # seed at 1.0000 after training is not "stuck", nor can any seed beat that guess.
    cfg = make_cfg("mode=train", "dataset=lesson", "seed=1..5", f"model.hidden={hidden}",
                   "tracking=off", "luck.plots=false")
    out = run_job(cfg, tmp_path)
    t = out.report.training
    assert out.report.baseline_accuracy == 1.0 and t.stuck == 0
    assert "stuck:" not in t.sentence and "got stuck" not in out.text
    assert "The constant guess is already perfect (lesson holds one class)" in t.sentence
    if hidden:
        assert not out.result.evaluation.metrics.stuck.any()
