"""Held-out rows and the grid of runs (issue 20): stratified splits from the split seed's own
stream, a run's numbers independent of the runs beside it, and bad settings refused."""

import numpy as np
import pytest

from neuron import network, splits
from runner import evaluate, limits
from runner.errors import UserError
from runner.plan import make_plan


def y_of(n_neg, n_pos):
    return np.r_[np.zeros(n_neg, int), np.ones(n_pos, int)]


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("seed", [0, 7, 2**40])
def test_holdout_is_stratified_within_a_row(fraction, seed):
    y = y_of(287, 113)
    train, test = splits.holdout(y, fraction, seed)
    assert np.array_equal(np.sort(np.r_[train, test]), np.arange(400))
    for c, n_c in ((0, 287), (1, 113)):
        assert abs((y[test] == c).sum() - fraction * n_c) <= 1


def test_the_split_stream_is_numpys_with_its_spawn_key():
    # Checked from outside: seed s's test rows are the first round(f·n_c) rows of each class
    # (negatives first) in the permutations of default_rng(SeedSequence(s, spawn_key=(2,))).
    y = y_of(30, 11)
    rng = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(2,)))
    neg, pos = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    expected = np.sort(np.r_[neg[rng.permutation(30)][:8], pos[rng.permutation(11)][:3]])
    assert np.array_equal(splits.holdout(y, 0.25, 5)[1], expected)
    # No source's stream is another's: order, split and init differ for the same seed.
    draws = [splits.stream(splits.ORDER, 5).random(), splits.stream(splits.SPLIT, 5).random(),
             np.random.default_rng(5).random()]
    assert len(set(draws)) == 3


@pytest.mark.parametrize("folds", [2, 3, 5, 11])
def test_kfold_partitions_the_rows_and_keeps_the_class_shares(folds):
    y = y_of(30, 11)
    parts = splits.kfold(y, folds, 3)
    tests = np.concatenate([te for _, te in parts])
    assert np.array_equal(np.sort(tests), np.arange(41))  # each row in exactly one fold
    for train, test in parts:
        assert np.intersect1d(train, test).size == 0 and train.size + test.size == 41
        for c, n_c in ((0, 30), (1, 11)):
            assert abs((y[test] == c).sum() - n_c / folds) < 1
    sizes = [te.size for _, te in parts]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("classes", [(287, 113), (30, 11), (7, 5)])
def test_many_seeds_dealt_at_once_are_each_seeds_own_rows(classes):
    # holdout_many and kfold_many (numba's shuffle on every split stream at once) deal the
    # rows holdout and kfold deal seed by seed, for the edge seeds and many others.
    rng = np.random.default_rng(8)
    y = y_of(*classes)[rng.permutation(sum(classes))]
    seeds = np.r_[0, 1, 2**32 - 1, 2**32, 2**63 - 1, rng.integers(0, 2**62, 300)]
    for fraction in (0.25, 0.5):
        train, test = splits.holdout_many(y, fraction, seeds)
        for i, seed in enumerate(seeds.tolist()):
            want = splits.holdout(y, fraction, seed)
            assert np.array_equal(train[i], want[0]) and np.array_equal(test[i], want[1])
    many = splits.kfold_many(y, 3, seeds)
    for i, seed in enumerate(seeds.tolist()):
        for (tr, te), (trs, tes) in zip(splits.kfold(y, 3, seed), many, strict=True):
            assert np.array_equal(tr, trs[i]) and np.array_equal(te, tes[i])
    assert not np.array_equal(test[0], test[1])


@pytest.mark.parametrize("split", [("split=holdout", "split.seed=1..40"),
                                   ("split=kfold", "split.folds=3", "split.seed=1..15")])
def test_a_job_of_many_split_seeds_plans_the_same_groups(make_cfg, monkeypatch, split):
    # From limits.SPLITS_AT_ONCE split seeds on, the plan deals every seed's rows at once.
    one_by_one = make_plan(make_cfg("tracking=off", "seed=1..2", *split)).runs.groups
    monkeypatch.setattr(limits, "SPLITS_AT_ONCE", 2)
    at_once = make_plan(make_cfg("tracking=off", "seed=1..2", *split)).runs.groups
    assert [(g.split_seed, g.fold) for g in at_once] == [(g.split_seed, g.fold)
                                                          for g in one_by_one]
    for a, b in zip(at_once, one_by_one, strict=True):
        assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    # and refuses a test set too small for a class the same way
    for small, what in ((("split=holdout", "split.test_fraction=0.01"),
                         "split.test_fraction=0.01"),
                        (("split=kfold", "split.folds=100"), "split.folds=100")):
        with pytest.raises(UserError, match=what + r": a test set with 1 row\(s\) of a class"):
            make_plan(make_cfg("tracking=off", *small, "split.seed=1..3"))


