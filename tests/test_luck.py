import itertools

import numpy as np
import pytest
from scipy import stats

from neuron import luck
from neuron.luck import (
    bootstrap_ci,
    describe,
    expected_max,
    iqm,
    majority_baseline,
    per_example_counts,
    per_example_counts_on,
    prob_greater,
    prob_greater_ci,
    share_beating,
    variance_split,
)


def accuracies(rng, n, n_rows=300, p=0.7):
    """Per-seed accuracies over n_rows rows: few distinct values, like the real scores."""
    return rng.binomial(n_rows, p, size=n) / n_rows


# --- describe / iqm -------------------------------------------------------------------


def test_describe_hand_values():
    d = describe([4.0, 1.0, 3.0, 2.0])
    assert d.n == 4
    assert d.mean == 2.5
    assert d.std == pytest.approx(np.sqrt(5 / 3), rel=1e-15)
    assert (d.min, d.max, d.median) == (1.0, 4.0, 2.5)
    assert (d.q1, d.q3) == (1.75, 3.25)


def test_describe_single_seed_has_zero_std():
    d = describe([0.8])
    assert d.n == 1 and d.std == 0.0
    assert d.min == d.max == d.median == d.q1 == d.q3 == d.mean == 0.8


def test_rejects_nan_and_empty():
    with pytest.raises(ValueError):
        describe([1.0, np.nan])
    with pytest.raises(ValueError):
        iqm([])


def test_iqm_hand_value():
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == 4.5  # keeps 3, 4, 5, 6
    assert iqm([1.0, 100.0, 2.0]) == pytest.approx(103 / 3)  # n=3 trims nothing


@pytest.mark.parametrize("n", [1, 2, 4, 5, 7, 10, 101, 1000])
def test_iqm_matches_scipy_trim_mean(n):
    x = np.random.default_rng(n).standard_t(2, size=n)
    assert iqm(x) == pytest.approx(stats.trim_mean(x, 0.25), rel=1e-12, abs=1e-14)


# --- bootstrap_ci ---------------------------------------------------------------------

# Monte-Carlo tolerance for CI endpoints. The bootstrap mean is ~normal with sd
# s = std(x)/sqrt(n). The 2.5% quantile of B draws has standard error
# sqrt(.025 * .975 / B) / phi(1.96) * s = 0.027 s for B = 10_000, so the difference of two
# independent estimates has sd 0.038 s; 0.15 s is ~4 sd.
BOOT_TOL = 0.15


def scipy_percentile_ci(x, seed, n_resamples=10_000):
    res = stats.bootstrap((x,), np.mean, method="percentile", confidence_level=0.95,
                          n_resamples=n_resamples, rng=np.random.default_rng(seed))
    return res.confidence_interval.low, res.confidence_interval.high


@pytest.mark.parametrize("force_index", [False, True])
def test_bootstrap_ci_matches_scipy_on_discrete_scores(monkeypatch, force_index):
    if force_index:
        monkeypatch.setattr(luck, "_MAX_DISTINCT", 0)
    else:
        monkeypatch.setattr(luck, "_MULTINOMIAL_MIN_RATIO", 0)
    x = accuracies(np.random.default_rng(1), 200)
    sd = x.std() / np.sqrt(x.size)
    low, high = bootstrap_ci(x, np.random.default_rng(2))
    ref_low, ref_high = scipy_percentile_ci(x, 3)
    assert low < x.mean() < high
    assert abs(low - ref_low) < BOOT_TOL * sd
    assert abs(high - ref_high) < BOOT_TOL * sd


def test_bootstrap_ci_matches_scipy_on_continuous_scores():
    x = np.random.default_rng(4).normal(size=2100)  # > _MAX_DISTINCT (2048): index path
    assert np.unique(x).size > luck._MAX_DISTINCT
    sd = x.std() / np.sqrt(x.size)
    low, high = bootstrap_ci(x, np.random.default_rng(5))
    ref_low, ref_high = scipy_percentile_ci(x, 6)
    assert abs(low - ref_low) < BOOT_TOL * sd
    assert abs(high - ref_high) < BOOT_TOL * sd


