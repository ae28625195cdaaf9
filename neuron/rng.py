"""`numpy.random.default_rng(s)` for many seeds at once: the same numbers, vectorised over seeds.

Seed s's weights are, by contract, what `np.random.default_rng(s)` draws. Building one
generator a seed costs ~15 µs, most of a million-seed job. `Streams(seeds)` runs the same
three steps with numpy arrays whose first axis is the seed:

1. `SeedSequence(s).generate_state(4, uint64)`: numpy's hash of the seed's 32-bit words
   (O'Neill's seed_seq design as numpy implements it, `numpy/random/bit_generator.pyx`);
2. `PCG64`'s seeding from those four words, and its step: a 128-bit LCG, state·M + inc, each
   output the XSL-RR permutation of the new state (O'Neill 2014, "PCG: A Family of Simple Fast
   Space-Efficient Statistically Good Algorithms for Random Number Generation");
3. `Generator.random`: (raw >> 11)·2⁻⁵³; `Generator.standard_normal`: numpy's ziggurat, its
   fast path (~99% of draws) vectorised with numpy's own tables, read off numpy once (see
   `ziggurat_tables`), and each rare slow-path draw handed to numpy itself from that seed's state.

tests/test_rng.py checks every number against `default_rng(s)` for 10⁶ seeds and the edges
(0, 2**32 − 1, 2**32, 2**63 − 1). Seeds are 0 ≤ s < 2**63 (the runner's int64).
"""

from __future__ import annotations

import functools

import numpy as np

_U32 = np.uint64(0xFFFFFFFF)
# SeedSequence's hash constants (numpy's, as numpy documents them in bit_generator.pyx).
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
# PCG64's 128-bit multiplier.
_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_M_HI, _M_LO = np.uint64(_MULT >> 64), np.uint64(_MULT & (2**64 - 1))


def _hash_consts(start: int, mult: int, n: int) -> list[int]:
    """The running hash constant of n hash steps (it never depends on the data)."""
    out, h = [], start
    for _ in range(n):
        out.append(h)
        h = (h * mult) & 0xFFFFFFFF
    return out


def _u32(a: np.ndarray) -> np.ndarray:
    return a & _U32


