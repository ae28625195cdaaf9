"""What a job leaves in MLflow, as plain data that two stores can be compared by.

`dump(uri, tmp)` reads every run of the store back through MlflowClient: run names, statuses,
params, metric histories (steps and values), tags, dataset inputs and the content of every
artifact, with what differs between two runs of the same command taken out (run ids, times,
temporary folders, the git commit, Hydra's own timestamps). `same(a, b)` compares two dumps,
floats to 1e-12 relative (numpy's SIMD kernels may differ in the last bit between machines).

The golden files in tests/golden/ were made by the code before the restructuring of issue 12
(commit 6514238), with `python -m tests.golden --write`.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"

# (name, overrides): each run once through the worker path and once in-process.
COMMANDS = [
    ("five_seeds", ["seed=1..5"]),
    ("train_tanh", ["mode=train", "activation=tanh", "seed=1..4", "trainer.epochs=50"]),
    ("lesson", ["+experiment=lesson"]),
    ("helpers", ["dataset=lesson", "seed=1..45", "luck.plots=false"]),
    ("relu_list", ["activation=relu", "init=he_normal", "seed=[3,9]",
                   "tracking.child_runs=none"]),
]

# Tags whose value depends on when, where or by whom a run was made.
VOLATILE_TAGS = {"mlflow.user", "mlflow.source.name", "mlflow.source.type",
                 "mlflow.source.git.commit", "mlflow.runName"}
_RUN_DIR = re.compile(r"outputs/\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d")


# The project folder the golden files were made in: the datasets' sources name it.
MADE_IN = "/work/main"


def _normal(text: str, tmp: str) -> str:
    text = text.replace(tmp, "<tmp>").replace(str(ROOT), "<project>")
    return _RUN_DIR.sub("outputs/<date>/<time>", text)


def _table(frame) -> dict:
    """A table's fingerprint: columns, size, its first rows, and each column's sum (numbers)
    or value counts (text). Small enough to keep, and any changed cell changes it."""
    import pandas as pd

    summary = {}
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            summary[str(c)] = {str(k): int(v) for k, v in col.astype(str).value_counts().items()}
        else:
            summary[str(c)] = [float(col.astype(float).sum()), float(col.astype(float).abs().sum())]
    head = json.loads(frame.head(5).to_json(orient="values", double_precision=15))
    return {"columns": [str(c) for c in frame.columns], "n_rows": len(frame), "head": head,
            "columns_summary": summary}


def _artifact(path: Path, tmp: str):
    """An artifact's content, as data: tables fingerprinted, PNGs by size, text normalized."""
    import pandas as pd

    name = path.name
    if name.endswith(".parquet"):
        return _table(pd.read_parquet(path))
    if name.endswith(".png"):
        import matplotlib.image as mpimg

        return {"png": list(mpimg.imread(path).shape)}
    if name == "hydra.yaml":  # Hydra's runtime: versions, folders, callbacks, times
        return {"present": True}
    text = _normal(path.read_text(), tmp)
    if name.endswith(".json"):
        return json.loads(text)
    if name.endswith(".csv"):
        return _table(pd.read_csv(io.StringIO(text)))
    return text


def dump(uri: str, tmp: str | Path) -> dict:
    """Every run of experiment 'neuron-luck' in the store at `uri`, by run name."""
    from mlflow.tracking import MlflowClient

    tmp = str(tmp)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("neuron-luck")
    runs = client.search_runs([exp.experiment_id], max_results=50_000)
    names = {r.info.run_id: r.info.run_name for r in runs}
    out = {}
    import mlflow.utils.file_utils  # noqa: F401

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    with tempfile.TemporaryDirectory() as down:
        for r in runs:
            rid = r.info.run_id
            # A run's own id (its description links to its page and its seeds) as a name.
            tags = {k: _normal(v, tmp).replace(rid, "<this run>")
                    for k, v in r.data.tags.items() if k not in VOLATILE_TAGS}
            if "mlflow.parentRunId" in tags:
                tags["mlflow.parentRunId"] = names[tags["mlflow.parentRunId"]]
            metrics = {k: sorted((m.step, m.value) for m in client.get_metric_history(rid, k))
                       for k in r.data.metrics}
            local = Path(client.download_artifacts(rid, "", os.path.join(down, rid)))
            artifacts = {str(p.relative_to(local)): _artifact(p, tmp)
                         for p in sorted(local.rglob("*")) if p.is_file()}
            inputs = [{"name": d.dataset.name, "digest": d.dataset.digest,
                       "source": _normal(d.dataset.source, tmp), "schema": d.dataset.schema,
                       "profile": d.dataset.profile,
                       "tags": {t.key: t.value for t in d.tags}}
                      for d in r.inputs.dataset_inputs]
            key = r.info.run_name
            if "mlflow.parentRunId" in tags:
                key = f"{tags['mlflow.parentRunId']} / {key}"
            assert key not in out, f"two runs named {key!r}"
            out[key] = {"status": r.info.status, "params": dict(r.data.params),
                        "metrics": metrics, "tags": tags, "inputs": inputs,
                        "artifacts": artifacts}
    return out