def test_bootstrap_ci_is_percentile_not_basic_on_skewed_scores():
    # A right-skewed sample separates the percentile interval from the basic one
    # (2*mean - percentiles) by ~0.40 s here. Its bootstrap distribution has a thin upper
    # tail, so endpoint Monte-Carlo error is larger than for a normal one (up to ~0.11 s
    # over 5 seeds); 0.25 s still tells the two methods apart.
    x = np.random.default_rng(40).lognormal(sigma=1.5, size=25)
    sd = x.std() / np.sqrt(x.size)
    got = np.array(bootstrap_ci(x, np.random.default_rng(42)))
    percentile = np.array(scipy_percentile_ci(x, 41))
    basic = stats.bootstrap((x,), np.mean, method="basic", n_resamples=10_000,
                            rng=np.random.default_rng(41)).confidence_interval
    assert np.all(np.abs(got - percentile) < 0.25 * sd)
    assert np.all(np.abs(got - np.array(basic)) > 0.25 * sd)


def test_bootstrap_ci_reproducible_and_seed_dependent():
    x = accuracies(np.random.default_rng(7), 500)
    first = bootstrap_ci(x, np.random.default_rng(8))
    assert bootstrap_ci(x, np.random.default_rng(8)) == first
    assert bootstrap_ci(x, np.random.default_rng(9)) != first


def test_bootstrap_ci_index_path_reproducible(monkeypatch):
    monkeypatch.setattr(luck, "_CHUNK_BYTES", 16 * 50 * 7)  # 7 resamples per chunk
    x = np.random.default_rng(10).normal(size=50)
    monkeypatch.setattr(luck, "_MAX_DISTINCT", 0)
    first = bootstrap_ci(x, np.random.default_rng(11), n_resamples=100)
    assert bootstrap_ci(x, np.random.default_rng(11), n_resamples=100) == first


def test_bootstrap_ci_degenerate():
    assert bootstrap_ci([0.7], np.random.default_rng(0)) == (0.7, 0.7)
    assert bootstrap_ci([0.5, 0.5, 0.5], np.random.default_rng(0)) == (0.5, 0.5)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], np.random.default_rng(0), confidence=1.0)


@pytest.mark.parametrize("force_index", [False, True])
def test_bootstrap_ci_two_seeds_exact(monkeypatch, force_index):
    # Resample means of [0, 1] are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4, so the
    # 2.5% and 97.5% quantiles of 10_000 resamples are 0 and 1 (P(otherwise) ~ 1e-1000).
    if force_index:
        monkeypatch.setattr(luck, "_MAX_DISTINCT", 0)
    else:
        monkeypatch.setattr(luck, "_MULTINOMIAL_MIN_RATIO", 0)
    assert bootstrap_ci([0.0, 1.0], np.random.default_rng(0)) == (0.0, 1.0)


def test_bootstrap_ci_two_values_uses_binomial_quantiles():
    # x has n/2 ones: resample mean ~ Binomial(n, 1/2) / n, whose 2.5% / 97.5% quantiles
    # for n = 100 are 40 / 60 (up to Monte-Carlo noise of at most one lattice step).
    x = np.repeat([0.0, 1.0], 50)
    low, high = bootstrap_ci(x, np.random.default_rng(12))
    assert abs(low - stats.binom.ppf(0.025, 100, 0.5) / 100) <= 0.01 + 1e-12
    assert abs(high - stats.binom.ppf(0.975, 100, 0.5) / 100) <= 0.01 + 1e-12


# --- expected_max ---------------------------------------------------------------------


def brute_force_max(v, k):
    """Mean and population sd of max over all N^k sequences of k draws with replacement."""
    maxima = np.array([max(seq) for seq in itertools.product(v, repeat=k)])
    return maxima.mean(), maxima.std()


@pytest.mark.parametrize("v", [[3.0, 1.0, 2.0], [0.5, 0.5, 0.9, 0.1], [2.0, 2.0]])
def test_expected_max_matches_enumeration(v):
    ks, mean_k, sd_k = expected_max(v)
    assert ks.tolist() == list(range(1, len(v) + 1))
    for k, m, s in zip(ks, mean_k, sd_k, strict=True):
        ref_m, ref_s = brute_force_max(v, k)
        assert m == pytest.approx(ref_m, rel=1e-12)
        assert s == pytest.approx(ref_s, rel=1e-9, abs=1e-12)


