"""Plan → results, in-process: the typed results of runner.evaluate, against the math."""

import dataclasses

import numpy as np
import pytest

from neuron import initializers, metrics
from neuron.network import forward, neuron
from runner import evaluate, limits
from runner.plan import make_plan
from runner.results import JobResult


def plan_of(make_cfg, *overrides):
    return make_plan(make_cfg("tracking=off", *overrides), seed_given=True)


def test_every_seed_is_its_own_draw_evaluated(make_cfg):
    plan = plan_of(make_cfg, "seed=[4,2,9]", "activation=tanh")
    result = evaluate.run(plan)
    ev, ds = result.evaluation, plan.dataset
    W, b = initializers.draw([4, 2, 9], 2, *plan.init)
    np.testing.assert_array_equal(ev.W, W)
    np.testing.assert_array_equal(ev.b, b)
    z, y_hat = forward(ds.X, neuron(W, b), plan.activation)[2:]
    np.testing.assert_array_equal(ev.z, z)
    np.testing.assert_array_equal(ev.y_hat, y_hat)
    pred = z >= 0
    np.testing.assert_array_equal(result.pred, pred)
    expected = metrics.per_seed(y_hat, pred, ds.y, probability=False)
    assert dict(ev.metrics.items()).keys() == dict(expected.items()).keys()
    for k, v in expected.items():
        np.testing.assert_array_equal(ev.metrics.get(k), v)
    np.testing.assert_array_equal(ev.n_positive, pred.sum(axis=0))
    np.testing.assert_array_equal(ev.n_correct, (pred == ds.y.astype(bool)).sum(axis=0))
    assert result.training is None and result.seconds > 0


@pytest.mark.parametrize("mode", ["evaluate", "train"])
def test_results_do_not_depend_on_the_chunk_size(make_cfg, mode):
    common = (f"mode={mode}", "seed=1..23", "trainer.epochs=30")
    one = evaluate.run(plan_of(make_cfg, *common, "chunk_size=10000"))
    for chunk in (1, 4, 7):
        other = evaluate.run(plan_of(make_cfg, *common, f"chunk_size={chunk}"))
        for field in ("W", "b", "z", "y_hat", "n_positive", "n_correct"):
            np.testing.assert_array_equal(getattr(one.evaluation, field),
                                          getattr(other.evaluation, field))
        for k, v in one.evaluation.metrics.items():
            np.testing.assert_array_equal(v, other.evaluation.metrics.get(k))
        if mode == "train":
            np.testing.assert_array_equal(one.training.losses, other.training.losses)


def test_training_starts_from_the_draw_and_lowers_the_loss(make_cfg):
    result = evaluate.run(plan_of(make_cfg, "mode=train", "seed=1..5", "trainer.epochs=200"))
    t = result.training
    W, b = initializers.draw(np.arange(1, 6), 2, *result.plan.init)
    np.testing.assert_array_equal(t.before.W, W)
    assert t.losses.shape == (t.loss_epochs.size, 5) and t.loss_epochs[-1] == 200
    assert (t.losses[-1] < t.losses[0]).all()
    assert not np.array_equal(result.evaluation.W, W)


def test_outputs_are_kept_only_while_small(make_cfg, monkeypatch):
    monkeypatch.setattr(limits, "MAX_PREDICTION_CELLS", 400 * 3 - 1)
    result = evaluate.run(plan_of(make_cfg, "seed=1..3"))
    assert result.evaluation.z is None and result.pred is None
    assert result.evaluation.metrics.accuracy.shape == (3,)


def test_results_are_frozen_and_outputs_can_be_dropped(make_cfg):
    result = evaluate.run(plan_of(make_cfg, "seed=1..3"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.seconds = 0.0
    lean = result.without_outputs()
    assert isinstance(lean, JobResult) and lean.evaluation.z is None
    assert lean.evaluation.layers is result.evaluation.layers and lean.plan is result.plan


def test_explicit_weights_and_the_lesson(make_cfg):
    plan = make_plan(make_cfg("+experiment=lesson", "tracking=off"))
    result = evaluate.run(plan)
    assert result.n_seeds == 1 and result.seeds.tolist() == [-1]
    assert result.evaluation.z[0, 0] == pytest.approx(0.2 * 4 + 0.00001 * 80 + 1, abs=1e-15)
    lesson = evaluate.train_lesson(plan)
    assert lesson.w0 == (0.2, 0.00001) and lesson.b0 == 1.0
    assert lesson.accuracy > 0.95 and lesson.positive


@pytest.mark.parametrize("extra", [(), ("split=holdout", "split.seed=[1,2]")],
                         ids=["no split", "split groups"])
def test_results_do_not_depend_on_threads_or_draw_blocks(make_cfg, monkeypatch, extra):
    """Chunks evaluate side by side on threads (runner.speedups.imap_threads), with weights
    drawn many chunks at a time (evaluate.DRAW_SEEDS): the same numbers as one chunk at a
    time, each drawing its own, without the speed-ups."""
    common = ("seed=1..23", "model.hidden=[3]", *extra)
    monkeypatch.setenv("NEURON_LUCK_SPEEDUPS", "0")
    plain = evaluate.run(plan_of(make_cfg, *common, "chunk_size=1"))
    monkeypatch.setenv("NEURON_LUCK_SPEEDUPS", "1")
    for draw_seeds, chunk in ((5, 3), (2, 7), (10_000, 4)):
        monkeypatch.setattr(evaluate, "DRAW_SEEDS", draw_seeds)
        fast = evaluate.run(plan_of(make_cfg, *common, f"chunk_size={chunk}"))
        for field in ("z", "y_hat", "n_positive", "n_correct", "n_measured"):
            np.testing.assert_array_equal(getattr(plain.evaluation, field),
                                          getattr(fast.evaluation, field))
        for a, b in zip(plain.evaluation.layers, fast.evaluation.layers, strict=True):
            np.testing.assert_array_equal(a.W, b.W)
            np.testing.assert_array_equal(a.b, b.b)
        for k, v in plain.evaluation.metrics.items():
            np.testing.assert_array_equal(v, fast.evaluation.metrics.get(k))


def test_weights_drawn_ahead_stay_within_their_budget(make_cfg, monkeypatch):
    """Drawing 65,536 seeds ahead of their chunks would have held 16 GB of a [1000]-unit
    network's weights; a block holds at most DRAW_PARAMS parameters, or one chunk."""
    drawn = []
    draw = initializers.draw_layers

    def counted(seeds, *args, **kwargs):
        drawn.append(len(seeds))
        return draw(seeds, *args, **kwargs)

    monkeypatch.setattr(initializers, "draw_layers", counted)
    monkeypatch.setattr(evaluate, "DRAW_PARAMS", 1000)
    plan = plan_of(make_cfg, "seed=1..40", "model.hidden=[20]", "chunk_size=3")
    ev = evaluate.evaluate(plan)
    assert plan.n_params == 81 and sum(drawn) == 40
    assert max(drawn) == 1000 // 81  # 12 seeds a block: four chunks of three
    monkeypatch.setattr(evaluate, "DRAW_PARAMS", 10)  # less than one chunk: the chunk alone
    drawn.clear()
    again = evaluate.evaluate(plan)
    assert drawn == [3] * 13 + [1]
    np.testing.assert_array_equal(ev.metrics.accuracy, again.metrics.accuracy)
