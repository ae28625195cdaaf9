"""PNG plots of a job's luck across its seeds, from plain numpy arrays.

Each function writes one PNG (7 x 4.5 in at 110 dpi, so 770 x 495 px), closes its figure
and returns the path. matplotlib is imported on first use, not with this module, so that
`python -m runner` starts fast; it always draws with the non-interactive Agg backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from runner import limits
from runner.report.luck import CONTESTED, LuckReport
from runner.results import JobResult

DPI = 110
SIZE = (7.0, 4.5)  # inches
# accuracy_distribution draws one bar per value when there are at most this many.
MAX_DISCRETE_BARS = 40
# ...and otherwise about this many histogram bins.
TARGET_BINS = 50
# The ECDF line is evaluated at no more than this many points.
MAX_ECDF_POINTS = 2_000

# Tableau colours: distinguishable under the common colour-vision deficiencies,
# and every line also differs by its style.
BLUE, ORANGE, GREY, RED, GREEN = "tab:blue", "tab:orange", "tab:gray", "tab:red", "tab:green"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(**kwargs):
    plt = _pyplot()
    return plt, plt.figure(figsize=SIZE, dpi=DPI, layout="constrained", **kwargs)


def _save(plt, fig, path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # No bbox_inches="tight": the PNG keeps its exact size; constrained layout
        # keeps the labels inside it.
        fig.savefig(path, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    return path


def _vector(x, name) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return x


def _seeds(n: int) -> str:
    return f"{n:,} seed{'s' if n != 1 else ''}"


def _grid_step(values: np.ndarray) -> float | None:
    """The common spacing of sorted distinct `values` (e.g. 1/n_rows), or None if they have none."""
    if values.size < 2:
        return None
    step = float(np.diff(values).min())
    span = float(values[-1] - values[0])
    if step <= 0 or span / step > 1e6:
        return None
    units = (values - values[0]) / step
    if np.abs(units - np.round(units)).max() > 1e-6 * max(1.0, units[-1]):
        return None
    return step


def _histogram(acc: np.ndarray, values: np.ndarray, counts: np.ndarray):
    """(centres or edges, heights, widths) of the accuracy bars.

    Few distinct values: one bar per value. Otherwise bins whose edges lie halfway between
    grid points when the values sit on a grid (accuracy is k / n_rows), so that no bin holds
    more grid points than its neighbour and the histogram shows no comb.
    """
    span = float(values[-1] - values[0])
    if values.size <= MAX_DISCRETE_BARS:
        if values.size == 1:
            width = 0.01
        else:
            # 80% of the closest gap, but at least ~1/70 of the range so that every bar is
            # visible; neighbours closer than that overlap (the taller is drawn behind).
            width = max(0.8 * float(np.diff(values).min()), span / 70)
        return values, counts.astype(float), np.full(values.size, width)
    step = _grid_step(values)
    if step is not None:
        points = int(round(span / step)) + 1
        per_bin = int(np.ceil(points / TARGET_BINS))
        n_bins = int(np.ceil(points / per_bin))
        edges = values[0] - step / 2 + step * per_bin * np.arange(n_bins + 1)
    else:
        edges = np.linspace(values[0], values[-1], TARGET_BINS + 1)
    heights, edges = np.histogram(acc, bins=edges)
    return (edges[:-1] + edges[1:]) / 2, heights.astype(float), np.diff(edges)


def _ecdf(values: np.ndarray, counts: np.ndarray, lo: float, hi: float):
    """x, F(x) of the ECDF as a post-step line from lo to hi, at most ~MAX_ECDF_POINTS points."""
    cum = np.cumsum(counts) / counts.sum()
    if values.size > MAX_ECDF_POINTS:
        grid = np.linspace(values[0], values[-1], MAX_ECDF_POINTS)
        idx = np.searchsorted(values, grid, side="right") - 1
        values, cum = grid, cum[idx]
    x = np.concatenate([[lo], values, [hi]])
    y = np.concatenate([[0.0], cum, [1.0]])
    return x, y


def accuracy_distribution(acc, path, baseline=None, title_suffix="") -> Path:
    """Histogram of per-seed accuracy, its ECDF on a twin axis, the mean and the baseline.

    acc: (n_seeds,) accuracies; baseline: the majority-class ("constant guess") accuracy,
    or None; title_suffix: appended to the title, e.g. " · sigmoid · obesity".
    """
    acc = _vector(acc, "acc")
    n = acc.size
    values, counts = np.unique(acc, return_counts=True)
    centres, heights, widths = _histogram(acc, values, counts)
    mean = float(acc.mean())

    span = float(values[-1] - values[0])
    lo, hi = float(values[0]), float(values[-1])
    if baseline is not None:
        lo, hi = min(lo, float(baseline)), max(hi, float(baseline))
    pad = max(0.05 * (hi - lo), 0.02 if span > 0 else 0.05)
    lo, hi = lo - pad - widths.max() / 2, hi + pad + widths.max() / 2

    order = np.argsort(-heights, kind="stable")  # tall bars first, short ones in front
    centres, heights, widths = centres[order], heights[order], widths[order]

    plt, fig = _figure()
    from matplotlib.ticker import MaxNLocator  # after _figure(): matplotlib is loaded lazily

    ax = fig.add_subplot()
    ax.bar(centres, heights, width=widths, color=BLUE, edgecolor="white",
           linewidth=0.4, label="seeds per accuracy", zorder=2)
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, heights.max() * 1.1)
    ax.set_xlabel("accuracy")
    ax.set_ylabel("number of seeds")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.grid(axis="y", alpha=0.3, zorder=0)

    ax2 = ax.twinx()
    ex, ey = _ecdf(values, counts, lo, hi)
    ax2.step(ex, ey, where="post", color=ORANGE, linewidth=1.8,
             label="share of seeds at or below (ECDF)", zorder=3)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("share of seeds at or below this accuracy", color=ORANGE)
    ax2.tick_params(axis="y", colors=ORANGE)

    # On the twin axis, so that the ECDF's steps do not hide them.
    ax2.axvline(mean, color="black", linestyle="--", linewidth=1.5,
                label=f"mean {mean:.4f}", zorder=4)
    if baseline is not None:
        ax2.axvline(float(baseline), color=GREY, linestyle=":", linewidth=2,
                    label=f"constant guess {float(baseline):.4f}", zorder=4)

    # Legend columns: mean, constant guess | bars, ECDF.
    h2, l2 = ax2.get_legend_handles_labels()
    h1, l1 = ax.get_legend_handles_labels()
    handles, labels = h2[1:] + h1 + h2[:1], l2[1:] + l1 + l2[:1]
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False,
               fontsize="small")
    what = "each of " + _seeds(n) if n > 1 else "1 seed"
    ax.set_title(f"Accuracy of {what}{title_suffix}")
    return _save(plt, fig, path)


def expected_best_of_k(ks, mean_k, sd_k, path, baseline=None) -> Path:
    """The expected best accuracy of k seeds (Dodge et al. 2019) against k, with a +-sd band.

    ks, mean_k, sd_k: (m,) as from neuron.luck.expected_max; baseline: optional
    majority-class accuracy drawn as a reference line.
    """
    ks = _vector(ks, "ks")
    mean_k = _vector(mean_k, "mean_k")
    sd_k = _vector(sd_k, "sd_k")
    if not ks.size == mean_k.size == sd_k.size:
        raise ValueError("ks, mean_k and sd_k must have the same length")
    order = np.argsort(ks, kind="stable")
    ks, mean_k, sd_k = ks[order], mean_k[order], sd_k[order]

    plt, fig = _figure()
    ax = fig.add_subplot()
    low, high = np.clip(mean_k - sd_k, 0, 1), np.clip(mean_k + sd_k, 0, 1)
    ax.fill_between(ks, low, high, color=BLUE, alpha=0.2, linewidth=0,
                    label="± 1 sd of the best score")
    ax.plot(ks, mean_k, color=BLUE, linewidth=2, marker="o" if ks.size <= 30 else None,
            markersize=4, label="expected best of k seeds")
    if baseline is not None:
        ax.axhline(float(baseline), color=GREY, linestyle=":", linewidth=2,
                   label=f"constant guess {float(baseline):.4f}")
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if ks.max() > 50:
        ax.set_xscale("log")
        # 1, 10, 100, 1,000 rather than 10^0, 10^1, ...
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ks.size == 1:
        ax.set_xlim(ks[0] - 1, ks[0] + 1)
    else:
        ax.set_xlim(ks[0], ks[-1])
    ax.set_xlabel("k: seeds tried, keeping the best one")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    k_range = f"{int(ks[0]):,}" if ks.size == 1 else f"{int(ks[0]):,}..{int(ks[-1]):,}"
    ax.set_title(f"Expected best accuracy if you tried only k seeds (k = {k_range})")
    return _save(plt, fig, path)


def per_example_agreement(share_positive, share_correct, path, highlight=None) -> Path:
    """How far the seeds agree on each data row.

    Left: rows by the share of seeds that call them positive (20 bins over 0..1), the
    band CONTESTED shaded as "decided by luck". Right: each row's share of seeds that
    classify it correctly, sorted. share_positive, share_correct: (n_rows,) in 0..1;
    highlight: optional (label, share_positive) of one row, drawn as a dashed line
    named in the legend below the panels.
    """
    share_positive = _vector(share_positive, "share_positive")
    share_correct = _vector(share_correct, "share_correct")
    if share_positive.size != share_correct.size:
        raise ValueError("share_positive and share_correct must have the same length")
    n_rows = share_positive.size

    plt, fig = _figure()
    left, right = fig.subplots(1, 2, width_ratios=[1.15, 1])

    heights, edges = np.histogram(np.clip(share_positive, 0, 1), bins=20, range=(0, 1))
    contested = int(((share_positive >= CONTESTED[0]) & (share_positive <= CONTESTED[1])).sum())
    left.axvspan(*CONTESTED, color=ORANGE, alpha=0.18, linewidth=0, zorder=0,
                 label=f"decided by luck (share {CONTESTED[0]:g}–{CONTESTED[1]:g}): "
                       f"{contested:,} of {n_rows:,} rows")
    left.bar(edges[:-1], heights, width=np.diff(edges), align="edge", color=BLUE,
             edgecolor="white", linewidth=0.5, zorder=2)
    if highlight is not None:
        label, share = highlight
        share = float(share)
        left.axvline(share, color=RED, linestyle="--", linewidth=1.8, zorder=4,
                     label=f"{label}: {share:.0%} of seeds say positive")
    left.set_xlim(0, 1)
    left.set_ylim(0, max(heights.max(), 1) * 1.12)
    left.set_xlabel("share of seeds that call the row positive")
    left.set_ylabel("number of rows")
    left.set_title("Do the seeds agree on a row?", fontsize="medium")
    # One entry per line: the highlight's label is long and two columns overflow the figure.
    fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncols=1,
               frameon=False, fontsize="small")

    sorted_correct = np.sort(share_correct)
    rank = np.arange(1, n_rows + 1)
    right.fill_between(rank, sorted_correct, step="mid", color=GREEN, alpha=0.25, linewidth=0)
    right.step(rank, sorted_correct, where="mid", color=GREEN, linewidth=1.8)
    right.axhline(0.5, color=GREY, linestyle=":", linewidth=1.2)
    right.set_xlim(0.5, n_rows + 0.5)
    right.set_ylim(0, 1.02)
    right.set_xlabel("rows, sorted by share correct")
    right.set_ylabel("share of seeds that get the row right")
    right.set_title("How often is each row right?", fontsize="medium")
    right.grid(alpha=0.3)

    fig.suptitle(f"Agreement of the seeds on each of {n_rows:,} rows")
    return _save(plt, fig, path)


def _subsample(n: int, limit: int = limits.MAX_PLOT_POINTS) -> np.ndarray:
    """Evenly spaced indices into range(n), at most `limit`, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, limit)).astype(np.int64))


