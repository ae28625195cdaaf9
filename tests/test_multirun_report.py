"""The report of a multirun, from hand-made jobs."""

import numpy as np
import pandas as pd
import pytest

from neuron import luck
from runner.config import LuckConfig
from runner.sweep import report as sweep_report


def settings(n_resamples=10_000, confidence=0.95, bootstrap_seed=0):
    return LuckConfig(bootstrap_seed, n_resamples, confidence, plots=False)


def _job(name, overrides, acc):
    table = pd.DataFrame({"accuracy": np.asarray(acc, float)})
    return sweep_report.Job(name, tuple(overrides), table)


def test_factors_are_the_overrides_that_vary():
    jobs = [_job("0", ["activation=sigmoid", "seed=1..3", "tracking.uri=x"], [0.1]),
            _job("1", ["activation=tanh", "seed=1..3", "tracking.uri=x"], [0.2])]
    assert sweep_report.factors_of(jobs) == [{"activation": "sigmoid"}, {"activation": "tanh"}]


def test_split_seed_ranges_pool_into_one_population():
    jobs = [_job("0", ["activation=tanh", "seed=1..2"], [0.1, 0.2]),
            _job("1", ["activation=tanh", "seed=3..4"], [0.3, 0.4])]
    report = sweep_report.build(jobs, settings(n_resamples=200))
    assert len(report.configs) == 1
    assert report.configs[0].stats.n == 4
    assert report.configs[0].stats.mean == pytest.approx(0.25)
    assert report.variance_split is None


def test_a_seed_in_two_pooled_jobs_counts_once():
    # seed=1..3,2..4 (or the same range twice): seeds 2 and 3 ran in both jobs, with the
    # same numbers; the pool holds seeds 1..4 once each (it held 6 values before).
    def job(name, seeds, acc):
        table = pd.DataFrame({"seed": seeds, "accuracy": np.asarray(acc, float)})
        return sweep_report.Job(name, ("activation=tanh", f"seed={seeds[0]}..{seeds[-1]}"), table)

    jobs = [job("0", [1, 2, 3], [0.1, 0.2, 0.3]), job("1", [2, 3, 4], [0.2, 0.3, 0.9])]
    report = sweep_report.build(jobs, settings(n_resamples=200))
    assert report.configs[0].stats.n == 4
    assert report.configs[0].stats.mean == pytest.approx((0.1 + 0.2 + 0.3 + 0.9) / 4)
    assert "  all jobs" in sweep_report.table(report) and "     4  " in sweep_report.table(report)


def test_two_by_two_sweep():
    rng = np.random.default_rng(0)
    jobs, scores = [], {}
    for act in ("sigmoid", "tanh"):
        for init in ("uniform", "normal"):
            acc = rng.uniform(size=20) + (0.5 if act == "tanh" else 0.0)
            scores[(act, init)] = acc
            jobs.append(_job(f"{act}-{init}", [f"activation={act}", f"init={init}"], acc))
    report = sweep_report.build(jobs, settings(n_resamples=300))
    split = report.variance_split
    shares = sum(v for k, v in split.items() if k != "total_ss")
    assert shares == pytest.approx(1.0)
    assert split["activation"] > split["init"]
    pair = next(p for p in report.pairs if p.a == "activation=tanh, init=normal"
                and p.b == "activation=sigmoid, init=normal")
    expected = luck.prob_greater(scores[("tanh", "normal")], scores[("sigmoid", "normal")])
    assert pair.p_a_beats_b == pytest.approx(expected)
    assert pair.ci_low <= expected <= pair.ci_high
    assert len(report.pairs) == 4 * 3
    text = sweep_report.table(report)
    assert "The seed explains" in text and "activation" in text


