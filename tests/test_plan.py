"""runner.plan: what a job is told before it runs (notes) and refused (one line)."""

import pytest

from runner.errors import UserError
from runner.plan import make_plan


def test_a_row_named_without_its_values_is_said_not_silently_dropped(make_cfg):
    # highlight_row=1 keeps obesity.yaml's highlight_values (row 0's): the report named no
    # row and said nothing.
    plan = make_plan(make_cfg("seed=1..3", "tracking=off", "dataset.highlight_row=1"))
    assert plan.highlight is None
    assert plan.notes == ("row 1 of obesity holds [5.28,63.6], not dataset.highlight_values="
                          "[4.0,80.0], so the report names no row; dataset.highlight_values=null "
                          "names it",)
    plan = make_plan(make_cfg("seed=1..3", "tracking=off", "dataset.highlight_row=1",
                              "dataset.highlight_values=null"))
    assert plan.highlight == (1, "the lesson's person (4 ft, 80 kg)") and plan.notes == ()
    assert make_plan(make_cfg("seed=1..3", "tracking=off")).notes == ()  # the default: row 0


def test_highlight_values_one_per_feature(make_cfg):
    with pytest.raises(UserError) as e:
        make_plan(make_cfg("seed=1..3", "tracking=off", "dataset.highlight_values=[1,2,3]"))
    assert str(e.value) == ("dataset.highlight_values=[1.0,2.0,3.0]: 3 values for 2 features "
                            "(height_ft, weight_kg); give one per feature, or null")


def test_a_tracking_uri_with_tracking_off_is_said_unused(make_cfg):
    plan = make_plan(make_cfg("seed=1..3", "tracking=off", "tracking.uri=sqlite:///x.db"))
    assert plan.tracking is None
    assert plan.notes == ("tracking=off: tracking.uri=sqlite:///x.db is not used",)
    plan = make_plan(make_cfg("seed=1..3", "tracking=off",
                              "tracking.uri='http://u:s3cret@h:5000'"))
    assert "s3cret" not in plan.notes[0] and "http://u:***@h:5000" in plan.notes[0]


def test_a_job_past_the_child_run_limit_says_why_it_logs_no_child_runs(make_cfg, store):
    # Issue 22, item 8: seed=1..2000 said only "+ 0 child run(s)".
    plan = make_plan(make_cfg("seed=1..2000", f"tracking.uri={store}"))
    assert plan.tracking.n_children == 0
    assert plan.notes == (
        "tracking.child_runs=auto logs a child run per seed up to tracking.max_child_runs=1,000, "
        "so none for 2,000 seeds (each seed is in the parent's seeds.parquet); "
        "tracking.child_runs=all logs all 2,000",)
    for asked in ("tracking.child_runs=all", "tracking.child_runs=none"):
        assert make_plan(make_cfg("seed=1..2000", f"tracking.uri={store}", asked)).notes == ()
    assert make_plan(make_cfg("seed=1..1000", f"tracking.uri={store}")).notes == ()


@pytest.mark.parametrize("key, what", [("tracking.experiment", "the MLflow experiment"),
                                       ("dataset.name", "the dataset MLflow records")])
def test_a_name_mlflow_would_refuse_is_refused_before_any_seed_is_evaluated(make_cfg, store,
                                                                             key, what):
    # Issue 22, item 10: a tracking.experiment over MLflow's 500 characters was refused only
    # when the job logged, after every seed was evaluated (exit 3).
    make_plan(make_cfg("seed=1..3", f"tracking.uri={store}", f"{key}={'e' * 500}"))
    with pytest.raises(UserError) as e:
        make_plan(make_cfg("seed=1..3", f"tracking.uri={store}", f"{key}={'e' * 501}"))
    assert str(e.value) == (f"{key}={'e' * 40}…: 501 characters; MLflow holds at most 500 for "
                            f"{what}: give a shorter name")
    make_plan(make_cfg("seed=1..3", "tracking=off", f"{key}={'e' * 501}"))  # no MLflow: fine


def test_mini_batch_training_fills_a_block_of_the_compiled_lanes(make_cfg):
    # A [32] network on 400 rows: the caches cap evaluation's chunk well below 56 seeds, but
    # the compiled kernels hold a batch's rows, not all 400: a chunk of 23 seeds left 41 of
    # the 64 lanes idle (2.8x the time).
    from neuron import compiled
    from runner import limits

    args = ("seed=1..200", "tracking=off", "mode=train", "model.hidden=[32]", "trainer=sgd")
    plan = make_plan(make_cfg(*args))
    assert plan.chunk_size < limits.TRAIN_CHUNK_SEEDS == plan.train_chunk_size
    assert compiled.lanes_for(plan.train_chunk_size) == plan.train_chunk_size  # none idle
    assert make_plan(make_cfg(*args, "chunk_size=10")).train_chunk_size == 10  # as asked