def _hashmix(value: np.ndarray, h: int) -> np.ndarray:
    # value ^ h, times h·MULT_A, xor-shifted, all mod 2³² (in uint64 lanes).
    value = _u32((value ^ np.uint64(h)) * np.uint64((h * _MULT_A) & 0xFFFFFFFF))
    return value ^ (value >> np.uint64(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = _u32(np.uint64(_MIX_L) * x - np.uint64(_MIX_R) * y)
    return r ^ (r >> np.uint64(16))


def seed_state(seeds: np.ndarray, spawn_key: tuple[int, ...] = ()) -> np.ndarray:
    """`SeedSequence(s, spawn_key=spawn_key).generate_state(4, np.uint64)` for every seed:
    (n_seeds, 4) uint64.

    A seed below 2³² is one entropy word, a larger one two; a pool of four words hashes a
    missing word as 0, so both are `[s mod 2³², s >> 32]`. A spawn key (words below 2³²)
    follows the seed's words padded to the pool's four, each word then mixed into every
    word of the pool (numpy's `SeedSequence.get_assembled_entropy` and `mix_entropy`)."""
    s = np.asarray(seeds, dtype=np.int64)
    if s.size and s.min() < 0:
        raise ValueError(f"seeds must be non-negative, as numpy's SeedSequence asks: {s.min()}")
    if any(not 0 <= k < 2**32 for k in spawn_key):
        raise ValueError(f"spawn_key {spawn_key}: words in [0, 2**32)")
    s = s.astype(np.uint64)
    consts = iter(_hash_consts(_INIT_A, _MULT_A, 4 + 12 + 4 * len(spawn_key)))
    pool = [_hashmix(w, next(consts)) for w in (_u32(s), s >> np.uint64(32),
                                                np.zeros_like(s), np.zeros_like(s))]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = _mix(pool[dst], _hashmix(pool[src], next(consts)))
    for word in spawn_key:
        for dst in range(4):
            pool[dst] = _mix(pool[dst], _hashmix(np.full_like(s, word), next(consts)))
    words = []
    for i, h in enumerate(_hash_consts(_INIT_B, _MULT_B, 8)):
        v = _u32((pool[i % 4] ^ np.uint64(h)) * np.uint64((h * _MULT_B) & 0xFFFFFFFF))
        words.append(v ^ (v >> np.uint64(16)))
    return np.stack([words[2 * k] | (words[2 * k + 1] << np.uint64(32)) for k in range(4)], 1)


def _add128(hi, lo, b_hi, b_lo) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) + (b_hi, b_lo) mod 2¹²⁸, in new arrays."""
    low = lo + b_lo
    return hi + b_hi + (low < lo).astype(np.uint64), low


def _mulhi(a: np.ndarray, b: int) -> np.ndarray:
    """The high 64 bits of a·b (a: uint64 array, b: a 64-bit constant)."""
    a0, a1 = a & _U32, a >> np.uint64(32)
    b0, b1 = np.uint64(b & 0xFFFFFFFF), np.uint64(b >> 32)
    p00, p01, p10 = a0 * b0, a0 * b1, a1 * b0
    mid = (p00 >> np.uint64(32)) + (p01 & _U32) + (p10 & _U32)
    return a1 * b1 + (p01 >> np.uint64(32)) + (p10 >> np.uint64(32)) + (mid >> np.uint64(32))


class Streams:
    """One PCG64 stream per seed, as `default_rng(s)` starts it (with a spawn key, as
    `default_rng(SeedSequence(s, spawn_key=spawn_key))` does): `random` and `standard_normal`
    return (n_seeds, *shape), seed i's numbers exactly those of
    `default_rng(seeds[i]).random(shape)` (and so on, call after call). `pcg64_states` and
    `set_pcg64_states` read and move the streams in the layout neuron.compiled's shuffle
    draws from; `generators` gives numpy's own generators at the streams' states."""

    def __init__(self, seeds, spawn_key: tuple[int, ...] = ()):
        words = seed_state(seeds, spawn_key)
        # pcg64_set_seed: state 0, inc = (inc_words << 1) | 1, step, add the seed words, step.
        inc_hi, inc_lo = words[:, 2], words[:, 3]
        self._inc_hi = (inc_hi << np.uint64(1)) | (inc_lo >> np.uint64(63))
        self._inc_lo = (inc_lo << np.uint64(1)) | np.uint64(1)
        self._hi, self._lo = _add128(self._inc_hi, self._inc_lo, words[:, 0], words[:, 1])
        self._step()
        # has_uint32 and uinteger: the half of a 64-bit output a 32-bit draw left for the
        # next (numpy's 64-bit draws, random's and standard_normal's, neither use nor change it)
        self._buffered = np.zeros((len(words), 2), np.uint64)

    def __len__(self) -> int:
        return len(self._lo)

    def pcg64_states(self) -> np.ndarray:
        """(n_seeds, 6) uint64, `pcg64_states`' layout: a copy of the streams' states."""
        return np.column_stack([self._hi, self._lo, self._inc_hi, self._inc_lo,
                                self._buffered])

    def set_pcg64_states(self, states: np.ndarray) -> None:
        """The streams moved on to `states` (from `pcg64_states`, drawn from since); the
        increments are the streams' own and stay."""
        if states.shape != (len(self), 6) or states.dtype != np.uint64:
            raise ValueError(f"states {states.shape} {states.dtype}: must be ({len(self)}, 6) "
                             "uint64")
        self._hi, self._lo = states[:, 0].copy(), states[:, 1].copy()
        self._buffered = states[:, 4:].copy()

    def generators(self) -> list[np.random.Generator]:
        """numpy's Generator for each stream, at its state (they draw on their own after)."""
        gens = [np.random.Generator(np.random.PCG64(0)) for _ in range(len(self))]
        set_pcg64_states(gens, self.pcg64_states())
        return gens

    def _step(self) -> None:
        # Into new arrays, never in place: standard_normal keeps the state before a draw.
        hi, lo = self._hi, self._lo
        new_hi = _mulhi(lo, _MULT & (2**64 - 1)) + lo * _M_HI + hi * _M_LO
        self._hi, self._lo = _add128(new_hi, lo * _M_LO, self._inc_hi, self._inc_lo)

    def _raw(self) -> np.ndarray:
        """Every stream's next 64-bit output (PCG64's XSL-RR): (n_seeds,) uint64."""
        self._step()
        v = self._hi ^ self._lo
        rot = self._hi >> np.uint64(58)
        return (v >> rot) | (v << ((np.uint64(64) - rot) & np.uint64(63)))

    def random(self, shape=()) -> np.ndarray:
        """`Generator.random(shape)` per seed: (n_seeds, *shape) in [0, 1)."""
        out = np.empty((len(self), _size(shape)))
        for k in range(out.shape[1]):
            out[:, k] = (self._raw() >> np.uint64(11)) * (1.0 / 9007199254740992.0)
        return self._shaped(out, shape)

    def standard_normal(self, shape=()) -> np.ndarray:
        """`Generator.standard_normal(shape)` per seed: (n_seeds, *shape)."""
        wi, ki = ziggurat_tables()
        out = np.empty((len(self), _size(shape)))
        for k in range(out.shape[1]):
            before = (self._hi, self._lo)  # _step replaces them: no copy needed
            r = self._raw()
            idx = (r & np.uint64(0xFF)).astype(np.intp)
            sign = (r >> np.uint64(8)) & np.uint64(1)
            rabs = (r >> np.uint64(9)) & np.uint64(0x000FFFFFFFFFFFFF)
            x = rabs.astype(np.float64) * wi[idx]
            out[:, k] = np.where(sign == 1, -x, x)
            for i in np.flatnonzero(rabs >= ki[idx]):
                out[i, k] = self._numpy_normal(i, before)
        return self._shaped(out, shape)

    def _shaped(self, out: np.ndarray, shape) -> np.ndarray:
        """(n_seeds, k) draws as (n_seeds, *shape); shape () gives (n_seeds,)."""
        return out[:, 0] if shape == () else out.reshape((len(self), *np.atleast_1d(shape)))

    def _numpy_normal(self, i: int, before) -> float:
        """Seed i's draw by numpy itself from its state before the draw (the ziggurat's
        slow path: the tail and the wedges, ~1% of draws); the stream continues after it."""
        inc = (int(self._inc_hi[i]) << 64) | int(self._inc_lo[i])
        bg = _scratch()
        bg.state = {"bit_generator": "PCG64", "has_uint32": 0, "uinteger": 0,
                    "state": {"state": (int(before[0][i]) << 64) | int(before[1][i]),
                              "inc": inc}}
        value = np.random.Generator(bg).standard_normal()
        state = bg.state["state"]["state"]
        self._hi[i], self._lo[i] = np.uint64(state >> 64), np.uint64(state & (2**64 - 1))
        return value


def pcg64_states(generators) -> np.ndarray | None:
    """(n, 6) uint64: each PCG64 generator's state (high, low), increment (high, low),
    has_uint32 and uinteger (its buffered half of a 64-bit draw); None unless every
    generator is a PCG64 one."""
    out = np.empty((len(generators), 6), np.uint64)
    for row, g in zip(out, generators, strict=True):
        st = g.bit_generator.state
        if st["bit_generator"] != "PCG64":
            return None
        s, inc = st["state"]["state"], st["state"]["inc"]
        row[:] = (s >> 64, s & (2**64 - 1), inc >> 64, inc & (2**64 - 1), st["has_uint32"],
                  st["uinteger"])
    return out


def set_pcg64_states(generators, states: np.ndarray) -> None:
    """The generators moved on to `states` (pcg64_states' layout), as if they had drawn."""
    for g, row in zip(generators, states.tolist(), strict=True):
        g.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": row[0] << 64 | row[1], "inc": row[2] << 64 | row[3]},
            "has_uint32": row[4], "uinteger": row[5]}


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