# What the code stores now differs from the golden sample on purpose here, and only here:
# (why, function that edits a golden dump in place into what is expected now).
def _server_flag(dump):
    # tracking.server (issue 12): tracking=server refuses to run without the server's URI.
    for run in dump.values():
        for name in ("config.yaml", "hydra/config.yaml"):
            text = run["artifacts"].get(name)
            if isinstance(text, str):
                run["artifacts"][name] = text.replace(
                    "tracking:\n  enabled: true\n", "tracking:\n  enabled: true\n  server: false\n")


def _model_key(dump):
    # model.hidden (issue 13): the resolved config names the model, [] for the one neuron.
    for run in dump.values():
        for name in ("config.yaml", "hydra/config.yaml"):
            text = run["artifacts"].get(name)
            if isinstance(text, str):
                run["artifacts"][name] = text.replace(
                    "  record_every: null\nmode:",
                    "  record_every: null\nmodel:\n  hidden: []\nmode:")


def _training_counts(dump):
    # Issue 13/15: the training summary counts the seeds that diverged and that got stuck
    # (no better than the constant guess; its sentence says so when any did), and
    # seeds.parquet keeps each metric before training beside it (<metric>_before), for the
    # sweep report's before/after view.
    for key, run in dump.items():
        luck = run["artifacts"].get("luck.json")
        if not luck or "training" not in luck:
            continue
        t = luck["training"]
        children = {int(r["params"]["seed"]): r for k, r in dump.items()
                    if k.startswith(key + " / ")}
        stuck = sum(r["metrics"]["accuracy"][0][1] <= luck["baseline_accuracy"]
                    for r in children.values())
        old = t.pop("sentence")
        t["diverged"], t["stuck"] = 0, stuck
        t["sentence"] = old + (
            f" {stuck:,} of {len(children):,} seeds got stuck: no better than the constant "
            f"guess ({luck['baseline_accuracy']:.4f}) after training." if stuck else "")
        run["tags"]["mlflow.note.content"] = run["tags"]["mlflow.note.content"].replace(
            old, t["sentence"])
        table = run["artifacts"]["seeds.parquet"]
        metrics = [c for c in table["columns"] if c not in ("seed", "bias")
                   and not c.startswith("w.")]
        table["columns"] += [f"{c}_before" for c in metrics]
        for m in metrics:
            values = [children[s]["metrics"][f"{m}_before"][0][1] for s in sorted(children)]
            table["columns_summary"][f"{m}_before"] = [float(sum(values)),
                                                       float(sum(abs(v) for v in values))]
        for row in table["head"]:
            row += [children[row[0]]["metrics"][f"{m}_before"][0][1] for m in metrics]


def _job_kind(dump):
    # neuron_luck.kind (issue 15): a job's parent run is tagged 'job'; 'sweep' now means a
    # Hydra multirun only (a resume and a sweep report still accept parents tagged 'sweep').
    for run in dump.values():
        if run["tags"].get("neuron_luck.kind") == "sweep":
            run["tags"]["neuron_luck.kind"] = "job"