def weight_plane(W, acc, path, feature_names) -> Path:
    """Each seed's two weights as a point, coloured by its accuracy.

    W: (n_seeds, 2) weights; acc: (n_seeds,); feature_names: the two feature names.
    Above limits.MAX_PLOT_POINTS seeds, an evenly spaced (deterministic) subsample is drawn.
    """
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[1] != 2:
        raise ValueError(f"W must have shape (n_seeds, 2), got {W.shape}")
    acc = _vector(acc, "acc")
    if acc.size != W.shape[0]:
        raise ValueError("W and acc must have one row per seed")
    if not np.isfinite(W).all():
        raise ValueError("W has NaN or infinite values")
    names = list(feature_names)
    if len(names) != 2:
        raise ValueError("feature_names must name the two features")

    n = acc.size
    idx = _subsample(n)
    shown = idx.size
    size = 16 if shown <= 1_000 else 6 if shown <= 5_000 else 2

    plt, fig = _figure()
    ax = fig.add_subplot()
    ax.axhline(0, color=GREY, linewidth=0.8, zorder=1)
    ax.axvline(0, color=GREY, linewidth=0.8, zorder=1)
    points = ax.scatter(W[idx, 0], W[idx, 1], c=acc[idx], cmap="viridis", s=size,
                        linewidths=0, alpha=0.85, zorder=2, rasterized=True)
    fig.colorbar(points, ax=ax, label="accuracy")
    ax.set_xlabel(f"w.{names[0]}")
    ax.set_ylabel(f"w.{names[1]}")
    ax.grid(alpha=0.3, zorder=0)
    title = f"Each seed's weights, coloured by its accuracy ({_seeds(n)})"
    if shown < n:
        title = (f"Each seed's weights, coloured by its accuracy\n"
                 f"(subsample: {shown:,} of {n:,} seeds, evenly spaced)")
    ax.set_title(title)
    return _save(plt, fig, path)


