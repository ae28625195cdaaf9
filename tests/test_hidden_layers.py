"""model.hidden: networks through the whole job (plan, evaluate, train, report, MLflow), in
process with a real SQLite store read back through MlflowClient."""

import io

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from neuron import activations, initializers, luck, network
from runner import evaluate, limits
from runner.errors import UserError
from runner.job import run_job
from runner.plan import make_plan


def test_random_networks_are_each_seeds_own_draw(make_cfg, tmp_path):
    out = run_job(make_cfg("model.hidden=[3]", "activation=tanh", "seed=[4,9]",
                           "tracking=off", "luck.plots=false"), tmp_path)
    plan, ev = out.result.plan, out.result.evaluation
    assert ev.W is None and len(ev.layers) == 2
    for row, seed in enumerate([4, 9]):
        rng = np.random.default_rng(seed)  # the documented draw order
        W1, b1 = rng.uniform(-1, 1, (3, 2)).T, rng.uniform(-1, 1, 3)
        W2, b2 = rng.uniform(-1, 1, (1, 3)).T, rng.uniform(-1, 1, 1)
        np.testing.assert_array_equal(ev.layers[0].W[row], W1)
        np.testing.assert_array_equal(ev.layers[1].b[row], b2)
        z = np.tanh(plan.dataset.X @ W1 + b1) @ W2 + b2
        np.testing.assert_allclose(ev.z[row], z[:, 0], rtol=1e-12, atol=1e-12)
        acc = ((z[:, 0] >= 0) == plan.dataset.y.astype(bool)).mean()
        assert ev.metrics.accuracy[row] == acc
    saved = np.load(tmp_path / "weights.npz")
    assert saved["seeds"].tolist() == [4, 9]
    np.testing.assert_array_equal(saved["W1"], ev.layers[0].W)
    table = pd.read_parquet(tmp_path / "seeds.parquet")
    assert "dead_units" in table and not any(c.startswith("w.") for c in table)
    assert out.report.network.n_params == 3 * 2 + 3 + 3 + 1


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_seed_trains_to_the_same_network_in_any_job_and_chunk(make_cfg, tmp_path,
                                                                  activation):
    rows = {}
    for name, spec, chunk in [("one", "7", 10000), ("range", "1..12", 5), ("list", "[3,7]", 1)]:
        cfg = make_cfg("model.hidden=[4]", f"activation={activation}", "mode=train",
                       f"seed={spec}", f"chunk_size={chunk}", "tracking=off",
                       "trainer.epochs=60", "luck.plots=false", "dataset.standardize=true")
        out = run_job(cfg, tmp_path / name)
        i = out.result.seeds.tolist().index(7)
        rows[name] = [layer.W[i] for layer in out.result.evaluation.layers] + [
            out.result.training.losses[:, i]]
    for name in ("range", "list"):
        for a, b in zip(rows["one"], rows[name], strict=True):
            np.testing.assert_array_equal(a, b)


def test_one_relu_unit_gets_stuck_where_tanh_does_not(make_cfg, tmp_path):
    # The experiment: with one hidden unit some ReLU seeds never leave the constant
    # guess; tanh seeds all learn.
    common = ("model.hidden=[1]", "mode=train", "seed=1..30", "tracking=off",
              "luck.plots=false", "dataset.standardize=true")
    relu = run_job(make_cfg("activation=relu", *common), tmp_path / "relu")
    tanh = run_job(make_cfg("activation=tanh", *common), tmp_path / "tanh")
    baseline = luck.majority_baseline(relu.result.plan.dataset.y)
    for out in (relu, tanh):
        acc = out.result.evaluation.metrics.accuracy
        stuck = out.result.evaluation.metrics.stuck
        np.testing.assert_array_equal(stuck, (acc <= baseline).astype(float))
        assert out.report.training.stuck == int(stuck.sum())
    assert relu.report.training.stuck > 0 and tanh.report.training.stuck == 0
    assert f"{relu.report.training.stuck} of 30 seeds got stuck" in relu.text
    # A stuck ReLU seed is a dead one: its unit outputs 0 on every row.
    stuck = relu.result.evaluation.metrics.stuck == 1
    assert (relu.result.evaluation.metrics.dead_units[stuck] == 1).all()
    assert "Dead units: at the start" in relu.text
    # The closing summary names the network, not just the activation.
    assert "\nneuron-luck · relu · hidden [1], sigmoid output · obesity (400 rows" in relu.text


@pytest.mark.parametrize("hidden, l2", [([], 0.0), ([], 0.01), ([3], 0.0)],
                         ids=["neuron", "neuron, overflow", "network"])
def test_diverging_training_is_counted_not_reported_as_learning(make_cfg, tmp_path, hidden,
                                                                l2):
    # l2 = 0.01 with lr = 1e6 multiplies the weights by ~1e4 each step: inf, then NaN.
    cfg = make_cfg(f"model.hidden={hidden}", "activation=tanh", "mode=train", "seed=1..6",
                   "trainer.lr=1e6", "trainer.standardize=false", "trainer.epochs=200",
                   f"trainer.l2={l2}", "tracking=off", "luck.plots=false")
    out = run_job(cfg, tmp_path)
    t = out.report.training
    diverged = out.result.training.diverged
    assert t.diverged == int(diverged.sum()) > 0
    if t.diverged == 6:
        assert "All 6 seeds diverged" in out.text and "Training failed" in out.text
        assert "Training removed" not in out.text and t.std_removed is None
    else:
        assert f"{t.diverged} of 6 seeds diverged" in out.text
    for m in out.report.metrics:  # statistics only over finite values
        assert np.isfinite([m.stats.mean, m.stats.ci_low, m.stats.ci_high]).all()