def _highlight_values(dump):
    # dataset.highlight_values (issue 14): obesity.yaml and lesson.yaml give the features of
    # the row they name, so another CSV's row 0 is not called the lesson's person. Every
    # dataset of the golden commands is one of those two, so every label is that person's.
    pattern = re.compile(r"^( *)highlight_label: (.*)$", re.M)

    def add(m):
        indent, label = m.group(1), m.group(2)
        if label == "null":
            return f"{m.group(0)}\n{indent}highlight_values: null"
        return f"{m.group(0)}\n{indent}highlight_values:\n{indent}- 4.0\n{indent}- 80.0"

    for run in dump.values():
        for name in ("config.yaml", "hydra/config.yaml"):
            text = run["artifacts"].get(name)
            if isinstance(text, str):
                run["artifacts"][name] = pattern.sub(add, text)


# Issue 14: a parent's name shows every setting its command changed (trainer.epochs=50), and
# no init when the weights were given (the lesson's).
_RENAMED = {
    "tanh · uniform · obesity · trained · seeds 1..4":
        "tanh · uniform · obesity · trained · trainer.epochs=50 · seeds 1..4",
    "sigmoid · uniform · lesson · explicit": "sigmoid · lesson · weights (0.2, 1e-05), bias 1",
}


def _names(dump):
    for key in list(dump):
        parent, sep, child = key.partition(" / ")
        if parent in _RENAMED:
            run = dump.pop(key)
            dump[_RENAMED[parent] + sep + child] = run
            if sep:
                run["tags"]["mlflow.parentRunId"] = _RENAMED[parent]


def _is_parent(run) -> bool:
    """A job's parent run (whatever its kind tag is called), not a child or a sweep report."""
    tags = run["tags"]
    return "mlflow.parentRunId" not in tags and tags.get("neuron_luck.kind") != "sweep_report"


def _params(dump):
    # Issue 14: a parent's params hold the init's parameters that its scheme reads, or, when
    # the weights were given, the weights and bias instead of an init that played no part.
    # A child's hold the units of its weights (standardize), and its seed also as a metric
    # (the UI sorts by metrics as numbers, by params as text).
    standardize = {}
    for key, run in dump.items():
        if not _is_parent(run):
            continue
        params = run["params"]
        standardize[key] = params["standardize"]
        if params["seeds"] == "explicit weights":  # the lesson's w = (0.2, 1e-05), b = 1
            del params["init"], params["init.bias"]
            params.update({"weights": "(0.2, 1e-05)", "bias": "1.0"})
            continue
        for prefix in ("init", "init.bias"):
            if params[prefix] == "uniform":
                params.update({f"{prefix}.low": "-1.0", f"{prefix}.high": "1.0"})
    for run in dump.values():
        parent = run["tags"].get("mlflow.parentRunId")
        if parent is None:
            continue
        params = run["params"]
        params["standardize"] = standardize[parent]
        if params["seed"] == "explicit":
            del params["init"]
        else:
            run["metrics"]["seed"] = [[0, float(params["seed"])]]


def _description(dump):
    # Issue 14: the UI shows a description's first ~100 px, so it begins with one short line:
    # the verdict's first clause (after training: what training removed) and a link to the
    # job's seeds in seed order; the plots are links to their previews.
    ui = "workflowType=machine_learning"
    for key, run in dump.items():
        note = run["tags"].get("mlflow.note.content")
        if not _is_parent(run) or note is None:
            continue
        n = sum(1 for r in dump.values() if r["tags"].get("mlflow.parentRunId") == key)
        paragraphs = note.split("\n\n")
        training = [p for p in paragraphs if p.endswith(" (the table below is after training)")]
        lead = (training[0].split(". ", 1)[0].strip("*").rstrip(".") if training
                else paragraphs[1].strip("*").split(". ", 1)[0].split(";", 1)[0].rstrip("."))
        first = f"**{lead}.**" + (f" [The {n:,} seeds, in seed order](#/experiments/1/runs?"
                                 f"viewStateShareKey=seeds-<this run>&{ui})" if n else "")
        body = [first]
        for p in paragraphs:
            if p.startswith("Plots under Artifacts"):
                p = "Plots under Artifacts → `plots/`: " + ", ".join(
                    f"[`{q}`](#/experiments/1/runs/<this run>/artifacts/{q}?{ui})"
                    for q in re.findall(r"`(plots/[^`]+)`", p)) + "."
            body.append(p)
        run["tags"]["mlflow.note.content"] = "\n\n".join(body)


