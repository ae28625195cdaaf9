"""Where the luck comes from: the variance of a score split by source, and the test set's share.

scores: (n,) finite, one per run of a grid of seeds, e.g. every (init, order, split) seed
combination; factors: {name: (n,) int level labels}, e.g. {"init": seed, "order": order_seed,
"split": split_seed}. Bouthillier et al. 2021 ("Accounting for Variance in Machine Learning
Benchmarks") measure each source this way. Every random draw goes through the ``rng`` (an
``np.random.Generator``) passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

RESIDUAL = "residual"
# "init_x_order": MLflow keys allow letters, digits, _ - . / and space, so no ':' or '×'.
INTERACTION = "_x_"
MAX_FACTORS = 3
# Rough cap on the bytes one chunk of bootstrap resamples allocates (as neuron/luck.py).
_CHUNK_BYTES = 50_000_000
# Arrays of the size of the grid's cells that one resample holds at once: sizes the chunks.
_GRIDS_PER_RESAMPLE = 6


@dataclass(frozen=True)
class AnovaRow:
    term: str  # "init", "init_x_order", or "residual"
    ss: float  # sum of squares
    df: int  # degrees of freedom
    ms: float  # mean square, ss / df


@dataclass(frozen=True)
class Components:
    """Random-effects variance components of a balanced fully crossed grid, and their shares.

    terms: every main effect (in the order the factors were given), then the interactions of
    the factors with more than one level, then "residual". With one run per cell the highest
    interaction cannot be told from the run-to-run noise: it is folded into the residual and
    named in `confounded`.
    """

    factors: tuple[str, ...]
    levels: tuple[int, ...]  # levels per factor
    runs_per_cell: int
    terms: tuple[str, ...]
    variance: Mapping[str, float]  # per term, >= 0 (negative estimates truncated to 0)
    share: Mapping[str, float]  # variance / total; all 0 when total is 0
    total: float  # the sum of the components
    table: tuple[AnovaRow, ...]  # the terms with df > 0, then the residual
    confounded: str | None  # the interaction inside the residual (one run per cell), if any


@dataclass(frozen=True)
class TestSetNoise:
    """How much of the runs' spread in test accuracy a finite test set alone would give."""

    __test__ = False  # a result, not a pytest class

    noise: float  # expected variance of accuracy from the test rows alone (pooled by group)
    observed: float  # variance of the runs' test accuracy, ddof=1
    share: float  # min(noise / observed, 1); 1 if observed is 0 and noise is not, else 0
    beyond: float  # max(observed - noise, 0): the luck the test set does not explain
    n_runs: int
    n_groups: int  # groups of runs that share one test set


def term_name(names: Sequence[str]) -> str:
    """The term of these factors: "init", "init_x_order"."""
    return INTERACTION.join(names)


def _scores(x):
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"scores must be a 1-D array of at least 2 runs, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("scores has NaN or infinite values")
    return x


@dataclass(frozen=True)
class _Grid:
    names: tuple[str, ...]
    levels: tuple[int, ...]  # per factor, as given
    active: tuple[int, ...]  # indices of the factors with more than one level
    r: int  # runs per cell
    Y: np.ndarray  # (levels of the active factors..., r)


def _grid(scores, factors) -> _Grid:
    """The scores arranged as the crossed grid; ValueError unless balanced and complete."""
    y = _scores(scores)
    if not isinstance(factors, Mapping) or not 1 <= len(factors) <= MAX_FACTORS:
        raise ValueError(f"factors must be a dict of 1 to {MAX_FACTORS} factors, got "
                         f"{len(factors) if isinstance(factors, Mapping) else type(factors)}")
    names = tuple(str(k) for k in factors)
    for name in names:
        if name == RESIDUAL or INTERACTION in name or not name:
            raise ValueError(f"factor name {name!r} is reserved or empty; rename it")
    codes, values = [], []
    for name, labels in factors.items():
        labels = np.asarray(labels)
        if labels.shape != y.shape or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"factors[{name!r}] must be {y.size} int labels, one per score, "
                             f"got {labels.dtype} of shape {labels.shape}")
        v, c = np.unique(labels, return_inverse=True)
        values.append(v)
        codes.append(c.reshape(-1))
    levels = tuple(v.size for v in values)
    cell = np.ravel_multi_index(codes, levels)
    counts = np.bincount(cell, minlength=int(np.prod(levels)))
    if counts.min() == 0:
        missing = np.unravel_index(int(np.argmin(counts)), levels)
        where = ", ".join(f"{n}={values[i][j]}" for i, (n, j) in enumerate(zip(names, missing,
                                                                               strict=True)))
        raise ValueError(f"scores: not a fully crossed grid, no run at ({where}); run every "
                         "combination of the factors' levels")
    if counts.max() != counts.min():
        raise ValueError(f"scores: unbalanced grid, {counts.min()} to {counts.max()} runs per "
                         "cell; run every combination the same number of times")
    r = int(counts[0])
    active = tuple(i for i, n in enumerate(levels) if n > 1)
    order = np.argsort(cell, kind="stable")
    Y = y[order].reshape(tuple(levels[i] for i in active) + (r,))
    return _Grid(names, levels, active, r, Y)


