"""neuron/sources.py against plain ANOVAs recomputed here, known components, and hand values;
neuron/luck.py's P(A > B), paired and not."""

import itertools

import numpy as np
import pytest
from scipy import stats

from neuron import luck, sources


def grid(levels, r=1, labels=None, rng=None):
    """Factor labels of a crossed grid with r runs per cell, rows in a shuffled order."""
    cells = list(itertools.product(*(range(n) for n in levels))) * r
    rows = np.array(cells).reshape(-1, len(levels))
    if rng is not None:
        rows = rows[rng.permutation(len(rows))]
    names = labels or ["init", "order", "split"][: len(levels)]
    # Labels like real seeds (not 0..L-1) so the arrangement is what is tested.
    return {n: 100 + 7 * rows[:, i] for i, n in enumerate(names)}, rows


def mean_by(y, keys):
    """{key tuple: mean of y over the rows with that key}, by a plain loop."""
    groups = {}
    for v, key in zip(y, map(tuple, keys), strict=True):
        groups.setdefault(key, []).append(v)
    return {k: sum(v) / len(v) for k, v in groups.items()}


def plain_anova(y, rows, levels):
    """SS and df of every term of a balanced crossed design, from cell and marginal means by
    hand: effect(S) = sum over subsets T of S of (-1)^|S - T| mean(T), SS(S) = sum over rows of
    effect(S)^2. Independent of sources.py (loops over rows, no reshaped grid)."""
    k = len(levels)
    grand = float(np.mean(y))
    means = {(): {(): grand}}
    for size in range(1, k + 1):
        for s in itertools.combinations(range(k), size):
            means[s] = mean_by(y, rows[:, list(s)])
    ss, df = {}, {}
    for size in range(1, k + 1):
        for s in itertools.combinations(range(k), size):
            total = 0.0
            for row in rows:
                effect = 0.0
                for tsize in range(0, size + 1):
                    for t in itertools.combinations(s, tsize):
                        effect += (-1) ** (size - tsize) * means[t][tuple(row[list(t)])]
                total += effect**2
            ss[s] = total
            df[s] = int(np.prod([levels[i] - 1 for i in s]))
    cell = mean_by(y, rows)
    ss["e"] = sum((v - cell[tuple(row)]) ** 2 for v, row in zip(y, rows, strict=True))
    df["e"] = len(y) - len(cell)
    return ss, df


def test_two_way_with_replicates_equals_plain_anova():
    rng = np.random.default_rng(1)
    A, B, r = 5, 4, 3
    f, rows = grid((A, B), r=r, rng=rng)
    y = rng.normal(size=A)[rows[:, 0]] + 0.5 * rng.normal(size=B)[rows[:, 1]] \
        + 0.3 * rng.normal(size=len(rows))
    ss, df = plain_anova(y, rows, (A, B))
    ms = {k: ss[k] / df[k] for k in ss}
    var_e = ms["e"]
    var_ab = (ms[(0, 1)] - ms["e"]) / r
    var_a = (ms[(0,)] - ms[(0, 1)]) / (B * r)
    var_b = (ms[(1,)] - ms[(0, 1)]) / (A * r)
    want = {"init": var_a, "order": var_b, "init_x_order": var_ab, "residual": var_e}
    want = {k: max(v, 0.0) for k, v in want.items()}
    total = sum(want.values())

    c = sources.variance_components(y, f)
    assert c.terms == ("init", "order", "init_x_order", "residual")
    assert c.runs_per_cell == r and c.confounded is None and c.levels == (A, B)
    for term, v in want.items():
        assert c.variance[term] == pytest.approx(v, abs=1e-9)
        assert c.share[term] == pytest.approx(v / total, abs=1e-9)
    assert sum(c.share.values()) == pytest.approx(1.0, abs=1e-12)
    table = {row.term: row for row in c.table}
    for term, key in [("init", (0,)), ("order", (1,)), ("init_x_order", (0, 1)),
                      ("residual", "e")]:
        assert table[term].ss == pytest.approx(ss[key], rel=1e-9)
        assert table[term].df == df[key]
        assert table[term].ms == pytest.approx(ms[key], rel=1e-9)


