"""neuron.compiled, mini-batch training's kernels, against numpy's products (network.train's
reference=True path): within a few ulp for every activation, depth, optimizer and batch
shape, and a seed's results bit for bit the same alone, in any chunk and in any lane."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from neuron import activations as A
from neuron import compiled, rng, splits
from neuron import initializers as I
from neuron import network as N
from neuron.optimizers import GD, SGD, Adam
from tests.conftest import ROOT

N_ROWS, N_FEATURES = 45, 3
TRAINABLE = [name for name in A.NAMES if name != "step"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    y = (X[:, 0] - X[:, 1] * X[:, 2] + 0.7 * rng.normal(size=N_ROWS) > 0).astype(float)
    return X, y


def net(seeds, hidden, features=N_FEATURES):
    return tuple(N.Layer(W, b) for W, b in I.draw_layers(
        np.asarray(seeds), N.sizes(features, hidden), I.Draw("xavier_uniform"),
        I.Draw("uniform", -0.5, 0.5)))


def train(data, start, f, reference, seeds, **kw):
    kw = {"epochs": 4, "batch_size": 8, "l2": 0.01, **kw}
    if kw.pop("shuffle", True):
        kw["orders"] = [splits.stream(splits.ORDER, s) for s in seeds]
    return N.train(*data, start, f, kw.pop("optimizer", SGD(0.1)), reference=reference, **kw)


def assert_close(a, b, bound=1e-12):
    for x, y in zip(a.layers, b.layers, strict=True):
        np.testing.assert_allclose(x.W, y.W, rtol=0, atol=bound)
        np.testing.assert_allclose(x.b, y.b, rtol=0, atol=bound)
    np.testing.assert_allclose(a.losses, b.losses, rtol=bound, atol=0)


@pytest.mark.parametrize("hidden", [[5], [4, 3]], ids=["one hidden", "two hidden"])
@pytest.mark.parametrize("name", TRAINABLE)
def test_every_activation_follows_numpys_products(data, name, hidden):
    seeds = np.arange(5)
    start = net(seeds, hidden)
    fast = train(data, start, A.get(name), False, seeds)
    ref = train(data, start, A.get(name), True, seeds)
    assert_close(fast, ref)
    moved = max(np.abs(a.W - s.W).max() for a, s in zip(fast.layers, start, strict=True))
    assert moved > 1e-3


@pytest.mark.parametrize("hidden", [[5], [4, 3], [2, 3]],
                         ids=["one hidden", "two hidden", "two inputs twice"])
@pytest.mark.parametrize("name", ["relu", "linear", "tanh", "sigmoid", "elu"])
def test_two_inputs_summed_in_one_pass_follow_numpys_products(data, name, hidden):
    # forward_pass sums a unit's two inputs in one pass (`_two`), not its loop over inputs
    seeds = np.arange(5)
    two = (data[0][:, :2], data[1])
    start = net(seeds, hidden, features=2)
    fast = train(two, start, A.get(name), False, seeds)
    assert_close(fast, train(two, start, A.get(name), True, seeds))
    assert max(np.abs(a.W - s.W).max() for a, s in zip(fast.layers, start, strict=True)) > 1e-3


@pytest.mark.parametrize("name, params", [("leaky_relu", {"slope": 0.2}),
                                          ("leaky_relu", {"slope": 1.5}),  # numpy's branch
                                          ("elu", {"alpha": 0.5}), ("elu", {"alpha": 2.0})])
def test_activation_parameters(data, name, params):
    seeds = np.arange(3)
    start = net(seeds, [4])
    f = A.get(name, **params)
    assert_close(train(data, start, f, False, seeds), train(data, start, f, True, seeds))


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_the_single_neuron(data, name):
    seeds = np.arange(4)
    start = net(seeds, [])
    f = A.get(name)
    assert_close(train(data, start, f, False, seeds), train(data, start, f, True, seeds))


@pytest.mark.parametrize("kw", [
    {"optimizer": GD(0.3), "l2": 0.0, "shuffle": False},
    {"optimizer": SGD(0.05, momentum=0.9, nesterov=False)},
    {"optimizer": Adam(0.01)},
    {"batch_size": 1, "epochs": 2},
    {"batch_size": 7},  # 45 rows: a last batch of 3
    {"batch_size": N_ROWS},
    {"rows": np.tile(np.arange(0, N_ROWS - 1, 2), (6, 1)) + np.arange(6)[:, None] % 2},
    {"record_every": 3, "epochs": 7},
], ids=["gd in order", "momentum", "adam", "batch 1", "ragged", "full", "own rows", "record"])
def test_optimizers_batches_and_rows(data, kw):
    seeds = np.arange(6)
    start = net(seeds, [5])
    f = A.get("tanh")
    fast = train(data, start, f, False, seeds, **kw)
    ref = train(data, start, f, True, seeds, **kw)
    assert_close(fast, ref, 1e-11)
    np.testing.assert_array_equal(fast.loss_epochs, ref.loss_epochs)


@pytest.mark.parametrize("opt", [GD(0.3), SGD(0.1), SGD(0.1, nesterov=False),
                                 SGD(0.2, momentum=0.0), Adam(0.01)],
                         ids=["gd", "nesterov", "momentum", "sgd no momentum", "adam"])
@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_a_compiled_step_is_the_optimizers_own_bit_for_bit(opt, l2):
    rng = np.random.default_rng(8)
    theta = rng.normal(size=(2, 7, compiled.LANES))
    theta[0, 3, 5], theta[1, 0, 2] = np.inf, np.nan  # a diverged seed stays as numpy has it
    decay = np.where(np.arange(7) < 5, l2, 0.0)
    ref = theta.copy()
    update = opt.start([ref])
    fused = N.fused_step(opt, theta, decay, l2 != 0.0)
    with np.errstate(invalid="ignore"):
        for _ in range(5):
            grads = rng.normal(size=theta.shape)
            g = grads.copy()
            if l2:
                g += decay[None, :, None] * ref
            update([ref], [g])
            fused(grads)
            assert theta.tobytes() == ref.tobytes()


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "gelu"])
def test_a_seed_is_the_same_alone_in_any_chunk_and_any_lane(data, name):
    # 150 seeds: more than two blocks of LANES, the last one partly padding.
    seeds = np.arange(150)
    start = net(seeds, [6])
    f = A.get(name)
    whole = train(data, start, f, False, seeds, epochs=2)
    for chunk in (seeds[:1], seeds[1:2], seeds[63:65], seeds[100:150], seeds[::-1][:70]):
        part = train(data, N.take(start, chunk), f, False, chunk, epochs=2)
        for a, b in zip(part.layers, N.take(whole.layers, chunk), strict=True):
            np.testing.assert_array_equal(a.W, b.W)
            np.testing.assert_array_equal(a.b, b.b)
        np.testing.assert_array_equal(part.losses, whole.losses[:, chunk])


def test_a_diverging_seed_goes_on_as_nan_without_touching_the_others(data):
    seeds = np.arange(3)
    start = net(seeds, [4])
    start[0].W[1] = 1e308  # seed 1 overflows at once (its Z sums three of them)
    with np.errstate(all="ignore"):
        fast = train(data, start, A.get("relu"), False, seeds, optimizer=GD(0.5))
        ref = train(data, start, A.get("relu"), True, seeds, optimizer=GD(0.5))
    assert not np.isfinite(fast.layers[0].W[1]).all()
    np.testing.assert_array_equal(np.isnan(fast.layers[0].W), np.isnan(ref.layers[0].W))
    keep = [0, 2]
    for a, b in zip(N.take(fast.layers, keep), N.take(ref.layers, keep), strict=True):
        np.testing.assert_allclose(a.W, b.W, rtol=0, atol=1e-12)


def ulps(a, b):
    """How many float64s lie between a and b, element by element (0 where both are NaN)."""
    def ordered(v):
        bits = v.view(np.int64)
        return np.where(bits < 0, np.int64(-(2**63)) - bits, bits)

    apart = np.abs(ordered(a) - ordered(b))
    return np.where((a == b) | (np.isnan(a) & np.isnan(b)), 0, apart)


def test_exp_tanh_and_sigmoid_are_numpys_within_a_few_ulp():
    rng = np.random.default_rng(3)
    tiny = np.geomspace(5e-324, 1.0, 10_000)
    x = np.concatenate([
        rng.uniform(-750, 750, 50_000), rng.uniform(-40, 40, 50_000),
        rng.uniform(-1, 1, 50_000), tiny, -tiny,
        [0.0, -0.0, np.inf, -np.inf, np.nan, 709.78, 709.79, -708.4, -745.1, -745.2,
         -746.0, 710.0, 0.625, 20.0, 19.06, 36.8, -36.8]])
    with np.errstate(over="ignore"):
        want = {"exp": np.exp(x), "tanh": np.tanh(x), "sigmoid": 1.0 / (1.0 + np.exp(-x))}
    for name, bound in (("exp", 1), ("tanh", 3), ("sigmoid", 4)):
        ours = compiled.elementwise(name, x)
        worst = ulps(ours, want[name]).max()
        assert worst <= bound, (name, worst, x[ulps(ours, want[name]).argmax()])
    assert np.signbit(compiled.elementwise("tanh", np.array([-0.0]))[0])
    assert compiled.elementwise("exp", np.array([-745.0]))[0] == np.exp(-745.0) > 0  # subnormal


def test_expm1_is_numpys_within_1_ulp_below_0():
    # elu's eᶻ − 1 (z ≤ 0): near 0 its relative accuracy, past −40 exactly −1.
    rng = np.random.default_rng(5)
    tiny = np.geomspace(5e-324, 1.0, 10_000)
    x = -np.concatenate([rng.uniform(0, 750, 50_000), rng.uniform(0, 40, 50_000),
                         rng.uniform(0, 1, 50_000), tiny,
                         [0.0, np.inf, 36.8, 37.5, 40.0, 40.1, 0.3466, 1.0397]])
    ours = compiled.elementwise("expm1", np.r_[x, np.nan])
    assert ulps(ours[:-1], np.expm1(x)).max() <= 1 and np.isnan(ours[-1])


def test_erfc_and_gelu_are_scipys_within_1e_13():
    from scipy.special import erfc

    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(0, 3, 60_000), rng.uniform(-27, 27, 60_000),
                        np.linspace(-1.01, 1.01, 20_001), [1.0, -1.0, 8.0, -8.0, 0.0, -0.0]])
    ours, want = compiled.elementwise("erfc", x), erfc(x)
    np.testing.assert_allclose(ours, want, rtol=1e-13, atol=1e-300)
    edges = compiled.elementwise("erfc", np.array([np.inf, -np.inf, np.nan, 40.0, -40.0]))
    np.testing.assert_array_equal(edges, [0.0, 2.0, np.nan, 0.0, 2.0])
    Z = np.concatenate([rng.normal(0, 4, 4000), [0.0, -0.0, 40.0, -40.0, 1e-300]]).reshape(
        -1, 3)
    A_, D = np.empty_like(Z), np.empty_like(Z)
    compiled.gelu_both(Z, A_, D)
    f = A.get("gelu")
    np.testing.assert_allclose(A_, f(Z), rtol=1e-13, atol=1e-300)
    # Φ(z) + z·φ(z) cancels near z ≈ −0.75 (gelu's minimum): an absolute bound there
    np.testing.assert_allclose(D, f.derivative(Z, f(Z)), rtol=1e-13, atol=1e-15)


def test_full_batch_gelu_follows_scipys_erfc(data):
    seeds = np.arange(4)
    start = net(seeds, [5])
    fast = N.train(*data, start, A.get("gelu"), GD(0.5), epochs=30)
    ref = N.train(*data, start, A.get("gelu"), GD(0.5), epochs=30, reference=True)
    assert_close(fast, ref)
    assert any((a.W != b.W).any() for a, b in zip(fast.layers, ref.layers, strict=True))


def test_log1p_is_numpys_within_3_ulp_on_0_to_1():
    u = np.concatenate([np.random.default_rng(4).random(100_000), np.geomspace(5e-324, 1, 20_000),
                        [0.0, 1.0, np.sqrt(2.0) - 1.0, np.nextafter(np.sqrt(2.0) - 1.0, 1.0),
                         2.0**-53, 2.0**-52, np.nan]])
    ours = compiled.elementwise("log1p", u)
    assert ulps(ours, np.log1p(u)).max() <= 3
    assert ours[-1] != ours[-1]  # NaN kept


def test_the_log_loss_kernel_sums_network_log_loss_seed_by_seed():
    rng = np.random.default_rng(5)
    S, n_rows, B = 70, 45, 8  # two blocks, the second padded; a last batch of 5 rows
    z = np.concatenate([rng.normal(0, 3, (S, n_rows - 6)),
                        np.tile([-800.0, -40.0, 40.0, 800.0, 0.0, 1e-300], (S, 1))], axis=1)
    z[3, 7], z[5, 2] = np.inf, np.nan  # a diverged seed's loss is inf or NaN, as numpy's
    y = (rng.random(n_rows) < 0.5).astype(float)
    order = np.stack([rng.permutation(n_rows) for _ in range(S)]).astype(np.int64)
    zs = np.take_along_axis(z, order, axis=1)  # z of seed i's row order[i, r], as laid out
    want = N._log_loss(-1.0 * zs, y[order])  # sign −1: tanh's output, 1 − p
    sums = np.zeros((compiled.blocks(S), compiled.LANES))
    for lo in range(0, n_rows, B):
        size = min(B, n_rows - lo)
        Z = np.zeros((compiled.blocks(S), size, 1, compiled.LANES))
        Z[:, :, 0, :] = compiled.to_lanes(zs[:, lo:lo + size]).transpose(0, 1, 2)
        compiled.add_log_loss(y, order, lo, Z, -1.0, sums, compiled.unit_buffer(size))
    ours = compiled.from_lanes(sums[:, None, :], S)[:, 0] / n_rows
    finite = np.isfinite(want)
    np.testing.assert_allclose(ours[finite], want[finite], rtol=1e-14, atol=0)
    np.testing.assert_array_equal(ours[~finite], want[~finite])  # inf, NaN alike
    assert (~finite).sum() == 2


def test_a_forward_pass_for_the_output_alone_gives_the_same_z():
    rng = np.random.default_rng(0)
    fans = np.array([3, 7, 5, 1], np.int64)
    sizes = [(a + 1) * b for a, b in zip(fans[:-1], fans[1:], strict=True)]
    offsets = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    P = rng.normal(size=(2, sum(sizes), compiled.LANES))
    X, B = rng.normal(size=(20, 3)), 6
    order = np.tile(np.arange(20), (100, 1)).astype(np.int64)
    for code in (0, 3, 4, 8):
        outs = []
        for keep in (True, False):
            Z, A, D = (np.full((2, B, fans.sum(), compiled.LANES), np.nan) for _ in range(3))
            compiled.forward_pass(X, order, 4, P, fans, offsets, 0, 3, Z, A, D, code, 1.0,
                                  compiled.unit_buffer(B), keep)
            outs.append((Z[:, :, -1], A[:, :, 10:15]))
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
        assert np.isfinite(outs[0][0][:, :, :36]).all()  # 100 seeds: 36 in the second block
        assert np.isfinite(outs[0][1]).all()  # the last hidden layer's A, kept


def test_a_chunk_smaller_than_a_block_gets_the_fewest_lanes_that_hold_it():
    assert [compiled.lanes_for(n) for n in (1, 8, 9, 50, 56, 57, 64, 65, 1000)] == [
        8, 8, 16, 56, 56, 64, 64, 64, 64]
    a = np.arange(50 * 3, dtype=float).reshape(50, 3)
    lanes = compiled.to_lanes(a, compiled.lanes_for(50))
    assert lanes.shape == (1, 3, 56) and not lanes[0, :, 50:].any()
    np.testing.assert_array_equal(compiled.from_lanes(lanes, 50), a)


@pytest.mark.slow
def test_warm_up_compiles_every_kernel_for_the_types_training_passes():
    # Workers forked after warm_up inherit its kernels; a signature it missed would be
    # compiled (or read from numba's cache) again in every worker. In a process of its own:
    # here, other tests have compiled them already.
    script = """
