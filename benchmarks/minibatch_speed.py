"""How fast mini-batch training runs, against scikit-learn trained run by run.

1,000 runs × model.hidden=[16] × 200 epochs × batch 32 on the Wisconsin diagnostic breast
cancer table (569 × 30, scikit-learn's bundled copy, z-scored), every run with its own weights
and its own shuffled order: ours trains all runs at once through `network.train`, chunked by
runner.limits.TRAIN_CHUNK_SEEDS seeds (as a job chunks them), against scikit-learn's
MLPClassifier with the same solver, batch, epochs and shuffling, fitted run by run:
`--sk-runs` of them timed and scaled to `--runs`. Goal (issue 20): ≥ 30× faster, peak memory
≤ 2 GiB. It prints the times, the ratio, the peak memory numpy allocated for ours
(tracemalloc) and the process's peak RSS; it asserts nothing about time. Timings are only
comparable on an otherwise idle machine.

    python benchmarks/minibatch_speed.py [--solver adam|sgd] [--runs 1000] [--sk-runs 10]
    python benchmarks/minibatch_speed.py --quick      # a smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuron import activations, initializers, network  # noqa: E402
from neuron.optimizers import SGD, Adam  # noqa: E402
from runner.limits import TRAIN_CHUNK_SEEDS  # noqa: E402


def data():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y.astype(float)


def optimizer(solver: str, lr: float):
    return Adam(lr) if solver == "adam" else SGD(lr, momentum=0.9, nesterov=True)


def ours_seconds(args, X, y, runs: int, epochs: int) -> float:
    """All runs, chunk by chunk, as a job trains them: seconds."""
    f = activations.get(args.activation)
    start = time.perf_counter()
    for lo in range(0, runs, args.chunk):
        seeds = np.arange(lo, min(lo + args.chunk, runs))
        layers = tuple(network.Layer(W, b) for W, b in initializers.draw_layers(
            seeds, network.sizes(X.shape[1], [args.hidden]), initializers.Draw("xavier_uniform"),
            initializers.Draw("zeros")))
        orders = [np.random.default_rng((20, int(s))) for s in seeds]
        res = network.train(X, y, layers, f, optimizer(args.solver, args.lr), epochs=epochs,
                            l2=args.l2, record_every=args.record_every, batch_size=args.batch,
                            orders=orders)
        assert np.isfinite(res.losses[-1]).all()
    return time.perf_counter() - start


def ours_peak_bytes(args, X, y) -> int:
    """The most memory numpy held at once training one chunk for 2 epochs (tracemalloc, which
    slows Python down: not during the timing)."""
    tracemalloc.start()
    ours_seconds(args, X, y, runs=min(args.chunk, args.runs), epochs=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def sklearn_seconds(args, X, y) -> float:
    """Seconds for --sk-runs runs, one MLPClassifier fit each."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    name = {"sigmoid": "logistic"}.get(args.activation, args.activation)
    start = time.perf_counter()
    for seed in range(args.sk_runs):
        clf = MLPClassifier(hidden_layer_sizes=(args.hidden,), activation=name,
                            solver=args.solver, momentum=0.9, nesterovs_momentum=True,
                            batch_size=args.batch, learning_rate="constant",
                            learning_rate_init=args.lr, alpha=args.l2 * args.batch,
                            max_iter=args.epochs, shuffle=True, tol=0.0,
                            n_iter_no_change=10**9, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solver", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=TRAIN_CHUNK_SEEDS)
    parser.add_argument("--sk-runs", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--l2", type=float, default=0.0001)
    parser.add_argument("--record-every", type=int, default=None,
                        help="epochs between recorded losses (default: the trainer's, "
                        "max(1, epochs // 200): every epoch at 200)")
    parser.add_argument("--quick", action="store_true", help="20 runs, 2 for scikit-learn, "
                        "10 epochs: checks the script runs, measures nothing")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.chunk, args.sk_runs, args.epochs = 20, 10, 2, 10
    X, y = data()
    load = os.getloadavg()[0]
    print(f"machine    {os.cpu_count()} CPUs, load average {load:.2f} (timings need it idle)")
    print(f"task       {args.runs} runs × [{args.hidden}] {args.activation} × {args.epochs} "
          f"epochs × batch {args.batch}, {args.solver}, on {X.shape[0]} × {X.shape[1]}")
    ours = ours_seconds(args, X, y, args.runs, args.epochs)
    print(f"ours       {ours:8.2f} s  ({args.runs} runs in chunks of {args.chunk}; "
          f"{1e3 * ours / args.runs:.2f} ms a run)")
    sk = sklearn_seconds(args, X, y)
    scaled = sk / args.sk_runs * args.runs
    print(f"sklearn    {scaled:8.2f} s  (scaled from {args.sk_runs} runs in {sk:.2f} s; "
          f"{1e3 * sk / args.sk_runs:.2f} ms a run)")
    print(f"ratio      {scaled / ours:8.1f}×  (goal ≥ 30×)")
    peak = ours_peak_bytes(args, X, y)
    print(f"memory     {peak / 2**20:8.1f} MiB  numpy's peak for one chunk of {args.chunk}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    print(f"peak RSS   {rss:8.0f} MiB  (the whole process; goal ≤ 2 GiB)")


if __name__ == "__main__":
    main()