def test_luck_settings_are_honoured_and_streams_are_per_statistic():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(size=30), rng.uniform(size=30) + 0.1
    jobs = [_job("0", ["activation=sigmoid"], a), _job("1", ["activation=tanh"], b)]
    wide = sweep_report.build(jobs, settings(confidence=0.99, n_resamples=4000))
    narrow = sweep_report.build(jobs, settings(confidence=0.5, n_resamples=4000))
    for w, n in zip(wide.configs, narrow.configs, strict=True):
        assert w.stats.ci_high - w.stats.ci_low > n.stats.ci_high - n.stats.ci_low
    assert wide.confidence == 0.99
    # The same seed gives the same intervals; one configuration's CI does not move when
    # another configuration joins the sweep (one stream per statistic).
    again = sweep_report.build(jobs, settings(confidence=0.99, n_resamples=4000))
    assert again == wide
    third = jobs + [_job("2", ["activation=relu"], rng.uniform(size=30))]
    bigger = sweep_report.build(third, settings(confidence=0.99, n_resamples=4000))
    same = {c.config: c.stats for c in bigger.configs}
    for c in wide.configs:
        assert same[c.config] == c.stats


def test_the_table_lines_up_with_a_short_configuration_name():
    jobs = [_job("0", ["seed=1..2"], [0.1, 0.2]), _job("1", ["seed=3..4"], [0.3, 0.4])]
    lines = sweep_report.table(sweep_report.build(jobs, settings(n_resamples=100))).splitlines()
    head, row = lines[1], lines[2]
    assert row.lstrip().startswith("all jobs")
    # Every number ends under the end of its column's header.
    for name in head.split()[1:]:
        end = head.index(name) + len(name)
        assert row[end - 1].isdigit() and (end == len(row) or row[end] == " "), (head, row)


def test_trained_networks_get_before_stuck_and_dead_columns(tmp_path):
    def job(name, overrides, acc, before, stuck, dead):
        table = pd.DataFrame({"accuracy": acc, "accuracy_before": before, "stuck": stuck,
                              "dead_units": dead})
        return sweep_report.Job(name, tuple(overrides), table)

    jobs = [job("0", ["activation=relu"], [0.7, 0.99, 0.99, 0.7], [0.3, 0.5, 0.6, 0.4],
                [1.0, 0.0, 0.0, 1.0], [1, 0, 0, 1]),
            job("1", ["activation=tanh"], [0.99, 0.99, 0.98, 0.99], [0.2, 0.5, 0.7, 0.6],
                [0.0, 0.0, 0.0, 0.0], [0, 0, 0, 0])]
    report = sweep_report.build(jobs, settings(n_resamples=200))
    relu, tanh = report.configs
    assert relu.before.mean == pytest.approx(0.45) and tanh.before.mean == pytest.approx(0.5)
    assert (relu.stuck, relu.dead, tanh.stuck, tanh.dead) == (0.5, 0.5, 0.0, 0.0)
    lines = sweep_report.table(report).splitlines()
    assert lines[1].split()[-3:] == ["before", "stuck", "dead"]
    assert lines[2].split()[-3:] == ["0.4500", "50%", "50%"]
    assert "| before | stuck | dead |" in sweep_report.markdown(report)
    path = sweep_report.plot(report, jobs, tmp_path)
    assert path.name == "sweep_accuracy.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_user_text_in_the_markdown_is_escaped():
    # Issue 15, item 7: a configuration's name is the overrides' text, typed by the user.
    jobs = [_job("0", ["dataset.name=![x](http://127.0.0.1:9/x.png)"], [0.1, 0.2]),
            _job("1", ["dataset.name=<img src=y>|a"], [0.3, 0.4])]
    md = sweep_report.markdown(sweep_report.build(jobs, settings(n_resamples=200)))
    assert "![x](" not in md and "<img" not in md and "http:" not in md
    assert "| dataset.name=\\!\\[x\\](http&#58;//127.0.0.1&#58;9/x.png) |" in md
    assert "| dataset.name=&lt;img src=y&gt;\\|a |" in md


