"""How fast networks train and evaluate, against scikit-learn trained seed by seed.

1. Training: 1,000 seeds × model.hidden=[8] × 1,000 epochs of full-batch gradient descent on
   the obesity data (z-scored), all seeds vectorized, against scikit-learn's MLPClassifier
   with the same settings (solver="sgd", momentum=0, batch_size=n_rows,
   learning_rate="constant", lr 0.5, alpha 0), timed on 20 seeds one by one and scaled to
   1,000. Ours is timed two ways: the training step alone (in this process, as the job calls
   it) and the whole command `python -m runner … mode=train` with MLflow off, whose peak
   memory is read from the kernel (ru_maxrss). Goal: ≥ 30× faster, peak ≤ 2 GiB.
2. Evaluation: `python -m runner model.hidden=[8] seed=1..10000 tracking=off`, whole
   command, wall time. Goal: < 5 s.

    python benchmarks/network_speed.py [--activation relu] [--repeats 3] [--sk-seeds 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def data():
    import pandas as pd

    frame = pd.read_csv(ROOT / "data" / "obesity.csv")
    X = frame[["height_ft", "weight_kg"]].to_numpy(float)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, (frame["condition"] == "Obese").to_numpy(float)


def sklearn_seconds_per_seed(activation: str, n_seeds: int, epochs: int) -> list[float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = data()
    name = {"sigmoid": "logistic"}.get(activation, activation)
    out = []
    for seed in range(1, n_seeds + 1):
        clf = MLPClassifier(hidden_layer_sizes=(8,), activation=name, solver="sgd",
                            momentum=0.0, batch_size=len(y), learning_rate="constant",
                            learning_rate_init=0.5, alpha=0.0, max_iter=epochs, shuffle=False,
                            tol=0.0, n_iter_no_change=10**9, random_state=seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        out.append(time.perf_counter() - start)
    return out


def ours_training_seconds(activation: str, n_seeds: int, epochs: int) -> float:
    """The job's training step alone: runner.evaluate.descend on every seed."""
    import numpy as np
    from hydra import compose, initialize_config_dir

    from runner import evaluate
    from runner.config import register_configs, to_config
    from runner.plan import make_plan

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "model.hidden=[8]", f"activation={activation}", "mode=train",
            f"seed=1..{n_seeds}", f"trainer.epochs={epochs}", "tracking=off"])
    plan = make_plan(to_config(cfg))
    before = evaluate.evaluate(plan)
    start = time.perf_counter()
    layers, losses, _ = evaluate.descend(plan, plan.dataset.X, plan.dataset.y, before.layers)
    seconds = time.perf_counter() - start
    assert np.isfinite(losses).all()
    return seconds


def command(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB of the largest process) of `python -m runner ARGS`."""
    code = ("import resource, runpy, sys\n"
            f"sys.argv = ['runner', *{args!r}]\n"
            "try:\n    runpy.run_module('runner', run_name='__main__')\n"
            "finally:\n"
            "    r = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,\n"
            "            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "    print('PEAK_KIB', r, file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=1800)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{args}: exit {out.returncode}\n{out.stderr}")
    peak = next(int(line.split()[1]) for line in out.stderr.splitlines()
                if line.startswith("PEAK_KIB"))
    return wall, peak / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--activation", default="relu")
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--sk-seeds", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    print(f"machine        {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          "(timings need it idle)")
    sk = sklearn_seconds_per_seed(a.activation, a.sk_seeds, a.epochs)
    per_seed = statistics.median(sk)
    print(f"scikit-learn   {a.activation}, hidden (8,), {a.epochs} epochs: median "
          f"{per_seed:.3f} s a seed over {a.sk_seeds} seeds (min {min(sk):.3f}, max "
          f"{max(sk):.3f}); × {a.seeds} = {per_seed * a.seeds:.1f} s")
    steps = [ours_training_seconds(a.activation, a.seeds, a.epochs) for _ in range(a.repeats)]
    step = statistics.median(steps)
    print(f"ours, training step   {a.seeds} seeds at once: median {step:.2f} s "
          f"({', '.join(f'{s:.2f}' for s in steps)})  →  {per_seed * a.seeds / step:.1f}× "
          "(goal ≥ 30×)")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [command(["model.hidden=[8]", f"activation={a.activation}", "mode=train",
                         f"seed=1..{a.seeds}", f"trainer.epochs={a.epochs}", "tracking=off",
                         "luck.plots=false", "dataset.standardize=true"], Path(tmp))
                for _ in range(a.repeats)]
        wall = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        print(f"ours, whole command   python -m runner model.hidden=[8] mode=train "
              f"seed=1..{a.seeds} tracking=off: median {wall:.2f} s  →  "
              f"{per_seed * a.seeds / wall:.1f}×; peak memory {peak:.0f} MiB (goal ≤ 2048)")
        runs = [command(["model.hidden=[8]", "seed=1..10000", "tracking=off"], Path(tmp))
                for _ in range(a.repeats)]
        print(f"evaluation            python -m runner model.hidden=[8] seed=1..10000 "
              f"tracking=off: median {statistics.median(r[0] for r in runs):.2f} s "
              f"(goal < 5 s), peak memory {max(r[1] for r in runs):.0f} MiB")


if __name__ == "__main__":
    main()