def test_expected_max_hand_values():
    # v = 1, 2, 3; k = 2: P(max=1)=1/9, P(2)=3/9, P(3)=5/9 -> E = 22/9.
    _, mean_k, _ = expected_max([2.0, 3.0, 1.0], ks=[2])
    assert mean_k[0] == pytest.approx(22 / 9, rel=1e-14)


def test_expected_max_properties():
    x = np.random.default_rng(13).normal(size=500)
    ks, mean_k, sd_k = expected_max(x)
    assert mean_k[0] == pytest.approx(x.mean(), rel=1e-12)
    assert sd_k[0] == pytest.approx(x.std(), rel=1e-9)
    assert np.all(np.diff(mean_k) >= -1e-12)
    assert mean_k[-1] <= x.max()
    assert mean_k[-1] > np.sort(x)[-3]  # best of 500 is close to the top


def test_expected_max_subset_agrees_with_full():
    x = accuracies(np.random.default_rng(14), 2000)
    _, full_mean, full_sd = expected_max(x)
    ks = np.array([2000, 1, 37, 500])
    got_ks, sub_mean, sub_sd = expected_max(x, ks=ks)
    assert got_ks.tolist() == ks.tolist()
    np.testing.assert_allclose(sub_mean, full_mean[ks - 1], rtol=1e-13)
    np.testing.assert_allclose(sub_sd, full_sd[ks - 1], rtol=1e-9, atol=1e-15)


def test_expected_max_large_n_default_ks():
    x = np.random.default_rng(15).normal(size=20_001)
    ks, mean_k, sd_k = expected_max(x)
    assert ks[0] == 1 and ks[-1] == x.size
    assert 150 <= ks.size <= 200 and np.all(np.diff(ks) > 0)
    assert mean_k[0] == pytest.approx(x.mean(), abs=1e-12)
    assert np.all(np.diff(mean_k) >= -1e-12) and mean_k[-1] <= x.max()
    assert np.all(sd_k >= 0)


def test_expected_max_truncation_is_exact(monkeypatch):
    # Dropping CDF terms below exp(-50) must not change the result measurably.
    x = np.random.default_rng(16).normal(size=5000)
    ks = np.array([1, 10, 300, 5000])
    _, mean_k, sd_k = expected_max(x, ks=ks)
    monkeypatch.setattr(luck, "_LOG_TINY", -np.inf)
    _, ref_mean, ref_sd = expected_max(x, ks=ks)
    np.testing.assert_allclose(mean_k, ref_mean, rtol=1e-14)
    np.testing.assert_allclose(sd_k, ref_sd, rtol=1e-10)


def test_expected_max_rejects_bad_ks():
    with pytest.raises(ValueError):
        expected_max([1.0, 2.0], ks=[3])
    with pytest.raises(ValueError):
        expected_max([1.0, 2.0], ks=[0])


# --- share_beating / majority_baseline / per_example_counts ---------------------------


def test_share_beating_is_strict():
    assert share_beating([0.6, 0.7, 0.7, 0.9], 0.7) == 0.25
    assert share_beating([0.6, 0.7], 0.5) == 1.0


def test_majority_baseline():
    assert majority_baseline([0, 1, 1, 1]) == 0.75
    assert majority_baseline(np.array([1, 0, 0, 0, 0])) == 0.8
    assert majority_baseline([1, 0]) == 0.5
    with pytest.raises(ValueError):
        majority_baseline([0, 2])


def test_per_example_counts():
    pred = np.array([[1, 0, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]], bool)
    y = np.array([1, 1, 0])
    n_positive, n_correct = per_example_counts(pred, y)
    np.testing.assert_array_equal(n_positive, [3, 1, 1])
    np.testing.assert_array_equal(n_correct, [3, 1, 3])
    assert n_positive.dtype.kind == "i"
    # Chunks of seeds add up to the whole.
    halves = [per_example_counts(pred[:2], y), per_example_counts(pred[2:], y)]
    np.testing.assert_array_equal(halves[0][0] + halves[1][0], n_positive)
    with pytest.raises(ValueError):
        per_example_counts(pred, y[:2])


