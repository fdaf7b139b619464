"""Machine check for proofs/bounds_symbolic.md: linear relaxations of ReLU / LeakyReLU and
CROWN-style backward composition of linear bounds."""

from fractions import Fraction

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity
from proofs._z3util import Q, act, dot, neg, pos, prove, reals, refute, relu


def _unstable():
    z, l, u = z3.Reals("z l u")
    return z, l, u, [l < 0, u > 0, l <= z, z <= u]


def test_relu_triangle_upper_bound():
    z, l, u, hyps = _unstable()
    prove(relu(z) <= u * (z - l) / (u - l), hyps)


def test_relu_linear_lower_bounds():
    z, alpha = z3.Reals("z alpha")
    prove(relu(z) >= alpha * z, alpha >= 0, alpha <= 1)        # for every z, no box needed


def test_leaky_chord_upper_bound():
    z, l, u, hyps = _unstable()
    s = z3.Real("s")
    chord = s * l + (u - s * l) * (z - l) / (u - l)
    prove(act(z, s) <= chord, hyps, s >= 0, s <= 1)


def test_leaky_linear_lower_bounds():
    z, alpha, s = z3.Reals("z alpha s")
    prove(act(z, s) >= alpha * z, s <= alpha, alpha <= 1)


def test_chord_upper_bound_any_interval():
    """The chord through (l, sigma(l)) and (u, sigma(u)) bounds sigma from above on [l, u], for
    every l < u (stable or not) -- sigma is convex for slope s <= 1."""
    z, l, u, s = z3.Reals("z l u s")
    chord = act(l, s) + (act(u, s) - act(l, s)) * (z - l) / (u - l)
    prove(act(z, s) <= chord, l < u, l <= z, z <= u, s <= 1)


def test_line_above_both_ends_is_above_on_the_interval():
    """R4: a line alpha t + beta >= act_s(t) at t = l and t = u stays above act_s on [l, u]
    (act_s convex for s <= 1).  This is how nnequiv/solvers/encode.py rounds the chord safely."""
    z, l, u, s, alpha, beta = z3.Reals("z l u s alpha beta")
    prove(alpha * z + beta >= act(z, s), l < u, l <= z, z <= u, s <= 1,
          alpha * l + beta >= act(l, s), alpha * u + beta >= act(u, s))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_backward_step_lower(n):
    """f >= a . y + a0 and L <= y <= U  =>  f >= sum(a+ L + a- U) + a0."""
    y, lo, hi, a = reals("y", n), reals("L", n), reals("U", n), reals("a", n)
    f, a0 = z3.Reals("f a0")
    hyps = [f >= dot(a, y) + a0] + [z3.And(lo[i] <= y[i], y[i] <= hi[i]) for i in range(n)]
    prove(f >= z3.Sum([pos(a[i]) * lo[i] + neg(a[i]) * hi[i] for i in range(n)]) + a0, hyps)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_backward_step_upper(n):
    y, lo, hi, a = reals("y", n), reals("L", n), reals("U", n), reals("a", n)
    f, a0 = z3.Reals("f a0")
    hyps = [f <= dot(a, y) + a0] + [z3.And(lo[i] <= y[i], y[i] <= hi[i]) for i in range(n)]
    prove(f <= z3.Sum([pos(a[i]) * hi[i] + neg(a[i]) * lo[i] for i in range(n)]) + a0, hyps)


@pytest.mark.parametrize("n", [1, 2])
def test_backward_through_relaxed_activation(n):
    """a . sigma(z) + a0 >= sum_i (a_i+ alpha_i + a_i- lam_i) z_i + a_i- mu_i + a0 whenever
    alpha_i z_i <= sigma(z_i) <= lam_i z_i + mu_i (any sound per-neuron relaxation)."""
    z, a = reals("z", n), reals("a", n)
    alpha, lam, mu, s = reals("alpha", n), reals("lam", n), reals("mu", n), z3.Real("s")
    a0 = z3.Real("a0")
    sig = [act(t, s) for t in z]
    hyps = [z3.And(alpha[i] * z[i] <= sig[i], sig[i] <= lam[i] * z[i] + mu[i]) for i in range(n)]
    bound = z3.Sum([(pos(a[i]) * alpha[i] + neg(a[i]) * lam[i]) * z[i] + neg(a[i]) * mu[i]
                    for i in range(n)]) + a0
    prove(dot(a, sig) + a0 >= bound, hyps)