def test_jobs_from_mlflow_reads_parents_tagged_job_and_sweep(tmp_path, store):
    # Issue 15: a job's parent is tagged neuron_luck.kind='job'; versions before tagged it
    # 'sweep', and a sweep report must still find those (and never its own report run).
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    exp = client.create_experiment("neuron-luck", artifact_location=str(tmp_path / "art"))
    table = tmp_path / "seeds.parquet"
    for kind, acc in (("job", 0.25), ("sweep", 0.75), ("sweep_report", 0.5)):
        run = client.create_run(exp, tags={"neuron_luck.kind": kind,
                                           "neuron_luck.sweep_id": "s1",
                                           "neuron_luck.overrides": f"activation={kind}"})
        pd.DataFrame({"accuracy": [acc]}).to_parquet(table)
        client.log_artifact(run.info.run_id, str(table))
        client.set_terminated(run.info.run_id)
    jobs = sweep_report.jobs_from_mlflow(client, exp, "s1")
    assert sorted(j.overrides for j in jobs) == [("activation=job",), ("activation=sweep",)]


def test_a_confidence_level_is_printed_with_all_its_digits():
    # luck.confidence=0.999 was headed "100% CI of the mean".
    jobs = [_job("0", ["activation=sigmoid"], [0.1, 0.4, 0.3]),
            _job("1", ["activation=tanh"], [0.2, 0.6, 0.5])]
    md = sweep_report.markdown(sweep_report.build(jobs, settings(200, confidence=0.999)))
    assert "| 99.9% CI of the mean |" in md and "| 99.9% CI |" in md and "100%" not in md
    md = sweep_report.markdown(sweep_report.build(jobs, settings(200, confidence=0.95)))
    assert "| 95% CI of the mean |" in md


def test_the_legend_explains_only_the_columns_shown():
    # mode=evaluate,train of the single neuron: a before column, no stuck or dead column,
    # yet the legend explained stuck: and dead: too.
    jobs = [_job("0", ["mode=evaluate"], [0.3, 0.7, 0.5]),
            sweep_report.Job("1", ("mode=train",), pd.DataFrame(
                {"accuracy": [0.99, 0.98, 0.99], "accuracy_before": [0.3, 0.7, 0.5]}))]
    text = sweep_report.table(sweep_report.build(jobs, settings(n_resamples=200)))
    assert text.splitlines()[1].split()[-1] == "before"
    assert "before: mean accuracy with the random weights" in text
    assert "stuck:" not in text and "dead:" not in text


def test_held_out_jobs_compare_on_test_accuracy_paired_by_run():
    # Issue 20: jobs that hold rows out are compared on test accuracy, and where two
    # configurations hold the same runs (seed, order, split) P(A > B) is over those pairs.
    keys = pd.DataFrame({"seed": [1, 2, 1, 2], "order_seed": [-1] * 4,
                         "split_seed": [5, 5, 6, 6], "fold": [-1] * 4})
    a = [0.80, 0.70, 0.90, 0.60]
    b = [0.75, 0.70, 0.95, 0.50]  # in another order below: pairing must follow the keys

    def job(name, act, acc, order):
        t = keys.assign(test_accuracy=acc, train_accuracy=1.0).iloc[order]
        return sweep_report.Job(name, (f"activation={act}",), t.reset_index(drop=True))

    jobs = [job("0", "relu", a, [0, 1, 2, 3]), job("1", "tanh", b, [3, 2, 1, 0])]
    report = sweep_report.build(jobs, settings(n_resamples=300))
    assert report.metric == "test_accuracy"
    (p,) = [p for p in report.pairs if p.a == "activation=relu"]
    # Pairs (0.80, 0.75) win, (0.70, 0.70) tie, (0.90, 0.95) lose, (0.60, 0.50) win.
    assert p.paired and p.p_a_beats_b == pytest.approx((2 + 0.5) / 4)
    assert p.p_a_beats_b != luck.prob_greater(a, b)  # unpaired: over all 16 pairs
    assert "paired: the same seeds, order and split" in sweep_report.table(report)
    # A grid's runs share seeds: the pool keeps every (seed, split) run, not one per seed.
    assert report.configs[0].stats.n == 4
