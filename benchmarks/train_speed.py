"""How fast neuron.training trains many seeds at once, and how far apart the seeds end.

Trains SEEDS × EPOCHS of full-batch gradient descent (sigmoid neuron, log-loss) on
data/obesity.csv, standardized; seed s starts from np.random.default_rng(s).uniform(-1, 1)
for its weights then bias.

    python benchmarks/train_speed.py [--seeds 1000] [--epochs 1000] [--lr 1.0] [--l2 0.0]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "data" / "obesity.csv"


def read_obesity(path):
    """X (n_rows, 2) of height_ft, weight_kg; y (n_rows,) with 1 = Obese."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    X = np.array([[float(r["height_ft"]), float(r["weight_kg"])] for r in rows])
    y = np.array([r["condition"] == "Obese" for r in rows], dtype=float)
    return X, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--l2", type=float, default=0.0)
    parser.add_argument("--csv", type=Path, default=CSV)
    args = parser.parse_args(argv)

    if not args.csv.exists():
        print(f"{args.csv} not found: create it with `python data/make_obesity.py`",
              file=sys.stderr)
        return 1

    # Run as a script, the project root is not on sys.path; imported late so this stays
    # a plain file in benchmarks/ rather than needing an installed package.
    sys.path.insert(0, str(ROOT))
    from neuron import network
    from neuron.activations import get
    from neuron.optimizers import GD
    from neuron.scaling import standardize

    X, y = read_obesity(args.csv)
    Xs, _, _ = standardize(X)
    start = np.array(
        [np.random.default_rng(s).uniform(-1.0, 1.0, X.shape[1] + 1) for s in range(args.seeds)]
    )
    W0, b0 = start[:, :-1], start[:, -1]

    t0 = time.perf_counter()
    res = network.train(Xs, y, network.neuron(W0, b0), get("sigmoid"), GD(args.lr),
                        epochs=args.epochs, l2=args.l2)
    wall = time.perf_counter() - t0

    final = res.losses[-1]
    print(f"data: {args.csv.name}, {X.shape[0]} rows × {X.shape[1]} features (standardized), "
          f"{int(y.sum())} positive")
    print(f"trained {args.seeds} seeds × {args.epochs} epochs, lr={args.lr}, l2={args.l2}")
    print(f"wall time: {wall:.3f} s")
    print(f"seeds·epochs per second: {args.seeds * args.epochs / wall:,.0f}")
    print(f"final loss across seeds: min {final.min():.10f}  median {np.median(final):.10f}  "
          f"max {final.max():.10f}  (spread {final.max() - final.min():.3e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
