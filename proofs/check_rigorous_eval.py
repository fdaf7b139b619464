"""Machine check for proofs/rigorous_eval.md: the error-free steps of ``nnequiv/rigorous``
re-computed in exact rational arithmetic on random and adversarial float data (L1-L3, L5-L7,
L10, L11), the radius algebra of L4 with z3, and deliberately wrong variants that must fail."""

from fractions import Fraction

import numpy as np
import pytest
import z3

from nnequiv.rigorous import expansion, ozaki
from nnequiv.rigorous.expansion import Enclosure
from nnequiv.rigorous.rules_pointwise import sqrt_interval
from proofs._z3util import prove, refute, zabs


def _fr(a) -> list[Fraction]:
    return [Fraction(float(v)) for v in np.ravel(a)]


def _wide(rng: np.random.Generator, shape, low: int = -60, high: int = 60) -> np.ndarray:
    """Floats of widely spread exponents, some zeros and some subnormals."""
    a = rng.normal(size=shape) * 2.0 ** rng.integers(low, high, size=shape)
    a[rng.random(shape) < 0.1] = 0.0
    tiny = [5e-324, -3 * 5e-324, 2.0 ** -1030][: a.size]
    a.ravel()[: len(tiny)] = tiny
    return a


# ------------------------------------------------------------------------- L1-L3
def test_two_sum_is_error_free():
    rng = np.random.default_rng(0)
    a, b = _wide(rng, 4000, -1074, 900), _wide(rng, 4000, -1074, 900)
    s, e = expansion.two_sum(a, b)
    assert all(p + q == x + y for p, q, x, y in zip(_fr(s), _fr(e), _fr(a), _fr(b)))


def test_compress_keeps_the_sum_within_err():
    rng = np.random.default_rng(1)
    terms = [_wide(rng, 300, -80, 40) for _ in range(25)]
    limbs, err = expansion.compress(terms, (300,))
    for i in range(300):
        exact = sum(Fraction(float(t[i])) for t in terms)
        assert abs(exact - sum(Fraction(float(l[i])) for l in limbs)) <= Fraction(float(err[i]))
    assert float(np.max(err)) < 2.0 ** -140 * max(float(np.max(np.abs(t))) for t in terms)


def test_veltkamp_halves_have_26_bits_and_products_are_exact():
    rng = np.random.default_rng(2)
    a, b = _wide(rng, 3000, -500, 500), _wide(rng, 3000, -500, 500)
    for x in (a, b):
        hi, lo = expansion.veltkamp(x)
        assert all(p + q == v for p, q, v in zip(_fr(hi), _fr(lo), _fr(x)))
        for half in (hi, lo):
            mantissa, _ = np.frexp(half)
            assert np.all(np.ldexp(mantissa, 26) == np.trunc(np.ldexp(mantissa, 26)))   # <= 26 bits
    products, allowance = expansion.exact_products(a, b)
    for i in range(a.size):
        error = abs(Fraction(float(a[i])) * Fraction(float(b[i])) - sum(Fraction(float(p[i])) for p in products))
        assert error <= Fraction(float(allowance[i]))


def test_wrong_product_without_underflow_allowance_fails():
    a, b = np.array([3 * 2.0 ** -540]), np.array([3 * 2.0 ** -540])   # 9 * 2**-1080: below ETA's grid
    products, allowance = expansion.exact_products(a, b)
    exact = Fraction(float(a[0])) * Fraction(float(b[0]))
    assert exact != sum(Fraction(float(p[0])) for p in products) and allowance[0] > 0


# ------------------------------------------------------------------------- L4
def test_scale_radius_formula():
    x, mx, rx, c, mc, rc = z3.Reals("x mx rx c mc rc")
    hyps = [zabs(x - mx) <= rx, zabs(c - mc) <= rc]
    prove(zabs(x * c - mx * mc) <= rx * (zabs(mc) + rc) + zabs(mx) * rc, hyps)


def test_wrong_scale_radius_without_constant_radius_fails():
    x, mx, rx, c, mc, rc = z3.Reals("x mx rx c mc rc")
    hyps = [zabs(x - mx) <= rx, zabs(c - mc) <= rc]
    refute(zabs(x * c - mx * mc) <= rx * zabs(mc) + zabs(mx) * rc, hyps)


# ------------------------------------------------------------------------- L5-L7
@pytest.mark.parametrize("k", [1, 2, 9, 147, 576, 1023, 4608])
def test_slices_have_beta_bits_and_sum_to_the_row(k):
    rng = np.random.default_rng(k)
    beta = ozaki.slice_bits(k)
    assert 2 * beta + (k - 1).bit_length() <= 53
    a = _wide(rng, (3, k), -400, 300)
    a[1] = 0.0
    s = ozaki.split(a, beta, 6)
    total = [sum(parts, Fraction(0)) for parts in zip(_fr(s.rest), *(_fr(p) for p in s.slices))]
    assert total == _fr(a)
    _, e = np.frexp(np.max(np.abs(a), axis=1))
    e = np.maximum(e, ozaki.E_MIN)
    for i, piece in enumerate(s.slices):
        n = np.ldexp(piece, (beta * (i + 1) - e)[:, None])
        assert np.all(n == np.trunc(n)) and np.all(np.abs(n) < 2.0 ** beta)