import json
import numpy as np
from neuron import activations as A, compiled, initializers as I, network as N, splits
from neuron.optimizers import GD, SGD, Adam
compiled.warm_up()
kernels = [v for v in vars(compiled).values()
           if hasattr(v, "signatures") and not v.__name__.startswith("_")]
print(json.dumps([k.__name__ for k in kernels]))
print(json.dumps([len(k.signatures) for k in kernels]))
X = np.random.default_rng(0).normal(size=(40, 3))
y = (X[:, 0] > 0).astype(float)
seeds = np.arange(3)
start = tuple(N.Layer(W, b) for W, b in I.draw_layers(
    seeds, N.sizes(3, [4, 2]), I.Draw("xavier_uniform"), I.Draw("uniform", -0.5, 0.5)))
for name, opt, l2 in [("relu", Adam(0.01), 0.01), ("tanh", SGD(0.1), 0.0),
                      ("gelu", GD(0.1), 0.01), ("softplus", SGD(0.1, nesterov=False), 0.0)]:
    N.train(X, y, start, A.get(name), opt, epochs=2, batch_size=8, l2=l2,
            orders=[splits.stream(splits.ORDER, s) for s in seeds.tolist()])
# One seed, its rows unshuffled: its index array was a read-only view, another signature.
one = tuple(N.Layer(layer.W[:1], layer.b[:1]) for layer in start)
N.train(X, y, one, A.get("tanh"), SGD(0.1), epochs=2, batch_size=8)
print(json.dumps([len(k.signatures) for k in kernels]))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    names, before, after = map(json.loads, out.stdout.splitlines())
    assert {"forward_pass", "backward_pass", "add_log_loss", "shuffle"} <= set(names)
    assert before == after == [1] * len(names), out.stdout