@pytest.mark.parametrize("r", [1, 2])
def test_three_way_equals_plain_anova(r):
    rng = np.random.default_rng(2 + r)
    A, B, C = 6, 5, 3
    f, rows = grid((A, B, C), r=r, rng=rng)
    # Small main effects and a real order x split interaction, so that some estimates come
    # out negative and are truncated.
    y = (0.3 * rng.normal(size=A)[rows[:, 0]] + 0.1 * rng.normal(size=B)[rows[:, 1]]
         + 0.4 * rng.normal(size=(B, C))[rows[:, 1], rows[:, 2]]
         + 0.5 * rng.normal(size=len(rows)))
    ss, df = plain_anova(y, rows, (A, B, C))
    ms = {k: ss[k] / df[k] for k in ss if df[k] > 0}
    if r == 1:  # the three-way interaction is the residual
        e, e3 = ms[(0, 1, 2)], None
    else:
        e = ms["e"]
        e3 = (ms[(0, 1, 2)] - e) / r
    top = ms[(0, 1, 2)]  # what the two-way terms are tested against, in both designs
    want = {
        "init": (ms[(0,)] - ms[(0, 1)] - ms[(0, 2)] + top) / (B * C * r),
        "order": (ms[(1,)] - ms[(0, 1)] - ms[(1, 2)] + top) / (A * C * r),
        "split": (ms[(2,)] - ms[(0, 2)] - ms[(1, 2)] + top) / (A * B * r),
        "init_x_order": (ms[(0, 1)] - top) / (C * r),
        "init_x_split": (ms[(0, 2)] - top) / (B * r),
        "order_x_split": (ms[(1, 2)] - top) / (A * r),
    }
    if e3 is not None:
        want["init_x_order_x_split"] = e3
    want["residual"] = e
    want = {k: max(v, 0.0) for k, v in want.items()}
    total = sum(want.values())

    c = sources.variance_components(y, f)
    assert c.terms == tuple(want)
    assert c.confounded == ("init_x_order_x_split" if r == 1 else None)
    assert any(v == 0.0 for v in c.variance.values())  # a truncated estimate is in the test
    assert c.total == pytest.approx(total, rel=1e-9)
    for term, v in want.items():
        assert c.share[term] == pytest.approx(v / total, abs=1e-9), term
        assert c.variance[term] == pytest.approx(v, abs=1e-9), term


def test_one_factor_table_matches_scipy_f_oneway():
    rng = np.random.default_rng(5)
    f, rows = grid((6,), r=4, rng=rng)
    y = rng.normal(size=6)[rows[:, 0]] + rng.normal(size=len(rows))
    c = sources.variance_components(y, f)
    table = {row.term: row for row in c.table}
    groups = [y[rows[:, 0] == i] for i in range(6)]
    assert table["init"].ms / table["residual"].ms == pytest.approx(
        stats.f_oneway(*groups).statistic, rel=1e-12)
    assert c.variance["init"] == pytest.approx(
        max((table["init"].ms - table["residual"].ms) / 4, 0.0), rel=1e-12)


def test_a_factor_with_one_level_contributes_nothing():
    rng = np.random.default_rng(6)
    f, rows = grid((5, 4), rng=rng)
    y = rng.normal(size=len(rows))
    with_split = dict(f, split=np.full(len(rows), 3))
    c = sources.variance_components(y, with_split)
    alone = sources.variance_components(y, f)
    assert c.share["split"] == 0.0 and c.variance["split"] == 0.0
    assert "init_x_split" not in c.share
    assert {k: v for k, v in c.share.items() if k != "split"} == pytest.approx(alone.share)
    boot = sources.bootstrap_shares(y, with_split, np.random.default_rng(0), 50)
    assert boot["split"] == (0.0, 0.0)


def test_equal_scores_have_no_shares():
    f, _ = grid((3, 3))
    c = sources.variance_components(np.full(9, 0.75), f)
    assert c.total == 0.0 and set(c.share.values()) == {0.0}


