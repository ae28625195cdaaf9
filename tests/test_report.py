"""The luck report from hand-made results: exact values, its JSON form, and its text."""

import json

import numpy as np
import pytest

from neuron import luck as L
from neuron import network
from neuron.metrics import PerSeed
from runner.config import LuckConfig
from runner.plan import make_plan
from runner.report import luck, markdown, stats, text
from runner.results import Evaluation, JobResult
from tests.golden import GOLDEN


@pytest.fixture
def result(make_cfg, tmp_path):
    csv = tmp_path / "four.csv"
    csv.write_text("a,b,label\n1,0,yes\n2,0,no\n3,0,yes\n4,0,no\n")
    plan = make_plan(make_cfg(
        "dataset=csv", f"dataset.path={csv}", "dataset.features=[a,b]", "dataset.target=label",
        "dataset.positive=yes", "dataset.highlight_row=0", "dataset.highlight_label=the first",
        "seed=1..4", "tracking=off", "luck.n_resamples=500"))
    pred = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 1], [0, 0, 0, 0]], bool)
    y = np.array([1, 0, 1, 0], bool)
    acc = (pred == y).mean(axis=1)  # 0.5, 0.5, 0.75, 0.5
    counts = np.zeros(4, int)  # not summarized
    ev = Evaluation(layers=network.neuron(np.zeros((4, 2)), np.zeros(4)),
                    metrics=PerSeed(acc, counts, counts, counts, counts,
                                    mean_output=np.array([0.0, 0.1, 0.2, 0.3])),
                    n_positive=pred.sum(axis=0), n_correct=(pred == y).sum(axis=0))
    return JobResult(plan, ev, None, 0.01)


def test_exact_values(result):
    r = luck.build(result)
    a = r.metric("accuracy")
    assert (a.n, a.mean, a.min, a.max, a.median) == (4, 0.5625, 0.5, 0.75, 0.5)
    assert a.std == pytest.approx(0.125)
    assert a.iqm == pytest.approx(0.5)  # drops one from each end: mean(0.5, 0.5)
    assert a.ci_low <= a.mean <= a.ci_high and a.ci_method == "bootstrap"
    assert [m.name for m in r.metrics] == ["accuracy", "mean_output"]
    assert r.baseline_accuracy == 0.5 and r.share_beating_baseline == 0.25
    # Expected best of k (Dodge et al.): k=1 is the mean, k=4 with 3 of 4 at 0.5:
    # P(all four draws at 0.5) = (3/4)^4, so 0.5·0.3164 + 0.75·0.6836.
    assert r.expected_best.k == (1, 2, 3, 4)
    assert r.expected_best.at(1) == pytest.approx(0.5625)
    assert r.expected_best.at(4) == pytest.approx(0.5 * 0.75**4 + 0.75 * (1 - 0.75**4))
    assert r.rows.share_positive == (0.75, 0.5, 0.5, 0.5)
    assert r.rows.share_correct == (0.75, 0.5, 0.5, 0.5)
    assert (r.rows.contested, r.rows.unanimous) == (4, 0)
    assert r.highlight.sentence == "Of 4 seeds, 3 call the first yes."
    assert r.highlight.truth == "yes"
    assert r.verdict.startswith("The seed moves accuracy from 0.5000 to 0.7500")
    assert "25% of seeds beat the constant guess (0.5000)" in r.verdict


def test_json_has_the_shape_of_luck_json_before(result, tmp_path):
    data = json.loads(json.dumps(luck.build(result).to_json()))
    golden = json.loads((GOLDEN / "five_seeds.json").read_text())
    before = next(v for k, v in golden.items() if "/" not in k)["artifacts"]["luck.json"]

    def shape(d):
        return {k: shape(v) if isinstance(v, dict) and k != "metrics" else None
                for k, v in d.items()}

    assert shape(data) == shape(before)
    assert set(data["metrics"]["accuracy"]) == set(before["metrics"]["accuracy"])