def _subsets(k):
    """Non-empty bit masks over k factors, largest first (each before its subsets)."""
    return sorted(range(1, 1 << k), key=lambda m: (-bin(m).count("1"), m))


def _sums_of_squares(Y, k):
    """Y: (B, L_1, ..., L_k, r), a batch of grids. Returns ({mask: (B,) SS of that term},
    (B,) within-cell SS). Effects are the marginal means' inclusion-exclusion."""
    r = Y.shape[-1]
    L = Y.shape[1:-1]
    cell = Y.mean(axis=-1)  # (B, L_1..L_k)
    within = ((Y - cell[..., None]) ** 2).sum(axis=tuple(range(1, k + 2)))
    means = {0: cell.mean(axis=tuple(range(1, k + 1)), keepdims=True)}
    for mask in range(1, 1 << k):
        off = tuple(1 + i for i in range(k) if not mask >> i & 1)
        means[mask] = cell.mean(axis=off, keepdims=True) if off else cell
    ss = {}
    for mask in range(1, 1 << k):
        effect = 0.0
        sub = mask
        while True:  # every subset of mask, mask itself included, down to 0
            sign = -1.0 if bin(mask ^ sub).count("1") % 2 else 1.0
            effect = effect + sign * means[sub]
            if sub == 0:
                break
            sub = (sub - 1) & mask
        weight = r * np.prod([L[i] for i in range(k) if not mask >> i & 1])
        ss[mask] = weight * (effect**2).sum(axis=tuple(range(1, k + 1)))
    return ss, within


def _components(Y, k):
    """Y: (B, L_1..L_k, r). The ANOVA table and the truncated components, per batch row.

    Balanced random effects: E[MS_S] = var_e + sum over terms T containing S of
    c_T var_T, with c_T = r * prod of the levels of the factors not in T. Solved from the
    highest interaction down with the untruncated estimates, then truncated at 0.
    """
    r = Y.shape[-1]
    L = Y.shape[1:-1]
    ss, within = _sums_of_squares(Y, k)
    full = (1 << k) - 1
    df = {m: int(np.prod([L[i] - 1 for i in range(k) if m >> i & 1])) for m in ss}
    terms = _subsets(k)
    if r == 1:
        resid_ss, resid_df = ss[full], df[full]
        terms = [m for m in terms if m != full]
    else:
        resid_ss, resid_df = within, int(np.prod(L)) * (r - 1)
    var_e = resid_ss / resid_df
    raw = {}
    for m in terms:  # supersets first
        c = r * np.prod([L[i] for i in range(k) if not m >> i & 1])
        above = sum((r * np.prod([L[i] for i in range(k) if not t >> i & 1])) * raw[t]
                    for t in raw if t & m == m)
        raw[m] = (ss[m] / df[m] - var_e - above) / c
    var = {m: np.maximum(v, 0.0) for m, v in raw.items()}
    return terms, ss, df, (resid_ss, resid_df), var, var_e


def _shares(var, var_e):
    total = sum(var.values()) + var_e
    safe = np.where(total > 0, total, 1.0)
    share = {m: np.where(total > 0, v / safe, 0.0) for m, v in var.items()}
    return share, np.where(total > 0, var_e / safe, 0.0), total


