"""Machine check for proofs/differential.md: the rules of the differential (two-network)
zonotope analysis in ``nnequiv/checker/diffzono.py`` and ``forms.py``."""

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity, assert_not_identity
from proofs._z3util import Q, act, dot, prove, reals, refute, relu, value, zabs, zmax, zmin


# --------------------------------------------------------- difference of activations
def test_relu_difference_between_zero_and_delta():
    a, d = z3.Reals("a delta")
    diff = relu(a + d) - relu(a)
    prove(z3.And(zmin(Q(0), d) <= diff, diff <= zmax(Q(0), d)))


def test_leaky_difference_between_s_delta_and_delta():
    a, d, s = z3.Reals("a delta s")
    diff = act(a + d, s) - act(a, s)
    prove(z3.And(zmin(s * d, d) <= diff, diff <= zmax(s * d, d)), s >= 0, s <= 1)


def test_mean_value_slope_in_s_to_one():
    """For a != b: (sigma(b) - sigma(a)) / (b - a) lies in [s, 1] (same activation on both sides)."""
    a, b, s = z3.Reals("a b s")
    t = (act(b, s) - act(a, s)) / (b - a)
    prove(z3.And(s <= t, t <= 1), a != b, s >= 0, s <= 1)


def test_rule_b_relaxation_by_corners():
    """sigma(z_g) - sigma(z_f) = lam * d + e with e between the extreme corners of (t - lam) d over
    t in {s, 1}, d in {lo, hi} (and 0), whenever d = z_g - z_f lies in [lo, hi], any lam."""
    zf, zg, lo, hi, lam, s = z3.Reals("zf zg lo hi lam s")
    d = zg - zf
    e = act(zg, s) - act(zf, s) - lam * d
    corners = [(t - lam) * dd for t in (s, Q(1)) for dd in (lo, hi)] + [Q(0)]
    prove(z3.And(zmin(*corners) <= e, e <= zmax(*corners)), lo <= d, d <= hi, s >= 0, s <= 1)


def test_deepz_relaxation():
    """lam in [s, 1], l < 0 < u, z in [l, u]: 0 <= sigma(z) - lam z <= max((lam - s)(-l), (1 - lam) u)."""
    z, l, u, lam, s = z3.Reals("z l u lam s")
    gap = act(z, s) - lam * z
    prove(z3.And(0 <= gap, gap <= zmax((lam - s) * (-l), (1 - lam) * u)),
          l < 0, u > 0, l <= z, z <= u, s <= lam, lam <= 1, s >= 0)


def test_deepz_form_covers_the_gap():
    """A form ``mid + half * eps_new`` (fresh symbol) with half >= max(mid, H - mid) covers every
    gap value g in [0, H], for any centre shift mid (diffzono._activate uses mid = H / 2)."""
    g, H, mid, half = z3.Reals("g H mid half")
    witness = (g - mid) / half                      # the value of eps_new that represents g
    prove(z3.And(-1 <= witness, witness <= 1), 0 <= g, g <= H, half >= mid, half >= H - mid,
          half > 0)


# ------------------------------------------------------------------ affine step
def test_difference_through_affine_layer_symbolic():
    """z_g - z_f == W_g (h_g - h_f) + (W_g - W_f) h_f + (b_g - b_f)."""
    m, n = sp.symbols("m n", integer=True, positive=True)
    Wf, Wg = sp.MatrixSymbol("Wf", m, n), sp.MatrixSymbol("Wg", m, n)
    hf, hg = sp.MatrixSymbol("hf", n, 1), sp.MatrixSymbol("hg", n, 1)
    bf, bg = sp.MatrixSymbol("bf", m, 1), sp.MatrixSymbol("bg", m, 1)
    assert_identity((Wg * hg + bg) - (Wf * hf + bf), Wg * (hg - hf) + (Wg - Wf) * hf + (bg - bf))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_form_linear_image_error_term(k):
    """A form c + g.eps + e*eta (|eps_i|, |eta| <= 1, e >= 0) mapped by a row w: the private error
    terms combine to at most sum |w_i| e_i (forms.linear)."""
    w, e, eta = reals("w", k), reals("e", k), reals("eta", k)
    hyps = [z3.And(-1 <= t, t <= 1) for t in eta] + [t >= 0 for t in e]
    prove(zabs(z3.Sum([w[i] * e[i] * eta[i] for i in range(k)])) <= z3.Sum([zabs(w[i]) * e[i] for i in range(k)]),
          hyps)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_form_bounds(k):
    """c + g.eps + e*eta lies in [c - r, c + r] with r = sum |g_i| + e (forms.bounds)."""
    g, eps = reals("g", k), reals("eps", k)
    c, e, eta = z3.Reals("c e eta")
    val = c + dot(g, eps) + e * eta
    r = z3.Sum([zabs(t) for t in g]) + e
    hyps = [z3.And(-1 <= t, t <= 1) for t in eps + [eta]] + [e >= 0]
    prove(z3.And(c - r <= val, val <= c + r), hyps)


