"""Training's mini-batch step compiled (numba): the matrix products, every seed a SIMD lane.

In numpy, a mini-batch step is a dozen calls on arrays of a few thousand numbers, one small
matrix product per seed in each: at 32 rows a batch the calls' overhead, not the arithmetic,
is the time (`benchmarks/network_speed.py --batch-size 32`: 11-41× the machine's floor, JAX
1.5-3× ahead). Here a batch's products for a chunk of seeds are one call each way, the seeds
in blocks of LANES: every array is laid out (block, …, LANES), so the innermost loop runs
over a block's seeds, contiguous, on SIMD lanes, a seed a lane, and the batch's rows go by
inside each weight's loop, so a weight's lanes are read once a batch. Where these loops lose
to numpy's matrix products (`network.compiled_pays`), training does not use them. The
activations are computed here too, as the forward pass makes each unit's z (no pass of
numpy's over the whole batch between the kernels): relu, leaky_relu and linear with
network.activate's operations; tanh and sigmoid through `_exp` and `_tanh` (below: our own,
written so that a loop over lanes vectorises; within 4 ulp of numpy's, not its bits); gelu
through our erfc (within 1e-13 of scipy's); elu, softplus and silu through
libm's functions one number at a time.

Networks with one output unit (every one the runner trains) go another way, the same
arithmetic: eight lanes are one value (`_Vec`, LLVM's <8 x double>), so that a sum over a
batch's rows or over a layer's units stays in a register rather than going to memory and
back at each term (`_one_hidden_forward`, `_one_hidden_layer`, `_deep_forward`,
`_deep_backward`); relu, leaky_relu and linear units of one hidden layer on one or two
features are not stored by the forward pass but made again by the backward one
(`_recomputed`); on more inputs a layer's sums over them, and its gradients' sums over the
rows, go four rows by four units at a time (`_vtile_add`), each load used four times. At
width 128 that is ~3× faster for relu, ~1.35× for tanh; on 8 to 30 features, and with two
or three hidden layers, it brings the kernels ahead of numpy's products (1.04-2×; the loops
were behind).

Each seed's arithmetic is the same whichever lane, block or chunk it lands in (no fast-math:
no reassociation, no multiply-add the compiler fuses on its own; the element-wise functions'
fused multiply-adds are written out, `_fma`, one rounding in every lane alike), so its
results never depend on the seeds beside it. They differ from numpy's products
(network.train(..., reference=True), which the tests compare them with) in the last bits:
the same sums, in another order, and tanh and sigmoid our own.

Layout, for a chunk of S seeds in nb = ⌈S / LANES⌉ blocks (the last one padded; a chunk
smaller than a block gets fewer lanes, `lanes_for`; LANES below stands for either) and a
batch of B rows: P and G (nb, n_params, LANES), every seed's parameters and gradients, layer
after layer, each layer's weights (fan_in, fan_out) row-major then its biases (fan_out)
(network's flat layout); Z, A and D (nb, B, n_units, LANES), the units of every layer side
by side, layer l's from at[l] (at = 0, F, F + H₁, …): A holds the batch's features in its
first F units, then each hidden layer's f(Z), D each hidden layer's f'(Z); fans
(n_layers + 1,) = F, the hidden widths, 1; offsets (n_layers,): where each layer's
parameters start; order (S, n_train) and lo: seed i's batch is rows order[i, lo:lo + B].
"""

from __future__ import annotations

import math
import operator

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

LANES = 64  # seeds a block: eight AVX-512 registers of float64
# Activations by code: the derivatives of 0-4 are computed in the backward pass (tanh's and
# sigmoid's from A), those of 5-8 (`_transcendental`) kept in D by the forward pass. NUMPY:
# any other, numpy both ways (network.activate, derive) between the layers' kernels.
CODES = {"relu": 0, "leaky_relu": 1, "linear": 2, "tanh": 3, "sigmoid": 4, "elu": 5,
         "softplus": 6, "silu": 7, "gelu": 8}
NUMPY = -1
# Networks with one output unit take the eight-lane paths (`_one_hidden_forward`,
# `_one_hidden_layer`, `_deep_forward`, `_deep_backward`), else the loops over lanes. A
# constant, frozen into the kernels: tests/test_compiled.py compiles them again with it off
# and checks the two paths bit for bit.
EIGHT_LANES = True
# On one or two features (the lesson's) a row's features stay in registers over every
# unit; on more, four rows by four units at a time (`_vtile_add`): a unit's sum over many
# features one row at a time loaded a weight and a feature for each product, and lost to
# the loops over lanes (30 features, [32]: 1,091 µs a seed an epoch against 518).
_SQRT_2PI = math.sqrt(2.0 * math.pi)

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
# The element-wise functions, inlined by numba where they are called: a call left to LLVM's
# inliner could stay a call (softplus, three deep, ran a number at a time: ~35 ns, not ~4).
_inline = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False,
                     inline="always")


def lanes_for(n_seeds: int) -> int:
    """Lanes a block for a chunk of n_seeds: LANES, or for a chunk smaller than that the
    fewest multiple of 8 (an AVX-512 register) that holds it: 50 seeds on 56 lanes, not 64.
    The kernels count the lanes at run time, and a seed's arithmetic is the same on any."""
    return min(LANES, -(-n_seeds // 8) * 8)


def blocks(n_seeds: int, lanes: int = LANES) -> int:
    return -(-n_seeds // lanes)


def to_lanes(a: np.ndarray, lanes: int = LANES) -> np.ndarray:
    """(S, n) → (nb, n, lanes), the padding lanes zero."""
    S, n = a.shape
    out = np.zeros((blocks(S, lanes) * lanes, n))
    out[:S] = a
    return np.ascontiguousarray(out.reshape(-1, lanes, n).transpose(0, 2, 1))


def from_lanes(a: np.ndarray, n_seeds: int) -> np.ndarray:
    """(nb, n, LANES) → (n_seeds, n), to_lanes undone."""
    return a.transpose(0, 2, 1).reshape(-1, a.shape[1])[:n_seeds]


# exp and tanh for loops over lanes. libm's functions, called a number at a time, keep a
# loop scalar (elu's expm1 in the forward pass: ~12 ns an element here); numpy's vectorised
# tanh (~1.7 ns) is a pass of its own over the batch, between two kernels. These are
# branch-free arithmetic LLVM vectorises (~1.1 ns an exp, ~1.15 ns a tanh): Cody and Waite's
# reduction x = k·ln2 + r, |r| ≤ ln2/2, the Taylor series of eʳ − 1 to r¹³ (the first term
# left out is below 2⁻⁵⁷) by Horner's rule in fused multiply-adds, and 2ᵏ made from its
# bits. exp: 2ᵏ·(1 + (eʳ − 1)), 2ᵏ as two factors so that results down to the subnormals
# come out right. tanh: E/(E + 2) with E = e²ˣ − 1 = 2ᵏ·(eʳ − 1) + (2ᵏ − 1), which keeps
# tanh's relative accuracy near 0.
# tests/test_compiled.py bounds exp, tanh and sigmoid against numpy's (1, 3 and 4 ulp).
_LOG2E = 1.4426950408889634
_MAGIC = 6755399441055744.0  # 1.5·2⁵²: adding it to x rounds x to an integer
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
# (eʳ − 1)/r = Σ rⁿ/(n + 1)!, n = 0 … 12, highest power first (`_horner`'s order)
_EXPM1 = tuple(1.0 / math.factorial(n + 1) for n in range(12, -1, -1))
# log m = 2·atanh(s) = 2·s·Σ s²ⁿ/(2n + 1), s = (m − 1)/(m + 1), n = 0 … 10, highest first
_ATANH = tuple(1.0 / (2 * n + 1) for n in range(10, -1, -1))
_SQRT2 = math.sqrt(2.0)
# erfc's rational functions, Moshier's Cephes Math Library (ndtr.c), which scipy.special.erfc
# evaluates too: erf(a) = a·T(a²)/U(a²) for |a| < 1, else erfc(a) = e^(−a²)·P(|a|)/Q(|a|)
# below 8 and e^(−a²)·R(|a|)/S(|a|) from 8 (U, Q and S with a leading 1).
_CT = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
       7.00332514112805075473e3, 5.55923013010394962768e4)
_CU = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
       2.26290000613890934246e4, 4.92673942608635921086e4)
_CP = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
       4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
       9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_CQ = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
       9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
       1.65666309194161350182e3, 5.57535340817727675546e2)
_CR = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
       6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_CS = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
       1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