def test_the_same_split_seed_gives_the_same_rows_in_any_job(make_cfg):
    a = make_plan(make_cfg("tracking=off", "split=holdout", "split.seed=[3,8]", "seed=1..4"))
    b = make_plan(make_cfg("tracking=off", "split=holdout", "split.seed=8", "seed=9"))
    (g8,) = b.runs.groups
    assert np.array_equal(a.runs.groups[1].test, g8.test) and g8.split_seed == 8


def test_the_grid_holds_every_combination(make_cfg):
    plan = make_plan(make_cfg("tracking=off", "split=kfold", "split.folds=3",
                              "split.seed=[4,5]", "seed=1..2"))
    r = plan.runs
    assert r.n == 2 * 3 * 2
    combos = {(int(s), int(p), int(f)) for s, p, f in zip(r.seed, r.split, r.fold,
                                                            strict=True)}
    assert combos == {(s, p, f) for s in (1, 2) for p in (4, 5) for f in range(3)}
    assert set(r.sources()) == {"init", "split"}
    assert r.describe("1..2") == "seeds 1..2 × split seeds 4..5 × 3 folds"


def test_a_runs_metrics_do_not_depend_on_the_grid_or_the_chunk(make_cfg):
    common = ("tracking=off", "split=holdout", "model.hidden=[3]", "activation=tanh",
              "mode=train", "trainer.epochs=20")
    grid = evaluate.run(make_plan(make_cfg(*common, "seed=1..4", "split.seed=[2,6]",
                                           "chunk_size=3")))
    alone = evaluate.run(make_plan(make_cfg(*common, "seed=3", "split.seed=6")))
    i = int(np.flatnonzero((grid.plan.runs.seed == 3) & (grid.plan.runs.split == 6))[0])
    for k, v in alone.evaluation.columns().items():
        assert v[0] == grid.evaluation.columns()[k][i], k
    assert np.array_equal(alone.training.losses[:, 0], grid.training.losses[:, i])


def test_metrics_are_the_test_rows_and_the_training_rows(make_cfg):
    plan = make_plan(make_cfg("tracking=off", "split=holdout", "split.seed=1", "seed=1..3"))
    ev = evaluate.run(plan).evaluation
    (g,) = plan.runs.groups
    pred = ev.z >= 0
    y = plan.dataset.y.astype(bool)
    np.testing.assert_array_equal(ev.metrics.accuracy, (pred[:, g.test] == y[g.test]).mean(1))
    np.testing.assert_array_equal(ev.train.accuracy, (pred[:, g.train] == y[g.train]).mean(1))
    cols = ev.columns()
    assert "test_accuracy" in cols and "train_accuracy" in cols and "accuracy" not in cols
    np.testing.assert_array_equal(cols["train_test_gap"], ev.train.accuracy - ev.metrics.accuracy)
    # Per row, only the runs that held it out count it.
    assert (ev.n_measured[g.test] == 3).all() and (ev.n_measured[g.train] == 0).all()


def test_standardisation_comes_from_the_training_rows_only(make_cfg):
    plan = make_plan(make_cfg("tracking=off", "split=holdout", "split.seed=2",
                              "dataset.standardize=true"))
    (g,) = plan.runs.groups
    X = evaluate.group_X(plan, g)
    np.testing.assert_allclose(X[g.train].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X[g.train].std(axis=0), 1, rtol=1e-12)
    assert np.abs(X[g.test].mean(axis=0)).max() > 1e-6  # the test rows did not inform it


