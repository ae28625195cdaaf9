"""A sweep's luck report: statistics over its seeds, as a dict, markdown and a terminal table."""

from __future__ import annotations

import zlib

import numpy as np

from neuron import luck

# Metrics whose spread across seeds is worth a row; the confusion counts are in the tables.
SUMMARIZED = ("accuracy", "log_loss", "brier", "mean_output")
# The parent run's per-seed accuracy series (step = seed) stops here: past it a sweep would
# write millions of metric rows, and the full table is an artifact anyway.
MAX_SERIES = 10_000
# Rows whose share of positive calls lies in this band are "decided by luck".
CONTESTED = (0.25, 0.75)
# Past this many seeds a metric with many distinct values gets a normal-approximation CI:
# the index bootstrap would cost n × resamples draws, and at this n both agree to well
# within the bootstrap's own Monte-Carlo error.
MAX_INDEX_BOOTSTRAP = 100_000


def _rng(seed: int, name: str) -> np.random.Generator:
    # One stream per metric, keyed by its name, so adding a metric moves no other CI.
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _ci(values, name, cfg):
    if len(values) > MAX_INDEX_BOOTSTRAP and len(np.unique(values)) > 2048:
        half = 1.959963984540054 * values.std(ddof=1) / np.sqrt(len(values))
        return float(values.mean() - half), float(values.mean() + half), "normal"
    low, high = luck.bootstrap_ci(
        values, _rng(cfg.bootstrap_seed, name), cfg.confidence, cfg.n_resamples
    )
    return low, high, "bootstrap"


def compute(result, cfg, highlight=None) -> dict:
    """Everything the report says, as plain JSON-able values.

    `cfg`: the `luck` config (bootstrap_seed, n_resamples, confidence); `highlight`:
    (row index, description) of a row that gets its own sentence, or None.
    """
    ds = result.dataset
    n = result.n_seeds
    out = {
        "activation": result.activation.name,
        "dataset": ds.name,
        "n_rows": int(len(ds.y)),
        "n_seeds": int(n),
        "seeds": result.seed_spec,
        "confidence": cfg.confidence,
        "metrics": {},
    }
    for name in SUMMARIZED:
        if name not in result.metrics:
            continue
        values = np.asarray(result.metrics[name], float)
        stats = luck.describe(values)
        stats["iqm"] = luck.iqm(values)
        stats["ci_low"], stats["ci_high"], stats["ci_method"] = _ci(values, name, cfg)
        out["metrics"][name] = {k: (v if isinstance(v, str) else float(v)) for k, v in
                                stats.items()}
    acc = np.asarray(result.metrics["accuracy"], float)
    ks, best, sd = luck.expected_max(acc)
    out["expected_best"] = {"k": ks.tolist(), "accuracy": best.tolist(), "sd": sd.tolist()}
    baseline = luck.majority_baseline(ds.y)
    out["baseline_accuracy"] = float(baseline)
    out["share_beating_baseline"] = float(luck.share_beating(acc, baseline))
    share_pos = result.positive_count / n
    share_cor = result.correct_count / n
    out["rows"] = {
        "share_positive": share_pos.tolist(),
        "share_correct": share_cor.tolist(),
        "contested": int(((share_pos >= CONTESTED[0]) & (share_pos <= CONTESTED[1])).sum()),
        "unanimous": int(((share_pos == 0) | (share_pos == 1)).sum()),
    }
    if highlight is not None:
        row, label = highlight
        if 0 <= row < len(ds.y):
            k = int(result.positive_count[row])
            out["highlight"] = {
                "row": row, "label": label, "positive": k, "n_seeds": n,
                "truth": ds.positive if ds.y[row] else ds.negative,
                "sentence": (f"Of {n:,} seed{'s' if n != 1 else ''}, {k:,} call "
                             f"{label} {ds.positive}."),
            }
    out["verdict"] = verdict(out)
    return out


