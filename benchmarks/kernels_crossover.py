"""Where mini-batch training's compiled kernels beat numpy's products: the figures behind
`neuron.network.compiled_pays`.

For each number of features and hidden layers, 64 seeds (one block of the kernels' lanes) train
3 epochs of batch 32 on 512 random rows, in one process, through `network.train` with
reference=False (neuron/compiled.py's kernels) and reference=True (numpy's products), the two
alternating, the best of `--repeats` each. It prints µs a seed an epoch for both, their ratio,
and what `compiled_pays` chooses; a row where the choice is the slower path by more than 10 %
is marked. It asserts nothing about time: timings are only comparable on an idle machine.

    python benchmarks/kernels_crossover.py
    python benchmarks/kernels_crossover.py --features 2,8 --hidden "[8];[16,16]" --activation tanh
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuron import activations, initializers, network  # noqa: E402
from neuron.optimizers import SGD  # noqa: E402

SEEDS, ROWS, EPOCHS, BATCH = 64, 512, 3, 32


def seconds(X, y, layers, f, reference: bool) -> float:
    seeds = np.arange(SEEDS)
    orders = [np.random.default_rng(int(s)) for s in seeds]
    start = time.perf_counter()
    network.train(X, y, layers, f, SGD(0.1), epochs=EPOCHS, batch_size=BATCH, orders=orders,
                  reference=reference)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--features", default="1,2,4,8,30")
    p.add_argument("--hidden", default="[];[8];[32];[64];[8,8];[16,16]",
                   help="hidden-layer widths, ';' between networks")
    p.add_argument("--activation", default="relu")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0]
    print(f"machine    {os.cpu_count()} CPUs, load average {load:.2f} (timings need it idle)")
    print(f"task       {SEEDS} seeds x {ROWS} rows x {EPOCHS} epochs, batch {BATCH}, "
          f"{args.activation}; µs a seed an epoch")
    print(f"{'features':>8} {'hidden':10} {'compiled':>9} {'numpy':>8} {'numpy÷compiled':>15}"
          f"  chosen")
    for n_features in (int(v) for v in args.features.split(",")):
        X = rng.normal(size=(ROWS, n_features))
        y = (X[:, 0] + 0.5 * rng.normal(size=ROWS) > 0).astype(float)
        for hidden in (json.loads(h) for h in args.hidden.split(";")):
            out = "sigmoid" if not hidden else args.activation
            layers = tuple(network.Layer(W, b) for W, b in initializers.draw_layers(
                np.arange(SEEDS), network.sizes(n_features, hidden),
                initializers.Draw("xavier_uniform"), initializers.Draw("zeros")))
            g = activations.get(out)
            seconds(X, y, layers, g, False)  # compiled (or read from numba's cache)
            best = {False: np.inf, True: np.inf}
            for _ in range(args.repeats):
                for reference in (False, True):
                    best[reference] = min(best[reference], seconds(X, y, layers, g, reference))
            per = {k: v / SEEDS / EPOCHS * 1e6 for k, v in best.items()}
            ratio = per[True] / per[False]
            chosen = network.compiled_pays(layers)
            slower = (ratio < 1 / 1.1) if chosen else (ratio > 1.1)
            print(f"{n_features:>8} {json.dumps(hidden):10} {per[False]:>9.1f} {per[True]:>8.1f} "
                  f"{ratio:>15.2f}  {'compiled' if chosen else 'numpy'}"
                  f"{'  <- the slower one' if slower else ''}")


if __name__ == "__main__":
    main()