@pytest.mark.parametrize("drop", [[0], [0, 1, 2]])
def test_an_incomplete_or_unbalanced_grid_is_refused(drop):
    f, rows = grid((3, 3), r=2)
    y = np.arange(len(rows), dtype=float)
    keep = np.setdiff1d(np.arange(len(rows)), drop)  # [0]: one cell short of a run
    with pytest.raises(ValueError, match="unbalanced|not a fully crossed") as e:
        sources.variance_components(y[keep], {k: v[keep] for k, v in f.items()})
    assert "\n" not in str(e.value)


def test_bad_factors_are_refused():
    y = np.arange(4.0)
    with pytest.raises(ValueError, match="1 to 3"):
        sources.variance_components(y, {})
    with pytest.raises(ValueError, match="int labels"):
        sources.variance_components(y, {"init": np.array([0.0, 1, 0, 1])})
    with pytest.raises(ValueError, match="reserved"):
        sources.variance_components(y, {"residual": np.array([0, 1, 0, 1])})


def test_known_components_are_recovered_within_their_intervals():
    # 30 init x 30 order x 10 split seeds; variances 0.5, 0.3, 0.1 and 0.1 of noise, no
    # interaction. Percentile intervals of a variance from few levels cover it less often
    # than 95%: over 100 such grids (300 resamples each) init's covered it in 92%, order's
    # 91%, split's 91%, the residual's 94%, the interactions' 100%; this grid is one where
    # every interval does.
    rng = np.random.default_rng(2008)
    f, rows = grid((30, 30, 10), rng=rng)
    y = (np.sqrt(0.5) * rng.normal(size=30)[rows[:, 0]]
         + np.sqrt(0.3) * rng.normal(size=30)[rows[:, 1]]
         + np.sqrt(0.1) * rng.normal(size=10)[rows[:, 2]]
         + np.sqrt(0.1) * rng.normal(size=len(rows)))
    truth = {"init": 0.5, "order": 0.3, "split": 0.1, "init_x_order": 0.0,
             "init_x_split": 0.0, "order_x_split": 0.0, "residual": 0.1}
    c = sources.variance_components(y, f)
    boot = sources.bootstrap_shares(y, f, np.random.default_rng(11), n_resamples=1000)
    assert set(boot) == set(truth)
    for term, share in truth.items():
        low, high = boot[term]
        assert low <= share <= high, (term, share, (low, high), c.share[term])
        assert low <= c.share[term] <= high
    assert c.variance["residual"] == pytest.approx(0.1, rel=0.05)  # 8,000+ df: tight


def components_from_pairs(y, levels, k, r, run=None):
    """Components from the runs' pairs, one pair at a time: D(S) is the mean of
    (y - y')^2 / 2 over pairs of distinct runs whose levels agree on exactly the factors in S
    (a factor with one distinct level agrees on every pair); C(S) = D({}) - D(S) is the sum of
    the components of the terms inside S, and Moebius inversion gives each one. run: (n,)
    which run each score is, when a resample holds copies of one run (a copy is no pair)."""
    n = len(y)
    run = np.arange(n) if run is None else np.asarray(run)
    same = [levels[:, i][:, None] == levels[:, i][None, :] for i in range(k)]
    one_level = sum(1 << i for i in range(k) if np.unique(levels[:, i]).size == 1)
    cls = sum(s.astype(int) << i for i, s in enumerate(same))
    distinct = run[:, None] != run[None, :]
    half_sq = (y[:, None] - y[None, :]) ** 2 / 2
    D = {}
    for m in range(1 << k):
        pick = distinct & (cls == (m | one_level))
        D[m] = half_sq[pick].mean() if pick.any() else np.nan
    C = {m: D[0] - D[m] for m in D}
    var = {}
    for m in range(1, 1 << k):
        if m == (1 << k) - 1 and r == 1:
            continue
        if r == 1 and (m | one_level) == (1 << k) - 1:
            var[m] = 0.0  # the top interaction of the factors that vary: the residual's
        else:
            var[m] = sum((-1) ** bin(m ^ t).count("1") * C[t] for t in range(1 << k)
                         if t & m == t)
    return var, D[0] - sum(var.values())