def _lesson_training(dump):
    # Issue 19: the lesson's training (its weights trained on data/obesity.csv) is computed
    # with the job and logged: the parent's metrics and lesson_training.json. The expected
    # values come from plain gradient descent written here with matrix products, z-scored
    # as trainer.standardize does, 1000 epochs at lr 0.5 (trainer's defaults).
    import numpy as np

    for run in dump.values():
        if not _is_parent(run) or run["params"].get("seeds") != "explicit weights":
            continue
        raw = np.loadtxt(ROOT / "data" / "obesity.csv", delimiter=",", skiprows=1,
                         usecols=(0, 1))
        y = np.loadtxt(ROOT / "data" / "obesity.csv", delimiter=",", skiprows=1, usecols=2,
                       dtype=str) == "Obese"
        w0, b0 = np.array([0.2, 0.00001]), 1.0
        mean, std = raw.mean(axis=0), raw.std(axis=0)
        Xs = (raw - mean) / std
        w, b = w0 * std, b0 + w0 @ mean
        for _ in range(1000):
            r = 1 / (1 + np.exp(-(Xs @ w + b))) - y
            w, b = w - 0.5 * Xs.T @ r / len(y), b - 0.5 * r.mean()
        z = Xs @ w + b
        loss = float(np.mean(np.logaddexp(0, z) - y * z))
        w, b = w / std, b - (w / std) @ mean
        y_hat = float(1 / (1 + np.exp(-(w @ [4.0, 80.0] + b))))
        accuracy = float(((raw @ w + b >= 0) == y).mean())
        run["metrics"].update({"lesson_trained_accuracy": [[0, accuracy]],
                               "lesson_trained_log_loss": [[0, loss]],
                               "lesson_trained_y_hat": [[0, y_hat]]})
        run["artifacts"]["lesson_training.json"] = {
            "trained": True, "dataset": "obesity", "n_rows": len(y), "w0": w0.tolist(),
            "b0": b0, "w": w.tolist(), "b": float(b), "loss": loss, "y_hat": y_hat,
            "positive": y_hat >= 0.5, "accuracy": accuracy}


def _issue_20_settings(dump):
    # Issue 20: the resolved config (config.yaml, Hydra's config.yaml) holds the new settings
    # at their defaults: the trainer's optimizer and mini-batches, the split, order_seed and
    # luck.sources. Nothing else changes while they are at their defaults.
    trainer = ("  optimizer: gd\n  batch_size: null\n  shuffle: true\n  momentum: 0.9\n"
               "  nesterov: true\n  beta1: 0.9\n  beta2: 0.999\n  epsilon: 1.0e-08\n")
    split = "split:\n  kind: none\n  test_fraction: 0.25\n  folds: 5\n  seed: 0\n"
    edits = [(re.compile(r"^(  record_every: .*\n)", re.M), r"\1" + trainer),
             (re.compile(r"^(model:\n  hidden: .*\n)", re.M), r"\1" + split),
             (re.compile(r"^(seed:(?: .*\n|\n(?:- .*\n)+))", re.M), r"\1order_seed: 0\n"),
             (re.compile(r"^(luck:\n(?:  .*\n)*?  plots: .*\n)", re.M), r"\1  sources: grid\n")]
    for run in dump.values():
        for name in ("config.yaml", "hydra/config.yaml"):
            text = run["artifacts"].get(name)
            if isinstance(text, str):
                for pattern, repl in edits:
                    text = pattern.sub(repl, text, count=1)
                run["artifacts"][name] = text




def _readable_metrics(dump):
    # Issue 22, item 4: a parent's summary metrics read right in the UI. A metric whose seeds
    # all have one value has std 0 (it was 1.1e-16) and that value as every statistic, a
    # training std whose range is 0 is 0, and a share has no noise past 14 decimals; the rest
    # is rounded to 14 significant digits, which same() tolerates.
    for run in dump.values():
        m = run["metrics"]
        if not _is_parent(run) and run["tags"].get("neuron_luck.kind") != "sweep_report":
            continue
        for key in list(m):
            if key.endswith("_min") and key[:-4] + "_max" in m:
                family = key[:-4]
                if m[key][0][1] == m[family + "_max"][0][1] and family + "_std" in m:
                    m[family + "_std"] = [[0, 0.0]]
            std = key.replace("_range_", "_std_")
            if key.startswith("accuracy_range_") and m[key][0][1] == 0 and std in m:
                m[std] = [[0, 0.0]]
            if "share" in key or key == "training_std_removed":
                m[key] = [[step, round(v, 14) + 0.0] for step, v in m[key]]


