"""Machine check for proofs/cut_composition.md: a shared prefix and suffix cut away, the middle
proved on an enclosure of the prefix's output, the claim lifted through the suffix."""

import random
from fractions import Fraction

import pytest
import z3

from proofs._z3util import Q, act, all_of, prove, reals, refute, zabs, zmax
from nnequiv.spec.box import round_up

R = z3.RealSort()


def _pipeline():
    """f = S o M_f o P, g = S o M_g o P on one real input (uninterpreted functions)."""
    P, Mf, Mg, S = (z3.Function(name, R, R) for name in ("P", "Mf", "Mg", "S"))
    x, lo, hi = z3.Reals("x lo hi")
    return P, Mf, Mg, S, x, lo, hi


# ------------------------------------------------------------------ C1, C2, C4: lifting a middle claim
def test_exact_middle_on_the_enclosure_gives_an_exact_whole():
    P, Mf, Mg, S, x, lo, hi = _pipeline()
    a = P(x)
    middle = z3.Implies(z3.And(lo <= a, a <= hi), Mf(a) == Mg(a))     # the nested certificate, at a
    prove(S(Mf(P(x))) == S(Mg(P(x))), middle, lo <= a, a <= hi)


def test_middle_bound_on_the_enclosure_lifts_through_the_suffix():
    P, Mf, Mg, S, x, lo, hi = _pipeline()
    L, e, a = z3.Real("L"), z3.Real("e"), P(x)
    middle = z3.Implies(z3.And(lo <= a, a <= hi), zabs(Mf(a) - Mg(a)) <= e)
    lipschitz = zabs(S(Mf(a)) - S(Mg(a))) <= L * zabs(Mf(a) - Mg(a))      # C3 at the two middle outputs
    prove(zabs(S(Mf(P(x))) - S(Mg(P(x)))) <= L * e, middle, lipschitz, lo <= a, a <= hi, L >= 0)


def test_wrong_middle_proved_on_a_box_missing_the_prefix_output_fails():
    P, Mf, Mg, S, x, lo, hi = _pipeline()
    a = P(x)
    middle = z3.Implies(z3.And(lo <= a, a <= hi), Mf(a) == Mg(a))
    refute(S(Mf(P(x))) == S(Mg(P(x))), middle)       # no containment hypothesis


def test_wrong_top1_middle_through_a_suffix_fails():
    """Same argmax in the middle, suffix S(u) = (u1, u2 + 3/2): the argmax may change."""
    mf, mg = reals("mf", 2), reals("mg", 2)
    same_middle = z3.And(mf[0] > mf[1], mg[0] > mg[1])
    s_f, s_g = (mf[0], mf[1] + Q("1.5")), (mg[0], mg[1] + Q("1.5"))
    refute((s_f[0] > s_f[1]) == (s_g[0] > s_g[1]), same_middle)


# ------------------------------------------------------------------ C3: the suffix's Lipschitz bound
def test_affine_term_lipschitz_with_weight_radius():
    """|w* d| <= (|w| + r) lam delta when |d| <= lam delta and |w* - w| <= r (one term; the sum below)."""
    w_real, w, r, d, lam, delta = z3.Reals("ws w r d lam delta")
    hyps = [delta >= 0, r >= 0, lam >= 0, zabs(w_real - w) <= r, zabs(d) <= lam * delta]
    prove(zabs(w_real * d) <= (zabs(w) + r) * lam * delta, hyps)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_termwise_bounds_sum_up(width):
    """|sum_j t_j| <= sum_j b_j when |t_j| <= b_j: a row of any width from its terms."""
    t, b = reals("t", width), reals("b", width)
    prove(zabs(z3.Sum(t)) <= z3.Sum(b), [zabs(t[j]) <= b[j] for j in range(width)])


def test_wrong_lipschitz_without_abs_values_fails():
    w, d, lam = reals("w", 2), reals("d", 2), reals("lam", 2)
    delta = z3.Real("delta")
    hyps = [delta >= 0] + [z3.And(lam[j] >= 0, zabs(d[j]) <= lam[j] * delta) for j in range(2)]
    refute(zabs(w[0] * d[0] + w[1] * d[1]) <= delta * (w[0] * lam[0] + w[1] * lam[1]), hyps)


