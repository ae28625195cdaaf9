"""How much of a result is luck: statistics over the per-seed scores of one configuration.

x, a, b: (n_seeds,) finite scores, one per random seed (accuracy, loss, ...).
Every random draw goes through the ``rng`` (an ``np.random.Generator``) passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Above this many distinct values a bootstrap resamples indices instead of drawing
# multinomial counts over the distinct values (tests lower it to exercise both paths).
_MAX_DISTINCT = 2048
# ...and only when there are this many scores per distinct value: a multinomial draw costs
# ~65 ns per value, an index ~3 ns per score (measured), so below that indices are cheaper.
_MULTINOMIAL_MIN_RATIO = 20
# Rough cap on the bytes one chunk of bootstrap resamples (or of expected_max's k) allocates.
_CHUNK_BYTES = 50_000_000
# expected_max: with all k up to this N, otherwise ~200 log-spaced k.
_ALL_K_UP_TO = 10_000
# expected_max drops CDF terms F^k < exp(-50) ~ 2e-22: they move E[max] by less than
# 2e-22 * (max - min), far below float64 rounding.
_LOG_TINY = -50.0


def _scores(x, name="x"):
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return x


def _check_bootstrap(confidence, n_resamples):
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")
    return int(n_resamples)


def _percentile_interval(stats, confidence):
    alpha = 1.0 - confidence
    low, high = np.percentile(stats, [100.0 * alpha / 2, 100.0 * (1.0 - alpha / 2)])
    return float(low), float(high)


def _chunks(total, rows):
    """Sizes of consecutive chunks of at most `rows` (>= 1) that add up to `total`."""
    rows = max(1, int(rows))
    return [min(rows, total - start) for start in range(0, total, rows)]


@dataclass(frozen=True)
class Description:
    n: int
    mean: float
    std: float  # ddof=1; 0.0 when n == 1
    min: float
    max: float
    median: float
    q1: float
    q3: float


def describe(x) -> Description:
    """n, mean, std (ddof=1; 0.0 when n == 1), min, max, median, q1, q3 of x: (n,).

    Picard 2021 ("torch.manual_seed(3407) is all you need") reports mean, std, min and
    max over seeds; quartiles use numpy's default linear interpolation.
    """
    x = _scores(x)
    q1, median, q3 = np.percentile(x, [25.0, 50.0, 75.0])
    return Description(
        n=int(x.size), mean=float(x.mean()), std=float(x.std(ddof=1)) if x.size > 1 else 0.0,
        min=float(x.min()), max=float(x.max()), median=float(median), q1=float(q1),
        q3=float(q3))


def iqm(x):
    """Interquartile mean of x: (n,), the 25% trimmed mean of rliable (Agarwal et al. 2021).

    Drops int(0.25 * n) values from each end of the sorted scores, as
    scipy.stats.trim_mean(x, 0.25) does, and averages the rest.
    """
    x = np.sort(_scores(x))
    cut = int(0.25 * x.size)
    return float(x[cut : x.size - cut].mean())


def _multinomial_means(values, counts, n, rng, n_resamples):
    """Bootstrap means from multinomial counts over the distinct values: (n_resamples,)."""
    p = counts / n
    rows = _CHUNK_BYTES // (8 * values.size)
    return np.concatenate([
        rng.multinomial(n, p, size=size) @ values / n for size in _chunks(n_resamples, rows)
    ])


def _index_means(x, rng, n_resamples):
    """Bootstrap means from indices drawn with replacement: (n_resamples,)."""
    n = x.size
    rows = _CHUNK_BYTES // (16 * n)  # int64 indices + the float64 values they pick
    return np.concatenate([
        x[rng.integers(0, n, size=(size, n))].mean(axis=1)
        for size in _chunks(n_resamples, rows)
    ])


def bootstrap_ci(x, rng, confidence=0.95, n_resamples=10_000):
    """(low, high) percentile-bootstrap confidence interval of the mean of x: (n,).

    Efron's percentile bootstrap, as scipy.stats.bootstrap(method="percentile").
    Scores that take few distinct values (accuracy over a few hundred rows) are resampled
    as multinomial counts over those values: the same distribution as drawing n indices
    with replacement, at a cost that does not grow with n. With more than _MAX_DISTINCT
    distinct values it draws indices, in chunks of about _CHUNK_BYTES, which costs
    O(n_resamples * n) time.
    """
    x = _scores(x)
    n_resamples = _check_bootstrap(confidence, n_resamples)
    values, counts = np.unique(x, return_counts=True)
    if values.size == 1:
        return float(values[0]), float(values[0])
    if values.size <= _MAX_DISTINCT and x.size >= _MULTINOMIAL_MIN_RATIO * values.size:
        means = _multinomial_means(values, counts, x.size, rng, n_resamples)
    else:
        means = _index_means(x, rng, n_resamples)
    return _percentile_interval(means, confidence)


def _default_ks(n):
    if n <= _ALL_K_UP_TO:
        return np.arange(1, n + 1)
    return np.unique(np.round(np.geomspace(1, n, 200)).astype(np.int64))


def expected_max(x, ks=None):
    """(ks, mean_k, sd_k): expected best score of k seeds drawn with replacement from x: (N,).

    Dodge et al. 2019, "Show Your Work": with v(1) <= ... <= v(N) sorted and
    p_i(k) = (i/N)^k - ((i-1)/N)^k, mean_k = sum_i p_i(k) v(i) and
    sd_k = sqrt(sum_i p_i(k) (v(i) - mean_k)^2), the spread of the best-of-k score
    (the +- band of their reference implementation, not a standard error of mean_k).

    ks: (m,) integers in 1..N; default all of 1..N when N <= 10_000, otherwise ~200
    log-spaced values that include 1 and N. Returns ks (m,) int, mean_k (m,), sd_k (m,).
    Ties are merged (they share the same CDF step) and powers are exp(k * log(i/N)).
    """
    x = _scores(x)
    n = x.size
    ks = _default_ks(n) if ks is None else np.asarray(ks)
    if ks.ndim != 1 or ks.size == 0 or not np.issubdtype(ks.dtype, np.integer):
        raise ValueError("ks must be a non-empty 1-D array of integers")
    if ks.min() < 1 or ks.max() > n:
        raise ValueError(f"ks must lie in 1..{n}")
    ks = ks.astype(np.int64)

    values, counts = np.unique(x, return_counts=True)
    with np.errstate(divide="ignore"):
        log_cdf = np.log(np.cumsum(counts) / n)  # log P(one draw <= values[j]); last is 0
    log_cdf[-1] = 0.0

    order = np.argsort(ks, kind="stable")
    mean_k = np.empty(ks.size)
    sd_k = np.empty(ks.size)
    i = 0
    while i < ks.size:
        k0 = ks[order[i]]
        # CDF steps below exp(_LOG_TINY / k0) have F^k < exp(_LOG_TINY) for every k >= k0.
        start = int(np.searchsorted(log_cdf, _LOG_TINY / k0))
        lo = max(start - 1, 0)
        width = values.size - lo
        rows = max(1, _CHUNK_BYTES // (24 * width))
        idx = order[i : i + rows]
        cdf_k = np.exp(ks[idx, None] * log_cdf[None, lo:])  # (rows, width)
        if start == 0:
            p = np.diff(cdf_k, axis=1, prepend=0.0)
            v = values
        else:
            p = np.diff(cdf_k, axis=1)
            v = values[start:]
        np.maximum(p, 0.0, out=p)
        mean = p @ v
        mean_k[idx] = mean
        sd_k[idx] = np.sqrt((p * (v[None, :] - mean[:, None]) ** 2).sum(axis=1))
        i += rows
    return ks, mean_k, sd_k


def share_beating(x, baseline):
    """Share of seeds, x: (n,), whose score is strictly greater than the scalar baseline."""
    x = _scores(x)
    return float(np.mean(x > baseline))


def stuck(x, baseline):
    """Per seed, x: (n,) accuracies: trained yet no better than the constant guess.

    Where the constant guess is already perfect (the labels hold one class) no seed can do
    better, so none is stuck: all False.
    """
    x = np.asarray(x, dtype=float)
    return (x <= baseline) & (baseline < 1.0)


def majority_baseline(y):
    """Accuracy of always guessing the majority class of y: (n_rows,) of 0/1."""
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.isin(y, (0, 1)).all():
        raise ValueError("y must be a non-empty 1-D array of 0/1 labels")
    share = float(np.mean(y == 1))
    return max(share, 1.0 - share)


def per_example_counts(pred, y):
    """(n_positive, n_correct), each (n_rows,) int: per row, how many seeds predict 1 and how
    many predict y. Counts, not shares, so chunks of seeds add up exactly.

    pred: (n_seeds, n_rows) of 0/1 or bool predictions; y: (n_rows,) of 0/1 labels.
    """
    pred = np.asarray(pred)
    y = np.asarray(y)
    if pred.ndim != 2 or y.ndim != 1 or pred.shape[1] != y.size or pred.shape[0] == 0:
        raise ValueError(f"need pred (n_seeds, n_rows) and y (n_rows,), got {pred.shape}, "
                         f"{y.shape}")
    pred = pred.astype(bool)
    y = y.astype(bool)
    return pred.sum(axis=0), (pred == y[None, :]).sum(axis=0)


def per_example_counts_on(pred, y, rows):
    """per_example_counts where each seed measured rows of its own (its split's test rows):
    (n_measured, n_positive, n_correct), each (n_rows,) int, n_measured how many seeds
    measured the row.

    pred: (n_seeds, n_measured) predictions on the rows `rows` (n_seeds, n_measured) of row
    numbers; y: (n_rows,) of 0/1 labels, every row's.
    """
    pred, y, rows = np.asarray(pred, bool), np.asarray(y, bool), np.asarray(rows)
    if pred.ndim != 2 or pred.shape != rows.shape or y.ndim != 1:
        raise ValueError(f"need pred and rows (n_seeds, n_measured) and y (n_rows,), got "
                         f"{pred.shape}, {rows.shape}, {y.shape}")
    n = y.size
    return (np.bincount(rows.ravel(), minlength=n), np.bincount(rows[pred], minlength=n),
            np.bincount(rows[pred == y[rows]], minlength=n))


def prob_greater(a, b, paired=False):
    """P(A > B) + P(A = B) / 2 for A, B drawn from a: (n_a,) and b: (n_b,).

    Unpaired: over all n_a * n_b pairs, the Mann-Whitney U statistic of a over n_a * n_b,
    ties counting 1/2: rliable's probability of improvement (Agarwal et al. 2021).
    O((n_a + n_b) log n_b) time via searchsorted, no n_a x n_b matrix.
    paired: a[i] and b[i] share their seeds (n_a == n_b), so the chance is over those pairs:
    the mean of [a_i > b_i] + [a_i = b_i] / 2. Runs that share seeds share the luck those
    seeds bring, and the paired figure compares them within it.
    """
    a = _scores(a, "a")
    if paired:
        b = _paired(a, b)
        return (int((a > b).sum()) + 0.5 * int((a == b).sum())) / a.size
    b = np.sort(_scores(b, "b"))
    below = np.searchsorted(b, a, side="left")  # b < a_i
    below_or_tied = np.searchsorted(b, a, side="right")  # b <= a_i
    twice_u = int(below.sum()) + int(below_or_tied.sum())
    return twice_u / (2 * a.size * b.size)


def _paired(a, b):
    b = _scores(b, "b")
    if b.size != a.size:
        raise ValueError(f"paired scores need as many b as a, got {a.size} and {b.size}")
    return b


def _prob_greater_from_counts(ca, cb, na, nb):
    """P(A > B) for rows of counts over one sorted grid of values: ca, cb (rows, K)."""
    below_half_tied = np.cumsum(cb, axis=1) - 0.5 * cb  # b < g_j, plus half of b == g_j
    return (ca * below_half_tied).sum(axis=1) / (na * nb)


def prob_greater_ci(a, b, rng, confidence=0.95, n_resamples=2000, paired=False):
    """(low, high) percentile-bootstrap confidence interval of prob_greater(a, b, paired).

    Unpaired, a: (n_a,), b: (n_b,) are resampled independently (stratified bootstrap, as
    rliable does per algorithm; Agarwal et al. 2021). Each resample is kept as counts over
    the sorted union of values; when a and b each have at most _MAX_DISTINCT distinct values
    the counts are multinomial draws (cost independent of n), otherwise they come from
    indices drawn with replacement (cost O(n_resamples * (n_a + n_b))). Resamples are
    processed in chunks of about _CHUNK_BYTES.
    Paired, the pairs (a_i, b_i) are resampled together: each pair is a win, a tie or a loss,
    so a resample is a multinomial draw over those three (cost independent of n).
    """
    a = _scores(a, "a")
    n_resamples = _check_bootstrap(confidence, n_resamples)
    if paired:
        b = _paired(a, b)
        n = a.size
        outcome = np.sign(a - b)  # -1 loss, 0 tie, 1 win
        counts = np.array([(outcome == v).sum() for v in (-1.0, 0.0, 1.0)])
        draws = rng.multinomial(n, counts / n, size=n_resamples)
        return _percentile_interval((draws[:, 1] * 0.5 + draws[:, 2]) / n, confidence)
    b = _scores(b, "b")
    na, nb = a.size, b.size
    grid = np.unique(np.concatenate([a, b]))
    ua, ca = np.unique(a, return_counts=True)
    ub, cb = np.unique(b, return_counts=True)
    k = grid.size
    stats = []
    if ua.size <= _MAX_DISTINCT and ub.size <= _MAX_DISTINCT:
        pos_a = np.searchsorted(grid, ua)
        pos_b = np.searchsorted(grid, ub)
        for size in _chunks(n_resamples, _CHUNK_BYTES // (32 * k)):
            count_a = np.zeros((size, k))
            count_b = np.zeros((size, k))
            count_a[:, pos_a] = rng.multinomial(na, ca / na, size=size)
            count_b[:, pos_b] = rng.multinomial(nb, cb / nb, size=size)
            stats.append(_prob_greater_from_counts(count_a, count_b, na, nb))
    else:
        rank_a = np.searchsorted(grid, a)
        rank_b = np.searchsorted(grid, b)
        rows = _CHUNK_BYTES // (24 * (na + nb) + 32 * k)
        for size in _chunks(n_resamples, rows):
            offset = (np.arange(size) * k)[:, None]
            count_a = np.bincount(
                (rank_a[rng.integers(0, na, size=(size, na))] + offset).ravel(),
                minlength=size * k,
            ).reshape(size, k)
            count_b = np.bincount(
                (rank_b[rng.integers(0, nb, size=(size, nb))] + offset).ravel(),
                minlength=size * k,
            ).reshape(size, k)
            stats.append(_prob_greater_from_counts(count_a, count_b, na, nb))
    return _percentile_interval(np.concatenate(stats), confidence)


_RESERVED = ("seed", "interaction", "total_ss")


def variance_split(scores, factors):
    """Share of the total sum of squares due to seeds, each factor and their interaction.

    In the spirit of Bouthillier et al. 2021 ("Accounting for Variance in Machine Learning
    Benchmarks"). scores: list of (n_j,) arrays, job j's per-seed scores; factors: list
    of dicts, job j's factor name -> level (hashable), all with the same names.

    Returns {"seed": within-job SS / total SS, <factor>: main-effect SS / total SS for each
    factor whose level differs across jobs, "interaction": the rest of the between-job SS
    / total SS, "total_ss": total SS}. Main-effect SS = sum over levels of
    n_level * (mean_level - grand_mean)^2, with seeds pooled per level. The shares (all
    keys but "total_ss") sum to 1. Float noise below 1e-12 of the total is clipped to 0 in
    the interaction; in an unbalanced design the main effects are not orthogonal and the
    interaction can be truly negative, and is then reported as is. When total SS is 0
    (every score equal) every share is 0.
    """
    if len(scores) == 0 or len(scores) != len(factors):
        raise ValueError("need one factors dict per job and at least one job")
    jobs = [_scores(s, "scores[j]") for s in scores]
    names = list(factors[0])
    for f in factors:
        if set(f) != set(names):
            raise ValueError("every job must name the same factors")
    clash = set(names) & set(_RESERVED)
    if clash:
        raise ValueError(f"factor names {sorted(clash)} are reserved")

    all_scores = np.concatenate(jobs)
    grand = all_scores.mean()
    sizes = np.array([s.size for s in jobs])
    job_means = np.array([s.mean() for s in jobs])
    within = float(sum(((s - m) ** 2).sum() for s, m in zip(jobs, job_means, strict=True)))
    between = float((sizes * (job_means - grand) ** 2).sum())
    total = within + between

    main = {}
    for name in names:
        levels = [f[name] for f in factors]
        if len(set(levels)) < 2:
            continue
        ss = 0.0
        for level in set(levels):
            mask = np.array([lv == level for lv in levels])
            n_level = sizes[mask].sum()
            mean_level = (sizes[mask] * job_means[mask]).sum() / n_level
            ss += float(n_level * (mean_level - grand) ** 2)
        main[name] = ss
    interaction = between - sum(main.values())
    if abs(interaction) <= 1e-12 * total:
        interaction = 0.0

    if total == 0.0:
        out = {"seed": 0.0, **{name: 0.0 for name in main}, "interaction": 0.0}
    else:
        out = {"seed": within / total, **{name: ss / total for name, ss in main.items()},
               "interaction": interaction / total}
    out["total_ss"] = total
    return out