def before_after(acc_before, acc_after, path) -> Path:
    """Accuracy across seeds with the random weights and after training them, on one axis."""
    before, after = _vector(acc_before, "acc_before"), _vector(acc_after, "acc_after")
    plt, fig = _figure()
    ax = fig.add_subplot()
    edges = np.linspace(0.0, 1.0, 51)
    ax.hist(before, bins=edges, color=GREY, alpha=0.7, label=f"random weights (std "
            f"{before.std(ddof=1) if before.size > 1 else 0:.3f})")
    ax.hist(after, bins=edges, color=BLUE, alpha=0.8, label=f"after training (std "
            f"{after.std(ddof=1) if after.size > 1 else 0:.3f})")
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy")
    ax.set_ylabel("number of seeds")
    ax.set_title(f"The same {_seeds(before.size)}, before and after training")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def decision_boundaries(X, y, W0, b0, W1, b1, path, feature_names, seeds) -> Path:
    """Two-feature data with each listed seed's line z = 0, dashed before training and solid
    after. X: (n_rows, 2) raw features, y: (n_rows,), W0/W1: (k, 2), b0/b1: (k,)."""
    X = np.asarray(X, float)
    y = np.asarray(y).astype(bool)
    plt, fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(X[~y, 0], X[~y, 1], s=8, color=GREY, alpha=0.6, label="negative")
    ax.scatter(X[y, 0], X[y, 1], s=8, color=RED, alpha=0.6, marker="^", label="positive")
    x0 = np.linspace(X[:, 0].min(), X[:, 0].max(), 200)
    lo, hi = X[:, 1].min(), X[:, 1].max()
    pad = 0.1 * (hi - lo or 1.0)
    colours = plt.get_cmap("tab10").colors
    for j, seed in enumerate(seeds):
        c = colours[j % len(colours)]
        for W, b, style, when in ((W0, b0, "--", "before"), (W1, b1, "-", "after")):
            w = W[j]
            if w[1] == 0:
                continue  # a vertical line or none: nothing to draw as x1(x0)
            x1 = -(w[0] * x0 + b[j]) / w[1]
            # A random line often misses the data altogether: every row on one side.
            off = " (off the data)" if ((x1 < lo - pad) | (x1 > hi + pad)).all() else ""
            ax.plot(x0, x1, style, color=c, linewidth=1.4,
                    label=f"seed {seed} {when}{off}" if j < 4 else None)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(feature_names[0])
    ax.set_ylabel(feature_names[1])
    ax.set_title("Decision boundaries z = 0: dashed random, solid trained", fontsize="medium")
    fig.legend(loc="outside right upper", fontsize="x-small")
    return _save(plt, fig, path)


