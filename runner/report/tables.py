"""The run folder's tables: what a job computed, on disk before anything goes to MLflow, and
one seed's predictions as the CSV text its child run holds."""

from __future__ import annotations

import csv
import errno
import io
import itertools
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from runner.errors import WriteFailed
from runner.results import JobResult

# zstd without dictionaries: a million seeds' table (12 columns) took 0.62 s with pyarrow's
# defaults (snappy, dictionaries tried on every column of distinct floats) and 59 MB;
# 0.32 s and 54 MB this way. Every Parquet reader reads zstd.
PARQUET = {"compression": "zstd", "compression_level": 1, "use_dictionary": False}


def seeds_table(result: JobResult) -> pd.DataFrame:
    """One row per seed: seed, the single neuron's weights (w.<feature>) and bias, every
    metric, and with mode=train the metrics before training (<metric>_before). A network's
    weights are in weights.npz."""
    ev, runs = result.evaluation, result.plan.runs
    cols = {"seed": result.seeds}
    if not runs.plain:
        cols.update({"order_seed": runs.order, "split_seed": runs.split, "fold": runs.fold})
    if ev.W is not None:
        for j, f in enumerate(result.plan.dataset.features):
            cols[f"w.{f}"] = ev.W[:, j]
        cols["bias"] = ev.b
    cols.update(ev.columns())
    if result.training is not None:
        cols.update({f"{k}_before": v for k, v in result.training.before.columns().items()})
    return pd.DataFrame(cols)


def layer_arrays(layers, suffix: str = "") -> dict:
    """A network's Layers as named arrays: W1, b1, W2, b2, … (the output unit last)."""
    out = {}
    for i, layer in enumerate(layers, start=1):
        out[f"W{i}{suffix}"], out[f"b{i}{suffix}"] = layer.W, layer.b
    return out


def weights_file(result: JobResult) -> dict | None:
    """What weights.npz holds for a network: the seeds, then W1, b1, … with a seeds axis
    (W_l: (n_seeds, fan_in, fan_out), b_l: (n_seeds, fan_out), in the data's units), and with
    mode=train the starting weights as W1_start, b1_start, …; None when not kept."""
    ev = result.evaluation
    if ev.layers is None or ev.W is not None:  # the single neuron's are in seeds.parquet
        return None
    out = {"seeds": result.seeds, **layer_arrays(ev.layers)}
    if result.training is not None:
        out.update(layer_arrays(result.training.before.layers, "_start"))
    return out


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
    # Labels as categoricals: codes repeated per seed, not millions of strings.
    labels = pd.Categorical(ds.frame[ds.target].astype(str))
    cols[ds.target] = pd.Categorical.from_codes(np.tile(labels.codes, n_seeds),
                                                labels.categories)
    cols["z"] = ev.z.ravel()
    cols["y_hat"] = ev.y_hat.ravel()
    cols["predicted"] = pd.Categorical.from_codes(pred.ravel().astype(np.int8),
                                                  [ds.negative, ds.positive])
    cols["correct"] = (pred == ds.y.astype(bool)).ravel()
    return pd.DataFrame(cols)


def write(result: JobResult, folder: Path) -> list[Path]:
    """Write seeds.parquet, predictions.parquet (when the outputs were kept), a network's
    weights.npz and the resolved config.yaml; return their paths. Each is whole or absent
    (see write_whole); a folder that cannot be made or written raises WriteFailed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _failed(folder, e) from e
    paths = [folder / "seeds.parquet"]
    table = seeds_table(result)
    write_whole(paths[0], lambda f: table.to_parquet(f, index=False, **PARQUET))
    preds = predictions_table(result)
    if preds is not None:
        paths.append(folder / "predictions.parquet")
        write_whole(paths[-1], lambda f: preds.to_parquet(f, index=False, **PARQUET))
    weights = weights_file(result)
    if weights is not None:
        paths.append(folder / "weights.npz")
        write_whole(paths[-1], lambda f: np.savez(f, **weights))
    paths.append(folder / "config.yaml")
    write_whole(paths[-1], lambda f: f.write(result.plan.config_yaml.encode()))
    return paths


def write_whole(path: Path, write: Callable[[io.BufferedWriter], object]) -> None:
    """`write(file)` into a new file beside `path`, renamed to `path` once it is all there.

    A full disk used to leave a truncated predictions.parquet under its own name, which
    looked complete; now a file under its name is whole, and a failed one is removed and
    raises WriteFailed: one line, exit code 3."""
    # This writer's own: a name shared by two writers let one rename or remove the other's.
    part = path.with_name(f".{path.name}.{os.getpid()}-{next(_WRITERS)}.part")
    try:
        with open(part, "wb") as fh:
            write(fh)
        os.replace(part, path)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise _failed(path, e) from e


def _failed(path: Path, e: OSError) -> WriteFailed:
    reason = os.strerror(e.errno) if e.errno else str(e).splitlines()[0]
    fix = "free space there" if e.errno in _NO_SPACE else "make it writable"
    return WriteFailed(
        f"the run folder could not be written: {path}: {reason}; {fix} (or run "
        "elsewhere: hydra.run.dir=PATH) and run the same command again. Nothing was "
        "logged to MLflow"
    )


_WRITERS = itertools.count()
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


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
