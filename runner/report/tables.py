"""The run folder's tables: what a job computed, on disk before anything goes to MLflow, and
one seed's predictions as the CSV text its child run holds."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from runner.results import JobResult


def seeds_table(result: JobResult) -> pd.DataFrame:
    """One row per seed: seed, weights (w.<feature>), bias and every metric."""
    ev = result.evaluation
    cols = {"seed": result.seeds}
    for j, f in enumerate(result.plan.dataset.features):
        cols[f"w.{f}"] = ev.W[:, j]
    cols["bias"] = ev.b
    cols.update(ev.metrics)
    return pd.DataFrame(cols)


def predictions_table(result: JobResult) -> pd.DataFrame | None:
    """One row per (seed, data row): features, label, z, ŷ, predicted class, correct."""
    ev = result.evaluation
    if ev.y_hat is None:
        return None
    ds = result.plan.dataset
    n_seeds, n_rows = ev.y_hat.shape
    pred = result.pred
    cols = {
        "seed": np.repeat(result.seeds, n_rows),
        "row": np.tile(np.arange(n_rows), n_seeds),
    }
    for f in ds.features:
        cols[f] = np.tile(ds.frame[f].to_numpy(float), n_seeds)
    cols[ds.target] = np.tile(ds.frame[ds.target].astype(str).to_numpy(), n_seeds)
    cols["z"] = ev.z.ravel()
    cols["y_hat"] = ev.y_hat.ravel()
    cols["predicted"] = np.where(pred.ravel(), ds.positive, ds.negative)
    cols["correct"] = (pred == ds.y.astype(bool)).ravel()
    return pd.DataFrame(cols)


def write(result: JobResult, folder: Path) -> list[Path]:
    """Write seeds.parquet, predictions.parquet (when the outputs were kept) and the
    resolved config.yaml; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "seeds.parquet"]
    seeds_table(result).to_parquet(paths[0], index=False)
    preds = predictions_table(result)
    if preds is not None:
        paths.append(folder / "predictions.parquet")
        preds.to_parquet(paths[-1], index=False)
    paths.append(folder / "config.yaml")
    paths[-1].write_text(result.plan.config_yaml)
    return paths


class PredictionsCsv:
    """One seed's predictions as CSV text; the columns that no seed changes are made once."""

    def __init__(self, ds):
        cols = ["row"] + ds.features + [ds.target, "z", "y_hat", "predicted", "correct"]
        self.header = ",".join(_csv_cell(c) for c in cols) + "\n"
        values = ds.frame[ds.features].to_numpy(float).tolist()
        labels = ds.frame[ds.target].astype(str).tolist()
        self.prefix = [
            ",".join([str(r), *(repr(v) for v in vals), _csv_cell(label)])
            for r, (vals, label) in enumerate(zip(values, labels, strict=True))
        ]
        self.truth = ds.y.astype(bool)
        self.classes = (_csv_cell(ds.negative), _csv_cell(ds.positive))

    def render(self, z, y_hat, pred) -> str:
        """z, y_hat, pred: (n_rows,) of one seed."""
        correct = (pred == self.truth).tolist()
        lines = [
            f"{p},{zv!r},{yv!r},{self.classes[c]},{k}"
            for p, zv, yv, c, k in zip(self.prefix, z.tolist(), y_hat.tolist(),
                                       pred.tolist(), correct, strict=True)
        ]
        return self.header + "\n".join(lines) + "\n"


def _csv_cell(v: str) -> str:
    """`v` as one CSV cell, quoted by the csv module when it holds a comma, a quote or a
    line break (the rest of a row is numbers, joined by hand for speed)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([v])
    return buf.getvalue()[:-1]