@pytest.mark.parametrize("overrides, message", [
    (["split=holdout", "split.test_fraction=0"], "split.test_fraction=0.0: must be between 0 "
     "and 1"),
    (["split=holdout", "split.test_fraction=1.5"], "split.test_fraction=1.5: must be between"),
    (["split=kfold", "split.folds=1"], "split.folds=1: must be from 2 to 113"),
    (["split=kfold", "split.folds=114"], "split.folds=114: must be from 2 to 113"),
    (["split=holdout", "split.test_fraction=0.005"], "split.test_fraction=0.005: a test set "
     "with 1 row(s) of a class"),
    (["mode=train", "trainer=sgd", "trainer.batch_size=0"], "trainer.batch_size=0: must be "
     "from 1 to 400"),
    (["mode=train", "trainer=sgd", "trainer.batch_size=401"], "trainer.batch_size=401: must be"),
    (["mode=train", "trainer=sgd", "split=holdout", "trainer.batch_size=350"],
     "trainer.batch_size=350: more than the 300 training rows"),
    (["order_seed=1..5"], "order_seed=1..5: plays no part, mode=evaluate trains nothing"),
    (["mode=train", "order_seed=3"], "order_seed=3: plays no part, trainer.batch_size is null"),
    (["split.seed=4"], "split.seed=4: no split is set"),
    (["mode=train", "trainer=adam", "trainer.beta1=1"], "trainer.beta1=1.0: must be from 0 to 1"),
    (["mode=train", "trainer=adam", "trainer.beta2=-0.1"], "trainer.beta2=-0.1: must be from 0"),
    (["mode=train", "trainer=adam", "trainer.epsilon=0"], "trainer.epsilon=0.0: must be a "
     "positive number"),
    (["mode=train", "trainer=sgd", "trainer.momentum=1.5"], "trainer.momentum=1.5: must be from"),
    (["order_seed=[1,x]", "mode=train", "trainer=sgd"], "order_seed=[1,x]: 'x' is not a whole "
     "number"),
    (["luck.sources=together", "split=holdout", "split.seed=1..3"],
     "luck.sources=together: run i takes seed i for every source, so split.seed is not given"),
])
def test_bad_split_and_trainer_settings_are_refused_before_anything_runs(make_cfg, overrides,
                                                                         message):
    with pytest.raises(UserError) as e:
        make_plan(make_cfg("tracking=off", *overrides))
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_together_drives_every_source_with_one_index(make_cfg):
    plan = make_plan(make_cfg("tracking=off", "split=holdout", "luck.sources=together",
                              "seed=4..6", "mode=train", "trainer=sgd", "model.hidden=[2]"))
    r = plan.runs
    assert r.seed.tolist() == r.order.tolist() == r.split.tolist() == [4, 5, 6]


@pytest.mark.parametrize("runs", [("luck.sources=together", "seed=1..30", "split=holdout"),
                                  ("seed=1", "split=kfold", "split.seed=1..6")],
                         ids=["together", "kfold-one-seed"])
def test_a_test_set_measured_by_one_run_gives_no_test_set_share(make_cfg, runs):
    # Each run on test rows of its own: Σp(1−p)/n² of one run is 0 whatever its rows, and
    # the report once said "A finite test set alone accounts for 0%". It says why it cannot.
    from runner.report import luck as report

    src = report.build(evaluate.run(make_plan(make_cfg("tracking=off", *runs)))).sources
    assert src.test_set is None
    assert "test rows of its own" in src.sentence and "accounts for" not in src.sentence