def test_pair_components_with_unit_weights_are_the_anova():
    rng = np.random.default_rng(7)
    for r in (1, 2):
        f, rows = grid((5, 4, 3), r=r, rng=rng)
        y = rng.normal(size=5)[rows[:, 0]] + rng.normal(size=len(rows))
        c = sources.variance_components(y, f)
        var, resid = components_from_pairs(y, rows, 3, r)
        names = {1: "init", 2: "order", 4: "split", 3: "init_x_order", 5: "init_x_split",
                 6: "order_x_split", 7: "init_x_order_x_split"}
        for m, v in var.items():
            assert c.variance[names[m]] == pytest.approx(max(v, 0.0), abs=1e-12), (r, m)
        assert c.variance["residual"] == pytest.approx(resid, abs=1e-12)


def pigeonhole_by_hand(y, f, r, rng, n_resamples, confidence):
    """Owen's pigeonhole bootstrap one resample at a time: draw each factor's levels with
    replacement (in the order sources.py draws them), rebuild the grid with the runs of each
    drawn combination, and take the components from its pairs, a level drawn twice being
    one level (original labels compared)."""
    names = list(f)
    values = [np.unique(f[n]) for n in names]
    draws = [rng.integers(0, v.size, size=(n_resamples, v.size)) for v in values]
    runs = {}
    for i, key in enumerate(zip(*(f[n] for n in names), strict=True)):
        runs.setdefault(key, []).append(i)
    shares = {}
    for b in range(n_resamples):
        ids, levels = [], []
        for pos in itertools.product(*(range(v.size) for v in values)):
            key = tuple(v[d[b, p]] for v, d, p in zip(values, draws, pos, strict=True))
            ids += runs[key]
            levels += [key] * len(runs[key])
        var, resid = components_from_pairs(y[ids], np.array(levels), len(names), r, ids)
        if np.isnan(resid):
            continue  # a term with no pair to estimate it from: left out, as sources does
        var = {m: max(v, 0.0) for m, v in var.items()}
        resid = max(resid, 0.0)
        total = sum(var.values()) + resid
        for m, v in var.items():
            term = sources.term_name([n for i, n in enumerate(names) if m >> i & 1])
            shares.setdefault(term, []).append(v / total)
        shares.setdefault("residual", []).append(resid / total)
    alpha = 100 * (1 - confidence) / 2
    return {t: tuple(np.percentile(s, [alpha, 100 - alpha])) for t, s in shares.items()}


@pytest.mark.parametrize("r", [1, 2])
def test_bootstrap_is_the_pigeonhole_bootstrap(monkeypatch, r):
    rng = np.random.default_rng(8)
    # Two levels of split: a quarter of the resamples draw one split level only.
    f, rows = grid((5, 4, 2), r=r, rng=rng)
    y = rng.normal(size=5)[rows[:, 0]] + 0.5 * rng.normal(size=2)[rows[:, 2]] \
        + rng.normal(size=len(rows))
    want = pigeonhole_by_hand(y, f, r, np.random.default_rng(9), 200, 0.9)
    got = sources.bootstrap_shares(y, f, np.random.default_rng(9), 200, 0.9)
    assert got.keys() == want.keys()
    for term in want:
        assert got[term] == pytest.approx(want[term], abs=1e-12), term
    # In chunks the draws come in another order: same distribution, other numbers.
    monkeypatch.setattr(sources, "_CHUNK_BYTES", 8 * sources._GRIDS_PER_RESAMPLE * 40 * 7)
    chunked = sources.bootstrap_shares(y, f, np.random.default_rng(9), 200, 0.9)
    assert chunked == sources.bootstrap_shares(y, f, np.random.default_rng(9), 200, 0.9)
    assert chunked != got