def verdict(s: dict) -> str:
    """One or two plain sentences on how much the seed decided."""
    a = s["metrics"]["accuracy"]
    n = s["n_seeds"]
    if a["max"] == a["min"]:
        return f"No luck involved: all {n:,} seeds give the same accuracy, {a['mean']:.4f}."
    best = s["expected_best"]
    k_max = best["k"][-1]
    text = (
        f"The seed moves accuracy from {a['min']:.4f} to {a['max']:.4f} "
        f"(mean {a['mean']:.4f}, std {a['std']:.4f}) over {n:,} seeds; "
        f"{s['share_beating_baseline']:.0%} of seeds beat the constant guess "
        f"({s['baseline_accuracy']:.4f})."
    )
    i5 = best["k"].index(5) if 5 in best["k"] else None
    if i5 is not None and k_max > 5:
        text += (f" Trying 5 seeds and keeping the best is expected to give "
                 f"{best['accuracy'][i5]:.4f}.")
    return text


def _picks(best: dict) -> list:
    """The k worth quoting from an expected-best curve: 1, 2, 5, 10, … as far as it goes."""
    return [k for k in (1, 2, 5, 10, 20, 50, 100, 1000) if k in best["k"]]


def _row(name, m):
    return (
        f"  {name:<12}{m['mean']:>8.4f}{m['std']:>8.4f}{m['min']:>8.4f}{m['q1']:>8.4f}"
        f"{m['median']:>8.4f}{m['q3']:>8.4f}{m['max']:>8.4f}{m['iqm']:>8.4f}"
        f"   [{m['ci_low']:.4f}, {m['ci_high']:.4f}]"
    )


def table(s: dict) -> str:
    """The compact terminal table."""
    conf = f"{s['confidence']:.0%} CI"
    head = (f"  {'metric':<12}{'mean':>8}{'std':>8}{'min':>8}{'q1':>8}{'median':>8}{'q3':>8}"
            f"{'max':>8}{'IQM':>8}   {conf} of the mean")
    lines = [f"Luck across {s['n_seeds']:,} seeds ({s['seeds']})", head]
    lines += [_row(name, m) for name, m in s["metrics"].items()]
    best = s["expected_best"]
    picks = _picks(best)
    if best["k"][-1] not in picks:
        picks.append(best["k"][-1])
    lines.append("  expected best accuracy of k seeds: " + " · ".join(
        f"k={k} {best['accuracy'][best['k'].index(k)]:.4f}" for k in picks))
    lines.append(
        f"  rows decided by luck ({CONTESTED[0]:.0%}–{CONTESTED[1]:.0%} of seeds call them "
        f"positive): {s['rows']['contested']} of {s['n_rows']}; unanimous: "
        f"{s['rows']['unanimous']}"
    )
    if "highlight" in s:
        lines.append("  " + s["highlight"]["sentence"])
    lines.append("  " + s["verdict"])
    if "training" in s:
        lines += ["", training_table(s["training"])]
    return "\n".join(lines)


