"""How fast `python -m runner seed=1..N` is against a hand-written Hydra multirun, and the floors.

Builds, in a temporary folder, the plain Hydra app a user would write (one MLflow run per job,
swept with `-m 'seed=range(1,N+1)'`), runs it and our runner alternately on data/obesity.csv,
each into a fresh SQLite store created before timing starts, and prints medians, ratios, the
MLflow run counts, and the two floors (import time, MLflow's per-run cost) with the targets.

    python benchmarks/sweep_speed.py [--sizes 50,500] [--repeats 3] [--quick] [--million]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "data" / "obesity.csv"
PY = sys.executable
PARAMS = {"seed", "activation", "init", "w.height_ft", "w.weight_kg", "bias"}
METRICS = {"accuracy", "tp", "fp", "tn", "fn", "mean_output", "log_loss", "brier"}

# The baseline: what a user writes by hand. Flat runs, one per Hydra job (no parent: nesting
# across the jobs of a multirun needs a parent id passed between them, which plain code lacks).
BASELINE_APP = '''\
import hydra
import mlflow
import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg):
    df = pd.read_csv(cfg.data)
    X = df[["height_ft", "weight_kg"]].to_numpy()
    y = (df["condition"] == "Obese").to_numpy()
    rng = np.random.default_rng(cfg.seed)
    w = rng.uniform(-1, 1, size=2)
    b = rng.uniform(-1, 1)
    z = X @ w + b
    y_hat = 1 / (1 + np.exp(-z))
    pred = y_hat >= 0.5
    p = np.clip(y_hat, 1e-15, 1 - 1e-15)
    metrics = {
        "accuracy": float((pred == y).mean()),
        "tp": int((pred & y).sum()), "fp": int((pred & ~y).sum()),
        "tn": int((~pred & ~y).sum()), "fn": int((~pred & y).sum()),
        "mean_output": float(y_hat.mean()),
        "log_loss": float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()),
        "brier": float(((y_hat - y) ** 2).mean()),
    }
    out = df.assign(z=z, y_hat=y_hat, predicted=np.where(pred, "Obese", "Not Obese"),
                    correct=pred == y)
    path = f"{HydraConfig.get().runtime.output_dir}/predictions.csv"
    out.to_csv(path, index_label="row")
    mlflow.set_experiment("baseline")
    with mlflow.start_run(run_name=f"seed {cfg.seed}"):
        mlflow.log_params({"seed": cfg.seed, "activation": "sigmoid", "init": "uniform",
                           "w.height_ft": w[0], "w.weight_kg": w[1], "bias": b})
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(path)


if __name__ == "__main__":
    main()
'''

# MLflow's per-run floor, in a subprocess: argv = store folder, "default" | "ours", n runs.
FLOOR = f'''\
import sys, time
folder, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "ours":
    sys.path.insert(0, {str(ROOT)!r})
    from runner.tracking.setup import import_mlflow
    import_mlflow("sqlite:///")
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
client = MlflowClient(f"sqlite:///{{folder}}/mlflow.db")
exp = client.create_experiment("floor", artifact_location=f"{{folder}}/artifacts")
def one(i):
    rid = client.create_run(exp).info.run_id
    now = int(time.time() * 1000)
    client.log_batch(rid, params=[Param(k, str(i)) for k in ("seed", "activation", "init", "bias")],
                     metrics=[Metric(k, 0.5, now, 0) for k in ("accuracy", "tp", "fp", "log_loss")])
    client.set_terminated(rid, "FINISHED")
for i in range(10):
    one(i)
t0 = time.perf_counter()
for i in range(n):
    one(i)
print((time.perf_counter() - t0) / n)
'''


def run(cmd, cwd, env=None, check=True):
    """Run `cmd` as a whole process; (wall seconds, CompletedProcess)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if check and p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-2000:]}{p.stderr[-3000:]}")
    return wall, p


def child_env(**extra):
    """The environment for every child: the project importable, the store given by env."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def build_baseline(folder: Path) -> None:
    """Write the hand-written Hydra app and its config.yaml (seed: 1, our data) to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(BASELINE_APP)
    (folder / "config.yaml").write_text(f"seed: 1\ndata: {CSV}\n")


