"""runner.report.plots: each function writes one readable PNG of the expected size and closes it."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runner import limits
from runner.report import plots

ROOT = Path(__file__).resolve().parent.parent
WIDTH = round(plots.SIZE[0] * plots.DPI)
HEIGHT = round(plots.SIZE[1] * plots.DPI)


def check_png(path):
    """The file is a PNG of more than 5 kB, WIDTH x HEIGHT pixels, and no figure is left open."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    path = Path(path)
    assert path.is_file()
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert path.stat().st_size > 5_000
    img = mpimg.imread(path)
    assert abs(img.shape[1] - WIDTH) <= 2
    assert abs(img.shape[0] - HEIGHT) <= 2
    assert plt.get_fignums() == []
    return img


@pytest.fixture
def titles(monkeypatch):
    """Every axes title and suptitle of the figures saved while the test runs."""
    seen = []
    save = plots._save

    def spy(plt, fig, path):
        seen.extend(ax.get_title() for ax in fig.axes)
        if fig._suptitle is not None:  # Figure.get_suptitle() only from matplotlib 3.8
            seen.append(fig._suptitle.get_text())
        return save(plt, fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    return seen


def bimodal(n=500, seed=0):
    """Accuracies like the raw-units obesity sweep: 0.2825 or 0.7175, plus a little spread."""
    rng = np.random.default_rng(seed)
    acc = np.where(rng.random(n) < 0.5, 0.2825, 0.7175)
    spread = rng.random(n) < 0.1
    acc[spread] = rng.integers(80, 330, spread.sum()) / 400
    return acc


# accuracy_distribution


def test_accuracy_distribution_writes_png(tmp_path, titles):
    out = plots.accuracy_distribution(bimodal(), tmp_path / "acc.png", baseline=0.7175,
                                      title_suffix=" · sigmoid")
    assert out == tmp_path / "acc.png"
    check_png(out)
    assert any("500 seeds" in t and "sigmoid" in t for t in titles)


def test_accuracy_distribution_many_distinct_values(tmp_path):
    acc = np.random.default_rng(1).integers(100, 300, 2_000) / 400
    check_png(plots.accuracy_distribution(acc, tmp_path / "acc.png"))


@pytest.mark.parametrize("acc", [[0.7175], np.full(50, 0.5), [0.0, 1.0]])
def test_accuracy_distribution_degenerate(tmp_path, acc):
    check_png(plots.accuracy_distribution(acc, tmp_path / "acc.png", baseline=0.7175))


def test_accuracy_distribution_million_seeds(tmp_path):
    acc = np.random.default_rng(2).integers(0, 401, 1_000_000) / 400
    check_png(plots.accuracy_distribution(acc, tmp_path / "acc.png", baseline=0.7175))


def test_accuracy_distribution_makes_missing_folders(tmp_path):
    check_png(plots.accuracy_distribution(bimodal(), str(tmp_path / "a" / "b" / "acc.png")))


@pytest.mark.parametrize("acc", [[], [0.5, np.nan]])
def test_accuracy_distribution_rejects_bad_input(tmp_path, acc):
    with pytest.raises(ValueError):
        plots.accuracy_distribution(acc, tmp_path / "acc.png")


def test_histogram_bins_follow_the_accuracy_grid():
    # 401 grid values k/400, each 10 times: every full bin holds the same number of seeds.
    acc = np.repeat(np.arange(401) / 400, 10)
    values, counts = np.unique(acc, return_counts=True)
    _, heights, widths = plots._histogram(acc, values, counts)
    assert heights.sum() == acc.size
    assert len(set(heights[:-1])) == 1
    assert np.allclose(widths, widths[0])


def test_histogram_one_bar_per_value_when_few():
    acc = np.array([0.2825] * 240 + [0.7175] * 250 + [0.285, 0.3, 0.5, 0.5, 0.9] * 2)
    values, counts = np.unique(acc, return_counts=True)
    centres, heights, _ = plots._histogram(acc, values, counts)
    assert np.array_equal(centres, values)
    assert np.array_equal(heights, counts)


def test_ecdf_runs_from_zero_to_one():
    values, counts = np.unique(np.arange(10_000) % 3_000, return_counts=True)
    x, y = plots._ecdf(values.astype(float), counts, -1.0, 3_000.0)
    assert x.size <= plots.MAX_ECDF_POINTS + 2
    assert y[0] == 0 and y[-1] == 1
    assert np.all(np.diff(y) >= 0) and np.all(np.diff(x) >= 0)


# expected_best_of_k


@pytest.mark.parametrize("n", [1, 20, 500])
def test_expected_best_of_k(tmp_path, titles, n):
    from neuron import luck

    ks, mean_k, sd_k = luck.expected_max(bimodal(n))
    out = plots.expected_best_of_k(ks, mean_k, sd_k, tmp_path / "best.png", baseline=0.7175)
    check_png(out)
    assert any("best" in t and "k seeds" in t for t in titles)


def test_expected_best_of_k_log_axis_past_50(tmp_path, monkeypatch):
    scales = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: (
        scales.append(fig.axes[0].get_xscale()), save(plt, fig, path))[1])
    ks = np.arange(1, 51)
    plots.expected_best_of_k(ks, 1 - 0.5 / ks, 0.1 / ks, tmp_path / "a.png")
    ks = np.arange(1, 52)
    plots.expected_best_of_k(ks, 1 - 0.5 / ks, 0.1 / ks, tmp_path / "b.png")
    assert scales == ["linear", "log"]