def _loops_only():
    """forward_pass and backward_pass compiled again with compiled.EIGHT_LANES off: every
    network through the loops over lanes (no cache: numba's is keyed on the source)."""
    import types

    import numba

    names = dict(vars(compiled), EIGHT_LANES=False)
    return {name: numba.njit(nogil=True, error_model="numpy", boundscheck=False)(
        types.FunctionType(getattr(compiled, name).py_func.__code__, names, name))
        for name in ("forward_pass", "backward_pass")}


def _same_bits(a, b):
    # NaN where the other is NaN (an operation's operands may come in either order, and
    # x86 keeps the first one's NaN); every other number bit for bit
    return np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(
        np.where(np.isnan(a), 0.0, a).view(np.int64), np.where(np.isnan(b), 0.0, b).view(np.int64))


@pytest.mark.slow
def test_the_eight_lane_paths_are_the_loops_bit_for_bit(data, monkeypatch):
    # One hidden layer goes through _one_hidden_forward / _one_hidden_layer (relu, leaky_relu
    # and linear units recomputed, not stored, from one or two features; four rows by four
    # units from three), two or three through _deep_forward / _deep_backward: the same
    # operations in the same order as the loops, so the same bits, for every activation
    # (leaky_relu's slope 1.5: numpy's between the kernels), one to thirteen features, tiles
    # cut short by the units, inputs and rows (batches of 7, the last of 3), lanes 8 to two
    # blocks, a seed that overflows.
    loops = _loops_only()
    rng = np.random.default_rng(3)
    X, y = data
    X = np.column_stack([X, rng.normal(size=(len(y), 10))])
    cases = [(name, {}) for name in TRAINABLE] + [("leaky_relu", {"slope": 1.5})]
    checked = 0
    for name, params in cases:
        f = A.get(name, **params)
        for features, hidden, n_seeds in [(1, [3], 5), (2, [16], 50), (2, [9], 70),
                                          (3, [5], 9), (6, [8], 16), (13, [7], 70),
                                          (2, [5, 3], 9), (3, [8, 6, 4], 16), (1, [4, 9], 70)]:
            seeds = np.arange(n_seeds)
            start = net(seeds, hidden, features)
            start[0].W[rng.random(start[0].W.shape) < 0.1] = 0.0  # sums of ±0
            start[0].W[-1] = 1e308  # the last seed overflows
            Xf = X[:, :features].copy()
            Xf[rng.random(Xf.shape) < 0.1] = 0.0
            runs = []
            for kernels in ({}, loops):
                with monkeypatch.context() as m:
                    for k, fn in kernels.items():
                        m.setattr(compiled, k, fn)
                    with np.errstate(all="ignore"):
                        runs.append(train((Xf, y), start, f, False, seeds, batch_size=7,
                                          optimizer=Adam(0.05)))
            fast, slow = runs
            for a, b in zip(fast.layers, slow.layers, strict=True):
                assert _same_bits(a.W, b.W) and _same_bits(a.b, b.b), (name, features, hidden)
            assert _same_bits(fast.losses, slow.losses), (name, features, hidden)
            assert not np.isfinite(fast.losses[-1, -1]) and np.isfinite(fast.losses[-1, 0])
            checked += 1
    assert checked == 9 * len(cases)


