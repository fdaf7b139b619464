"""Machine check for proofs/bounds_interval.md: interval arithmetic for affine maps,
monotone activations and MaxPool, and intersecting sound bounds."""

import pytest
import z3

from proofs._z3util import Q, act, dot, neg, pos, prove, reals, refute, zabs, zmax


def _box(n):
    x, lo, hi = reals("x", n), reals("l", n), reals("u", n)
    return x, lo, hi, [z3.And(lo[i] <= x[i], x[i] <= hi[i]) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_affine_interval_positive_negative_split(n):
    """x in [l, u]  =>  W^+ l + W^- u + b <= W x + b <= W^+ u + W^- l + b (one row; rows are independent)."""
    x, lo, hi, box = _box(n)
    w, b = reals("w", n), z3.Real("b")
    z = dot(w, x) + b
    lower = z3.Sum([pos(w[i]) * lo[i] + neg(w[i]) * hi[i] for i in range(n)]) + b
    upper = z3.Sum([pos(w[i]) * hi[i] + neg(w[i]) * lo[i] for i in range(n)]) + b
    prove(z3.And(lower <= z, z <= upper), box)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_affine_interval_center_radius_form(n):
    """|W x - W c| <= |W| r with c = (l + u) / 2, r = (u - l) / 2."""
    x, lo, hi, box = _box(n)
    w = reals("w", n)
    centre = [(lo[i] + hi[i]) / 2 for i in range(n)]
    radius = z3.Sum([zabs(w[i]) * (hi[i] - lo[i]) / 2 for i in range(n)])
    prove(zabs(dot(w, x) - dot(w, centre)) <= radius, box)


def test_activation_is_monotone():
    z, lo, hi, s = z3.Reals("z l u s")
    prove(z3.And(act(lo, s) <= act(z, s), act(z, s) <= act(hi, s)), lo <= z, z <= hi, s >= 0)


@pytest.mark.parametrize("window", [2, 3])
def test_maxpool_interval(window):
    a, lo, hi, box = _box(window)
    prove(z3.And(zmax(*lo) <= zmax(*a), zmax(*a) <= zmax(*hi)), box)


def test_intersection_of_sound_bounds_is_sound():
    z, l1, u1, l2, u2 = z3.Reals("z l1 u1 l2 u2")
    prove(z3.And(zmax(l1, l2) <= z, z <= z3.If(u1 < u2, u1, u2)),
          l1 <= z, z <= u1, l2 <= z, z <= u2)


# ------------------------------------------------------------ wrong variants
def test_wrong_affine_interval_without_sign_split_fails():
    x, lo, hi, box = _box(2)
    w = reals("w", 2)
    refute(z3.And(dot(w, lo) <= dot(w, x), dot(w, x) <= dot(w, hi)), box)


def test_wrong_affine_interval_swapped_ends_fails():
    x, lo, hi, box = _box(2)
    w = reals("w", 2)
    lower = z3.Sum([pos(w[i]) * hi[i] + neg(w[i]) * lo[i] for i in range(2)])
    refute(lower <= dot(w, x), box)


def test_wrong_monotonicity_with_negative_slope_fails():
    z, lo, hi = z3.Reals("z l u")
    s = Q(-1)
    refute(act(z, s) <= act(hi, s), lo <= z, z <= hi)


def test_wrong_center_radius_without_abs_fails():
    x, lo, hi, box = _box(1)
    w = reals("w", 1)
    centre = (lo[0] + hi[0]) / 2
    refute(zabs(w[0] * x[0] - w[0] * centre) <= w[0] * (hi[0] - lo[0]) / 2, box)