def test_per_example_counts_on_each_seeds_own_rows():
    # Seeds measured on rows of their own (their split's test rows): per row, over the seeds
    # that measured it, as per_example_counts counts each seed's rows alone.
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 11)
    rows = np.array([rng.choice(11, 4, replace=False) for _ in range(5)])
    pred = rng.random((5, 4)) < 0.5
    measured, positive, correct = per_example_counts_on(pred, y, rows)
    want = np.zeros((3, 11), int)
    for p, r in zip(pred, rows, strict=True):
        pos, cor = per_example_counts(p[None], y[r])
        want[0, r] += 1
        want[1, r] += pos
        want[2, r] += cor
    np.testing.assert_array_equal(np.stack([measured, positive, correct]), want)
    assert measured.sum() == 20 and measured.dtype.kind == "i"
    with pytest.raises(ValueError):
        per_example_counts_on(pred, y, rows[:, :3])


# --- prob_greater / prob_greater_ci ---------------------------------------------------


def test_prob_greater_hand_values():
    assert prob_greater([3.0], [1.0, 2.0]) == 1.0
    assert prob_greater([1.0], [1.0]) == 0.5
    # pairs: 2>1 win, 2=2 tie, 2<3 loss, 0 loses all three -> (1 + 0.5) / 6
    assert prob_greater([2.0, 0.0], [1.0, 2.0, 3.0]) == 0.25


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prob_greater_matches_mannwhitneyu(seed):
    rng = np.random.default_rng(seed)
    a, b = accuracies(rng, 300, n_rows=50), accuracies(rng, 211, n_rows=50, p=0.68)
    u = stats.mannwhitneyu(a, b).statistic
    assert prob_greater(a, b) == pytest.approx(u / (a.size * b.size), rel=1e-14)
    assert prob_greater(a, b) + prob_greater(b, a) == pytest.approx(1.0, rel=1e-14)


def reference_prob_greater_boot(a, b, rng, n_resamples):
    out = np.empty(n_resamples)
    for i in range(n_resamples):
        ra = a[rng.integers(0, a.size, a.size)]
        rb = b[rng.integers(0, b.size, b.size)]
        out[i] = stats.mannwhitneyu(ra, rb).statistic / (a.size * b.size)
    return out


@pytest.mark.parametrize("force_index", [False, True])
def test_prob_greater_ci_matches_naive_bootstrap(monkeypatch, force_index):
    if force_index:
        monkeypatch.setattr(luck, "_MAX_DISTINCT", 0)
    rng = np.random.default_rng(20)
    a, b = accuracies(rng, 40, n_rows=60), accuracies(rng, 30, n_rows=60, p=0.65)
    low, high = prob_greater_ci(a, b, np.random.default_rng(21), n_resamples=2000)
    ref = reference_prob_greater_boot(a, b, np.random.default_rng(22), 2000)
    ref_low, ref_high = np.percentile(ref, [2.5, 97.5])
    # Endpoint standard error with B = 2000 is sqrt(.025*.975/2000)/phi(1.96) = 0.06 sd of
    # the bootstrap distribution; two independent runs differ by 0.085 sd; allow ~4 sd.
    tol = 0.35 * ref.std()
    assert abs(low - ref_low) < tol and abs(high - ref_high) < tol
    assert low <= prob_greater(a, b) <= high


def test_prob_greater_ci_reproducible_and_chunked(monkeypatch):
    rng = np.random.default_rng(23)
    a, b = accuracies(rng, 50), accuracies(rng, 60)
    first = prob_greater_ci(a, b, np.random.default_rng(24), n_resamples=300)
    assert prob_greater_ci(a, b, np.random.default_rng(24), n_resamples=300) == first
    assert prob_greater_ci(a, b, np.random.default_rng(25), n_resamples=300) != first
    monkeypatch.setattr(luck, "_MAX_DISTINCT", 0)
    monkeypatch.setattr(luck, "_CHUNK_BYTES", 10_000)  # several chunks
    index_first = prob_greater_ci(a, b, np.random.default_rng(24), n_resamples=300)
    assert prob_greater_ci(a, b, np.random.default_rng(24), n_resamples=300) == index_first