def _hidden_param(dump):
    # Issue 22, item 6: a job's parent holds its hidden layers as a param, [] for the single
    # neuron too, so the jobs view's `hidden` column is there for every job.
    for run in dump.values():
        if _is_parent(run):
            run["params"].setdefault("hidden", "[]")


def _per_seed_series(dump):
    # Issue 22, item 6: each seed's accuracy is the series per_seed/accuracy: as
    # accuracy_by_seed, MLflow's compare view listed it first by its last seed's value, where
    # it read like a summary.
    for run in dump.values():
        if "accuracy_by_seed" in run["metrics"]:
            run["metrics"]["per_seed/accuracy"] = run["metrics"].pop("accuracy_by_seed")


def _child_runs_named(dump):
    # Issue 22, item 5: jobs that differ in tracking.child_runs had one name in the UI's list.
    old = "relu · he_normal · obesity · seeds [3,9]"
    new = "relu · he_normal · obesity · tracking.child_runs=none · seeds [3,9]"
    for key in list(dump):
        parent, sep, child = key.partition(" / ")
        if parent == old:
            run = dump.pop(key)
            dump[new + sep + child] = run
            if sep:
                run["tags"]["mlflow.parentRunId"] = new


INTENDED_CHANGES = [_server_flag, _model_key, _training_counts, _job_kind,
                    _highlight_values, _names, _params, _description, _readable_metrics,
                    _hidden_param, _per_seed_series, _child_runs_named, _lesson_training,
                    _issue_20_settings]


def expected(name: str) -> dict:
    """The golden dump of command `name`, with the intended changes made."""
    # Made in MADE_IN; compared wherever the project is checked out.
    dump = json.loads((GOLDEN / f"{name}.json").read_text().replace(MADE_IN, "<project>"))
    for change in INTENDED_CHANGES:
        change(dump)
    return dump


def same(a, b, where="") -> list[str]:
    """Where the dumps `a` and `b` differ (floats to 1e-12 relative), as readable lines."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}: only in the first: {k!r}" for k in a.keys() - b.keys()]
        out += [f"{where}: only in the second: {k!r}" for k in b.keys() - a.keys()]
        for k in a.keys() & b.keys():
            out += same(a[k], b[k], f"{where}/{k}")
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items against {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in same(x, y, f"{where}[{i}]")]
    if isinstance(a, str) and isinstance(b, str):
        if a == b:
            return []
        try:  # numbers written as text (CSV cells, params)
            x, y = float(a), float(b)
        except ValueError:
            return [f"{where}: {a!r} against {b!r}"]
        return same(x, y, where)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not (
            isinstance(a, bool) or isinstance(b, bool)):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return []
        if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300):
            return []
        return [f"{where}: {a!r} against {b!r}"]
    return [] if a == b else [f"{where}: {a!r} against {b!r}"]


def run(name: str, overrides: list[str], folder: Path, speedups: bool,
        store: Path | None = None) -> dict:
    """`python -m runner OVERRIDES` in `folder`, fast (the worker, helper processes) or plain
    (NEURON_LUCK_SPEEDUPS=0); its dump. The job makes its store, or logs into a copy of
    `store` (an empty store with MLflow's tables made: the tests' migrated_store)."""
    folder.mkdir(parents=True, exist_ok=True)
    if store is not None:
        shutil.copyfile(store, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "NEURON_LUCK_", "HYDRA_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["NEURON_LUCK_SPEEDUPS"] = "1" if speedups else "0"
    out = subprocess.run([sys.executable, "-m", "runner", *overrides, f"tracking.uri={uri}"],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{name}: {out.stderr}"
    return dump(uri, folder)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in COMMANDS:
            data = run(name, overrides, Path(tmp) / name, speedups=True)
            (GOLDEN / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            print(name, len(data), "runs")