def variance_components(scores, factors) -> Components:
    """Random-effects ANOVA of scores: (n,) over a balanced fully crossed grid of factors.

    factors: {name: (n,) int level labels}, 1 to 3 factors. Every combination of levels must
    hold the same number r >= 1 of runs (ValueError otherwise). Components by expected mean
    squares (the method of moments, Searle, Casella & McCulloch 1992, ch. 4): each main
    effect's, each interaction's and the residual's, negative estimates truncated to 0; each
    term's share is its component over the sum of the components (total 0: every share 0).
    A factor with one level has no variance: its share is 0 and it joins no interaction.
    With one run per cell the highest interaction is the residual (`confounded` names it).
    """
    g = _grid(scores, factors)
    k = len(g.active)
    terms, ss, df, (resid_ss, resid_df), var, var_e = _components(g.Y[None], k)
    share, share_e, total = _shares(var, var_e)

    def name(mask):
        return term_name([g.names[g.active[i]] for i in range(k) if mask >> i & 1])

    variance = {n: 0.0 for n in g.names}
    shares = {n: 0.0 for n in g.names}
    for m in sorted(terms, key=lambda m: (bin(m).count("1"), m)):
        variance[name(m)] = float(var[m][0])
        shares[name(m)] = float(share[m][0])
    variance[RESIDUAL] = float(var_e[0])
    shares[RESIDUAL] = float(share_e[0])
    table = tuple(AnovaRow(name(m), float(ss[m][0]), df[m], float(ss[m][0]) / df[m])
                  for m in sorted(terms, key=lambda m: (bin(m).count("1"), m)))
    table += (AnovaRow(RESIDUAL, float(resid_ss[0]), resid_df, float(resid_ss[0]) / resid_df),)
    confounded = name((1 << k) - 1) if g.r == 1 and k > 0 else None
    return Components(
        factors=g.names, levels=g.levels, runs_per_cell=g.r, terms=tuple(variance),
        variance=variance, share=shares, total=float(total[0]), table=table,
        confounded=confounded)


def _contract(X, weights, B, batched=False):
    """X weighted and summed over every axis whose weight is not None.

    X: (L_1..L_k), or (B, L_1..L_k) when batched; weights: k arrays (B, L_i) or None (the
    axis is kept). Returns (B, the kept axes...). The first contraction of an unbatched X
    costs O(B * X.size); the rest work on what it leaves.
    """
    out = X if batched else None
    for i in reversed(range(len(weights))):
        wi = weights[i]
        if wi is None:
            continue
        if out is None:
            Xi = np.moveaxis(X, i, -1)
            # c_einsum, not BLAS: threaded BLAS on these thin products ran 6x slower on a
            # busy 2-core machine (measured).
            out = np.einsum("xi,zi->zx", Xi.reshape(-1, Xi.shape[-1]), wi,
                            optimize=False).reshape((B,) + Xi.shape[:-1])
        else:
            shape = [B] + [1] * (out.ndim - 1)
            shape[1 + i] = wi.shape[1]
            out = (out * wi.reshape(shape)).sum(axis=1 + i)
    return np.broadcast_to(X, (B,) + X.shape) if out is None else out