def markdown(s: dict, plots=()) -> str:
    """The parent run's description in the MLflow UI."""
    a = s["metrics"]["accuracy"]
    conf = f"{s['confidence']:.0%}"
    lines = [
        f"## How much is luck? {s['activation']} neuron on {s['dataset']}, "
        f"{s['n_seeds']:,} seeds ({s['seeds']})",
        "",
        f"**{s['verdict']}**",
        "",
    ]
    if "highlight" in s:
        lines += [f"**{s['highlight']['sentence']}**", ""]
    if "training" in s:
        lines += [f"**{s['training']['sentence']}** (the table below is after training)", ""]
    lines += [
        f"| metric | mean | std | min | median | max | IQM | {conf} CI of the mean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in s["metrics"].items():
        lines.append(
            f"| {name} | {m['mean']:.4f} | {m['std']:.4f} | {m['min']:.4f} | "
            f"{m['median']:.4f} | {m['max']:.4f} | {m['iqm']:.4f} | "
            f"[{m['ci_low']:.4f}, {m['ci_high']:.4f}] |"
        )
    best = s["expected_best"]
    picks = _picks(best)
    lines += [
        "",
        "**Expected best accuracy of k seeds** (Dodge et al. 2019): " + ", ".join(
            f"k={k}: {best['accuracy'][best['k'].index(k)]:.4f}" for k in picks),
        "",
        f"Constant guess (majority class): {s['baseline_accuracy']:.4f}; seeds that beat it: "
        f"{s['share_beating_baseline']:.1%}. Rows decided by luck: {s['rows']['contested']} of "
        f"{s['n_rows']} ({a['n']:.0f} seeds).",
    ]
    if plots:
        lines += ["", "Plots under Artifacts → `plots/`: " + ", ".join(
            f"`{p}`" for p in plots) + "."]
    return "\n".join(lines)


def metrics_for_mlflow(s: dict) -> dict:
    """Flat parent-run metrics: accuracy_mean, accuracy_ci_low, accuracy_iqm, ..."""
    out = {}
    for name, m in s["metrics"].items():
        for stat in ("mean", "std", "min", "max", "median", "q1", "q3", "iqm", "ci_low",
                     "ci_high"):
            out[f"{name}_{stat}"] = m[stat]
    out["baseline_accuracy"] = s["baseline_accuracy"]
    out["share_beating_baseline"] = s["share_beating_baseline"]
    out["rows_contested"] = s["rows"]["contested"]
    out["n_seeds"] = s["n_seeds"]
    if "highlight" in s:
        out["highlight_share_positive"] = s["highlight"]["positive"] / s["n_seeds"]
    if "training" in s:
        t = s["training"]
        for when in ("before", "after"):
            for stat in ("mean", "std", "range"):
                out[f"accuracy_{stat}_{when}_training"] = t[when][stat]
        if t["std_removed"] is not None:
            out["training_std_removed"] = t["std_removed"]
        out["training_beats_random_share"] = t["share_of_random_seeds_beaten"]
    return out


def training(result, trainer) -> dict:
    """How much of the seed's influence training removes: spreads before and after."""
    before = np.asarray(result.before.metrics["accuracy"], float)
    after = np.asarray(result.metrics["accuracy"], float)
    out = {"lr": trainer.lr, "epochs": trainer.epochs, "l2": trainer.l2,
           "standardize": trainer.standardize}
    for name, v in (("before", before), ("after", after)):
        ks, best, _ = luck.expected_max(v)
        out[name] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)),
                     "min": float(v.min()), "max": float(v.max()),
                     "range": float(v.max() - v.min()),
                     "best_of_5": float(best[list(ks).index(5)]) if 5 in ks else None}
    sb, sa = out["before"]["std"], out["after"]["std"]
    out["std_removed"] = None if sb == 0 else float(1.0 - sa / sb)
    # Where the trained neuron lands among random weights: the share of random seeds it beats.
    med = float(np.median(after))
    out["trained_median_accuracy"] = med
    out["share_of_random_seeds_beaten"] = float((before < med).mean())
    loss = result.losses[-1]
    out["final_loss"] = {"min": float(loss.min()), "median": float(np.median(loss)),
                         "max": float(loss.max())}
    out["sentence"] = training_sentence(out)
    return out


def training_sentence(t: dict) -> str:
    b, a = t["before"], t["after"]
    removed = ("all" if t["std_removed"] == 1.0 else f"{t['std_removed']:.0%}") if (
        t["std_removed"] is not None) else "none (there was none to remove)"
    return (
        f"Training removed {removed} of the seed's influence on accuracy: std "
        f"{b['std']:.4f} → {a['std']:.4f}, range {b['range']:.4f} → {a['range']:.4f}. "
        f"The trained neuron (median accuracy {t['trained_median_accuracy']:.4f}) beats "
        f"{t['share_of_random_seeds_beaten']:.0%} of the random seeds."
    )


def training_table(t: dict) -> str:
    rows = [f"Training ({t['epochs']} epochs, lr {t['lr']:g}, l2 {t['l2']:g}"
            f"{', standardized' if t['standardize'] else ''})",
            f"  {'accuracy':<10}{'mean':>8}{'std':>8}{'min':>8}{'max':>8}{'best of 5':>11}"]
    for name in ("before", "after"):
        m = t[name]
        b5 = f"{m['best_of_5']:>11.4f}" if m["best_of_5"] is not None else f"{'–':>11}"
        rows.append(f"  {name:<10}{m['mean']:>8.4f}{m['std']:>8.4f}{m['min']:>8.4f}"
                    f"{m['max']:>8.4f}{b5}")
    fl = t["final_loss"]
    rows.append(f"  final training loss: min {fl['min']:.6f} · median {fl['median']:.6f} · "
                f"max {fl['max']:.6f}")
    rows.append("  " + t["sentence"])
    return "\n".join(rows)