def test_shared_symbols_subtract_exactly():
    """Forms over the same symbols subtract generator-wise; the private errors add (forms.add)."""
    c1, c2, g1, g2, e1, e2, eps, eta1, eta2 = z3.Reals("c1 c2 g1 g2 e1 e2 eps eta1 eta2")
    diff = (c1 + g1 * eps + e1 * eta1) - (c2 + g2 * eps + e2 * eta2)
    rest = diff - ((c1 - c2) + (g1 - g2) * eps)
    hyps = [z3.And(-1 <= t, t <= 1) for t in (eps, eta1, eta2)] + [e1 >= 0, e2 >= 0]
    prove(zabs(rest) <= e1 + e2, hyps)


# ------------------------------------------------------------ wrong variants
def test_wrong_relu_difference_nonnegative_fails():
    a, d = z3.Reals("a delta")
    refute(relu(a + d) - relu(a) >= 0)


def test_wrong_mean_value_with_different_slopes_fails():
    """Rule (b) needs the SAME activation in f and g.  With slopes s_f != s_g (e.g. a LeakyReLU
    neuron in f that g replaced by a linear neuron) sigma_g(z) - sigma_f(z) != t * 0."""
    zf, zg, lo, hi, lam = z3.Reals("zf zg lo hi lam")
    sf, sg = Q("0.1"), Q(1)
    s = Q("0.1")                                           # min(s_f, s_g), as a one-slope rule would use
    d = zg - zf
    e = act(zg, sg) - act(zf, sf) - lam * d
    corners = [(t - lam) * dd for t in (s, Q(1)) for dd in (lo, hi)] + [Q(0)]
    model = refute(z3.And(zmin(*corners) <= e, e <= zmax(*corners)), lo <= d, d <= hi,
                   lam == (1 + s) / 2)
    assert value(model, zf) < 0 or value(model, zg) < 0


def test_wrong_deepz_lambda_above_one_fails():
    z, l, u, lam = z3.Reals("z l u lam")
    gap = relu(z) - lam * z
    refute(z3.And(0 <= gap, gap <= zmax(lam * (-l), (1 - lam) * u)),
           l < 0, u > 0, l <= z, z <= u, lam > 1)


def test_wrong_deepz_height_one_sided_fails():
    z, l, u, lam = z3.Reals("z l u lam")
    refute(relu(z) - lam * z <= (1 - lam) * u, l < 0, u > 0, l <= z, z <= u, 0 <= lam, lam <= 1)


def test_wrong_difference_through_affine_layer_fails():
    Wf, Wg, hf, hg, bf, bg = sp.symbols("Wf Wg hf hg bf bg")
    assert_not_identity((Wg * hg + bg) - (Wf * hf + bf), Wf * (hg - hf) + (Wg - Wf) * hf + (bg - bf),
                        {Wf: 1, Wg: 2, hf: 0, hg: 1, bf: 0, bg: 0})


def test_wrong_deepz_form_radius_one_sided_fails():
    g, H, mid, half = z3.Reals("g H mid half")
    witness = (g - mid) / half
    refute(z3.And(-1 <= witness, witness <= 1), 0 <= g, g <= H, half >= H - mid, half > 0)


def test_wrong_form_error_without_abs_fails():
    w, e, eta = z3.Reals("w e eta")
    refute(zabs(w * e * eta) <= w * e, -1 <= eta, eta <= 1, e >= 0)
