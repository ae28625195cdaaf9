"""How fast networks train: ours against JAX and scikit-learn, and against the machine's floor.

Full-batch gradient descent (lr 0.5, no L2) on the obesity data (400 rows, 2 features,
z-scored), one hidden layer of `width` units, every seed from the same start:

- **ours**: the job's training step, `runner.evaluate.descend` (chunks of seeds, shared over
  the cores by runner.speedups), on the plan `python -m runner mode=train …` makes;
- **JAX** (float64, `pip install -e '.[bench]'`; benchmark only, never a runtime dependency):
  `jax.jit(jax.vmap(train))` over chunks of `--jax-chunk` seeds, `train` a `lax.fori_loop` of
  `jax.grad` steps on the same loss (mean log-loss of σ(z)); compiled before timing; XLA runs
  its own threads on every core;
- **scikit-learn**: `MLPClassifier(solver="sgd", momentum=0, batch_size=n_rows, alpha=0, …)`
  seed by seed on `--sk-seeds` seeds, scaled to the job's seeds (relu, tanh, logistic only);
- **floor**: what the machine needs at least, on every core: per seed and epoch
  2·R·(F+1)·H + 2·R·H multiply-adds forward, 2·R·H + 2·R·(F+1)·H backward (plus R·(F+1) and
  ~2·R·H element-wise), counted at the float64 matrix-product rate of one core
  (`numpy.matmul` of 512×512, one BLAS thread), and R·H + R transcendental functions (one per
  hidden unit where the activation has one, one for σ(z)) at the rate of `numpy.exp` on one
  core: (FLOPs / rate + transcendentals × exp's time) × seeds × epochs / cores. With
  mini-batches, each recorded epoch adds a forward pass over every row (its FLOPs and the
  same transcendentals), the loss curve's. The element-wise work is counted at the
  matrix-product rate, so the floor is, if anything, low. sk÷floor: scikit-learn's time over
  it; where it is under 30, no trainer can run 30× faster than scikit-learn (issue 21's
  target) without beating the floor.

Both record what the job records, the loss curve: the training set's mean log-loss at the
epochs `neuron.network.recorded_epochs` picks (every epoch up to 200). Full batch, that loss
comes with the gradient (JAX: `value_and_grad`); with mini-batches it is one more forward
pass over every row at each recorded epoch (until 2026-12-04 the JAX trainer recorded none,
which made it up to a third faster than the same work). Ours and JAX alternate,
`--repeats` times each; medians. Epochs shrink as the job grows (`--cells` hidden-unit
evaluations a run) so each run takes about a second. "agreement": the largest difference of
JAX's final first-layer weights and of its loss curve from ours (~1e-13 from the same start).

    python benchmarks/network_speed.py                                # relu, tanh, sigmoid grid
    python benchmarks/network_speed.py --activations all --seeds 1000 --widths 8
    python benchmarks/network_speed.py --batch-size 32 --seeds 100,1000 --widths 8,32
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRAINABLE_HIDDEN = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "softplus", "silu", "gelu",
                    "linear")
TRANSCENDENTAL = {"tanh", "sigmoid", "elu", "softplus", "silu", "gelu"}
SKLEARN = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "linear": "identity"}


def plan_for(activation: str, seeds: int, width: int, epochs: int, batch: int | None = None):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from runner.config import register_configs, to_config
    from runner.plan import make_plan

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"model.hidden=[{width}]", f"activation={activation}", "mode=train",
            f"seed=1..{seeds}", f"trainer.epochs={epochs}", "trainer.lr=0.5",
            "dataset.standardize=true", "tracking=off",
            *([] if batch is None else [  # plain mini-batch SGD, each epoch in order seed 0's order
                "trainer=sgd", f"trainer.batch_size={batch}", "trainer.momentum=0",
                "trainer.nesterov=false", "trainer.lr=0.5", "order_seed=0"])])
    return make_plan(to_config(cfg))


def ours(plan, start):
    from runner import evaluate

    t = time.perf_counter()
    layers, losses, _ = evaluate.descend(plan, plan.dataset.X, plan.dataset.y, start)
    return time.perf_counter() - t, layers, losses


def jax_trainer(activation: str, X, y, epochs: int, lr: float, batch: int | None = None):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    f = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid,
         "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.01), "elu": jax.nn.elu,
         "softplus": jax.nn.softplus, "silu": jax.nn.silu,
         "gelu": lambda z: jax.nn.gelu(z, approximate=False), "linear": lambda z: z}[activation]
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def loss(p):
        W1, b1, W2, b2 = p
        z = (f(Xj @ W1 + b1) @ W2)[:, 0] + b2[0]
        return jnp.mean(jnp.logaddexp(0.0, z) - yj * z)

    # The losses ours records (the job's loss curve): the full training set's mean log-loss at
    # the same epochs (neuron.network.recorded_epochs), slot[e] its place for epoch e.
    from neuron.network import recorded_epochs

    at = recorded_epochs(epochs, None)
    rec = np.zeros(epochs + 1, bool)
    rec[at] = True
    slot = np.zeros(epochs + 1, int)
    slot[at] = np.arange(len(at))
    rec, slot = jnp.asarray(rec), jnp.asarray(slot)

    def keep(losses, e, value):
        # Not batched (e is the loop's index), so a real branch under vmap: a loss is
        # computed only at a recorded epoch.
        return jax.lax.cond(rec[e], lambda: losses.at[slot[e]].set(value()), lambda: losses)

    if batch is None:
        # The loss of epoch e is the one its step's gradient comes with.
        step = jax.value_and_grad(loss)

        def gd(e, carry):
            p, losses = carry
            value, g = step(p)
            return tuple(a - lr * d for a, d in zip(p, g, strict=True)), keep(
                losses, e, lambda: value)

        def train(p):
            p, losses = jax.lax.fori_loop(0, epochs, gd, (p, jnp.zeros(len(at))))
            return p, keep(losses, epochs, lambda: loss(p))

        return jax.jit(jax.vmap(train))
    # Mini-batches: each epoch the rows in the order our order seed 0 draws (the same for every
    # seed here), consecutive batches of `batch`, the last one smaller (scikit-learn's).
    from neuron import splits

    g = splits.stream(splits.ORDER, 0)
    perms = jnp.asarray(np.stack([g.permutation(len(y)) for _ in range(epochs)]))
    full, rest = divmod(len(y), batch)

    def batch_loss(p, idx):
        W1, b1, W2, b2 = p
        z = (f(Xj[idx] @ W1 + b1) @ W2)[:, 0] + b2[0]
        return jnp.mean(jnp.logaddexp(0.0, z) - yj[idx] * z)

    batch_grad = jax.grad(batch_loss)

    def sgd(p, idx):
        return tuple(a - lr * g for a, g in zip(p, batch_grad(p, idx), strict=True))

    def epoch(e, carry):
        p, losses = carry
        perm = perms[e]
        p = jax.lax.fori_loop(0, full, lambda k, p: sgd(
            p, jax.lax.dynamic_slice(perm, (k * batch,), (batch,))), p)
        p = sgd(p, perm[full * batch:]) if rest else p
        return p, keep(losses, e + 1, lambda: loss(p))

    def train(p):
        losses = keep(jnp.zeros(len(at)), 0, lambda: loss(p))
        return jax.lax.fori_loop(0, epochs, epoch, (p, losses))

    return jax.jit(jax.vmap(train))


def run_jax(trainer, chunks):
    t = time.perf_counter()
    out = [trainer(c) for c in chunks]
    out[-1][1].block_until_ready()
    return time.perf_counter() - t, out


def sklearn_seconds(activation: str, X, y, width: int, epochs: int, n: int,
                    batch: int | None = None) -> float | None:
    if activation not in SKLEARN:
        return None
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    times = []
    for seed in range(1, n + 1):
        clf = MLPClassifier(hidden_layer_sizes=(width,), activation=SKLEARN[activation],
                            solver="sgd", momentum=0.0, batch_size=batch or len(y),
                            learning_rate="constant", learning_rate_init=0.5, alpha=0.0,
                            max_iter=epochs, shuffle=batch is not None, tol=0.0,
                            n_iter_no_change=10**9,
                            random_state=seed)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine_rates() -> tuple[float, float]:
    """(float64 FLOP/s of one core's matrix product, seconds of one exp on one core)."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((512, 512))
    with threadpool_limits(1):
        a @ a
        t = time.perf_counter()
        for _ in range(20):
            a @ a
        flops = 20 * 2 * 512**3 / (time.perf_counter() - t)
    x, out = np.random.default_rng(1).random(32_768), np.empty(32_768)
    t = time.perf_counter()
    for _ in range(2000):
        np.exp(x, out=out)
    return flops, (time.perf_counter() - t) / (2000 * x.size)


def floor_seconds(activation, seeds, width, epochs, rows, features, flop_rate, t_exp,
                  recorded=0) -> float:
    """The floor of the module's docstring; `recorded` forward passes over every row more
    (mini-batches: one at each recorded epoch, for the loss curve)."""
    fa, h = features + 1, width
    forward = 2 * rows * fa * h + 2 * rows * h
    flops = forward + 2 * rows * h + 2 * rows * fa * h + rows * fa + 2 * rows * h
    trans = rows * (h if activation in TRANSCENDENTAL else 0) + rows
    per_seed = (flops / flop_rate + trans * t_exp) * epochs \
        + (forward / flop_rate + trans * t_exp) * recorded
    return per_seed * seeds / (os.cpu_count() or 1)


def main() -> None:
    # Ours forks its chunks' workers after JAX has started its threads in this process, and
    # JAX warns at every fork that a child could deadlock on a lock one of them held. The
    # children run numpy and numba only, never JAX; the warning, once per chunk of work,
    # would bury the table.
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--activations", default="relu,tanh,sigmoid",
                   help="comma-separated, or 'all' (every activation a hidden layer can train)")
    p.add_argument("--seeds", default="100,1000,10000")
    p.add_argument("--widths", default="8,32,128")
    p.add_argument("--cells", type=float, default=2e8,
                   help="seeds × width × rows × epochs per run (sets the epochs)")
    p.add_argument("--max-epochs", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sk-seeds", type=int, default=5)
    p.add_argument("--jax-chunk", type=int, default=200)
    p.add_argument("--no-jax", action="store_true")
    p.add_argument("--batch-size", type=int, default=None,
                   help="plain mini-batch SGD (trainer=sgd, momentum 0) in batches of this many "
                        "rows; default: full-batch gradient descent")
    a = p.parse_args()
    acts = TRAINABLE_HIDDEN if a.activations == "all" else tuple(a.activations.split(","))
    flop_rate, t_exp = machine_rates()
    print(f"machine     {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (timings "
          f"need it idle); one core: float64 matmul {flop_rate / 1e9:.1f} GFLOP/s, exp "
          f"{t_exp * 1e9:.2f} ns an element")
    print(f"{'activation':11s} {'seeds':>6s} {'width':>5s} {'epochs':>6s} {'ours s':>8s} "
          f"{'JAX s':>8s} {'sklearn s':>10s} {'JAX÷ours':>9s} {'sk÷ours':>8s} {'ours÷floor':>10s}"
          f" {'sk÷floor':>8s}  agreement")
    for act in acts:
        for seeds in [int(s) for s in a.seeds.split(",")]:
            for width in [int(w) for w in a.widths.split(",")]:
                epochs = int(max(3, min(a.max_epochs, a.cells / (seeds * width * 400))))
                plan = plan_for(act, seeds, width, epochs, a.batch_size)
                from neuron.network import recorded_epochs
                from runner import evaluate

                start = evaluate.evaluate(plan).layers
                X, y = plan.dataset.X, plan.dataset.y
                trainer = chunks = None
                if not a.no_jax:
                    import jax.numpy as jnp

                    trainer = jax_trainer(act, X, y, epochs, 0.5, a.batch_size)
                    P = (start[0].W, start[0].b, start[1].W, start[1].b)
                    chunks = [tuple(jnp.asarray(q[i:i + a.jax_chunk]) for q in P)
                              for i in range(0, seeds, a.jax_chunk)]
                    run_jax(trainer, chunks[:1] + chunks[-1:])  # compile both shapes
                ours_t, jax_t = [], []
                for _ in range(a.repeats):
                    t, layers, losses = ours(plan, start)
                    ours_t.append(t)
                    if trainer is not None:
                        t, out = run_jax(trainer, chunks)
                        jax_t.append(t)
                o = statistics.median(ours_t)
                agree = "-"
                if jax_t:
                    W1 = np.concatenate([np.asarray(c[0][0]) for c in out])
                    curve = np.concatenate([np.asarray(c[1]) for c in out]).T
                    agree = (f"{np.abs(W1 - layers[0].W).max():.0e} "
                             f"{np.abs(curve - losses).max():.0e}")
                j = statistics.median(jax_t) if jax_t else float("nan")
                sk = sklearn_seconds(act, X, y, width, epochs, a.sk_seeds, a.batch_size)
                sk_total = sk * seeds if sk is not None else float("nan")
                fl = floor_seconds(act, seeds, width, epochs, X.shape[0], X.shape[1],
                                   flop_rate, t_exp,
                                   len(recorded_epochs(epochs, None)) if a.batch_size else 0)
                print(f"{act:11s} {seeds:6d} {width:5d} {epochs:6d} {o:8.3f} {j:8.3f} "
                      f"{sk_total:10.2f} {j / o:9.2f} {sk_total / o:8.1f} {o / fl:10.1f} "
                      f"{sk_total / fl:8.1f}  {agree}", flush=True)


if __name__ == "__main__":
    main()
