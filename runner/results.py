"""The run folder's tables: what a job computed, on disk before anything goes to MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def seeds_table(result) -> pd.DataFrame:
    """One row per seed: seed, weights (w.<feature>), bias and every metric."""
    cols = {"seed": result.seeds}
    for j, f in enumerate(result.dataset.features):
        cols[f"w.{f}"] = result.W[:, j]
    cols["bias"] = result.b
    cols.update(result.metrics)
    return pd.DataFrame(cols)


def predictions_table(result) -> pd.DataFrame | None:
    """One row per (seed, data row): features, label, z, ŷ, predicted class, correct."""
    if result.y_hat is None:
        return None
    ds = result.dataset
    n_seeds, n_rows = result.y_hat.shape
    pred = result.pred
    cols = {
        "seed": np.repeat(result.seeds, n_rows),
        "row": np.tile(np.arange(n_rows), n_seeds),
    }
    for f in ds.features:
        cols[f] = np.tile(ds.frame[f].to_numpy(float), n_seeds)
    cols[ds.target] = np.tile(ds.frame[ds.target].astype(str).to_numpy(), n_seeds)
    cols["z"] = result.z.ravel()
    cols["y_hat"] = result.y_hat.ravel()
    cols["predicted"] = np.where(pred.ravel(), ds.positive, ds.negative)
    cols["correct"] = (pred == ds.y.astype(bool)).ravel()
    return pd.DataFrame(cols)


def write(result, folder: Path) -> list[Path]:
    """Write seeds.parquet and, when kept, predictions.parquet; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    p = folder / "seeds.parquet"
    seeds_table(result).to_parquet(p, index=False)
    paths.append(p)
    preds = predictions_table(result)
    if preds is not None:
        p = folder / "predictions.parquet"
        preds.to_parquet(p, index=False)
        paths.append(p)
    return paths