def decision_regions(X, y, grid0, grid1, regions, path, feature_names) -> Path:
    """Two-feature data over each listed seed's predicted class, side by side.

    X: (n_rows, 2) raw features, y: (n_rows,); grid0 (n0,), grid1 (n1,): the grid's axes;
    regions: [(title, positive (n1, n0) bool), ...], e.g. the luckiest and unluckiest seed.
    """
    X = np.asarray(X, float)
    y = np.asarray(y).astype(bool)
    plt, fig = _figure()
    axes = fig.subplots(1, len(regions), sharey=True, squeeze=False)[0]
    from matplotlib.colors import ListedColormap

    for ax, (title, positive) in zip(axes, regions, strict=True):
        ax.pcolormesh(grid0, grid1, np.asarray(positive, float), shading="nearest",
                      cmap=ListedColormap(["#dde6f0", "#f6d5cf"]), vmin=0, vmax=1,
                      rasterized=True)
        ax.scatter(X[~y, 0], X[~y, 1], s=6, color=GREY, alpha=0.7, label="negative")
        ax.scatter(X[y, 0], X[y, 1], s=6, color=RED, alpha=0.7, marker="^", label="positive")
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(feature_names[0])
    axes[0].set_ylabel(feature_names[1])
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2,
               frameon=False, fontsize="small")
    fig.suptitle("Where each seed says positive (shaded red)", fontsize="medium")
    return _save(plt, fig, path)