def test_text_and_markdown(result):
    r = luck.build(result)
    table = text.luck_table(r)
    lines = table.splitlines()
    assert lines[0] == "Luck across 4 seeds (1..4)"
    assert lines[2].split()[:6] == ["accuracy", "0.5625", "0.1250", "0.5000", "0.5000", "0.5000"]
    assert "expected best accuracy of k seeds: k=1 0.5625 · k=2 " in table
    assert "rows decided by luck (25%–75% of seeds call them positive): 4 of 4" in table
    links = markdown.Links(seeds="#/seeds", n_children=4, plots=(("plots/accuracy.png", "#/plot"),))
    md = markdown.description(r, links)
    # What the UI shows before "Show more": how far the seed moves accuracy, the way to the seeds.
    first, rest = md.split("\n\n", 1)
    assert first == ("**The seed moves accuracy from 0.5000 to 0.7500 (mean 0.5625, std 0.1250) "
                     "over 4 seeds.** [The 4 seeds, in seed order](#/seeds)")
    assert rest.startswith("## How much is luck? sigmoid neuron on csv, 4 seeds (1..4)\n\n"
                           f"**{r.verdict}**")
    assert "| accuracy | 0.5625 | 0.1250 | 0.5000 | 0.5000 | 0.7500 | 0.5000 |" in md
    assert "[`plots/accuracy.png`](#/plot)" in md
    assert markdown.description(r).startswith("**The seed moves accuracy from 0.5000 to 0.7500 "
                                              "(mean 0.5625, std 0.1250) over 4 seeds.**\n\n")


def test_one_stream_per_statistic():
    s = LuckConfig(bootstrap_seed=3, n_resamples=2000, confidence=0.9, plots=False)
    x = np.random.default_rng(0).uniform(size=50)
    a = stats.summarize(x, "accuracy", s)
    assert stats.summarize(x, "accuracy", s) == a
    assert stats.summarize(x, "brier", s).ci_low != a.ci_low  # another stream
    low, high = L.bootstrap_ci(x, stats.rng_for(3, "accuracy"), 0.9, 2000)
    assert (a.ci_low, a.ci_high) == (low, high)


def test_the_normal_interval_honours_the_confidence(monkeypatch):
    from runner import limits

    monkeypatch.setattr(limits, "MAX_INDEX_BOOTSTRAP", 10)
    monkeypatch.setattr(limits, "MIN_DISTINCT_FOR_NORMAL_CI", 5)
    x = np.random.default_rng(1).normal(size=400)
    for confidence, z in ((0.95, 1.959963984540054), (0.5, 0.6744897501960817)):
        s = stats.summarize(x, "m", LuckConfig(0, 100, confidence, False))
        half = z * x.std(ddof=1) / np.sqrt(x.size)
        assert s.ci_method == "normal"
        assert s.ci_high - s.mean == pytest.approx(half, rel=1e-12)


def test_metrics_side_by_side_give_the_same_report(make_cfg):
    # Each metric's bootstrap has its own stream: computing them in threads changes nothing.
    from runner import evaluate, speedups

    result = evaluate.run(make_plan(make_cfg("seed=1..300", "tracking=off",
                                             "dataset.standardize=true")))
    assert luck.build(result, speedups.map_chunks) == luck.build(result)


def test_markdown_escapes_user_text():
    # Issue 15, item 7: what a user names (labels, datasets) is text, never markdown or HTML.
    assert markdown.escape("the lesson's person (4 ft, 80 kg)") == (
        "the lesson's person (4 ft, 80 kg)")
    assert markdown.escape("![p](http://h/p.png) <b>&x</b> *e* www.a.org | # `c` [l]") == (
        "\\!\\[p\\](http&#58;//h/p.png) &lt;b&gt;&amp;x&lt;/b&gt; \\*e\\* www\\.a.org \\| \\# "
        "\\`c\\` \\[l\\]")


def test_the_normal_intervals_quantile_is_scipy_stats_own():
    # stats._mean_ci takes scipy.special.ndtri (no scipy.stats import in a forked process).
    from scipy.special import ndtri
    from scipy.stats import norm

    for confidence in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999):
        assert ndtri(0.5 + confidence / 2) == norm.ppf(0.5 + confidence / 2)