def test_the_report_says_where_the_luck_comes_from_and_mlflow_holds_it(make_cfg, tmp_path,
                                                                        store):
    import json

    from mlflow.tracking import MlflowClient

    from neuron import sources
    from runner.job import run_job

    out = run_job(make_cfg("split=holdout", "split.seed=1..3", "seed=1..6",
                           "luck.n_resamples=200", f"tracking.uri={store}", "luck.plots=true"),
                  tmp_path)
    r, src = out.result, out.report.sources
    acc = r.evaluation.metrics.accuracy
    comp = sources.variance_components(acc, {"init": r.plan.runs.seed,
                                             "split": r.plan.runs.group})
    assert {s.term: s.share for s in src.accuracy} == {
        t: comp.share[t] for t in (*comp.terms, sources.RESIDUAL) if t in comp.share}
    for s in src.accuracy:
        assert s.low <= s.share <= s.high or s.share == 0
    # The finite test set: Σ p(1−p)/n² of each split's runs, pooled by runs.
    y = r.plan.dataset.y.astype(bool)
    noise = 0.0
    for g, grp in enumerate(r.plan.runs.groups):
        right = (r.pred[r.plan.runs.group == g][:, grp.test] == y[grp.test])
        p = right.mean(axis=0)
        noise += (p * (1 - p)).sum() / grp.test.size ** 2 * right.shape[0] / r.n_seeds
    assert src.test_set.noise == pytest.approx(noise, rel=1e-12)
    assert src.test_set.observed == pytest.approx(acc.var(ddof=1), rel=1e-12)
    assert "Where the luck comes from (seeds 1..6 × split seeds 1..3)" in out.text
    assert "measured on the held-out test rows (25% of each class)" in out.text
    saved = json.loads((tmp_path / "luck.json").read_text())
    assert saved["sources"]["test_set"]["share"] == src.test_set.share
    parent = MlflowClient(store).get_run(out.parent_run_id)
    m = parent.data.metrics
    # As logged: 14 decimals for shares (runner.tracking.publish.readable_metrics).
    assert m["variance_share_init"] == pytest.approx(src.share("init").share, abs=1e-13)
    assert m["variance_share_split"] == pytest.approx(src.share("split").share, abs=1e-13)
    assert m["test_set_noise_share"] == pytest.approx(src.test_set.share, abs=1e-13)
    assert "train_test_gap_mean" in m and "## Where does the luck come from?" in \
        parent.data.tags["mlflow.note.content"]
    assert (tmp_path / "plots" / "sources.png").exists()
    child = MlflowClient(store).search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        max_results=1)[0]
    assert {"order_seed", "split.seed", "fold", "seed"} <= set(child.data.params)
    assert {"test_accuracy", "train_accuracy", "train_test_gap"} <= set(child.data.metrics)
    assert parent.data.params["measured_on"].startswith("the held-out test rows")
    # The view of the job's runs shows test accuracy first, then training accuracy.
    from runner.tracking import views

    tags = MlflowClient(store).get_experiment(parent.info.experiment_id).tags
    view = json.loads(tags[views.TAG_PREFIX + views.seeds_view_key(parent.info.run_id)])
    assert view["columnOrder"][1:3] == [views.metric("test_accuracy"),
                                        views.metric("train_accuracy")]


@pytest.mark.parametrize("trainer", ["sgd", "adam"])
def test_a_mini_batch_runs_numbers_are_its_own_seeds_alone(make_cfg, trainer):
    # Issue 20: a run is reproducible from its three seeds alone, whatever ran beside it and
    # in any chunk: here seed 2, order 7, split 3 alone and inside a grid chunked by 4.
    common = ("tracking=off", "split=holdout", "model.hidden=[3]", "activation=tanh",
              "mode=train", f"trainer={trainer}", "trainer.epochs=5", "trainer.batch_size=16",
              "dataset=moons")
    grid = evaluate.run(make_plan(make_cfg(*common, "seed=1..3", "order_seed=[5,7]",
                                           "split.seed=[3,4]", "chunk_size=4")))
    alone = evaluate.run(make_plan(make_cfg(*common, "seed=2", "order_seed=7",
                                            "split.seed=3")))
    r = grid.plan.runs
    i = int(np.flatnonzero((r.seed == 2) & (r.order == 7) & (r.split == 3))[0])
    for k, v in alone.evaluation.columns().items():
        assert v[0] == grid.evaluation.columns()[k][i], k
    assert np.array_equal(alone.training.losses[:, 0], grid.training.losses[:, i])
    # The order seed matters: the same run with another order trains to other weights.
    j = int(np.flatnonzero((r.seed == 2) & (r.order == 5) & (r.split == 3))[0])
    assert not np.array_equal(grid.training.losses[:, i], grid.training.losses[:, j])