@dataclass(frozen=True)
class Regions:
    """decision_regions' inputs: the data, the grid, and each seed's title and (150, 150)
    bool map of where it says positive."""

    X: np.ndarray
    y: np.ndarray
    grid0: np.ndarray
    grid1: np.ndarray
    regions: list
    feature_names: list


def _regions(result: JobResult) -> Regions | None:
    """decision_regions' inputs for the job's luckiest and unluckiest seed (a network of two
    features whose weights were kept), on a 150 × 150 grid over the data."""
    from neuron import network

    plan, ev = result.plan, result.evaluation
    X = plan.dataset.X
    if not plan.hidden or ev.layers is None or X.shape[1] != 2 or result.n_seeds < 2:
        return None
    acc = ev.metrics.accuracy
    pad = 0.05 * (X.max(axis=0) - X.min(axis=0))
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    g0, g1 = np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150)
    grid = np.column_stack([np.tile(g0, 150), np.repeat(g1, 150)])  # row i: g1[i], every g0
    regions = []
    for what, i in (("luckiest", int(np.argmax(acc))), ("unluckiest", int(np.argmin(acc)))):
        z = network.forward(grid, network.take(ev.layers, [i]), plan.activation).z[0]
        regions.append((f"{what}: seed {int(result.seeds[i])}, accuracy {acc[i]:.4f}",
                        (z >= 0).reshape(150, 150)))
    names = plan.dataset.features
    if plan.dataset.mean is not None:
        names = [f"{f} (z-score)" for f in names]
    return Regions(X=X, y=plan.dataset.y, grid0=g0, grid1=g1, regions=regions,
                   feature_names=list(names))


def source_shares(terms, shares, lows, highs, path, test_set_share=None, title="") -> Path:
    """Each source of luck's share of the variance of test accuracy, as a bar with its
    interval, and the share a finite test set accounts for alone.

    terms: (k,) names (init, order, split, their interactions, residual); shares, lows,
    highs: (k,) in [0, 1]; test_set_share: Jordan 2024's Σp(1−p)/n² over the variance, or None.
    """
    shares, lows, highs = (_vector(v, n) for v, n in ((shares, "shares"), (lows, "lows"),
                                                       (highs, "highs")))
    k = len(terms)
    plt, fig = _figure()
    ax = fig.add_subplot()
    rows = np.arange(k)[::-1]
    ax.barh(rows, shares, color=BLUE, alpha=0.8, label="share of the variance", zorder=2)
    # A percentile interval need not hold the estimate (a share truncated at 0): clipped.
    xerr = [np.maximum(shares - lows, 0), np.maximum(highs - shares, 0)]
    ax.errorbar(shares, rows, xerr=xerr, fmt="none", ecolor="black",
                capsize=4, linewidth=1.2, label="bootstrap interval", zorder=3)
    ax.set_yticks(rows, [t.replace("_x_", " × ") for t in terms])
    if test_set_share is not None:
        ax.axvline(float(test_set_share), color=ORANGE, linestyle="--", linewidth=1.8,
                   label=f"finite test set alone: {float(test_set_share):.0%}", zorder=4)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the variance of test accuracy across runs")
    ax.grid(axis="x", alpha=0.3, zorder=0)
    fig.legend(loc="outside lower center", ncols=3, frameon=False, fontsize="small")
    ax.set_title(f"Where the luck comes from{title}", fontsize="medium")
    return _save(plt, fig, path)