def test_the_layout_round_trips():
    a = np.arange(2 * compiled.LANES * 3 + 15, dtype=float).reshape(-1, 3)
    lanes = compiled.to_lanes(a)
    assert lanes.shape == (3, 3, compiled.LANES) and lanes.flags.c_contiguous
    assert lanes[1, 2, 5] == a[compiled.LANES + 5, 2]
    assert (lanes[2, :, 5:] == 0).all()  # the padding
    np.testing.assert_array_equal(compiled.from_lanes(lanes, len(a)), a)


@pytest.mark.parametrize("n", [1, 2, 3, 45, 1000])
def test_the_compiled_shuffle_is_numpys_permutation(n):
    seeds = [0, 1, 2, 3, 2**32, 2**63 - 1, *range(10, 60)]
    ours = [splits.stream(splits.ORDER, s) for s in seeds]
    numpys = [splits.stream(splits.ORDER, s) for s in seeds]
    for g in (*ours[::3], *numpys[::3]):
        g.integers(0, 5)  # a 32-bit draw: half of a 64-bit output left buffered
    given = np.arange(len(seeds) * n).reshape(len(seeds), n)[:, ::-1].copy()
    states, out = rng.pcg64_states(ours), np.empty_like(given)
    for _ in range(3):  # epochs: each from where the last left the generator
        compiled.shuffle(states, given, out)
        expected = np.stack([rows[g.permutation(n)] for rows, g in zip(given, numpys,
                                                                      strict=True)])
        np.testing.assert_array_equal(out, expected)
    rng.set_pcg64_states(ours, states)
    assert [g.random() for g in ours] == [g.random() for g in numpys]


