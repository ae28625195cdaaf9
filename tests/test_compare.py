"""The sweep-level report from hand-made jobs."""

import numpy as np
import pandas as pd
import pytest

from neuron import luck
from runner import compare


def _job(name, overrides, acc):
    return compare.Job(name, overrides, pd.DataFrame({"accuracy": np.asarray(acc, float)}))


def test_factors_are_the_overrides_that_vary():
    jobs = [_job("0", ["activation=sigmoid", "seed=1..3", "tracking.uri=x"], [0.1]),
            _job("1", ["activation=tanh", "seed=1..3", "tracking.uri=x"], [0.2])]
    assert compare.factors_of(jobs) == [{"activation": "sigmoid"}, {"activation": "tanh"}]


def test_split_seed_ranges_pool_into_one_population():
    jobs = [_job("0", ["activation=tanh", "seed=1..2"], [0.1, 0.2]),
            _job("1", ["activation=tanh", "seed=3..4"], [0.3, 0.4])]
    report = compare.build(jobs, n_resamples=200)
    assert len(report["configs"]) == 1
    assert report["configs"][0]["n"] == 4 and report["configs"][0]["mean"] == pytest.approx(0.25)
    assert report["variance_split"] is None


def test_two_by_two_sweep():
    rng = np.random.default_rng(0)
    jobs, scores = [], {}
    for act in ("sigmoid", "tanh"):
        for init in ("uniform", "normal"):
            acc = rng.uniform(size=20) + (0.5 if act == "tanh" else 0.0)
            scores[(act, init)] = acc
            jobs.append(_job(f"{act}-{init}", [f"activation={act}", f"init={init}"], acc))
    report = compare.build(jobs, n_resamples=300)
    split = report["variance_split"]
    shares = sum(v for k, v in split.items() if k != "total_ss")
    assert shares == pytest.approx(1.0)
    assert split["activation"] > split["init"]
    pair = next(p for p in report["pairs"] if p["a"] == "activation=tanh, init=normal"
                and p["b"] == "activation=sigmoid, init=normal")
    expected = luck.prob_greater(scores[("tanh", "normal")], scores[("sigmoid", "normal")])
    assert pair["p_a_beats_b"] == pytest.approx(expected)
    assert pair["ci_low"] <= expected <= pair["ci_high"]
    assert len(report["pairs"]) == 4 * 3
    text = compare.table(report)
    assert "The seed explains" in text and "activation" in text