def test_linear_bound_of_linear_bound_is_linear_symbolic():
    """a+^T (P x + p) + a-^T (Q x + q) + a0 == (a+^T P + a-^T Q) x + (a+^T p + a-^T q + a0)."""
    m, n = sp.symbols("m n", integer=True, positive=True)
    P, Qm = sp.MatrixSymbol("P", m, n), sp.MatrixSymbol("Q", m, n)
    x, p, q = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("p", m, 1), sp.MatrixSymbol("q", m, 1)
    ap, an, a0 = sp.MatrixSymbol("ap", m, 1), sp.MatrixSymbol("an", m, 1), sp.MatrixSymbol("a0", 1, 1)
    lhs = ap.T * (P * x + p) + an.T * (Qm * x + q) + a0
    assert_identity(lhs, (ap.T * P + an.T * Qm) * x + (ap.T * p + an.T * q + a0))


# ---------------------------------------------- an end-to-end CROWN instance
# f(x) = v . relu(W x + b) + c on x in [-1, 1]^2, with hand-picked rationals so that one
# unstable neuron has a negative output weight (the case the sign split exists for).
W = [[Fraction(1), Fraction(1)], [Fraction(1), Fraction(-1)]]
B = [Fraction(1, 2), Fraction(0)]
V = [Fraction(1), Fraction(-2)]
C = Fraction(1, 4)
BOX = (-1, 1)


def _crown_lower(split_signs: bool):
    """Affine lower bound of f in x (coefficients, constant), computed in exact rationals."""
    lo = [B[r] - sum(abs(w) for w in W[r]) for r in range(2)]       # interval pre-activation bounds
    hi = [B[r] + sum(abs(w) for w in W[r]) for r in range(2)]
    coef, const = [Fraction(0), Fraction(0)], C
    for r in range(2):
        l, u = lo[r], hi[r]
        assert l < 0 < u
        lower = (Fraction(0), Fraction(0))               # relu(z) >= 0 * z
        upper = (u / (u - l), -u * l / (u - l))          # relu(z) <= u (z - l) / (u - l)
        slope, offset = lower if (V[r] >= 0 or not split_signs) else upper
        for i in range(2):
            coef[i] += V[r] * slope * W[r][i]
        const += V[r] * (slope * B[r] + offset)
    return coef, const


def _net(x):
    z = [dot([Q(w) for w in W[r]], x) + Q(B[r]) for r in range(2)]
    return z3.Sum([Q(V[r]) * relu(z[r]) for r in range(2)]) + Q(C)


def test_crown_instance_lower_bound_holds_on_box():
    x = reals("x", 2)
    coef, const = _crown_lower(split_signs=True)
    box = [z3.And(Q(BOX[0]) <= t, t <= Q(BOX[1])) for t in x]
    prove(_net(x) >= dot([Q(c) for c in coef], x) + Q(const), box)


# ------------------------------------------------------------ wrong variants
def test_wrong_triangle_outside_the_interval_fails():
    z, l, u = z3.Reals("z l u")
    refute(relu(z) <= u * (z - l) / (u - l), l < 0, u > 0, z > u)


def test_wrong_line_above_ends_outside_the_interval_fails():
    z, l, u, s, alpha, beta = z3.Reals("z l u s alpha beta")
    refute(alpha * z + beta >= act(z, s), l < u, z > u, s == 0,
           alpha * l + beta >= act(l, s), alpha * u + beta >= act(u, s))


def test_wrong_upper_line_through_origin_fails():
    z, l, u, hyps = _unstable()
    refute(relu(z) <= u * z / (u - l), hyps)


def test_wrong_lower_slope_above_one_fails():
    z, alpha = z3.Reals("z alpha")
    refute(relu(z) >= alpha * z, alpha > 1)


def test_wrong_leaky_lower_slope_below_s_fails():
    z, alpha = z3.Reals("z alpha")
    s = Q("0.1")
    refute(act(z, s) >= alpha * z, alpha >= 0, alpha < s)


def test_wrong_chord_for_concave_activation_fails():
    z, l, u, hyps = _unstable()
    s = Q(2)                                               # slope > 1: concave, chord is a LOWER bound
    chord = s * l + (u - s * l) * (z - l) / (u - l)
    refute(act(z, s) <= chord, hyps)


def test_wrong_backward_step_without_sign_split_fails():
    y, lo, hi, a = reals("y", 1), reals("L", 1), reals("U", 1), reals("a", 1)
    f, a0 = z3.Reals("f a0")
    refute(f >= a[0] * lo[0] + a0, f == a[0] * y[0] + a0, lo[0] <= y[0], y[0] <= hi[0])


def test_wrong_crown_instance_without_sign_split_fails():
    x = reals("x", 2)
    coef, const = _crown_lower(split_signs=False)
    box = [z3.And(Q(BOX[0]) <= t, t <= Q(BOX[1])) for t in x]
    refute(_net(x) >= dot([Q(c) for c in coef], x) + Q(const), box)