def _pair_components(S1, S2, w, r):
    """Components from mean squared differences over pairs of runs, each level weighted.

    S1, S2: (L_1..L_k) per-cell sums of the scores and of their squares over the r runs of
    a cell; w: k arrays (B, L_i), the weight of each level in each of B resamples (how many
    times it was drawn; all ones gives the plain grid). D(S), the weighted mean of
    (y - y')^2 / 2 over pairs of distinct runs whose levels agree on exactly the factors in S,
    has expectation var_e + the sum of the components of the terms not inside S; Moebius
    inversion over S gives each component. With unit weights these are the method-of-moments
    ANOVA estimates, untruncated (tests/test_sources.py checks it); a level drawn twice
    counts as one level, so its copies are not read as two levels that agree exactly.
    Returns ({mask: (B,) component, untruncated}, (B,) residual); NaN where a resample holds
    one distinct run only.
    """
    k = S1.ndim
    B = w[0].shape[0] if k else 1
    L = S1.shape
    w2 = [wi**2 for wi in w]
    sq = [x.sum(axis=1) for x in w2]  # (B,) per factor
    at_sum, at_count = {}, {}
    for m in range(1 << k):
        inside = [i for i in range(k) if m >> i & 1]
        off = [i for i in range(k) if not m >> i & 1]
        M = r * int(np.prod([L[i] for i in off]))
        # sum over groups g of W_g * sum_g w y^2 - (sum_g w y)^2, W_g = M * w_m(g): the
        # weighted sum over ordered pairs in g of (y - y')^2 / 2.
        Q = _contract(S2, [w2[i] if m >> i & 1 else w[i] for i in range(k)], B)
        P = _contract(S1, [None if m >> i & 1 else w[i] for i in range(k)], B)
        if off:
            P2 = _contract(P**2, [w2[i] for i in inside], B, batched=True)
        else:
            P2 = _contract(S1**2, w2, B)
        at_sum[m] = M * Q - P2
        at_count[m] = M**2 * np.prod([sq[i] for i in inside], axis=0) * np.ones(B)
    full = (1 << k) - 1
    # Pairs of a run with itself (or with a copy of itself) are in every class above and
    # cancel below, except in the class that agrees on every factor.
    self_pairs = r * np.prod(sq, axis=0) if k else np.full(B, float(r))
    D = np.empty((B, 1 << k))
    for m in range(1 << k):
        total, count = np.zeros(B), np.zeros(B)
        for t in range(1 << k):
            if t & m == m:
                sign = -1.0 if bin(t ^ m).count("1") % 2 else 1.0
                total = total + sign * at_sum[t]
                count = count + sign * at_count[t]
        if m == full:
            count = count - self_pairs
        with np.errstate(invalid="ignore", divide="ignore"):
            D[:, m] = np.where(count > 0.5, total / np.where(count > 0.5, count, 1.0), np.nan)
    # A factor drawn at one level only agrees on every pair: read each class as also
    # agreeing on it, which gives its terms 0, as the rebuilt grid's ANOVA would.
    one_level = np.zeros(B, dtype=np.int64)
    for i in range(k):
        one_level |= ((w[i] > 0).sum(axis=1) == 1).astype(np.int64) << i
    D = np.take_along_axis(D, np.arange(1 << k)[None, :] | one_level[:, None], axis=1)
    C = D[:, :1] - D  # sum of the components of the terms inside each class
    var = {}
    for m in _subsets(k):
        if m == full and r == 1:
            continue  # the residual's
        v, sub = 0.0, m
        while True:
            v = v + (-1.0 if bin(m ^ sub).count("1") % 2 else 1.0) * C[:, sub]
            if sub == 0:
                break
            sub = (sub - 1) & m
        # With one run per cell, the highest interaction of the factors drawn at more than
        # one level is the residual's, as in variance_components.
        var[m] = np.where((m | one_level) == full, 0.0, v) if r == 1 else v
    resid = D[:, 0] - sum(var.values()) if var else D[:, 0]
    return var, resid