def test_network_child_runs_in_mlflow(make_cfg, store, tmp_path):
    cfg = make_cfg("model.hidden=[3]", "activation=relu", "mode=train", "seed=1..3",
                   f"tracking.uri={store}", "trainer.epochs=40", "luck.plots=false")
    out = run_job(cfg, tmp_path)
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("neuron-luck")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.params["hidden"] == "[3]" and parent.data.params["n_params"] == "13"
    assert parent.info.run_name.startswith("relu · hidden [3] · uniform · obesity · trained")
    children = {int(r.data.params["seed"]): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert sorted(children) == [1, 2, 3]
    saved = np.load(tmp_path / "weights.npz")
    for seed, child in children.items():
        assert not any(k.startswith("w.") for k in child.data.params)
        assert {"dead_units", "dead_units_before", "stuck", "diverged"} <= set(child.data.metrics)
        data = client.download_artifacts(child.info.run_id, "weights.npz", str(tmp_path / "d"))
        arrays = np.load(io.BytesIO(open(data, "rb").read()))
        i = seed - 1
        for k in ("W1", "b1", "W2", "b2", "W1_start", "b2_start"):
            np.testing.assert_array_equal(arrays[k], saved[k][i])
        curve = client.get_metric_history(child.info.run_id, "train_loss")
        assert max(m.step for m in curve) == 40
    assert out.report.network.dead_before is not None


@pytest.mark.parametrize("overrides, message", [
    (["model.hidden=[0]"], "model.hidden=[0]: a layer needs at least 1 unit, got 0"),
    (["model.hidden=[8,-2]"], "model.hidden=[8,-2]: a layer needs at least 1 unit, got -2"),
    (["model.hidden=[1000,1000]"],
     "model.hidden=[1000,1000]: 1,005,001 weights and biases per seed (2·1000 + 1000 + "
     "1000·1000 + 1000 + 1000·1 + 1), more than 100,000"),
    (["model.hidden=[4]", "mode=train", "activation=step"],
     "mode=train activation=step: step has derivative 0 wherever it has one"),
    (["model.hidden=[4]", "weights=[1,2]"],
     "weights=[1.0,2.0]: explicit weights are the single neuron's"),
])
def test_bad_networks_are_refused_before_anything_runs(make_cfg, tmp_path, overrides, message):
    with pytest.raises(UserError) as e:
        run_job(make_cfg(*overrides, "tracking=off"), tmp_path / "run")
    assert str(e.value).startswith(message)
    assert not (tmp_path / "run").exists()


def test_chunks_shrink_to_the_memory_budget_and_change_nothing(make_cfg, monkeypatch):
    whole = evaluate.run(make_plan(make_cfg("model.hidden=[5]", "seed=1..9", "tracking=off")))
    per_seed = 400 * (80 + 16 * 5)
    monkeypatch.setattr(limits, "MEMORY_BUDGET", 2 * per_seed)
    plan = make_plan(make_cfg("model.hidden=[5]", "seed=1..9", "tracking=off"))
    assert plan.chunk_size == 2
    small = evaluate.run(plan)
    np.testing.assert_array_equal(small.evaluation.z, whole.evaluation.z)
    np.testing.assert_array_equal(small.evaluation.metrics.dead_units,
                                  whole.evaluation.metrics.dead_units)
    monkeypatch.setattr(limits, "MEMORY_BUDGET", per_seed - 1)
    with pytest.raises(UserError, match=r"400 rows take 0.0 GiB of working memory per seed, "
                                        r"more than the 0 GiB budget; use fewer rows or narrower"):
        make_plan(make_cfg("model.hidden=[5]", "seed=1..9", "tracking=off"))


def test_the_fast_trainer_is_what_the_plain_steps_give(make_cfg):
    # The job trains through neuron.network.train (chunks, maybe side by side): compare with
    # plain steps of grad() from the same standardized start.
    plan = make_plan(make_cfg("model.hidden=[3]", "activation=tanh", "mode=train",
                              "seed=1..4", "trainer.epochs=25", "tracking=off"))
    before = evaluate.evaluate(plan)
    layers, _, _ = evaluate.descend(plan, plan.dataset.X, plan.dataset.y, before.layers)
    from neuron import scaling

    Xs, mean, std = scaling.standardize(plan.dataset.X)
    W1, b1 = scaling.standardize_weights(np.swapaxes(before.layers[0].W, 1, 2),
                                         before.layers[0].b, mean, std)
    plain = [network.Layer(np.swapaxes(W1, 1, 2).copy(), b1.copy()),
             network.Layer(before.layers[1].W.copy(), before.layers[1].b.copy())]
    f = activations.get("tanh")
    for _ in range(25):
        for la, g in zip(plain, network.grad(Xs, plan.dataset.y, plain, f), strict=True):
            W, b = la.W, la.b
            W -= 0.5 * g.W
            b -= 0.5 * g.b
    W1, b1 = scaling.unstandardize(np.swapaxes(plain[0].W, 1, 2), plain[0].b, mean, std)
    np.testing.assert_allclose(layers[0].W, np.swapaxes(W1, 1, 2), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layers[1].W, plain[1].W, rtol=1e-9, atol=1e-12)


def test_init_draws_per_layer_with_fans(make_cfg):
    plan = make_plan(make_cfg("model.hidden=[6]", "init=he_normal", "seed=1..3",
                              "tracking=off"))
    ev = evaluate.evaluate(plan)
    ref = initializers.draw_layers([1, 2, 3], [(2, 6), (6, 1)], *plan.init)
    for layer, (W, b) in zip(ev.layers, ref, strict=True):
        np.testing.assert_array_equal(layer.W, W)
        np.testing.assert_array_equal(layer.b, b)