def _exact_dot(a: np.ndarray, b: np.ndarray) -> Fraction:
    return sum((p * q for p, q in zip(_fr(a), _fr(b))), Fraction(0))


@pytest.mark.parametrize("k", [1, 5, 64, 1023, 4608])
def test_slice_products_are_exact(k):
    rng = np.random.default_rng(10 + k)
    beta = ozaki.slice_bits(k)
    cases = [(_wide(rng, (1, k), -30, 30), _wide(rng, (1, k), -30, 30)),
             (np.full((1, k), float(2 ** beta - 1)), np.full((1, k), float(2 ** beta - 1)))]   # adversarial
    for a, b in cases:
        sa, sb = ozaki.split(a, beta, 4), ozaki.split(b, beta, 4)
        for ai in sa.slices:
            for bj in sb.slices:
                assert Fraction(float((ai @ bj.T)[0, 0])) == _exact_dot(ai[0], bj[0])


@pytest.mark.parametrize("k", [1, 3, 255, 1023])
def test_wrong_slice_one_bit_too_wide_fails(k):
    """beta + 1 bits: k odd maximal slices sum to an odd integer above 2**53 -- not a float."""
    beta = ozaki.slice_bits(k) + 1
    a = np.full((1, k), float(2 ** beta - 1))
    exact = _exact_dot(a[0], a[0])
    assert exact > 2 ** 53 or k < 255   # k = 1, 3: the single products already exceed 53 bits
    assert Fraction(float((a @ a.T)[0, 0])) != exact


def test_exact_matmul_bound_contains_the_product():
    rng = np.random.default_rng(4)
    k = 40
    w = _wide(rng, (3, k), -40, 40)
    limbs = [rng.normal(size=(2, k))]
    limbs += [limbs[0] * 2.0 ** -55 * rng.normal(size=(2, k)), limbs[0] * 2.0 ** -110 * rng.normal(size=(2, k))]
    terms, err, _ = ozaki.exact_matmul(limbs[: expansion.LIMBS], w)
    for p in range(2):
        for r in range(3):
            exact = sum(_exact_dot(limb[p], w[r]) for limb in limbs[: expansion.LIMBS])
            got = sum(Fraction(float(t[p, r])) for t in terms)
            assert abs(exact - got) <= Fraction(float(err[p, r]))


# ------------------------------------------------------------------------- L10, L11
def test_sqrt_interval_contains_the_root():
    rng = np.random.default_rng(5)
    for v in [Fraction(float(x)) for x in rng.uniform(1e-6, 10, 200)] + [Fraction(1, 3), Fraction(4)]:
        low, high = sqrt_interval(v)
        assert low * low <= v <= high * high and high - low == Fraction(1, 2 ** 130)


def test_constant_limbs_enclose_the_rational():
    values = np.array([Fraction(1, 3), Fraction(-2, 7), Fraction(10 ** 30 + 1, 3 ** 40)], dtype=object)
    enc = expansion.constant(values, np.zeros(3, dtype=object))
    for i, q in enumerate(values):
        assert abs(q - sum(Fraction(float(l[i])) for l in enc.limbs)) <= Fraction(float(enc.radius[i]))


def _max_pool_1d(values: Enclosure, widen: bool) -> Enclosure:
    from nnequiv.ir import Node
    from nnequiv.rigorous.rules_pointwise import _max_pool

    node = Node("m", "MaxPool", ("x",), ("y",), {"kernel_shape": (values.shape[-1],)})
    result = _max_pool(node, (values.map(lambda a: a.reshape(1, 1, -1)),))
    if widen:
        return result
    return Enclosure(result.limbs, np.zeros_like(result.radius))


def test_maxpool_enclosure():
    rng = np.random.default_rng(6)
    for _ in range(300):
        mid = rng.normal(size=4) * 1e-3 + 1.0
        rad = np.abs(rng.normal(size=4)) * 1e-3
        enc = Enclosure((mid,) + tuple(np.zeros(4) for _ in range(expansion.LIMBS - 1)), rad)
        out = _max_pool_1d(enc, True)
        m, r = Fraction(float(out.limbs[0].ravel()[0])), Fraction(float(out.radius.ravel()[0]))
        for pick in rng.uniform(-1, 1, size=(20, 4)):     # any values inside the input enclosures
            true = max(Fraction(float(a)) + Fraction(float(s)) * Fraction(float(p))
                       for a, s, p in zip(mid, rad, pick))
            assert abs(true - m) <= r


def test_wrong_maxpool_without_widening_fails():
    mid = np.array([1.0, 0.9999])
    rad = np.array([1e-8, 1e-3])
    enc = Enclosure((mid,) + tuple(np.zeros(2) for _ in range(expansion.LIMBS - 1)), rad)
    out = _max_pool_1d(enc, False)
    assert float(out.upper().ravel()[0]) < 0.9999 + 1e-3            # misses the value 1.0009
    assert float(_max_pool_1d(enc, True).upper().ravel()[0]) >= 0.9999 + 1e-3