def test_prob_greater_ci_degenerate():
    rng = np.random.default_rng(0)
    assert prob_greater_ci([2.0, 3.0], [0.0, 1.0], rng) == (1.0, 1.0)
    assert prob_greater_ci([1.0, 1.0], [1.0], rng) == (0.5, 0.5)


# --- variance_split -------------------------------------------------------------------


def test_variance_split_balanced_2x2_hand_values():
    # Job means 2, 4, 6, 12; grand mean 6. Within SS = 4 * 2 = 8;
    # activation: means 3 | 9 over 4 seeds each -> 4*9 + 4*9 = 72;
    # init: means 4 | 8 -> 4*4 + 4*4 = 32; between = 2*(16+4+0+36) = 112;
    # interaction = 112 - 72 - 32 = 8; total = 120.
    scores = [np.array([1.0, 3.0]), np.array([3.0, 5.0]),
              np.array([5.0, 7.0]), np.array([11.0, 13.0])]
    factors = [{"activation": "tanh", "init": "uniform"},
               {"activation": "tanh", "init": "normal"},
               {"activation": "relu", "init": "uniform"},
               {"activation": "relu", "init": "normal"}]
    out = variance_split(scores, factors)
    assert out["total_ss"] == pytest.approx(120.0, rel=1e-14)
    assert out["seed"] == pytest.approx(8 / 120, rel=1e-13)
    assert out["activation"] == pytest.approx(72 / 120, rel=1e-13)
    assert out["init"] == pytest.approx(32 / 120, rel=1e-13)
    assert out["interaction"] == pytest.approx(8 / 120, rel=1e-12)
    shares = [v for key, v in out.items() if key != "total_ss"]
    assert sum(shares) == pytest.approx(1.0, rel=1e-14)


def test_variance_split_additive_design_has_no_interaction_and_drops_constant_factor():
    rng = np.random.default_rng(30)
    noise = rng.normal(size=5)
    noise -= noise.mean()
    effect = {"a": 0.0, "b": 1.0}
    scores, factors = [], []
    for act in "ab":
        for init in "ab":
            scores.append(effect[act] + 2 * effect[init] + noise)
            factors.append({"activation": act, "init": init, "data": "same"})
    out = variance_split(scores, factors)
    assert "data" not in out
    assert out["interaction"] == 0.0
    assert out["activation"] / out["init"] == pytest.approx(0.25, rel=1e-12)
    shares = [v for key, v in out.items() if key != "total_ss"]
    assert sum(shares) == pytest.approx(1.0, rel=1e-14)


def test_variance_split_unbalanced_can_have_negative_interaction():
    # Correlated factors (x and z move together in 3 of 4 jobs): main effects overlap.
    scores = [np.full(10, 0.0), np.full(1, 1.0), np.full(1, 1.0), np.full(10, 2.0)]
    factors = [{"x": 0, "z": 0}, {"x": 0, "z": 1}, {"x": 1, "z": 0}, {"x": 1, "z": 1}]
    out = variance_split(scores, factors)
    assert out["seed"] == 0.0
    assert out["interaction"] < -0.1
    assert out["seed"] + out["x"] + out["z"] + out["interaction"] == pytest.approx(1.0)


def test_variance_split_single_job_and_zero_total():
    out = variance_split([np.array([0.1, 0.3, 0.2])], [{"activation": "tanh"}])
    assert out == {"seed": 1.0, "interaction": 0.0, "total_ss": pytest.approx(0.02)}
    out = variance_split([np.ones(3), np.ones(2)], [{"init": "a"}, {"init": "b"}])
    assert out == {"seed": 0.0, "init": 0.0, "interaction": 0.0, "total_ss": 0.0}


def test_variance_split_rejects_mismatched_factors():
    with pytest.raises(ValueError):
        variance_split([np.ones(2), np.ones(2)], [{"a": 1}, {"b": 1}])
    with pytest.raises(ValueError):
        variance_split([np.ones(2)], [{"seed": 1}])


def test_stuck_is_no_better_than_the_constant_guess_unless_it_is_perfect():
    acc = np.array([0.5, 0.7, 0.9, 1.0])
    assert luck.stuck(acc, 0.7).tolist() == [True, True, False, False]
    # One class: the constant guess is right on every row, and no seed can do better.
    assert luck.stuck(acc, 1.0).tolist() == [False] * 4
