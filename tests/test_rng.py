"""neuron.rng.Streams draws what `np.random.default_rng(s)` draws, seed by seed, bit for bit."""

import numpy as np
import pytest

from neuron import initializers, rng
from neuron.initializers import Draw

EDGES = [0, 1, 2, 7, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**62, 2**63 - 1]


def numpy_draws(seeds, calls):
    """Each seed's numbers from its own default_rng, calls = [(method, shape), ...]."""
    out = []
    for s in np.asarray(seeds).tolist():
        g = np.random.default_rng(s)
        out.append([getattr(g, m)(shape) for m, shape in calls])
    return [np.stack([o[k] for o in out]) for k in range(len(calls))]


def test_seed_sequence_state_is_numpys():
    seeds = np.array(EDGES + list(range(1000, 3000)), dtype=np.int64)
    expected = np.stack([np.random.SeedSequence(s).generate_state(4, np.uint64)
                         for s in seeds.tolist()])
    np.testing.assert_array_equal(rng.seed_state(seeds), expected)


def test_a_negative_seed_is_refused_as_numpy_refuses_it():
    with pytest.raises(ValueError):
        np.random.default_rng(-1)
    with pytest.raises(ValueError, match="non-negative"):
        rng.Streams(np.array([3, -1]))


def test_uniform_and_normal_draws_are_numpys_call_after_call():
    # Normal draws after uniform ones and uniform after normal: the stream goes on exactly
    # as numpy's does, through the ziggurat's slow path (~1% of normal draws; hundreds here).
    seeds = np.array(EDGES + list(range(5000, 25000)), dtype=np.int64)
    calls = [("random", (3, 2)), ("standard_normal", (5,)), ("random", ()),
             ("standard_normal", ()), ("random", (4,))]
    streams = rng.Streams(seeds)
    ours = [getattr(streams, m)(shape) for m, shape in calls]
    for got, want in zip(ours, numpy_draws(seeds, calls), strict=True):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_the_ziggurat_tables_read_off_numpy_take_the_fast_path_where_numpy_does():
    wi, ki = rng.ziggurat_tables()
    assert ki[1] == 0 and (ki[2:] > 2**51).all()  # layer 1 is always the slow path
    assert (np.diff(wi[1:]) > 0).all()  # the layers widen toward the tail


@pytest.mark.parametrize("scheme", initializers.SCHEMES)
def test_a_networks_draw_equals_the_seed_by_seed_reference(scheme):
    seeds = np.array(EDGES + list(range(100, 400)), dtype=np.int64)
    sizes = [(3, 5), (5, 4), (4, 1)]
    d = Draw(scheme=scheme, low=-0.3, high=0.7, mean=0.1, std=2.0, value=0.25)
    b = Draw(scheme="normal" if scheme == "uniform" else "uniform")
    fast = initializers.draw_layers(seeds, sizes, d, b)
    slow = initializers.draw_layers(seeds, sizes, d, b, per_seed=True)
    for (Wf, bf), (Ws, bs) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(Wf, Ws)
        np.testing.assert_array_equal(bf, bs)


def test_a_seed_draws_the_same_alone_and_among_others():
    seeds = np.array([5, 2**63 - 1, 0, 42], dtype=np.int64)
    d = Draw(scheme="he_normal")
    together = initializers.draw_layers(seeds, [(2, 8), (8, 1)], d, d)
    for i, s in enumerate(seeds):
        alone = initializers.draw_layers([s], [(2, 8), (8, 1)], d, d)
        for (Wt, bt), (Wa, ba) in zip(together, alone, strict=True):
            np.testing.assert_array_equal(Wt[i], Wa[0])
            np.testing.assert_array_equal(bt[i], ba[0])


@pytest.mark.slow
def test_a_million_seeds_draw_what_default_rng_draws():
    # Issue 21: the seed contract proven on 10⁶ seeds, the edges among them.
    seeds = np.concatenate([np.arange(0, 10**6 - len(EDGES)), EDGES]).astype(np.int64)
    calls = [("random", (3,)), ("standard_normal", (2,))]
    for start in range(0, len(seeds), 100_000):
        part = seeds[start:start + 100_000]
        streams = rng.Streams(part)
        ours = [getattr(streams, m)(shape) for m, shape in calls]
        for got, want in zip(ours, numpy_draws(part, calls), strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("spawn_key", [(1,), (2,), (1, 7)])
def test_a_spawn_keys_streams_are_numpys(spawn_key):
    # neuron.splits' order and split streams: SeedSequence(s, spawn_key=(source,)).
    seeds = np.array(EDGES + list(range(3000, 4000)), dtype=np.int64)
    want = [np.random.default_rng(np.random.SeedSequence(s, spawn_key=spawn_key))
            for s in seeds.tolist()]
    np.testing.assert_array_equal(
        rng.seed_state(seeds, spawn_key),
        np.stack([np.random.SeedSequence(s, spawn_key=spawn_key).generate_state(4, np.uint64)
                  for s in seeds.tolist()]))
    streams = rng.Streams(seeds, spawn_key)
    np.testing.assert_array_equal(streams.pcg64_states(), rng.pcg64_states(want))
    np.testing.assert_array_equal(streams.random((2,)), np.stack([g.random(2) for g in want]))


def test_streams_states_round_trip_through_numpys_generators():
    seeds = np.array(EDGES, dtype=np.int64)
    streams = rng.Streams(seeds, (1,))
    gens = streams.generators()
    for g in gens[::2]:
        g.integers(0, 5)  # a 32-bit draw: half of a 64-bit output left buffered
    streams.set_pcg64_states(rng.pcg64_states(gens))
    # 64-bit draws neither use nor change the buffered half, in numpy as here
    np.testing.assert_array_equal(streams.random(), [g.random() for g in gens])
    np.testing.assert_array_equal(streams.pcg64_states(), rng.pcg64_states(gens))
    again = streams.generators()  # 32-bit draws take the buffered half first
    assert [g.integers(0, 2**31, 3).tolist() for g in again] == \
        [g.integers(0, 2**31, 3).tolist() for g in gens]
    with pytest.raises(ValueError, match=r"\(10, 6\) uint64"):
        streams.set_pcg64_states(np.zeros((10, 6)))