@functools.lru_cache(maxsize=1)
def _scratch() -> np.random.PCG64:
    return np.random.PCG64(0)


@functools.lru_cache(maxsize=1)
def ziggurat_tables() -> tuple[np.ndarray, np.ndarray]:
    """numpy's ziggurat tables for `standard_normal`'s fast path, read off numpy itself.

    numpy draws a 64-bit r: layer idx = r & 255, sign = bit 8, rabs = the next 52 bits;
    x = rabs·wi[idx], returned when rabs < ki[idx]. A PCG64 state is set so that its next
    output is a chosen r: with rabs = 2⁴⁰ the draw is 2⁴⁰·wi[idx], exactly; ki[idx] is the
    least rabs whose draw takes more than one output, found by bisection (52 draws a layer).
    Returns wi (256,) float64 and ki (256,) uint64."""
    bg = _scratch()
    gen = np.random.Generator(bg)
    inc = bg.state["state"]["inc"]
    m_inv = pow(_MULT, -1, 2**128)

    def draw_after(r: int) -> tuple[float, bool]:
        # The state whose step gives high word 0 and low word r: XSL-RR outputs r.
        state = ((r - inc) * m_inv) % 2**128
        bg.state = {"bit_generator": "PCG64", "has_uint32": 0, "uinteger": 0,
                    "state": {"state": state, "inc": inc}}
        x = gen.standard_normal()
        return x, bg.state["state"]["state"] == r

    wi, ki = np.zeros(256), np.zeros(256, dtype=np.uint64)
    for idx in range(256):
        x, fast = draw_after(idx | (2**40 << 9))
        if fast:
            wi[idx] = x / 2.0**40
        lo, hi = 0, 2**52  # fast below lo (or none), slow at hi
        while lo < hi:
            mid = (lo + hi) // 2
            if draw_after(idx | (mid << 9))[1]:
                lo = mid + 1
            else:
                hi = mid
        ki[idx] = lo
    return wi, ki