def test_bootstrap_checks_its_settings():
    f, rows = grid((3, 3))
    with pytest.raises(ValueError, match="confidence"):
        sources.bootstrap_shares(np.arange(9.0), f, np.random.default_rng(0), 10, 1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        sources.bootstrap_shares(np.arange(9.0), f, np.random.default_rng(0), 0)


def test_one_run_per_level_of_one_factor_is_all_residual():
    # Nothing tells the factor from the noise: the factor is what the residual holds.
    c = sources.variance_components(np.array([0.1, 0.5, 0.3]), {"init": np.array([1, 2, 3])})
    assert c.confounded == "init" and c.share == {"init": 0.0, "residual": 1.0}
    assert c.table == (sources.AnovaRow("residual", pytest.approx(0.08), 2,
                                        pytest.approx(0.04)),)


# --- the finite test set ----------------------------------------------------------------


def test_test_set_noise_by_hand():
    correct = np.array([[1, 0, 1], [1, 1, 0]], dtype=bool)
    # p = (1, 1/2, 1/2): (0 + 1/4 + 1/4) / 3^2
    assert sources.test_set_noise(correct) == pytest.approx(0.5 / 9, rel=1e-15)
    assert sources.test_set_noise(np.ones((4, 5), bool)) == 0.0


def test_test_set_noise_share_by_hand():
    correct = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 1]], dtype=bool)
    acc = np.array([0.75, 0.25, 0.75])
    p = np.array([1, 2 / 3, 1 / 3, 1 / 3])
    noise = (p * (1 - p)).sum() / 16
    t = sources.test_set_noise_share(correct)
    assert t.noise == pytest.approx(noise, rel=1e-14)
    assert t.observed == pytest.approx(acc.var(ddof=1), rel=1e-14)
    assert t.share == pytest.approx(noise / acc.var(ddof=1), rel=1e-14)
    assert t.beyond == pytest.approx(acc.var(ddof=1) - noise, rel=1e-14)
    assert (t.n_runs, t.n_groups) == (3, 1)


def test_groups_pool_their_noise_by_runs():
    g1 = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)  # p = (2/3, 2/3), 2 test rows
    g2 = np.array([[1, 1, 1], [1, 0, 1]], dtype=bool)  # p = (1, 1/2, 1), 3 test rows
    n1 = 2 * (2 / 9) / 4
    n2 = 0.25 / 9
    t = sources.test_set_noise_share([g1, g2])
    assert t.noise == pytest.approx((3 * n1 + 2 * n2) / 5, rel=1e-14)
    acc = np.array([0.5, 0.5, 1.0, 1.0, 2 / 3])
    assert t.observed == pytest.approx(acc.var(ddof=1), rel=1e-14)
    assert t.n_groups == 2


def test_a_group_of_one_run_does_not_pool_a_noise_of_zero():
    # One run on a test set: each pᵢ is 0 or 1, Σp(1−p)/n² is 0 whatever the rows. It counts
    # in the observed spread, not in the noise; when every group is one run there is none.
    g1 = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    lone = np.array([[1, 1, 0]], dtype=bool)
    t = sources.test_set_noise_share([g1, lone])
    assert t.noise == pytest.approx(sources.test_set_noise(g1), rel=1e-15)
    acc = np.array([0.5, 0.5, 1.0, 2 / 3])
    assert t.observed == pytest.approx(acc.var(ddof=1), rel=1e-14)
    with pytest.raises(ValueError, match="one run"):
        sources.test_set_noise_share([lone, ~lone])


def test_the_share_is_capped_and_zero_spread_handled():
    # Every run at 0.5 accuracy, yet they disagree on rows: noise but no observed spread.
    t = sources.test_set_noise_share(np.array([[1, 0], [0, 1]], dtype=bool))
    assert t.observed == 0.0 and t.noise > 0 and t.share == 1.0 and t.beyond == 0.0
    t = sources.test_set_noise_share(np.ones((3, 4), bool))
    assert (t.noise, t.observed, t.share) == (0.0, 0.0, 0.0)