def make_store(uri: str, cwd: Path, ours: bool) -> None:
    """Create and migrate a SQLite store and its experiment, in a subprocess (not timed).

    Ours goes through runner.tracking.setup.prepare (WAL + synchronous=NORMAL); the baseline
    gets MLflow's defaults, as a user would.
    """
    code = ("from mlflow.tracking import MlflowClient\n"
            + ("from runner.tracking.setup import prepare\nprepare(URI)\n" if ours else "")
            + "MlflowClient(URI).create_experiment(NAME)\n")
    name = "neuron-luck" if ours else "baseline"
    run([PY, "-c", f"URI, NAME = {uri!r}, {name!r}\n" + code], cwd, child_env())


def check_store(uri: str, n: int, ours: bool) -> str:
    """Count the runs in a store and check each per-seed run's params, metrics and artifact."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("neuron-luck" if ours else "baseline")
    runs = client.search_runs([exp.experiment_id], max_results=50_000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    seeds = [r for r in runs if "mlflow.parentRunId" in r.data.tags] if ours else parents
    bad = [r.info.run_id for r in seeds if not (
        PARAMS <= r.data.params.keys() and METRICS <= r.data.metrics.keys()
        and (Path(unquote(urlparse(r.info.artifact_uri).path)) / "predictions.csv").is_file())]
    ok = len(seeds) == n and not bad and (len(parents) == 1 if ours else True)
    kind = f"1 parent + {len(seeds)} children" if ours else f"{len(seeds)} flat runs"
    return f"{kind}, {len(bad)} incomplete {'ok' if ok else 'MISMATCH'}"


def import_floor() -> float:
    """Wall time of `python -c "import mlflow, hydra, pandas"`."""
    return run([PY, "-c", "import mlflow, hydra, pandas"], ROOT, child_env())[0]


def run_floor(mode: str, n: int = 200) -> float:
    """MLflow's seconds per run (create_run + log_batch + set_terminated) on a fresh store."""
    with tempfile.TemporaryDirectory() as tmp:
        _, p = run([PY, "-c", FLOOR, tmp, mode, str(n)], tmp, child_env())
        return float(p.stdout.strip().splitlines()[-1])


def load() -> str:
    """The 1-minute load average: other work on the machine skews every figure here."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def sweep(sizes, repeats, ours_extra) -> None:
    """Per size and repeat: the floors, then baseline and ours; then medians and targets.

    The floors are measured beside each pair, so a busy spell on the machine weighs on the
    figures and their floors alike.
    """
    print(f"machine        {os.cpu_count()} CPUs, load average {load()} (timings need it idle)")
    with tempfile.TemporaryDirectory(prefix="sweep_speed_") as tmp:
        tmp = Path(tmp)
        build_baseline(tmp / "baseline")
        print(f"baseline       python app.py -m 'seed=range(1,N+1)'   (in {tmp / 'baseline'})")
        print("ours           python -m runner seed=1..N " + " ".join(ours_extra))
        for n in sizes:
            t = {k: [] for k in ("import", "default", "ours_floor", "baseline", "ours")}
            for i in range(repeats):
                t["import"].append(import_floor())
                t["default"].append(run_floor("default"))
                t["ours_floor"].append(run_floor("ours"))
                print(f"  N={n} #{i + 1} floors   import {t['import'][-1]:.2f} s, per run "
                      f"{t['default'][-1] * 1e3:.1f} ms default / "
                      f"{t['ours_floor'][-1] * 1e3:.1f} ms ours", flush=True)
                for who in ("baseline", "ours"):
                    cwd = tmp / who if who == "baseline" else tmp / f"ours-{n}-{i}"
                    cwd.mkdir(exist_ok=True)
                    uri = f"sqlite:///{tmp}/{who}-{n}-{i}.db"
                    make_store(uri, cwd, who == "ours")
                    cmd = ([PY, "app.py", "-m", f"seed=range(1,{n + 1})"] if who == "baseline"
                           else [PY, "-m", "runner", f"seed=1..{n}", *ours_extra])
                    wall, _ = run(cmd, cwd, child_env(MLFLOW_TRACKING_URI=uri))
                    t[who].append(wall)
                    print(f"  N={n} #{i + 1} {who:8s} {wall:7.2f} s   "
                          f"{check_store(uri, n, who == 'ours')}", flush=True)
            report(n, t)


def report(n, t) -> None:
    """Per size: medians, baseline/ours, ours against the floors, with the issue's targets."""
    med = {k: statistics.median(v) for k, v in t.items()}
    ratio = statistics.median(x / y for x, y in zip(t["baseline"], t["ours"], strict=True))
    floors = [imp + n * per for imp, per in zip(t["import"], t["ours_floor"], strict=True)]
    over = statistics.median(o / f for o, f in zip(t["ours"], floors, strict=True))
    target = "≥ 9×" if n >= 500 else "≥ 3×" if n >= 50 else "(≥ 3× at 50, ≥ 9× at 500)"
    print(f"N={n} ({len(t['ours'])} repeats, load average now {load()}):")
    print(f"  import floor       median {med['import']:.2f} s  (python -c 'import mlflow, hydra, "
          "pandas')")
    print(f"  per-run floor      median {med['default'] * 1e3:.1f} ms with MLflow's defaults, "
          f"{med['ours_floor'] * 1e3:.1f} ms on our store (WAL, synchronous=NORMAL)  "
          "(create_run + log_batch + set_terminated, 200 runs)")
    print(f"  baseline           median {med['baseline']:.2f} s "
          f"({med['baseline'] / n * 1e3:.0f} ms/seed)")
    print(f"  ours               median {med['ours']:.2f} s ({med['ours'] / n * 1e3:.1f} ms/seed)")
    print(f"  baseline/ours      {ratio:5.2f}×   target {target}")
    print(f"  ours / floor       {over:5.2f}    target ≤ 1.2   (floor = import + {n} × per-run "
          f"floor ours = {statistics.median(floors):.2f} s, median)", flush=True)