@intrinsic
def _bits(typingctx, x):
    """A float64's bits as an int64 (a bit cast: no conversion)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, bits):
    """The float64 whose bits an int64 holds."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c rounded once (llvm.fma: the CPU's fused multiply-add, vectorised in a loop
    over lanes, or libm's fma where the CPU has none: the same bits either way)."""

    def codegen(context, builder, signature, args):
        f64 = context.get_value_type(types.float64)
        fma = builder.module.declare_intrinsic(
            "llvm.fma", [f64], ir.FunctionType(f64, [f64, f64, f64]))
        return builder.call(fma, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


# Eight lanes as one value (`_Vec`: LLVM's <8 x double>), for sums a loop keeps in registers
# over the batch's rows. numba's vectoriser sees only the innermost loop, the one over lanes,
# so a gradient's lanes, summed over the rows, went to memory and back at every row (a load
# and a store a row: the backward pass ran at the L1 cache's store rate). Each operation on
# a _Vec is the scalar one in every lane (IEEE: the same bits); the kernels use them only
# where a block's lanes are a multiple of 8 (`lanes_for`), indexing the innermost axis.
class _Vec(types.Type):
    def __init__(self):
        super().__init__(name="float64x8")


_VEC = _Vec()
_V8 = ir.VectorType(ir.DoubleType(), 8)


@register_model(_Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _V8)


def _lanes_pointer(context, builder, aryty, ary, idxty, idx):
    """Pointer to the 8 elements of a C-contiguous array from index tuple idx on."""
    arr = context.make_array(aryty)(context, builder, ary)
    inds = [context.cast(builder, x, t, types.intp)
            for x, t in zip(cgutils.unpack_tuple(builder, idx), idxty, strict=True)]
    ptr = cgutils.get_item_pointer2(
        context, builder, data=arr.data, shape=cgutils.unpack_tuple(builder, arr.shape),
        strides=cgutils.unpack_tuple(builder, arr.strides), layout=aryty.layout, inds=inds,
        wraparound=False, boundscheck=False)
    return builder.bitcast(ptr, _V8.as_pointer())


@intrinsic
def _vload(typingctx, a, idx):
    """a[idx] and the 7 elements after it on the innermost axis."""

    def codegen(context, builder, signature, args):
        return builder.load(_lanes_pointer(context, builder, a, args[0], idx, args[1]), align=8)

    return _VEC(a, idx), codegen


@intrinsic
def _vstore(typingctx, a, idx, x):
    """a[idx], and the 7 elements after it on the innermost axis, = x."""

    def codegen(context, builder, signature, args):
        builder.store(args[2], _lanes_pointer(context, builder, a, args[0], idx, args[1]),
                      align=8)
        return context.get_dummy_value()

    return types.none(a, idx, _VEC), codegen


def _vector_op(name):
    @intrinsic
    def op(typingctx, x, y):
        def codegen(context, builder, signature, args):
            return getattr(builder, name)(*args)

        return _VEC(_VEC, _VEC), codegen

    return op


_vadd, _vsub, _vmul = _vector_op("fadd"), _vector_op("fsub"), _vector_op("fmul")


@intrinsic
def _vsplat(typingctx, x):
    """x in every lane."""

    def codegen(context, builder, signature, args):
        one = builder.insert_element(ir.Constant(_V8, ir.Undefined), args[0],
                                     ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(one, ir.Constant(_V8, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8))

    return _VEC(types.float64), codegen


@intrinsic
def _vstep(typingctx, x, strict):
    """1.0 where x > 0 (strict) or x ≥ 0, else 0.0 (NaN: 0.0), lane by lane."""

    def codegen(context, builder, signature, args):
        zero = ir.Constant(_V8, [0.0] * 8)
        gt = builder.fcmp_ordered(">", args[0], zero)
        ge = builder.fcmp_ordered(">=", args[0], zero)
        return builder.select(builder.select(args[1], gt, ge), ir.Constant(_V8, [1.0] * 8),
                              zero)

    return _VEC(_VEC, types.boolean), codegen


@intrinsic
def _vmax(typingctx, x, c):
    """max(x, c) lane by lane, as Python's max: c where x < c."""

    def codegen(context, builder, signature, args):
        return builder.select(builder.fcmp_ordered("<", args[0], args[1]), args[1], args[0])

    return _VEC(_VEC, _VEC), codegen


@intrinsic
def _vrelu(typingctx, z):
    """network.activate's relu as forward_pass computes it, max(z, 0.0) (numba's max keeps
    z where neither is greater: -0.0 stays -0.0; NaN stays), lane by lane."""

    def codegen(context, builder, signature, args):
        zero = ir.Constant(_V8, [0.0] * 8)
        return builder.select(builder.fcmp_ordered("<", args[0], zero), zero, args[0])

    return _VEC(_VEC), codegen


@intrinsic
def _vleaky(typingctx, z, slope):
    """max(slope·z, z), z where z is NaN, lane by lane (forward_pass's leaky_relu)."""

    def codegen(context, builder, signature, args):
        z, sz = args[0], builder.fmul(args[1], args[0])
        a = builder.select(builder.fcmp_ordered(">", z, sz), z, sz)
        return builder.select(builder.fcmp_unordered("uno", z, z), z, a)

    return _VEC(_VEC, _VEC), codegen


@overload(operator.add)
def _add(x, y):
    if isinstance(x, _Vec) and isinstance(y, _Vec):
        return lambda x, y: _vadd(x, y)


@overload(operator.sub)
def _sub(x, y):
    if isinstance(x, _Vec) and isinstance(y, _Vec):
        return lambda x, y: _vsub(x, y)


@overload(operator.mul)
def _mul(x, y):
    if isinstance(x, _Vec) and isinstance(y, _Vec):
        return lambda x, y: _vmul(x, y)


@_inline
def _reduce(x):
    """(eʳ − 1, t) for x = k·ln2 + r: k's bits are t's low bits (`_scale`)."""
    t = x * _LOG2E + _MAGIC
    k = t - _MAGIC
    r = _fma(-k, _LN2_LO, x - k * _LN2_HI)  # k·ln2_hi exact: ln2_hi ends in zeros
    return _horner(_EXPM1, r) * r, t


@_inline
def _scale(t, by):
    """2^(k + by) for the k of `_reduce`'s t, k + by a normal float's exponent."""
    return _from_bits((_bits(t) - _bits(_MAGIC) + (1023 + by)) << 52)


@_inline
def _exp(x):
    """eˣ within 1 ulp of numpy's, NaN kept; vectorises in a loop over lanes."""
    # Beyond these eˣ is inf or 0 anyway; the clamps keep k in range (NaN passes).
    x = -746.0 if x < -746.0 else x
    x = 710.0 if x > 710.0 else x
    q, t = _reduce(x)
    # 2ᵏ as 2^(k − ⌊k/2⌋)·2^⌊k/2⌋: both normal for k from −1075 to 1024
    half = (_bits(t) - _bits(_MAGIC)) >> 1
    return (q + 1.0) * _scale(t, -half) * _from_bits((half + 1023) << 52)


@_inline
def _expm1(x):
    """eˣ − 1 for x ≤ 0 within 1 ulp of numpy's, NaN kept; vectorises. 2ᵏ·(eʳ − 1) + (2ᵏ − 1),
    as `_tanh` makes e²ˣ − 1; below −40 it is −1 to 17 digits (the clamp keeps 2ᵏ normal)."""
    q, t = _reduce(-40.0 if x < -40.0 else x)
    s = _scale(t, 0)
    return _fma(s, q, s - 1.0)


@_inline
def _tanh(x):
    """tanh within 3 ulp of numpy's, NaN kept; vectorises in a loop over lanes."""
    a = abs(x)
    q, t = _reduce(2.0 * (20.0 if a > 20.0 else a))  # tanh(20) is 1 to 17 digits
    s = _scale(t, 0)
    E = _fma(s, q, s - 1.0)
    return math.copysign(E / (E + 2.0), x)


@_inline
def _log1p(u):
    """log(1 + u) for u in [0, 1] (NaN kept) within 3 ulp of numpy's; vectorises. log w for
    w = 1 + u in [1, 2]: w (halved above √2, adding ln 2) as m in [√2/2, √2], 2·atanh(s) to
    s²¹ (|s| ≤ 0.172: the first term left out is below 2⁻⁵⁷ of it); then Goldberg's
    correction u/(w − 1), w − 1 exact, for the rounding of 1 + u (Goldberg 1991, "What every
    computer scientist should know about floating-point arithmetic", theorem 4)."""
    w = 1.0 + u
    big = w > _SQRT2
    m = w * 0.5 if big else w
    s = (m - 1.0) / (m + 1.0)
    p = _horner(_ATANH, s * s)
    log_w = (2.0 * s * p + (_LN2_LO if big else 0.0)) + (_LN2_HI if big else 0.0)
    d = w - 1.0
    return u if d == 0.0 else log_w * (u / d)


@_inline
def _horner(c, x):
    """c[0]·xⁿ + … + c[n], in Horner's order (Cephes' polevl), each step one fused
    multiply-add (`_fma`): half the operations of a multiply and an add (exp 1.45 → 1.10 ns,
    tanh 1.54 → 1.15 ns an element here), within the same ulp of numpy's."""
    y = c[0]
    for k in range(1, len(c)):
        y = _fma(y, x, c[k])
    return y


@_inline
def _lead(c, x):
    """xⁿ + c[0]·xⁿ⁻¹ + … + c[n−1], in Horner's order (Cephes' p1evl), in `_fma`s."""
    y = x + c[0]
    for k in range(1, len(c)):
        y = _fma(y, x, c[k])
    return y


@_inline
def _erfc(a):
    return _erfc_e(a)[0]


@_inline
def _erfc_e(a):
    """(erfc(a), e^(−a²)): erfc by Cephes' rational functions (`_CT` …), both branches
    computed and one kept (vectorises); e^(−a²) as Cephes' expx2 makes it, a = m + f with m
    a multiple of 1/128, so that a² = m² + (2mf + f²) keeps its digits (0 past |a| = 30).
    Within 1e-13 of scipy's, relatively, down to 1e-300 (tests/test_compiled.py); NaN
    kept."""
    x = abs(a)
    z = a * a
    xc = 30.0 if x > 30.0 else x  # erfc(30) is 0 in float64; keeps inf out of P, Q, R, S
    near = xc < 8.0
    num = _horner(_CP, xc) if near else _horner(_CR, xc)
    den = _lead(_CQ, xc) if near else _lead(_CS, xc)
    m = math.floor(128.0 * xc + 0.5) * 0.0078125
    f = xc - m
    e = _exp(-(m * m)) * _exp(-(2.0 * m * f + f * f))
    # erf's a·T/U below 1, else e·P/Q (R/S): one division, of the quotient kept (a
    # division costs what ten multiply-adds do)
    small = x < 1.0
    q = (a * _horner(_CT, z) if small else e * num) / (_lead(_CU, z) if small else den)
    return (1.0 - q if small else (2.0 - q if a < 0.0 else q)), e


@_inline
def _gelu(z):
    """(gelu(z), gelu'(z)), activations.gelu's formulas: z·Φ(z) and Φ(z) + z·φ(z),
    Φ = erfc(−z/√2)/2, φ = e^(−z²/2)/√(2π) with erfc's own e^(−a²) (`_erfc_e`; an exp of its
    own was a fifth of gelu's time)."""
    phi, e = _erfc_e(-z / _SQRT2)
    return z * 0.5 * phi, 0.5 * phi + z * e / _SQRT_2PI


@_inline
def _sigmoid(x):
    """network.activate's 1/(1 + e⁻ˣ), with `_exp`."""
    return 1.0 / (1.0 + _exp(-x))


_ELEMENTWISE = ("exp", "tanh", "sigmoid", "log1p", "erfc", "expm1")


@_jit
def _elementwise(which, x, out):
    for i in range(x.shape[0]):
        v = x[i]
        if which == 0:
            out[i] = _exp(v)
        elif which == 1:
            out[i] = _tanh(v)
        elif which == 2:
            out[i] = _sigmoid(v)
        elif which == 3:
            out[i] = _log1p(v)
        elif which == 4:
            out[i] = _erfc(v)
        else:
            out[i] = _expm1(v)


@_jit
def _gelu_both(Z, A, D):
    for i in range(Z.shape[0]):
        A[i], D[i] = _gelu(Z[i])


def gelu_both(Z: np.ndarray, A: np.ndarray, D: np.ndarray) -> None:
    """A = gelu(Z) and D = gelu'(Z), arrays of one shape, C-contiguous (`_gelu`), ~9 ns an
    element against scipy's erfc alone at ~16 (full-batch training's fast path; the numpy
    one, activations.activate_derive, is its reference)."""
    _gelu_both(Z.reshape(-1), A.reshape(-1), D.reshape(-1))


def elementwise(name: str, x: np.ndarray) -> np.ndarray:
    """exp, tanh, sigmoid, erfc, log1p (of x in [0, 1]) or expm1 (of x ≤ 0) of 1-D float64
    x, as the kernels compute them (for the tests and benchmarks: the kernels call them a
    number at a time)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _elementwise(_ELEMENTWISE.index(name), x, out)
    return out


@_jit
def _units(fans):
    at = np.zeros(fans.shape[0], np.int64)
    for k in range(fans.shape[0] - 1):
        at[k + 1] = at[k] + fans[k]
    return at


@_jit
def forward_pass(X, order, lo, P, fans, offsets, first, last, Z, A, D, code, c, t, keep):
    """Layers first … last − 1 of the batch: A = f(Z) for hidden layers when `code` is
    applied here (code ≥ 0), with D = f'(Z) for codes ≥ 5; Z of the output unit, and of
    hidden units only where something reads it (numpy's activation, code < 0, applied before
    the next call; leaky_relu's derivative): the backward pass takes relu's, tanh's and
    sigmoid's from A. first = 0 also puts the batch's rows of X (n_rows, F) into A. t (B,
    LANES): room for one unit's z (`unit_buffer`). keep false: the output's z is all the
    caller wants (the last hidden layer's A and D need not be stored; the loops skip them).
    z = Σₖ aₖ·wₖ + b, summed in that order."""
    # Every element indexed in full, no row views: a view in an inner loop costs two atomic
    # reference counts, more than its arithmetic. The lanes are counted at run time (n): a
    # constant count would be unrolled rather than vectorised. The batch's rows are walked
    # inside each weight's loop, so a weight's lanes are read once a batch, not once a row
    # (a block's weights, 64 lanes each, outgrow the L1 cache from ~100 of them); a unit's
    # sums grow in t (16 KB at 32 rows: L1) and reach Z and A once, as they end (at width
    # 128, Z and A are megabytes: every pass over them went out to L3).
    nb, B, n = Z.shape[0], Z.shape[1], Z.shape[3]
    n_layers = offsets.shape[0]
    at = _units(fans)
    for blk in range(nb):
        if first == 0:
            _features(X, order, lo, A, blk)
        out = at[n_layers]  # the output unit
        eight = EIGHT_LANES and first == 0 and last == n_layers and code >= 0
        if eight and _one_hidden(fans, n) and fans[0] <= 2:
            if code <= 2:
                _one_hidden_forward(P, fans, offsets, Z, A, code, c, keep, blk)
            else:
                _one_hidden_forward_transcendental(P, fans, offsets, Z, A, D, code, c, keep,
                                                   blk)
            continue
        if eight and (_one_hidden(fans, n) or _deep(fans, n)):
            _deep_forward(P, fans, offsets, Z, A, D, code, c, keep, blk)
            continue
        for layer in range(first, last):
            n_in, n_out, off = fans[layer], fans[layer + 1], offsets[layer]
            a0, z0 = at[layer], at[layer + 1]
            g = -1 if layer == n_layers - 1 else code  # the output unit: its z only
            # The last hidden layer, with the output unit after it: each unit's f(z) goes
            # into the output's sum as it is made, from t (the sum's order unchanged), not
            # read back from A; and into A only if `keep` (a backward pass will read it).
            fused = g >= 0 and layer == n_layers - 2 and last == n_layers
            store = keep or not fused
            for j in range(n_out):
                u = z0 + j
                w0, w1 = off + j, off + n_out + j
                # Two inputs (two features: the lesson's, the demos'): the sum in one pass
                # over the batch, not two (the same operations in the same order: the same
                # bits).
                if n_in == 2:
                    for b in range(B):
                        for i in range(n):
                            t[b, i] = _two(A, P, blk, b, a0, i, w0, w1)
                else:
                    for b in range(B):
                        for i in range(n):
                            t[b, i] = A[blk, b, a0, i] * P[blk, w0, i]
                    for k in range(1, n_in):
                        w = off + k * n_out + j
                        for b in range(B):
                            for i in range(n):
                                t[b, i] += A[blk, b, a0 + k, i] * P[blk, w, i]
                bias = off + n_in * n_out + j
                # With the bias, f: network.activate's np.maximum(z, 0) (NaN kept),
                # max(z, slope·z), z, tanh and sigmoid; in t.
                for b in range(B):
                    if g < 0:
                        for i in range(n):
                            Z[blk, b, u, i] = t[b, i] + P[blk, bias, i]
                        continue
                    if g == 0:
                        for i in range(n):
                            v = t[b, i] + P[blk, bias, i]
                            t[b, i] = max(v, 0.0) if v == v else v
                    elif g == 1:
                        for i in range(n):
                            v = t[b, i] + P[blk, bias, i]
                            Z[blk, b, u, i] = v
                            t[b, i] = max(c * v, v) if v == v else v
                    elif g == 2:
                        for i in range(n):
                            t[b, i] = t[b, i] + P[blk, bias, i]
                    elif g == 3:
                        for i in range(n):
                            t[b, i] = _tanh(t[b, i] + P[blk, bias, i])
                    elif g == 4:
                        for i in range(n):
                            t[b, i] = _sigmoid(t[b, i] + P[blk, bias, i])
                    else:
                        for i in range(n):
                            a, d = _transcendental(code, c, t[b, i] + P[blk, bias, i])
                            t[b, i] = a
                            D[blk, b, u, i] = d
                    if store:
                        for i in range(n):
                            A[blk, b, u, i] = t[b, i]
                if fused:
                    w = offsets[n_layers - 1] + j
                    for b in range(B):
                        if j == 0:
                            for i in range(n):
                                Z[blk, b, out, i] = t[b, i] * P[blk, w, i]
                        else:
                            for i in range(n):
                                Z[blk, b, out, i] += t[b, i] * P[blk, w, i]
            if fused:
                bias = offsets[n_layers - 1] + n_out
                for b in range(B):
                    for i in range(n):
                        Z[blk, b, out, i] += P[blk, bias, i]
                break


@_inline
def _one_hidden(fans, n):
    """Whether the layers `fans` describes take the eight-lane paths, on n lanes a block: one
    hidden layer, one output unit, lanes a multiple of 8. (The
    callers test EIGHT_LANES themselves: the test that turns it off recompiles them, not
    this.)"""
    return fans.shape[0] == 3 and fans[2] == 1 and n % 8 == 0


@_inline
def _features(X, order, lo, A, blk):
    """A's first F units, block blk: the batch's rows of X (n_rows, F), 0 in the padding
    lanes. Two features (the lesson's) both at once: a loop over two features for each lane
    was half the forward pass at width 8 (5 µs of 10 at 64 lanes, against 2.4). Else each
    lane's row index read once (a feature at a time over the lanes read it F times: 30
    features, no hidden layer, 139 µs a seed an epoch against 45)."""
    B, n = A.shape[1], A.shape[3]
    S, F = order.shape[0], X.shape[1]
    real = min(n, S - blk * n)
    for b in range(B):
        if F == 2:
            for i in range(real):
                r = order[blk * n + i, lo + b]
                A[blk, b, 0, i] = X[r, 0]
                A[blk, b, 1, i] = X[r, 1]
        else:
            for i in range(real):
                r = order[blk * n + i, lo + b]
                for f in range(F):
                    A[blk, b, f, i] = X[r, f]
        for f in range(F):
            for i in range(real, n):
                A[blk, b, f, i] = 0.0


@_inline
def _vunit_z(Pf, x0, x1, j, F, H, n, v):
    """Hidden unit j's z, lanes v to v + 7, at a row of one or two features x0, x1 (loaded;
    flat views of A and P): a₀·w₀ⱼ + a₁·w₁ⱼ, then + bⱼ, in forward_pass's order."""
    w = j * n + v
    z = x0 * _vload(Pf, (w,))
    if F > 1:
        z = z + x1 * _vload(Pf, (w + H * n,))
    return z + _vload(Pf, (w + F * H * n,))


@_inline
def _vouter(a0, a1, a2, a3, p0, p1, p2, p3):
    """The sixteen products a_r·p_u, r-major: a tile's first terms (`_vtile_add`'s t)."""
    return (a0 * p0, a0 * p1, a0 * p2, a0 * p3, a1 * p0, a1 * p1, a1 * p2, a1 * p3,
            a2 * p0, a2 * p1, a2 * p2, a2 * p3, a3 * p0, a3 * p1, a3 * p2, a3 * p3)


@_inline
def _vtile_add(Xf, x0, x1, x2, x3, sx, Yf, y0, y1, y2, y3, sy, k0, K, t):
    """t[4·r + u] + Σ_k X[x_r + k·sx]·Y[y_u + k·sy] for k = k0 … K − 1 in that order, eight
    lanes each (flat views): sixteen sums of four rows by four columns in registers, each
    load used four times. A unit's sum over many features (or a weight's gradient over the
    rows) one at a time loaded two numbers for each product."""
    c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 = t
    for k in range(k0, K):
        a0, a1 = _vload(Xf, (x0 + k * sx,)), _vload(Xf, (x1 + k * sx,))
        a2, a3 = _vload(Xf, (x2 + k * sx,)), _vload(Xf, (x3 + k * sx,))
        p0, p1 = _vload(Yf, (y0 + k * sy,)), _vload(Yf, (y1 + k * sy,))
        p2, p3 = _vload(Yf, (y2 + k * sy,)), _vload(Yf, (y3 + k * sy,))
        c00, c01, c02, c03 = c00 + a0 * p0, c01 + a0 * p1, c02 + a0 * p2, c03 + a0 * p3
        c10, c11, c12, c13 = c10 + a1 * p0, c11 + a1 * p1, c12 + a1 * p2, c13 + a1 * p3
        c20, c21, c22, c23 = c20 + a2 * p0, c21 + a2 * p1, c22 + a2 * p2, c23 + a2 * p3
        c30, c31, c32, c33 = c30 + a3 * p0, c31 + a3 * p1, c32 + a3 * p2, c33 + a3 * p3
    return (c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33)


@_jit
def _one_hidden_forward(P, fans, offsets, Z, A, code, c, keep, blk):
    """forward_pass for a network of one hidden layer of relu, leaky_relu or linear units on
    one or two features, block blk, the batch's features in A: a hidden unit's z, f(z) and
    its term of the output's sum made eight lanes at a time (`_Vec`), the output's sum kept
    in a register over 16 units; the same operations in the same order as forward_pass's
    loops (the same bits), not a pass over the batch for each."""
    B, U, n = Z.shape[1], Z.shape[2], Z.shape[3]
    F, H = fans[0], fans[1]
    off = offsets[1]
    slope = _vsplat(c)
    store = keep and not _recomputed(F, code)
    # Flat views, indexed by offsets that grow by n a unit: the 4-d index arithmetic, done
    # again for every load, was most of the loop.
    Pf, Zf, Af = P[blk].reshape(-1), Z[blk].reshape(-1), A[blk].reshape(-1)
    for v in range(0, n, 8):
        for j0 in range(0, H, 16):
            j1 = min(H, j0 + 16)
            for b in range(B):
                row = b * U * n + v  # (b, unit 0, lane v) in Zf and Af
                x0 = _vload(Af, (row,))
                x1 = _vload(Af, (row + n,)) if F > 1 else x0
                o = row + (F + H) * n  # the output unit
                acc = _vload(Zf, (o,))  # the sum so far (j0 > 0)
                for j in range(j0, j1):
                    z = _vunit_z(Pf, x0, x1, j, F, H, n, v)
                    u = row + (F + j) * n
                    if code == 0:
                        a = _vrelu(z)
                    elif code == 1:
                        a = _vleaky(z, slope)
                        if store:
                            _vstore(Zf, (u,), z)
                    else:
                        a = z
                    if store:
                        _vstore(Af, (u,), a)
                    term = a * _vload(Pf, ((off + j) * n + v,))
                    acc = term if j == 0 else acc + term
                _vstore(Zf, (o,), acc)
        for b in range(B):
            o = (b * U + F + H) * n + v
            _vstore(Zf, (o,), _vload(Zf, (o,)) + _vload(Pf, ((off + H) * n + v,)))


@_inline
def _vstore4(Xf, at, step, first, last, a, b, c, d):
    """a, b, c, d into Xf at at, at + step, … where first + 0, 1, 2, 3 < last: a tile's
    four results along one side, those past the layer's edge (clamped there) left out."""
    if first < last:
        _vstore(Xf, (at,), a)
    if first + 1 < last:
        _vstore(Xf, (at + step,), b)
    if first + 2 < last:
        _vstore(Xf, (at + 2 * step,), c)
    if first + 3 < last:
        _vstore(Xf, (at + 3 * step,), d)


@_jit
def _vtile_rows(Af, Pf, Wp, B, U, a0, K, off, z0, J, n, v):
    """A layer's z (bias added) of every row, lanes v … v + 7, into A's units z0 … z0 + J − 1
    (flat views, as the layers' loops put it), from its K inputs, A's units a0 …, and its
    weights, P's rows from off: four rows by four units at a time (`_vtile_add`), Σ_k
    a_k·w_kj in forward_pass's order. Each four units' weights are first copied side by side
    into Wp (≥ K·32): in place, an input's weights lie a layer's width of lanes apart (7 KB
    at 16 units and 56 lanes), every one in the same few sets of the L1 cache, and came from
    L2 at each tile (30 features, [16]: 67 → 49 µs a batch of 56 seeds)."""
    bias = off + K * J
    for j in range(0, J, 4):
        for k in range(K):
            for u in range(4):  # past J: unit J − 1 again, its sums computed and not stored
                w = off + k * J + min(j + u, J - 1)
                _vstore(Wp, ((k * 4 + u) * 8,), _vload(Pf, (w * n + v,)))
        p0, p1, p2, p3 = _vload(Wp, (0,)), _vload(Wp, (8,)), _vload(Wp, (16,)), _vload(Wp, (24,))
        # the four units' biases (past J: unit J − 1's)
        c0 = _vload(Pf, ((bias + j) * n + v,))
        c1 = _vload(Pf, ((bias + min(j + 1, J - 1)) * n + v,))
        c2 = _vload(Pf, ((bias + min(j + 2, J - 1)) * n + v,))
        c3 = _vload(Pf, ((bias + min(j + 3, J - 1)) * n + v,))
        for b0 in range(0, B, 4):
            # rows past B: B − 1 again (the same numbers, stored again)
            r1, r2, r3 = min(b0 + 1, B - 1), min(b0 + 2, B - 1), min(b0 + 3, B - 1)
            x0, x1 = (b0 * U + a0) * n + v, (r1 * U + a0) * n + v
            x2, x3 = (r2 * U + a0) * n + v, (r3 * U + a0) * n + v
            a_0, a_1, a_2, a_3 = _vload(Af, (x0,)), _vload(Af, (x1,)), _vload(Af, (x2,)), \
                _vload(Af, (x3,))
            first = _vouter(a_0, a_1, a_2, a_3, p0, p1, p2, p3)
            (z00, z01, z02, z03, z10, z11, z12, z13, z20, z21, z22, z23, z30, z31, z32,
             z33) = _vtile_add(Af, x0, x1, x2, x3, n, Wp, 0, 8, 16, 24, 32, 1, K, first)
            d = (z0 - a0) * n  # from a row's first input to its first unit
            for t, q0, q1, q2, q3 in ((x0 + d, z00, z01, z02, z03), (x1 + d, z10, z11, z12, z13),
                                      (x2 + d, z20, z21, z22, z23), (x3 + d, z30, z31, z32, z33)):
                _vstore4(Af, t + j * n, n, j, J, q0 + c0, q1 + c1, q2 + c2, q3 + c3)


@_jit
def _activate_row(h, z, d, code, c, keep):
    """f(z) in place over h, a row's units (a view: over its range(len) LLVM vectorises the
    loop; over range(lo, hi) of the whole array it stayed scalar, 2.6 ns a tanh against 1),
    as forward_pass's loops compute it: z kept for leaky_relu (code 1) and f'(z) into d for
    codes ≥ 5 (read by the backward pass where `keep`). One function for both eight-lane
    paths: each copy of these loops, _transcendental's above all, added seconds to the
    kernels' compile."""
    if code == 0:
        for m in range(h.shape[0]):
            x = h[m]
            h[m] = max(x, 0.0) if x == x else x
    elif code == 1:
        for m in range(h.shape[0]):
            x = h[m]
            z[m] = x
            h[m] = max(c * x, x) if x == x else x
    elif code == 3:
        for m in range(h.shape[0]):
            h[m] = _tanh(h[m])
    elif code == 4:
        for m in range(h.shape[0]):
            h[m] = _sigmoid(h[m])
    # A loop each, the code a constant in it: one loop branching on `code` stayed scalar.
    # f'(z) goes into d whether kept or not (for these codes d is D's row: unread without
    # `keep`), a store cheaper than a second copy of each loop.
    elif code == 5:
        for m in range(h.shape[0]):
            h[m], d[m] = _elu(c, h[m])
    elif code == 6:
        for m in range(h.shape[0]):
            h[m], d[m] = _softplus_both(h[m])
    elif code == 7:
        for m in range(h.shape[0]):
            h[m], d[m] = _silu(h[m])
    elif code == 8 and keep:
        for m in range(h.shape[0]):
            h[m], d[m] = _gelu(h[m])
    elif code == 8:  # gelu' costs a fifth of gelu: not for the loss curve's forward pass
        for m in range(h.shape[0]):
            h[m] = _gelu(h[m])[0]


@_jit
def _one_hidden_forward_transcendental(P, fans, offsets, Z, A, D, code, c, keep, blk):
    """_one_hidden_forward for the activations with a transcendental function (tanh,
    sigmoid, elu, softplus, silu, gelu): four rows at a time, every hidden unit's z into A
    (eight lanes at a time), then f(z) in place, each row's units in one loop (the scalar
    functions, which LLVM vectorises), and f'(z) into D for codes ≥ 5; then the output's
    sum in a register, as in _one_hidden_forward. keep false: the rows' units go into A's
    first four rows (the features stay), and D is not written. One or two features (more go
    through `_deep_forward`). The same bits as forward_pass's loops."""
    B, U, n = Z.shape[1], Z.shape[2], Z.shape[3]
    F, H = fans[0], fans[1]
    off = offsets[1]
    Pf, Zf, Af, Df = P[blk].reshape(-1), Z[blk].reshape(-1), A[blk].reshape(-1), \
        D[blk].reshape(-1) if code > 4 else P[blk].reshape(-1)
    for b0 in range(0, B, 4):
        b1 = min(B, b0 + 4)
        to = 0 if keep else b0  # where row b's units go: row b - to
        for v in range(0, n, 8):
            for b in range(b0, b1):
                x = b * U * n + v
                x0 = _vload(Af, (x,))
                x1 = _vload(Af, (x + n,)) if F > 1 else x0
                to_b = ((b - to) * U + F) * n + v
                for j in range(H):
                    _vstore(Af, (to_b + j * n,), _vunit_z(Pf, x0, x1, j, F, H, n, v))
        for b in range(b0, b1):
            lo = ((b - to) * U + F) * n
            # a row's units as a view: a loop over range(lo, hi) stayed scalar (2.6 ns a
            # tanh), over a view's range(len) LLVM vectorises (1 ns)
            _activate_row(Af[lo:lo + H * n], Af, Df[lo:lo + H * n] if code > 4 else Af, code,
                          c, keep)
            for v in range(0, n, 8):
                acc = _vload(Af, (lo + v,)) * _vload(Pf, (off * n + v,))
                for j in range(1, H):
                    acc = acc + _vload(Af, (lo + j * n + v,)) * _vload(Pf, ((off + j) * n + v,))
                o = (b * U + F + H) * n + v
                _vstore(Zf, (o,), acc + _vload(Pf, ((off + H) * n + v,)))


@_inline
def _two(A, P, blk, b, a0, i, w0, w1):
    """A unit's sum over two inputs, a₀·w₀ + a₁·w₁, as forward_pass's loop over k makes it."""
    return A[blk, b, a0, i] * P[blk, w0, i] + A[blk, b, a0 + 1, i] * P[blk, w1, i]


def unit_buffer(batch_rows: int, lanes: int = LANES) -> np.ndarray:
    """forward_pass's t: one unit's z, (B, lanes)."""
    return np.empty((batch_rows, lanes))


@_inline
def _labels(y, order, lo, blk, t):
    """Into t (B, LANES), block blk's labels of the batch's rows, 0 in the padding lanes:
    gathered in a loop of their own, which does not vectorise, so that the loop that uses
    them does."""
    B, n = t.shape
    real = min(n, order.shape[0] - blk * n)
    for b in range(B):
        for i in range(real):
            t[b, i] = y[order[blk * n + i, lo + b]]
        for i in range(real, n):
            t[b, i] = 0.0


@_jit
def add_log_loss(y, order, lo, Z, sign, L, t):
    """Into L (nb, LANES), each seed's log-loss summed over the batch's rows, from the output's
    z in Z (the forward pass's): network._log_loss's softplus(v), v = sign·z·(1 − 2y), a row
    at a time in the batch's order. t (B, LANES): room for the labels."""
    nb, B, n = Z.shape[0], Z.shape[1], Z.shape[3]
    out = Z.shape[2] - 1
    for blk in range(nb):
        _labels(y, order, lo, blk, t)
        for b in range(B):
            for i in range(n):
                t[b, i] = _softplus((sign * Z[blk, b, out, i]) * (1.0 - 2.0 * t[b, i]))
        for b in range(B):
            for i in range(n):
                L[blk, i] += t[b, i]


@_inline
def _softplus(v):
    # np.maximum(v, 0) keeps a NaN; so does the log1p term
    return (v if v > 0.0 else 0.0) + _log1p(_exp(-abs(v)))


def backward_buffers(fans, batch_rows: int, lanes: int = LANES):
    """backward_pass's dZ, dZb (B, widest layer, lanes) and t (B, lanes) for a batch of
    `batch_rows` rows. The widest layer rounded up to a multiple of 4, dZ zeros: the tiles of
    a single hidden layer (`_one_hidden_tiled`) read four units at a time, those past the
    layer's last as zeros."""
    widest = int(max(fans[1:]))
    shape = (batch_rows, widest + -widest % 4, lanes)
    return np.zeros(shape), np.empty(shape), unit_buffer(batch_rows, lanes)


@_inline
def _stable_sigmoid(z):
    """activations.sigmoid's: e of −|z| only (`_exp`), one division."""
    e = _exp(-abs(z))
    return (1.0 if z >= 0.0 else e) / (1.0 + e)


# (f(z), f'(z)) for codes 5-8, as neuron.activations writes them, with our exp, expm1,
# log1p and erfc: no branch on z but selects, so that a loop over lanes vectorises (libm's
# expm1, exp and log1p ran a number at a time: elu, softplus and silu lost to JAX's
# mini-batch trainer, 0.5-0.8×, and gelu behind a call 0.4×).
@_inline
def _elu(c, z):
    """elu with alpha c."""
    a = c * _expm1(0.0 if z > 0.0 else z)  # NaN goes through expm1
    big = z >= 0.0
    return (z if big else a), (1.0 if big else a + c)


@_inline
def _softplus_both(z):
    return _softplus(z), _stable_sigmoid(z)


@_inline
def _silu(z):
    sig = _stable_sigmoid(z)
    return z * sig, sig * (1.0 + z * (1.0 - sig))


@_jit
def _transcendental(code, c, z):
    """(f(z), f'(z)) for code 5-8 (elu's alpha c), a call: for the loops over lanes, the
    reference the eight-lane paths are tested against (`_activate_row` inlines each)."""
    if code == 5:
        return _elu(c, z)
    if code == 6:
        return _softplus_both(z)
    if code == 7:
        return _silu(z)
    return _gelu(z)


@_jit
def backward_pass(y, order, lo, P, G, fans, offsets, Z, A, D, code, c, sign, dZ, dZb, t):
    """Into G, every seed's gradient of its batch's mean log-loss (no penalty), from the
    forward pass's Z and A; D holds f'(Z) of the hidden layers for NUMPY and codes ≥ 5. The
    output unit's dL/dz is sign·(σ(sign·z) − y)/B (p = σ(sign·z) is P(positive)). Sums
    over the batch's rows in their order, over a layer's units in theirs. dZ and dZb (B,
    widest layer, LANES): room for dL/dZ of the layer being walked and of the one below it,
    every row of the batch; t (B, LANES), one unit's (`backward_buffers`: the caller's, kept
    from batch to batch; made here, their megabytes at width 128 were fresh pages each call,
    40% of the kernel's time)."""
    nb, B, n = Z.shape[0], Z.shape[1], Z.shape[3]
    n_layers = offsets.shape[0]
    at = _units(fans)
    # As in forward_pass, the rows inside each weight's loop: a weight's gradient lanes are
    # read and written once a batch, not once a row.
    scale = sign / B
    G[...] = 0.0
    for blk in range(nb):
        out = at[n_layers]
        _labels(y, order, lo, blk, t)
        if EIGHT_LANES and _one_hidden(fans, n):
            # the output's dL/dz into t, over the labels (dZ's rows lie a layer's width
            # apart: at 64 lanes and 8 or 128 units, in one set of the L1 cache)
            for b in range(B):
                for i in range(n):
                    t[b, i] = (_sigmoid(sign * Z[blk, b, out, i]) - t[b, i]) * scale
            _one_hidden_layer(P, G, fans, offsets, Z, A, D, code, c, t, dZ, blk)
            continue
        if EIGHT_LANES and _deep(fans, n):
            for b in range(B):
                for i in range(n):
                    t[b, i] = (_sigmoid(sign * Z[blk, b, out, i]) - t[b, i]) * scale
            _deep_backward(P, G, fans, offsets, Z, A, D, code, c, t, dZ, dZb, blk)
            continue
        for b in range(B):
            for i in range(n):
                dZ[b, 0, i] = (_sigmoid(sign * Z[blk, b, out, i]) - t[b, i]) * scale
        for layer in range(n_layers - 1, -1, -1):
            n_in, n_out, off = fans[layer], fans[layer + 1], offsets[layer]
            a0 = at[layer]
            for j in range(n_out):
                bias = off + n_in * n_out + j
                for b in range(B):
                    for i in range(n):
                        G[blk, bias, i] += dZ[b, j, i]
                for k in range(n_in):
                    w = off + k * n_out + j
                    for b in range(B):
                        for i in range(n):
                            G[blk, w, i] += A[blk, b, a0 + k, i] * dZ[b, j, i]
            if layer == 0:
                break
            # Unit by unit of the layer below: its dL/dA (t, one unit's rows and lanes, 16 KB
            # at 32 rows: it stays in L1), times f', into dZb, which is dZ for the next
            # layer down; for the lowest hidden layer straight into its gradients instead:
            # its dL/dZ is never stored (at width 128 the stores and reloads of whole layers
            # were most of the kernel's time). Every sum in the order it had.
            bottom = layer == 1
            off0, F = offsets[0], fans[0]
            for k in range(n_in):
                w = off + k * n_out
                for b in range(B):
                    for i in range(n):
                        t[b, i] = dZ[b, 0, i] * P[blk, w, i]
                for j in range(1, n_out):
                    for b in range(B):
                        for i in range(n):
                            t[b, i] += dZ[b, j, i] * P[blk, w + j, i]
                _times_derivative(t, Z, A, D, blk, a0 + k, code, c)
                if not bottom:
                    for b in range(B):
                        for i in range(n):
                            dZb[b, k, i] = t[b, i]
                    continue
                # layer 0's unit k: its bias, then its weights from each feature
                bias = off0 + F * n_in + k
                for b in range(B):
                    for i in range(n):
                        G[blk, bias, i] += t[b, i]
                for f in range(F):
                    w = off0 + f * n_in + k
                    for b in range(B):
                        for i in range(n):
                            G[blk, w, i] += A[blk, b, f, i] * t[b, i]
            if bottom:
                break
            dZ, dZb = dZb, dZ


@_inline
def _deep(fans, n):
    """Whether the layers `fans` describes take the eight-lane paths for deeper networks: two
    hidden layers or more, one output unit, lanes a multiple of 8."""
    return fans.shape[0] >= 4 and fans[fans.shape[0] - 1] == 1 and n % 8 == 0


@_jit
def _deep_forward(P, fans, offsets, Z, A, D, code, c, keep, blk):
    """forward_pass for two hidden layers or more, or one on more than two features (one
    or two: `_one_hidden_forward`'s registers), block blk, the batch's features in A: each
    hidden layer's z four rows by four units at a time (`_vtile_rows`), then f(z) in place,
    each row's units in one loop (Z kept for leaky_relu, f'(z) into D for codes ≥ 5 where
    `keep`); then the output's sum, eight lanes at a time. The same operations in the same
    order as forward_pass's loops (the same bits)."""
    B, U, n = Z.shape[1], Z.shape[2], Z.shape[3]
    n_layers = offsets.shape[0]
    at = _units(fans)
    Pf, Zf, Af, Df = P[blk].reshape(-1), Z[blk].reshape(-1), A[blk].reshape(-1), \
        D[blk].reshape(-1) if code > 4 else P[blk].reshape(-1)
    Wp = np.empty(int(fans[:n_layers].max()) * 32)
    for layer in range(n_layers - 1):
        K, J = fans[layer], fans[layer + 1]
        a0, z0 = at[layer], at[layer + 1]
        for v in range(0, n, 8):
            _vtile_rows(Af, Pf, Wp, B, U, a0, K, offsets[layer], z0, J, n, v)
        for b in range(B):
            lo = (b * U + z0) * n
            _activate_row(Af[lo:lo + J * n], Zf[lo:lo + J * n] if code == 1 else Af,
                          Df[lo:lo + J * n] if code > 4 else Af, code, c, keep)
    K, off, a0 = fans[n_layers - 1], offsets[n_layers - 1], at[n_layers - 1]
    for v in range(0, n, 8):
        bias = _vload(Pf, ((off + K) * n + v,))
        for b in range(B):
            x = (b * U + a0) * n + v
            acc = _vload(Af, (x,)) * _vload(Pf, (off * n + v,))
            for k in range(1, K):
                acc = acc + _vload(Af, (x + k * n,)) * _vload(Pf, ((off + k) * n + v,))
            _vstore(Zf, (x + K * n,), acc + bias)


@_jit
def _deep_backward(P, G, fans, offsets, Z, A, D, code, c, dz, dZ, dZb, blk):
    """backward_pass's layers for two hidden layers or more (block blk; dz (B, LANES) the
    output's dL/dz; dZ, dZb (B, ≥ widest, LANES): room for a layer's dL/dz): the output's
    gradients, each hidden layer's dL/dz from the layer above, four rows by four units at a
    time, times f'(z), and its gradients, four inputs by four units at a time, summed over
    the rows (`_vtile_add`). The same operations in the same order as the loops over layers
    (the same bits)."""
    B, n = dz.shape
    U = A.shape[2]
    W = dZ.shape[1]
    n_layers = offsets.shape[0]
    at = _units(fans)
    slope = _vsplat(c)
    Pf, Gf, Af, dzf = P[blk].reshape(-1), G[blk].reshape(-1), A[blk].reshape(-1), \
        dz.reshape(-1)
    Zf = Z[blk].reshape(-1) if code == 1 else Af
    Df = D[blk].reshape(-1) if code < 0 or code > 4 else Af
    top = n_layers - 1
    K, off, a0 = fans[top], offsets[top], at[top]
    Sf, Tf = dZ.reshape(-1), dZb.reshape(-1)
    # The output unit's bias and weights; the top hidden layer's dL/dz into dZ.
    for v in range(0, n, 8):
        gb = _vload(Gf, ((off + K) * n + v,))
        for b in range(B):
            gb = gb + _vload(dzf, (b * n + v,))
        _vstore(Gf, ((off + K) * n + v,), gb)
        for k in range(K):
            # the layer's biases come from Sf with the others' below: the sum made here unused
            _vunit_back(Pf, Gf, Af, Zf, Df, dzf, Sf, k, a0, off, U, B, n, v, k * n + v, W * n,
                        _vsplat(0.0), code, slope)
    for layer in range(top - 1, -1, -1):
        K, J, off, a0 = fans[layer], fans[layer + 1], offsets[layer], at[layer]
        bias = off + K * J
        for v in range(0, n, 8):
            for j in range(J):
                gb = _vload(Gf, ((bias + j) * n + v,))
                for b in range(B):
                    gb = gb + _vload(Sf, ((b * W + j) * n + v,))
                _vstore(Gf, ((bias + j) * n + v,), gb)
            # the weights' gradients: four inputs by four units, summed over the rows (units
            # past J: what dZ holds there, not stored)
            _vgrad_tiles(Gf, Af, Sf, off, a0, K, J, U, B, n, v, v, 4 * n, n, W * n)
            if layer == 0:
                continue
            # the layer below's dL/dz: Σ_j dz_j·w_kj four rows by four of its units, times f'
            for b0 in range(0, B, 4):
                r1, r2, r3 = min(b0 + 1, B - 1), min(b0 + 2, B - 1), min(b0 + 3, B - 1)
                x0, x1 = b0 * W * n + v, r1 * W * n + v
                x2, x3 = r2 * W * n + v, r3 * W * n + v
                for k in range(0, K, 4):
                    y0, y1 = (off + k * J) * n + v, (off + min(k + 1, K - 1) * J) * n + v
                    y2 = (off + min(k + 2, K - 1) * J) * n + v
                    y3 = (off + min(k + 3, K - 1) * J) * n + v
                    s0, s1, s2, s3 = _vload(Sf, (x0,)), _vload(Sf, (x1,)), _vload(Sf, (x2,)), \
                        _vload(Sf, (x3,))
                    p0, p1, p2, p3 = _vload(Pf, (y0,)), _vload(Pf, (y1,)), \
                        _vload(Pf, (y2,)), _vload(Pf, (y3,))
                    first = _vouter(s0, s1, s2, s3, p0, p1, p2, p3)
                    (t00, t01, t02, t03, t10, t11, t12, t13, t20, t21, t22, t23, t30, t31,
                     t32, t33) = _vtile_add(Sf, x0, x1, x2, x3, n, Pf, y0, y1, y2, y3, n, 1, J,
                                            first)
                    for r, q0, q1, q2, q3 in ((b0, t00, t01, t02, t03), (r1, t10, t11, t12, t13),
                                              (r2, t20, t21, t22, t23), (r3, t30, t31, t32, t33)):
                        _vstore4(Tf, (r * W + k) * n + v, n, k, K, q0, q1, q2, q3)
            # times f'(z) of each unit below (one place for the activation's derivative)
            for b in range(B):
                for k in range(K):
                    u = (b * U + a0 + k) * n + v
                    a = _vload(Af, (u,))
                    z = _vload(Zf, (u,)) if code == 1 else a
                    t = (b * W + k) * n + v
                    _vstore(Tf, (t,), _vtimes_derivative(_vload(Tf, (t,)), a, z, Df, u, code,
                                                         slope))
        Sf, Tf = Tf, Sf


@_jit
def _one_hidden_layer(P, G, fans, offsets, Z, A, D, code, c, dz, dZ, blk):
    """backward_pass's layers for a network of one hidden layer (block blk; dz (B, LANES)
    the output's dL/dz; dZ (B, ≥ H, LANES): room for every hidden unit's, on more than two
    features), eight lanes at a time (`_Vec`), the sums over the rows kept in registers. The
    same operations on each element, in the same order, as the loops over layers: the same
    bits."""
    B, n = dz.shape
    U = A.shape[2]
    F, H = fans[0], fans[1]
    off = offsets[1]
    bias = off + H
    for b in range(B):
        for i in range(n):
            G[blk, bias, i] += dz[b, i]
    # flat views (as in _one_hidden_forward); row: (b, unit 0, lane v) in Af
    Pf, Gf, Af, dzf = P[blk].reshape(-1), G[blk].reshape(-1), A[blk].reshape(-1), \
        dz.reshape(-1)
    Zf = Z[blk].reshape(-1) if code == 1 else Af
    Df = D[blk].reshape(-1) if code < 0 or code > 4 else Af
    if F <= 2:
        _one_hidden_two_features(Pf, Gf, Af, Zf, Df, dzf, code, c, F, H, U, off, B, n)
        return
    _one_hidden_tiled(Pf, Gf, Af, Zf, Df, dzf, dZ.reshape(-1), code, c, F, H, U, off, B, n)


@_jit
def _vgrad_tiles(Gf, Af, Sf, off, a0, K, J, U, B, n, v, y, step_j, step_u, sy):
    """Lanes v … v + 7 of a layer's weights' gradients (P's rows from off, K inputs, J
    units; flat views): Σ_b a_bk·s_bj, its inputs A's units a0 …, added to what G holds,
    four inputs by four units at a time (`_vtile_add`), each sum over the rows in their
    order. s_bj lies in Sf at y + (j/4)·step_j + (j mod 4)·step_u + b·sy: dZ's (B, W, lanes)
    or `_packed`'s layout."""
    for j in range(0, J, 4):
        y0 = y + (j >> 2) * step_j
        for k in range(0, K, 4):
            x0, x1 = (a0 + k) * n + v, (a0 + min(k + 1, K - 1)) * n + v
            x2, x3 = (a0 + min(k + 2, K - 1)) * n + v, (a0 + min(k + 3, K - 1)) * n + v
            (g00, g01, g02, g03, g10, g11, g12, g13, g20, g21, g22, g23, g30, g31, g32,
             g33) = _vtile_add(Af, x0, x1, x2, x3, U * n, Sf, y0, y0 + step_u,
                               y0 + 2 * step_u, y0 + 3 * step_u, sy, 0, B,
                               _vg_tile(Gf, off, k, j, K, J, n, v))
            for r, q0, q1, q2, q3 in ((0, g00, g01, g02, g03), (1, g10, g11, g12, g13),
                                      (2, g20, g21, g22, g23), (3, g30, g31, g32, g33)):
                _vstore4(Gf, (off + (k + r) * J + j) * n + v, n, j, J if k + r < K else j,
                         q0, q1, q2, q3)


@_inline
def _packed(v, k, b, B, nk):
    """Where _one_hidden_tiled keeps unit k's dL/dz at row b, lanes v … v + 7: for each eight
    lanes, for each four units (nk of them), for each row, the four units' side by side."""
    return ((((v >> 3) * nk + (k >> 2)) * B + b) * 4 + (k & 3)) * 8


@_inline
def _vunit_back(Pf, Gf, Af, Zf, Df, dzf, Sf, k, a0, off, U, B, n, v, at, sb, gb, code, slope):
    """Hidden unit k (A's unit a0 + k) of the layer below the output, lanes v … v + 7: the
    gradient of the output's weight from it, Σ_b a_bk·dz_b, into G (P's row off + k), and
    its dL/dz of every row b, dz_b·w_k·f'(z_bk), into Sf at at + b·sb; returns gb plus
    their sum over the rows (its bias's gradient, where the caller's gb is G's)."""
    pw = _vload(Pf, ((off + k) * n + v,))
    gw = _vload(Gf, ((off + k) * n + v,))
    for b in range(B):
        d = _vload(dzf, (b * n + v,))
        u = (b * U + a0 + k) * n + v
        a = _vload(Af, (u,))
        gw = gw + a * d
        z = _vload(Zf, (u,)) if code == 1 else a
        s = _vtimes_derivative(d * pw, a, z, Df, u, code, slope)
        gb = gb + s
        _vstore(Sf, (at + b * sb,), s)
    _vstore(Gf, ((off + k) * n + v,), gw)
    return gb


@_jit
def _one_hidden_tiled(Pf, Gf, Af, Zf, Df, dzf, Sf, code, c, F, H, U, off, B, n):
    """_one_hidden_layer on more than two features (flat views; Sf: dZ's room, at least
    B·4⌈H/4⌉·n): each hidden unit's output weight and bias gradients and its dL/dz of every
    row into Sf, then the features' weights' gradients, Σ_b a_bf·s_bk, four features by four
    units at a time (`_vtile_add`), in the order of the loops (the same bits). Sf holds the
    dL/dz of each four units side by side, row after row, for each eight lanes
    (`_packed`): in (row, unit, lane) order a unit's rows lay a layer's width of lanes apart,
    in the same few sets of the L1 cache (F = 30, [16]: backward 95 → 76 µs a batch of 56
    seeds)."""
    slope = _vsplat(c)
    nk = (H + 3) // 4
    zero = np.int64(0)  # not literals: a literal argument would compile a second _vgrad_tiles
    for k in range(H):
        b0 = (F * H + k) * n  # unit k's bias
        for v in range(0, n, 8):
            gb = _vunit_back(Pf, Gf, Af, Zf, Df, dzf, Sf, k, F, off, U, B, n, v,
                             _packed(v, k, 0, B, nk), 32, _vload(Gf, (b0 + v,)), code, slope)
            _vstore(Gf, (b0 + v,), gb)
    for v in range(0, n, 8):
        # units k … k + 3 side by side (past H: zeros, not stored)
        _vgrad_tiles(Gf, Af, Sf, zero, zero, F, H, U, B, n, v, _packed(v, 0, 0, B, nk),
                     B * 32, zero + 8, zero + 32)


@_inline
def _vg_tile(Gf, off, f, k, F, H, n, v):
    """The sixteen gradients so far of inputs f … f + 3 by units k … k + 3 (clamped) of the
    layer whose weights start at P's row off (F inputs, H units)."""
    f1, f2, f3 = min(f + 1, F - 1), min(f + 2, F - 1), min(f + 3, F - 1)
    k1, k2, k3 = min(k + 1, H - 1), min(k + 2, H - 1), min(k + 3, H - 1)
    f0, f1, f2, f3 = off + f * H, off + f1 * H, off + f2 * H, off + f3 * H
    return (_vload(Gf, ((f0 + k) * n + v,)), _vload(Gf, ((f0 + k1) * n + v,)),
            _vload(Gf, ((f0 + k2) * n + v,)), _vload(Gf, ((f0 + k3) * n + v,)),
            _vload(Gf, ((f1 + k) * n + v,)), _vload(Gf, ((f1 + k1) * n + v,)),
            _vload(Gf, ((f1 + k2) * n + v,)), _vload(Gf, ((f1 + k3) * n + v,)),
            _vload(Gf, ((f2 + k) * n + v,)), _vload(Gf, ((f2 + k1) * n + v,)),
            _vload(Gf, ((f2 + k2) * n + v,)), _vload(Gf, ((f2 + k3) * n + v,)),
            _vload(Gf, ((f3 + k) * n + v,)), _vload(Gf, ((f3 + k1) * n + v,)),
            _vload(Gf, ((f3 + k2) * n + v,)), _vload(Gf, ((f3 + k3) * n + v,)))


@_inline
def _vtimes_derivative(s, a, z, Df, u, code, slope):
    """s·f'(z), eight lanes, as _times_derivative computes it: from a = f(z) for relu, tanh
    and sigmoid, from z for leaky_relu (slope: c in every lane), from Df[u:u + 8] (f'(z))
    for the others."""
    if code == 0:
        return s * _vstep(a, True)
    if code == 1:
        return s * _vmax(_vstep(z, False), slope)
    if code == 2:
        return s * _vsplat(1.0)
    if code == 3:
        return s * (_vsplat(1.0) - a * a)
    if code == 4:
        return s * (a - a * a)
    return s * _vload(Df, (u,))


@_inline
def _recomputed(F, code):
    """Whether a one-hidden-layer network's backward pass recomputes the hidden units' z and
    f(z) from the features (one or two: two products and a sum, cheaper than reading A back
    from beyond the L2 cache) rather than reading what the forward pass stored (it then
    stores nothing): relu, leaky_relu and linear units."""
    return F <= 2 and 0 <= code <= 2


@_inline
def _one_hidden_two_features(Pf, Gf, Af, Zf, Df, dzf, code, c, F, H, U, off, B, n):
    """_one_hidden_layer for one or two features (flat views of block blk's arrays): every
    gradient of hidden unit k, output weight, bias and the weights from the features, in one
    pass over the rows, each sum in a register."""
    slope = _vsplat(c)
    again = _recomputed(F, code)
    for k in range(H):
        w, b0 = (off + k) * n, (F * H + k) * n
        for v in range(0, n, 8):
            pw = _vload(Pf, (w + v,))
            w0, w1, bk = _vload(Pf, (k * n + v,)), pw, _vload(Pf, (b0 + v,))
            if F > 1:
                w1 = _vload(Pf, ((H + k) * n + v,))
            gw, gb = _vload(Gf, (w + v,)), _vload(Gf, (b0 + v,))
            g0 = _vload(Gf, (k * n + v,))
            g1 = _vload(Gf, ((H + k) * n + v,)) if F > 1 else g0
            for b in range(B):
                d = _vload(dzf, (b * n + v,))
                x = b * U * n + v
                x0 = _vload(Af, (x,))
                x1 = _vload(Af, (x + n,)) if F > 1 else x0
                u = x + (F + k) * n
                z = x0
                if again:  # forward_pass's operations: the same z, the same f(z)
                    z = x0 * w0
                    if F > 1:
                        z = z + x1 * w1
                    z = z + bk
                    a = _vrelu(z) if code == 0 else _vleaky(z, slope) if code == 1 else z
                else:
                    a = _vload(Af, (u,))
                gw = gw + a * d
                s = _vtimes_derivative(d * pw, a, z, Df, u, code, slope)
                gb = gb + s
                g0 = g0 + x0 * s
                if F > 1:
                    g1 = g1 + x1 * s
            _vstore(Gf, (w + v,), gw)
            _vstore(Gf, (b0 + v,), gb)
            _vstore(Gf, (k * n + v,), g0)
            if F > 1:
                _vstore(Gf, ((H + k) * n + v,), g1)


@_jit
def _times_derivative(t, Z, A, D, blk, u, code, c):
    """t (B, LANES) *= f'(z) of unit u's rows, as network.derive computes it (from A = f(Z)
    for relu, tanh and sigmoid, from Z for leaky_relu, from D for the others)."""
    B, n = t.shape
    for b in range(B):
        if code == 0:  # z > 0 where relu(z) > 0 (NaN: neither)
            for i in range(n):
                t[b, i] = t[b, i] * (1.0 if A[blk, b, u, i] > 0.0 else 0.0)
        elif code == 1:
            for i in range(n):
                t[b, i] = t[b, i] * max(1.0 if Z[blk, b, u, i] >= 0.0 else 0.0, c)
        elif code == 2:
            for i in range(n):
                t[b, i] = t[b, i] * 1.0
        elif code == 3:
            for i in range(n):
                a = A[blk, b, u, i]
                t[b, i] = t[b, i] * (1.0 - a * a)
        elif code == 4:
            for i in range(n):
                a = A[blk, b, u, i]
                t[b, i] = t[b, i] * (a - a * a)
        else:
            for i in range(n):
                t[b, i] = t[b, i] * D[blk, b, u, i]


# The optimizers' steps over every seed's parameters in one pass each (numpy's take a dozen
# passes over arrays of a few thousand numbers: at width 8 Adam's added ~20% to a training),
# each element by neuron.optimizers' operations in their order, so the same bits (tested).
# First, as the trainer does where l2 is not 0 (`penalised`), the penalty's gradient:
# g = G + decay·P (decay (n_params,): l2 for weights, 0 for biases).
@_inline
def _penalised(G, P, decay, penalised, blk, k, i):
    return G[blk, k, i] + decay[k] * P[blk, k, i] if penalised else G[blk, k, i]


@_jit
def gd_step(P, G, decay, penalised, lr):
    """neuron.optimizers.GD: p ← p − lr·g."""
    nb, n_params, n = P.shape
    for blk in range(nb):
        for k in range(n_params):
            for i in range(n):
                g = _penalised(G, P, decay, penalised, blk, k, i)
                P[blk, k, i] = P[blk, k, i] - lr * g


@_jit
def momentum_step(P, G, decay, penalised, V, lr, momentum, nesterov):
    """neuron.optimizers.SGD with momentum: v ← momentum·v − lr·g, p ← p + (momentum·v −
    lr·g) with Nesterov's momentum, else p ← p + v."""
    nb, n_params, n = P.shape
    for blk in range(nb):
        for k in range(n_params):
            for i in range(n):
                a = _penalised(G, P, decay, penalised, blk, k, i) * lr
                v = V[blk, k, i] * momentum - a
                V[blk, k, i] = v
                P[blk, k, i] = P[blk, k, i] + ((v * momentum - a) if nesterov else v)


@_jit
def adam_step(P, G, decay, penalised, M, V, lr_t, beta1, beta2, epsilon):
    """neuron.optimizers.Adam at step t (lr_t = Adam.rate(t)): m ← β₁·m + (1−β₁)·g,
    v ← β₂·v + (1−β₂)·g², p ← p − lr_t·m/(√v + ε)."""
    nb, n_params, n = P.shape
    c1, c2 = 1 - beta1, 1 - beta2
    for blk in range(nb):
        for k in range(n_params):
            for i in range(n):
                g = _penalised(G, P, decay, penalised, blk, k, i)
                m = M[blk, k, i] * beta1 + g * c1
                v = V[blk, k, i] * beta2 + (g * g) * c2
                M[blk, k, i] = m
                V[blk, k, i] = v
                P[blk, k, i] = P[blk, k, i] + (m * -lr_t) / (math.sqrt(v) + epsilon)


# Mini-batch order: numpy's Generator.permutation, for PCG64 generators, every seed's in one
# call. Building one permutation of 400 rows costs numpy ~5 µs (a fifth of a compiled
# epoch): the same draws, here, cost ~1 µs. The generators' states are read once before
# training and written back after (neuron.rng's `pcg64_states`, `set_pcg64_states`,
# or an rng.Streams' own).
_U32 = np.uint64(0xFFFFFFFF)
_S32, _S58, _S63 = np.uint64(32), np.uint64(58), np.uint64(63)
_MULT = 0x2360ED051FC65DA44385DF649FCCF645  # PCG64's multiplier (numpy's pcg64.h)
_M_HI, _M_LO = np.uint64(_MULT >> 64), np.uint64(_MULT & (2**64 - 1))
_ONE, _ZERO = np.uint64(1), np.uint64(0)


@_jit
def _mulhi(a, b):
    """The high 64 bits of the 128-bit product of two uint64."""
    a0, a1, b0, b1 = a & _U32, a >> _S32, b & _U32, b >> _S32
    p00, p01, p10 = a0 * b0, a0 * b1, a1 * b0
    mid = (p00 >> _S32) + (p01 & _U32) + (p10 & _U32)
    return a1 * b1 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)


@_jit
def shuffle(states, given, out):
    """out[i] = given[i][generators[i].permutation(n)] for every seed i, and states moved
    on past the draws: numpy's shuffle (Fisher-Yates from the last element, j uniform in
    [0, i] by rejection on the smallest bit mask, 32-bit draws, each half of a 64-bit PCG64
    output, low half first). given, out (n_seeds, n) int64; states: neuron.rng's
    pcg64_states layout."""
    S, n = given.shape
    for s in range(S):
        hi, lo, inc_hi, inc_lo = states[s, 0], states[s, 1], states[s, 2], states[s, 3]
        has, buffered = states[s, 4], states[s, 5]
        for t in range(n):
            out[s, t] = given[s, t]
        for i in range(n - 1, 0, -1):
            top = np.uint64(i)
            mask = top
            mask |= mask >> _ONE
            mask |= mask >> np.uint64(2)
            mask |= mask >> np.uint64(4)
            mask |= mask >> np.uint64(8)
            mask |= mask >> np.uint64(16)
            while True:
                if has != _ZERO:
                    has = _ZERO
                    value = buffered
                else:
                    # state·M + inc, mod 2¹²⁸
                    new_hi = _mulhi(lo, _M_LO) + lo * _M_HI + hi * _M_LO
                    new_lo = lo * _M_LO
                    lo = new_lo + inc_lo
                    hi = new_hi + inc_hi + (_ONE if lo < new_lo else _ZERO)
                    # XSL-RR: (high ^ low) rotated right by the state's top six bits
                    x, r = hi ^ lo, hi >> _S58
                    draw = (x >> r) | (x << ((np.uint64(64) - r) & _S63))
                    has, buffered = _ONE, draw >> _S32
                    value = draw & _U32
                value &= mask
                if value <= top:
                    break
            j = np.int64(value)
            out[s, i], out[s, j] = out[s, j], out[s, i]
        states[s, 0], states[s, 1], states[s, 4], states[s, 5] = hi, lo, has, buffered


def warm_up() -> None:
    """Every kernel compiled (or read from numba's cache, ~0.35 s) for the argument types
    training passes: call before forking workers, which then inherit it rather than each
    loading it again."""
    fans, offsets = np.array([1, 1], np.int64), np.zeros(1, np.int64)
    order = np.zeros((1, 1), np.int64)
    P = np.zeros((1, 2, LANES))
    Z = np.zeros((1, 1, 3, LANES))
    forward_pass(np.zeros((1, 1)), order, 0, P, fans, offsets, 0, 1, Z, Z.copy(), Z.copy(),
                 0, 0.0, unit_buffer(1), True)
    backward_pass(np.zeros(1), order, 0, P, P.copy(), fans, offsets, Z, Z.copy(),
                  np.zeros((1, 1, 1, 1)), 0, 0.0, 1.0, *backward_buffers(fans, 1))
    add_log_loss(np.zeros(1), order, 0, Z, 1.0, np.zeros((1, LANES)), unit_buffer(1))
    decay = np.zeros(2)
    gd_step(P, P.copy(), decay, False, 0.1)
    momentum_step(P, P.copy(), decay, False, P.copy(), 0.1, 0.9, True)
    adam_step(P, P.copy(), decay, False, P.copy(), P.copy(), 0.1, 0.9, 0.999, 1e-8)
    shuffle(np.zeros((1, 6), np.uint64), order, order.copy())