def test_independent_rows_are_all_test_set_noise():
    # Each row right with its own probability, independently per run: Jordan's model holds,
    # so the formula should predict the observed variance (2,000 runs: within ~7%).
    rng = np.random.default_rng(12)
    p = rng.beta(2, 1, size=300)
    correct = rng.random((2000, 300)) < p
    t = sources.test_set_noise_share(correct)
    assert t.share == pytest.approx(1.0, abs=0.1)
    assert t.noise == pytest.approx((p * (1 - p)).sum() / 300**2, rel=0.02)


def test_test_set_noise_refuses_bad_shapes():
    with pytest.raises(ValueError, match="n_runs, n_test"):
        sources.test_set_noise(np.ones(5, bool))
    with pytest.raises(ValueError, match="at least 2 runs"):
        sources.test_set_noise_share(np.ones((1, 5), bool))
    with pytest.raises(ValueError, match="True/False"):
        sources.test_set_noise(np.full((2, 2), 0.5))


# --- P(A > B), paired and unpaired ---------------------------------------------------------


def test_prob_greater_paired_hand_values():
    a = [0.9, 0.8, 0.7, 0.6]
    b = [0.8, 0.8, 0.9, 0.5]
    # pairs: win, tie, loss, win -> (2 + 0.5) / 4; unpaired it is another number
    assert luck.prob_greater(a, b, paired=True) == 0.625
    assert luck.prob_greater(a, b) == pytest.approx(
        stats.mannwhitneyu(a, b).statistic / 16, rel=1e-14)
    assert luck.prob_greater(a, b) != 0.625
    with pytest.raises(ValueError, match="as many b as a"):
        luck.prob_greater([1.0, 2.0], [1.0], paired=True)


def test_prob_greater_unpaired_is_mann_whitney():
    rng = np.random.default_rng(13)
    a, b = rng.binomial(80, 0.7, 40) / 80, rng.binomial(80, 0.68, 31) / 80
    assert luck.prob_greater(a, b) == pytest.approx(
        stats.mannwhitneyu(a, b).statistic / (40 * 31), rel=1e-14)


def test_prob_greater_paired_ci_is_the_pairs_bootstrap():
    rng = np.random.default_rng(14)
    shared = rng.normal(0, 0.05, 60)  # luck both runs of a pair share
    a = np.round(0.80 + shared + rng.normal(0, 0.01, 60), 2)
    b = np.round(0.79 + shared + rng.normal(0, 0.01, 60), 2)
    low, high = luck.prob_greater_ci(a, b, np.random.default_rng(15), n_resamples=4000,
                                     paired=True)
    boot = np.random.default_rng(16)
    ref = []
    for _ in range(4000):
        i = boot.integers(0, 60, 60)
        ref.append(luck.prob_greater(a[i], b[i], paired=True))
    ref_low, ref_high = np.percentile(ref, [2.5, 97.5])
    tol = 0.35 * np.std(ref)
    assert abs(low - ref_low) < tol and abs(high - ref_high) < tol
    assert low <= luck.prob_greater(a, b, paired=True) <= high
    # Pairing sets the luck both runs share aside: the paired chance shows A ahead, the
    # unpaired one cannot tell them apart.
    u_low, u_high = luck.prob_greater_ci(a, b, np.random.default_rng(15), n_resamples=4000)
    assert low > 0.5 and u_low < 0.5 < u_high


def test_prob_greater_paired_ci_degenerate_and_reproducible():
    rng = np.random.default_rng(0)
    assert luck.prob_greater_ci([2.0, 3.0], [1.0, 2.0], rng, paired=True) == (1.0, 1.0)
    assert luck.prob_greater_ci([1.0, 1.0], [1.0, 1.0], rng, paired=True) == (0.5, 0.5)
    a, b = [0.5, 0.6, 0.7, 0.4], [0.6, 0.5, 0.6, 0.4]
    first = luck.prob_greater_ci(a, b, np.random.default_rng(3), n_resamples=300, paired=True)
    assert luck.prob_greater_ci(a, b, np.random.default_rng(3), n_resamples=300,
                                paired=True) == first