def bootstrap_shares(scores, factors, rng, n_resamples=10_000, confidence=0.95
                     ) -> dict[str, tuple[float, float]]:
    """{term: (low, high)}: percentile-bootstrap intervals of variance_components' shares.

    Owen 2007, "The pigeonhole bootstrap" (Ann. Appl. Stat. 1(2)): each factor's levels are
    resampled independently with replacement and the crossed grid rebuilt from them; the
    runs inside a cell stay as they are. Crossed factors share every run, so resampling runs
    alone would miss the factors' own sampling. On the rebuilt grid the components are the
    same method-of-moments estimates (see _pair_components), with the copies of a level drawn
    twice counted as one level: a plain ANOVA of the rebuilt grid reads them as two levels
    whose runs agree exactly, which moves about var_e / L of the residual into each
    interaction (its intervals then miss a true 0). A factor drawn at one level gets 0 for
    its terms; with one run per cell the highest interaction of the others then joins the
    residual. A factor with one level is not resampled; its interval is (0, 0). Resamples
    are processed in chunks of about _CHUNK_BYTES, O(n_resamples * cells).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")
    g = _grid(scores, factors)
    k = len(g.active)
    L = g.Y.shape[:-1]
    S1, S2 = g.Y.sum(axis=-1), (g.Y**2).sum(axis=-1)
    rows = max(1, _CHUNK_BYTES // (8 * _GRIDS_PER_RESAMPLE * S1.size))
    parts = []
    for start in range(0, int(n_resamples), rows):
        size = min(rows, int(n_resamples) - start)
        w = []
        for n in L:
            drawn = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
            w.append(np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n)
                     .astype(float))
        if k == 0:  # nothing to resample: one "resample", the grid itself
            w = []
        var, resid = _pair_components(S1, S2, w, g.r)
        if k == 0:
            var, resid = {}, np.repeat(resid, size)
        trunc = {m: np.maximum(v, 0.0) for m, v in var.items()}
        share, share_e, _ = _shares(trunc, np.maximum(resid, 0.0))
        bad = ~np.isfinite(resid)
        parts.append(({m: np.where(bad, np.nan, s) for m, s in share.items()},
                      np.where(bad, np.nan, share_e)))
    alpha = 100.0 * (1.0 - confidence) / 2

    def interval(values):
        low, high = np.nanpercentile(np.concatenate(values), [alpha, 100.0 - alpha])
        return float(low), float(high)

    out = {n: (0.0, 0.0) for n in g.names}
    for m in sorted(_subsets(k), key=lambda m: (bin(m).count("1"), m)):
        if m == (1 << k) - 1 and g.r == 1:
            continue
        out[term_name([g.names[g.active[i]] for i in range(k) if m >> i & 1])] = interval(
            [p[0][m] for p in parts])
    out[RESIDUAL] = interval([p[1] for p in parts])
    return out


def _correct(correct, name="correct"):
    c = np.asarray(correct)
    if c.ndim != 2 or c.shape[0] == 0 or c.shape[1] == 0:
        raise ValueError(f"{name} must be (n_runs, n_test), got shape {c.shape}")
    if c.dtype != bool and not np.isin(c, (0, 1)).all():
        raise ValueError(f"{name} must hold True/False (or 0/1), one per run and test row")
    return c.astype(bool)


def test_set_noise(correct) -> float:
    """Σᵢ pᵢ(1 − pᵢ) / n_test²: the variance of test accuracy a finite test set gives alone.

    correct: (n_runs, n_test) bool, every run scored on the same test rows; pᵢ is the share of
    runs right on row i. Jordan 2024, "On the Variance of Neural Network Training": were each
    row right independently with probability pᵢ, a run's accuracy would vary this much. The
    plug-in pᵢ makes it (n_runs − 1)/n_runs of the unbiased value (5% low at 20 runs).
    """
    c = _correct(correct)
    p = c.mean(axis=0)
    return float((p * (1.0 - p)).sum() / c.shape[1] ** 2)


test_set_noise.__test__ = False  # a statistic, not a pytest test


def test_set_noise_share(groups) -> TestSetNoise:
    """The test set's share of the runs' variance in test accuracy, and what remains.

    groups: one (n_runs, n_test) bool array, or a list of them, one per test set (runs of one
    split seed, or one fold): runs in a group share their test rows, n_test may differ
    between groups. The noise is test_set_noise per group pooled as a mean weighted by the
    group's runs, i.e. the expected test-set variance of one run picked at random; the
    observed variance is that of every run's accuracy together (ddof=1), so it also holds
    what the split moves between groups, which the share counts as luck beyond the test set.
    A group of one run says nothing of its rows' pᵢ (each is 0 or 1: no noise, whatever the
    rows): it is left out of the noise's pool, and a ValueError says when every group is one
    run (luck.sources=together: each run its own test set).
    """
    groups = [groups] if isinstance(groups, np.ndarray) and groups.ndim == 2 else list(groups)
    if not groups:
        raise ValueError("groups is empty: give at least one (n_runs, n_test) array")
    groups = [_correct(c, f"groups[{i}]") for i, c in enumerate(groups)]
    runs = np.array([c.shape[0] for c in groups])
    if runs.sum() < 2:
        raise ValueError("need at least 2 runs for the variance of their accuracy")
    pooled = runs > 1
    if not pooled.any():
        raise ValueError("every test set was measured by one run: the noise of a test set "
                         "needs several runs on its rows")
    noise = float(sum(n * test_set_noise(c) for n, c, k in zip(runs, groups, pooled,
                                                                strict=True) if k)
                  / runs[pooled].sum())
    accuracy = np.concatenate([c.mean(axis=1) for c in groups])
    observed = float(accuracy.var(ddof=1))
    if observed > 0:
        share = min(noise / observed, 1.0)
    else:
        share = 1.0 if noise > 0 else 0.0
    return TestSetNoise(noise=noise, observed=observed, share=share,
                        beyond=max(observed - noise, 0.0), n_runs=int(runs.sum()),
                        n_groups=len(groups))


test_set_noise_share.__test__ = False