@pytest.mark.parametrize("reference", [False, True], ids=["kernels", "numpy"])
def test_order_streams_seeded_at_once_train_as_numpys_generators(data, reference):
    # The job's orders (runner.evaluate): splits.streams, not a generator built per seed.
    seeds = [0, 3, 2**32, 2**63 - 1, 11]
    start = net(np.arange(len(seeds)), [4])
    streams = splits.streams(splits.ORDER, seeds)
    gens = [splits.stream(splits.ORDER, s) for s in seeds]
    kw = dict(epochs=3, batch_size=7, optimizer=SGD(0.1), shuffle=False)
    by_streams = train(data, start, A.get("tanh"), reference, seeds, orders=streams, **kw)
    by_gens = train(data, start, A.get("tanh"), reference, seeds, orders=gens, **kw)
    for a, b in zip(by_streams.layers, by_gens.layers, strict=True):
        assert a.W.tobytes() == b.W.tobytes() and a.b.tobytes() == b.b.tobytes()
    assert by_streams.losses.tobytes() == by_gens.losses.tobytes()
    # Left where the epochs' permutations leave numpy's generators.
    np.testing.assert_array_equal(streams.pcg64_states(), rng.pcg64_states(gens))
    assert streams.generators()[1].integers(0, 2**31, 4).tolist() == \
        gens[1].integers(0, 2**31, 4).tolist()


