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