@pytest.mark.parametrize("slope", ["0", "1/100", "1/2", "1"])
def test_relu_and_leaky_relu_are_one_lipschitz(slope):
    a, b = z3.Reals("a b")
    s = Q(Fraction(slope))
    prove(zabs(act(a, s) - act(b, s)) <= zabs(a - b))


def test_wrong_leaky_relu_with_slope_above_one_fails():
    a, b = z3.Reals("a b")
    refute(zabs(act(a, 2) - act(b, 2)) <= zabs(a - b))


def test_maxpool_average_and_add_propagate_the_element_bounds():
    a, b, lam = reals("a", 2), reals("b", 2), reals("lam", 2)
    delta = z3.Real("delta")
    hyps = [delta >= 0] + [z3.And(lam[j] >= 0, zabs(a[j] - b[j]) <= lam[j] * delta) for j in range(2)]
    prove(zabs(zmax(*a) - zmax(*b)) <= zmax(*lam) * delta, hyps)
    prove(zabs((a[0] + a[1]) / 2 - (b[0] + b[1]) / 2) <= (lam[0] + lam[1]) / 2 * delta, hyps)
    prove(zabs((a[0] + a[1]) - (b[0] + b[1])) <= (lam[0] + lam[1]) * delta, hyps)


def test_suffix_chain_end_to_end():
    """S(u) = V relu(W u + b) + c with rational weights; lam = |V| |W| 1 bounds every output."""
    W = [[Q("0.5"), Q("-1.25")], [Q("2"), Q("0.75")]]
    V = [[Q("-1"), Q("0.5")], [Q("0.25"), Q("3")]]
    b, c = [Q("0.1"), Q("-0.3")], [Q("1"), Q("0")]
    u, v = reals("u", 2), reals("v", 2)

    def S(x):
        h = [act(W[j][0] * x[0] + W[j][1] * x[1] + b[j], 0) for j in range(2)]
        return [V[i][0] * h[0] + V[i][1] * h[1] + c[i] for i in range(2)]
    lam_hidden = [zabs(W[j][0]) + zabs(W[j][1]) for j in range(2)]
    lam_out = [zabs(V[i][0]) * lam_hidden[0] + zabs(V[i][1]) * lam_hidden[1] for i in range(2)]
    delta = zmax(zabs(u[0] - v[0]), zabs(u[1] - v[1]))
    su, sv = S(u), S(v)
    prove(all_of(zabs(su[i] - sv[i]) <= lam_out[i] * delta for i in range(2)))


# ------------------------------------------------------------------ C5: the step's epsilon
def test_step_epsilon_from_the_checked_quantities():
    dev, lip_own, lip, mid, mid_eps, eps = z3.Reals("dev lip_own lip mid mid_eps eps")
    hyps = [dev <= lip_own * mid, 0 <= mid, mid <= mid_eps, 0 <= lip_own, lip_own <= lip, lip * mid_eps <= eps]
    prove(dev <= eps, hyps)


def test_wrong_lipschitz_below_the_checkers_bound_fails():
    dev, lip_own, lip, mid, eps = z3.Reals("dev lip_own lip mid eps")
    refute(dev <= eps, [dev == lip_own * mid, mid >= 0, lip >= 0, lip < lip_own, lip * mid <= eps])


def test_upward_rounded_product_bounds_the_real_product():
    rng = random.Random(0)
    pairs = [(rng.uniform(0, 100), rng.uniform(0, 1)) for _ in range(2000)] + [(3.0, 5e-324), (0.5, 5e-324)]
    for lip, eps in pairs:
        assert Fraction(round_up(Fraction(lip) * Fraction(eps))) >= Fraction(lip) * Fraction(eps)


def test_wrong_float_product_without_upward_rounding_fails():
    rng = random.Random(0)
    pairs = [(rng.uniform(0, 100), rng.uniform(0, 1)) for _ in range(200)]
    assert any(Fraction(lip * eps) < Fraction(lip) * Fraction(eps) for lip, eps in pairs)