def test_orders_from_other_generators_are_drawn_by_numpy(data):
    seeds = np.arange(3)
    start = net(seeds, [4])
    f = A.get("tanh")
    gens = lambda: [np.random.Generator(np.random.MT19937(s)) for s in seeds]  # noqa: E731
    assert rng.pcg64_states(gens()) is None
    kw = dict(epochs=3, batch_size=8, optimizer=SGD(0.1), shuffle=False)
    assert_close(train(data, start, f, False, seeds, orders=gens(), **kw),
                 train(data, start, f, True, seeds, orders=gens(), **kw))


@pytest.mark.parametrize("features, hidden, fast", [(2, [8], True), (4, [32], True),
                                                    (32, [8], True), (33, [8], False),
                                                    (30, [16], True), (8, [8, 8], True),
                                                    (2, [8, 8], True), (2, [16, 32], True),
                                                    (2, [8, 33], True), (2, [33, 8], False),
                                                    (33, [8, 8], False), (2, [], False)])
def test_by_default_the_kernels_train_where_they_pay(features, hidden, fast):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, features))
    y = (X[:, 0] > 0).astype(float)
    seeds = np.arange(3)
    start = tuple(N.Layer(W, b) for W, b in I.draw_layers(
        seeds, N.sizes(features, hidden), I.Draw("xavier_uniform"), I.Draw("zeros")))
    f = A.get("tanh")
    assert N.compiled_pays(start) is fast
    # What the job sizes its chunks by (runner.evaluate): the kernels for mini-batches or
    # shuffled orders, never for the full batch in order.
    assert N.trains_compiled(start, 8) is N.trains_compiled(start, shuffled=True) is fast
    assert N.trains_compiled(start) is False

    def run(**kw):
        return N.train(X, y, start, f, SGD(0.1), epochs=2, batch_size=8, **kw,
                       orders=[splits.stream(splits.ORDER, s) for s in seeds])

    default, chosen = run(), run(reference=not fast)
    for a, b in zip(default.layers, chosen.layers, strict=True):
        assert a.W.tobytes() == b.W.tobytes() and a.b.tobytes() == b.b.tobytes()
