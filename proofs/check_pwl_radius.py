"""Machine check for proofs/pwl_radius.md: weight / bias radii of the piecewise-linear normal
form, and where the radii of non-float constants come from."""

from fractions import Fraction

import numpy as np
import pytest
import z3

from proofs._z3util import Q, dot, prove, reals, refute, zabs

U = Fraction(1, 2 ** 53)


def _radius_setting(n):
    w, wr, rad, h = reals("w", n), reals("wreal", n), reals("R", n), reals("h", n)
    hyps = [z3.And(w[i] - rad[i] <= wr[i], wr[i] <= w[i] + rad[i]) for i in range(n)]
    return w, wr, rad, h, hyps


@pytest.mark.parametrize("n", [1, 2, 3])
def test_weight_radius_perturbation(n):
    """W* in [W - R, W + R]  =>  |W* h - W h| <= R |h| (one row)."""
    w, wr, rad, h, hyps = _radius_setting(n)
    prove(zabs(dot(wr, h) - dot(w, h)) <= dot(rad, [zabs(t) for t in h]), hyps)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_weight_radius_with_magnitude_bound(n):
    """... and with |h_i| <= H_i (an enclosure's magnitude): |W* h - W h| <= R H (forms.linear)."""
    w, wr, rad, h, hyps = _radius_setting(n)
    mag = reals("H", n)
    hyps += [zabs(h[i]) <= mag[i] for i in range(n)]
    prove(zabs(dot(wr, h) - dot(w, h)) <= dot(rad, mag), hyps)


def test_bias_radius():
    b, br, r = z3.Reals("b breal r")
    prove(zabs(br - b) <= r, b - r <= br, br <= b + r)


def test_reciprocal_radius():
    """A rounded constant fl(x) = x (1 + d), |d| <= u < 1 (e.g. 1/c of a Div, 1/k of an AveragePool):
    the real x lies within u / (1 - u) * |fl(x)| of the stored float."""
    x, d, u = z3.Reals("x d u")
    stored = x * (1 + d)
    prove(zabs(x - stored) * (1 - u) <= u * zabs(stored), zabs(d) <= u, u > 0, u < 1)


def test_square_root_relative_error():
    """sqrt(1 + d) = 1 + d' with |d'| <= |d| (|d| <= 1/2): a rounding error under a square root
    does not grow (BatchNorm's sqrt(var + eps))."""
    d, t = z3.Reals("d t")
    prove(zabs(t - 1) <= zabs(d), t >= 0, t * t == 1 + d, zabs(d) <= Q("1/2"))


def test_single_rounding_relative_to_the_stored_float():
    """W6: a normal float result M 2^k (2^52 <= M < 2^53) of one round-to-nearest operation is within
    half a unit of its last place, 2^(k-1); in units of 2^k:  |x - M| <= 1/2 and M >= 2^52  =>
    |x - M| <= u M.  (At the bottom of a binade the lower neighbour is closer, which only helps.)"""
    x, M = z3.Reals("x M")
    prove(zabs(x - M) <= Q(U) * M, zabs(x - M) <= Q("1/2"), M >= 2 ** 52, M < 2 ** 53)


def test_single_rounding_relative_to_the_stored_float_exact_samples():
    """W6 on seeded random reciprocals 1/c (the lowering of Div by a constant), exactly."""
    rng = np.random.default_rng(5)
    cs = rng.normal(size=4000) * 2.0 ** rng.integers(-1000, 1000, 4000)
    for c in cs.tolist() + [3.0, 10.0, 0.1, -7.0, 2.0 ** 1021 * 1.5]:
        r = 1.0 / c
        assert abs(r) >= 2.0 ** -1022                     # normal result
        assert abs(Fraction(1) / Fraction(c) - Fraction(r)) <= U * abs(Fraction(r)), c


# ------------------------------------------------------------ wrong variants
def test_wrong_single_rounding_for_subnormal_results_fails():
    """W6 needs a NORMAL result: below 2^-1022 the spacing is fixed (2^-1074) and the relative
    error can exceed u -- e.g. 1/c for c = 3 * 2^1022."""
    x, M = z3.Reals("x M")
    refute(zabs(x - M) <= Q(U) * M, zabs(x - M) <= Q("1/2"), M >= 1, M < 2 ** 52)
    c = 3.0 * 2.0 ** 1022
    r = 1.0 / c
    assert abs(Fraction(1) / Fraction(c) - Fraction(r)) > U * abs(Fraction(r))



def test_wrong_weight_radius_without_abs_fails():
    w, wr, rad, h, hyps = _radius_setting(2)
    refute(zabs(dot(wr, h) - dot(w, h)) <= dot(rad, h), hyps)


def test_wrong_weight_radius_ignored_fails():
    w, wr, rad, h, hyps = _radius_setting(1)
    refute(dot(wr, h) == dot(w, h), hyps)


def test_wrong_reciprocal_radius_too_small_fails():
    x, d, u = z3.Reals("x d u")
    stored = x * (1 + d)
    refute(zabs(x - stored) <= u * (1 - u) * zabs(stored), zabs(d) <= u, u > 0, u < 1)


def test_wrong_square_root_error_quartered_fails():
    d, t = z3.Reals("d t")
    refute(zabs(t - 1) <= zabs(d) / 4, t >= 0, t * t == 1 + d, zabs(d) <= Q("1/2"))