def configurations(names, after, path, before=None, metric="accuracy") -> Path:
    """A sweep's configurations side by side: each one's per-seed `metric` as a box (with
    its seeds as dots), and with `before` the same seeds with their random weights.

    names: (k,) configuration names; after, before: k arrays of per-seed values.
    """
    k = len(names)
    plt, fig = _figure()
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # the dots' vertical jitter only
    rows = np.arange(k)[::-1]
    series = [(after, BLUE, "after training" if before is not None else "per seed", 0.0)]
    if before is not None:
        series = [(before, GREY, "random weights", 0.18), (after, BLUE, "after training", -0.18)]
    import inspect

    # matplotlib 3.10 names it orientation; vert, before, is deprecated since.
    sideways = ({"orientation": "horizontal"}
                if "orientation" in inspect.signature(ax.boxplot).parameters else {"vert": False})
    for values, colour, label, shift in series:
        ax.boxplot([np.asarray(v, float) for v in values], positions=rows + shift,
                   widths=0.28, showfliers=False, patch_artist=True, **sideways,
                   boxprops={"facecolor": colour, "alpha": 0.35},
                   medianprops={"color": colour})
        for row, v in zip(rows, values, strict=True):
            v = np.asarray(v, float)
            ax.scatter(v, row + shift + rng.uniform(-0.09, 0.09, v.size), s=5, color=colour,
                       alpha=0.6, label=label if row == rows[0] else None)
    ax.set_yticks(rows, names, fontsize="small")
    ax.set_xlabel(metric)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    ax.set_title(f"Each configuration's seeds: {metric}", fontsize="medium")
    return _save(plt, fig, path)


@dataclass(frozen=True)
class Plot:
    """One PNG of the report: its file name, the function that draws it, and its inputs."""

    file: str
    draw: Callable[..., Path]
    inputs: Mapping[str, Any]


def spec(result: JobResult, report: LuckReport) -> tuple[Plot, ...]:
    """The plots of a job's report, in order; `draw` turns them into files."""
    plan, ev = result.plan, result.evaluation
    ds, acc = plan.dataset, ev.metrics.accuracy
    best, hl = report.expected_best, report.highlight
    # The weight plane and the boundary lines are the single neuron's; a network gets the
    # decision regions of its luckiest and unluckiest seed.
    two_features = ev.W is not None and ev.W.shape[1] == 2
    plots = [
        Plot("accuracy.png", accuracy_distribution,
             {"acc": acc, "baseline": report.baseline_accuracy}),
        Plot("best_of_k.png", expected_best_of_k,
             {"ks": best.k, "mean_k": best.accuracy, "sd_k": best.sd}),
        Plot("agreement.png", per_example_agreement,
             {"share_positive": ev.n_positive / result.n_seeds,
              "share_correct": ev.n_correct / result.n_seeds,
              "highlight": (hl.label, hl.positive / hl.n_seeds) if hl else None}),
    ]
    if two_features:
        plots.append(Plot("weights.png", weight_plane,
                          {"W": ev.W, "acc": acc, "feature_names": ds.features}))
    if result.training is not None:
        before, k = result.training.before, min(4, result.n_seeds)
        plots.append(Plot("before_after.png", before_after,
                          {"acc_before": before.metrics.accuracy, "acc_after": acc}))
        if two_features:
            # The weights act on the features as the neuron sees them (maybe z-scored).
            names = ds.features if ds.mean is None else [f"{f} (z-score)" for f in ds.features]
            plots.append(Plot("boundaries.png", decision_boundaries, {
                "X": ds.X, "y": ds.y, "W0": before.W[:k], "b0": before.b[:k],
                "W1": ev.W[:k], "b1": ev.b[:k], "feature_names": names,
                "seeds": result.seeds[:k].tolist()}))
    src = report.sources
    if src is not None and src.accuracy:
        plots.append(Plot("sources.png", source_shares, {
            "terms": [s.term for s in src.accuracy], "shares": [s.share for s in src.accuracy],
            "lows": [s.low for s in src.accuracy], "highs": [s.high for s in src.accuracy],
            "test_set_share": src.test_set.share if src.test_set else None,
            "title": f" · {src.grid}"}))
    regions = _regions(result)
    if regions is not None:
        plots.append(Plot("regions.png", decision_regions, vars(regions)))
    return tuple(plots)


def draw(plots, folder) -> list[Path]:
    """Draw every plot of `plots` into `folder`; the paths, in order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [p.draw(path=folder / p.file, **p.inputs) for p in plots]