def test_expected_best_of_k_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError):
        plots.expected_best_of_k([1, 2], [0.5], [0.1, 0.1], tmp_path / "best.png")


# per_example_agreement


def test_per_example_agreement(tmp_path, titles):
    rng = np.random.default_rng(3)
    share_positive = np.concatenate([np.zeros(250), np.ones(100), rng.random(50)])
    share_correct = rng.random(400)
    out = plots.per_example_agreement(share_positive, share_correct, tmp_path / "rows.png",
                                      highlight=("4 ft, 80 kg", 0.49))
    check_png(out)
    assert any("400 rows" in t for t in titles)


@pytest.mark.parametrize("share", [[0.5], np.full(400, 0.5), np.full(10, 1.0)])
def test_per_example_agreement_degenerate(tmp_path, share):
    share = np.asarray(share)
    check_png(plots.per_example_agreement(share, 1 - share, tmp_path / "rows.png"))


# weight_plane


def test_weight_plane(tmp_path, titles):
    rng = np.random.default_rng(4)
    W = rng.normal(size=(500, 2))
    acc = np.where(W[:, 1] > 0, 0.2825, 0.7175)
    check_png(plots.weight_plane(W, acc, tmp_path / "w.png", ["height_ft", "weight_kg"]))
    assert not any("subsample" in t for t in titles)


def test_weight_plane_one_seed_equal_accuracy(tmp_path):
    check_png(plots.weight_plane([[0.2, 1e-5]], [0.7175], tmp_path / "w.png", ["a", "b"]))


def test_weight_plane_subsamples_big_sweeps(tmp_path, titles):
    rng = np.random.default_rng(5)
    W = rng.normal(size=(50_000, 2))
    acc = rng.integers(0, 401, 50_000) / 400
    check_png(plots.weight_plane(W, acc, tmp_path / "w.png", ["height_ft", "weight_kg"]))
    assert any("subsample" in t and "20,000 of 50,000" in t for t in titles)


def test_subsample_is_even_and_deterministic():
    idx = plots._subsample(50_000)
    assert idx.size == limits.MAX_PLOT_POINTS
    assert idx[0] == 0 and idx[-1] == 49_999
    assert np.array_equal(idx, plots._subsample(50_000))
    gaps = np.diff(idx)
    assert gaps.min() >= 2 and gaps.max() <= 3
    assert np.array_equal(plots._subsample(7), np.arange(7))


@pytest.mark.parametrize("W", [np.zeros((5, 3)), np.zeros(5)])
def test_weight_plane_needs_two_features(tmp_path, W):
    with pytest.raises(ValueError):
        plots.weight_plane(W, np.zeros(5), tmp_path / "w.png", ["a", "b"])


# import cost


def test_importing_plots_does_not_import_matplotlib():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c",
         "import runner.report.plots, sys; print('matplotlib' in sys.modules)"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    assert out.stdout.strip() == "False"


# decision_regions, configurations


def test_decision_regions(tmp_path, titles):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = X[:, 0] > 0
    g0, g1 = np.linspace(-3, 3, 40), np.linspace(-3, 3, 30)
    lucky = np.broadcast_to(g0 > 0, (30, 40))
    unlucky = np.broadcast_to(g1[:, None] > 2, (30, 40))
    check_png(plots.decision_regions(X, y, g0, g1, [("luckiest: seed 3", lucky),
                                                    ("unluckiest: seed 9", unlucky)],
                                     tmp_path / "r.png", ["a", "b"]))
    assert "luckiest: seed 3" in titles and "unluckiest: seed 9" in titles


@pytest.mark.parametrize("with_before", [True, False])
def test_configurations(tmp_path, titles, with_before):
    rng = np.random.default_rng(1)
    after = [rng.uniform(0.9, 1, 30), rng.uniform(0.6, 1, 50)]
    before = [rng.uniform(0, 1, 30), rng.uniform(0, 1, 50)] if with_before else None
    check_png(plots.configurations(["activation=relu", "activation=tanh"], after,
                                   tmp_path / "c.png", before=before))
    assert "Each configuration's seeds: accuracy" in titles