def million() -> None:
    """1,000,000 seeds, summary only: wall, peak RSS, seeds/s; then chunk-size independence."""
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="sweep_million_") as tmp:
        tmp = Path(tmp)
        uri = f"sqlite:///{tmp}/mlflow.db"
        make_store(uri, tmp, ours=True)
        cmd = [PY, "-m", "runner", "seed=1..1000000", "tracking.child_runs=none",
               "luck.plots=false", f"tracking.uri={uri}"]
        timed = Path("/usr/bin/time").exists()
        wall, p = run((["/usr/bin/time", "-v"] if timed else []) + cmd, tmp, child_env(),
                      check=False)
        if timed:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
            rss = int(m.group(1)) / 1024 if m else float("nan")
        else:
            import resource
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print("$ " + " ".join(cmd))
        print(textwrap.indent(p.stdout.strip()[-1500:], "  | "))
        if p.returncode != 0:
            print(f"  FAILED with exit code {p.returncode}:\n"
                  + textwrap.indent(p.stderr.strip()[-2500:], "  ! "))
        print(f"1,000,000 seeds: wall {wall:.1f} s, peak RSS {rss:.0f} MiB (target ≤ 1024), "
              f"{1e6 / wall:,.0f} seeds/s (whole process)", flush=True)

        frames = {}
        for chunk in (1000, 20000):
            cwd = tmp / f"chunk{chunk}"
            cwd.mkdir()
            wall, _ = run([PY, "-m", "runner", "seed=1..20000", f"chunk_size={chunk}",
                           "tracking=off", "luck.plots=false"], cwd, child_env())
            (path,) = cwd.glob("outputs/**/seeds.parquet")
            frames[chunk] = (path, pd.read_parquet(path))
            print(f"seed=1..20000 chunk_size={chunk}: {wall:.2f} s, {path.relative_to(tmp)}")
        (pa, a), (pb, b) = frames[1000], frames[20000]
        same = a.equals(b)
        print(f"seeds.parquet chunk_size=1000 vs 20000: frames {'EQUAL' if same else 'DIFFER'}, "
              f"files {'byte-identical' if pa.read_bytes() == pb.read_bytes() else 'differ'}"
              f" ({len(a)} rows, {len(a.columns)} columns)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,500", help="comma-separated seed counts")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="sizes 20, repeats 1: a smoke run")
    ap.add_argument("--million", action="store_true", help="the 1,000,000-seed run instead")
    ap.add_argument("--ours-extra", default="",
                    help="extra overrides for ours, e.g. luck.plots=false")
    args = ap.parse_args(argv)
    if not CSV.exists():
        sys.exit(f"{CSV} not found: create it with `python data/make_obesity.py`")
    if args.million:
        million()
        return 0
    sizes = [20] if args.quick else [int(s) for s in args.sizes.split(",")]
    sweep(sizes, 1 if args.quick else args.repeats, args.ours_extra.split())
    return 0


if __name__ == "__main__":
    sys.exit(main())