@pytest.mark.parametrize("extra", [
    ("dataset=moons", "model.hidden=[4]", "trainer=sgd", "trainer.batch_size=16"),  # kernels
    ("dataset=breast_cancer", "model.hidden=[3]", "trainer=adam",
     "trainer.batch_size=16"),  # the kernels, 30 features
    ("dataset=moons", "model.hidden=[40,3]", "trainer=sgd",
     "trainer.batch_size=16"),  # numpy's products
    ("dataset=breast_cancer", "model.hidden=[3]", "trainer=gd"),  # the full batch
    ("dataset=moons", "model.hidden=[]", "trainer=adam",
     "trainer.batch_size=null"),  # the single neuron's full batch
], ids=["kernels", "kernels-30-features", "numpy", "full-batch", "full-batch-neuron"])
def test_many_splits_train_in_one_descent_as_each_would_alone(make_cfg, extra):
    # luck.sources=together: every run its own split, its own group of rows. They train in
    # one descent, each on its own rows (evaluate.descend_groups), not one descent a group:
    # the same numbers as a descent per group, run for run.
    plan = make_plan(make_cfg("tracking=off", "split=holdout", "luck.sources=together",
                              "seed=1..7", "mode=train", "trainer.epochs=3",
                              "activation=tanh", "chunk_size=3", *extra))
    groups = list(evaluate._group_slices(plan))
    assert len(groups) == 7 and len(evaluate._descents(groups)) == 1
    start = evaluate.evaluate(plan).layers
    together = evaluate.descend_groups(plan, groups, start)
    apart = [evaluate.descend(plan, evaluate.group_X(plan, g)[g.train],
                              plan.dataset.y[g.train], tuple(
                                  type(layer)(layer.W[sl], layer.b[sl]) for layer in start), sl)
             for g, sl in groups]
    for i in range(len(start)):
        assert np.concatenate([a[0][i].W for a in apart]).tobytes() == \
            together[0][i].W.tobytes()
        assert np.concatenate([a[0][i].b for a in apart]).tobytes() == \
            together[0][i].b.tobytes()
    assert np.concatenate([a[1] for a in apart], axis=1).tobytes() == together[1].tobytes()
    assert not np.array_equal(together[1][:, 0], together[1][:, 1])  # runs of their own


@pytest.mark.parametrize("extra", [
    ("split=holdout", "luck.sources=together", "model.hidden=[4]", "activation=relu"),
    ("split=holdout", "luck.sources=together", "dataset=breast_cancer"),  # z-scored per split
    ("split=kfold", "split.folds=7", "split.seed=1..3", "model.hidden=[3]"),  # unequal folds
], ids=["together", "together-standardized", "kfold"])
def test_many_splits_are_evaluated_together_as_each_would_alone(make_cfg, extra):
    # The runs of many groups (each split seed's, each fold's) go through one chunk, each
    # on its own rows: every number as in a chunk of its own (chunk_size=1), and the
    # measured rows each run's test rows.
    common = ("tracking=off", "seed=1..9", *extra)
    plan = make_plan(make_cfg(*common))
    pieces = list(evaluate._chunks(plan))
    assert len(pieces) < len(plan.runs.groups)
    ev = evaluate.evaluate(plan)
    alone = evaluate.evaluate(make_plan(make_cfg(*common, "chunk_size=1")))
    for k, v in alone.columns().items():
        assert ev.columns()[k].tobytes() == v.tobytes(), k
    for k in ("n_measured", "n_positive", "n_correct", "z", "y_hat"):
        assert getattr(ev, k).tobytes() == getattr(alone, k).tobytes(), k
    y, runs = plan.dataset.y.astype(bool), plan.runs
    tests = [runs.groups[g].test for g in runs.group]
    measured = np.bincount(np.concatenate(tests), minlength=y.size)
    np.testing.assert_array_equal(ev.n_measured, measured)
    np.testing.assert_array_equal(ev.metrics.accuracy, [
        ((ev.z[i, t] >= 0) == y[t]).mean() for i, t in enumerate(tests)])


@pytest.mark.parametrize("trainer", [("trainer=gd",), ("trainer=sgd", "trainer.batch_size=32",
                                                      "order_seed=1..2")],
                         ids=["full-batch", "mini-batch"])
def test_folds_of_unequal_sizes_train_in_a_descent_a_size(make_cfg, trainer):
    # 569 rows in 5 folds: training sets of 455 and 456 rows. The folds of each size train
    # together (their runs not consecutive), the same numbers as a descent per fold.
    plan = make_plan(make_cfg("tracking=off", "dataset=breast_cancer", "split=kfold",
                              "split.folds=5", "split.seed=1..2", "seed=1..2", "mode=train",
                              "trainer.epochs=4", "model.hidden=[3]", *trainer))
    groups = list(evaluate._group_slices(plan))
    descents = evaluate._descents(groups)
    assert sorted(len(d) for d in descents) == [2, 8]  # 2 folds of 456 training rows
    result = evaluate.run(plan)
    for g, sl in groups:
        layers, losses, _ = evaluate.descend(
            plan, evaluate.group_X(plan, g)[g.train], plan.dataset.y[g.train],
            network.take(result.training.before.layers, sl), sl)
        assert losses.tobytes() == result.training.losses[:, sl].copy().tobytes()
        for mine, theirs in zip(layers, network.take(result.evaluation.layers, sl),
                                strict=True):
            assert mine.W.tobytes() == theirs.W.tobytes()
            assert mine.b.tobytes() == theirs.b.tobytes()
