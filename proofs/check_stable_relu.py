"""Machine check for proofs/stable_relu.md: stably inactive / active neurons on an input box,
rank reduction among stably active neurons, and collapsing a fully stable layer."""

import itertools

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity
from proofs._z3util import Q, act, dot, matvec, prove, real_matrix, reals, refute, vec_eq


def test_inactive_neuron_is_linear():
    z, s = z3.Reals("z s")
    prove(act(z, s) == s * z, z <= 0)


def test_active_neuron_is_identity():
    z, s = z3.Reals("z s")
    prove(act(z, s) == z, z >= 0)


def _layer(n, m, p):
    h, W, b, s = reals("h", n), real_matrix("W", m, n), reals("b", m), reals("s", m)
    V, c = real_matrix("V", p, m), reals("c", p)
    z = [dot(W[r], h) + b[r] for r in range(m)]
    y = [act(z[r], s[r]) for r in range(m)]
    return h, W, b, s, V, c, z, y


@pytest.mark.parametrize("n,m,p,k", [(1, 1, 1, 0), (2, 2, 2, 1), (2, 3, 1, 0)])
def test_stably_inactive_relu_removed(n, m, p, k):
    """z_k <= 0 on the box and slope 0: drop neuron k (its row and V's column k)."""
    h, W, b, s, V, c, z, y = _layer(n, m, p)
    original = [dot(V[a], y) + c[a] for a in range(p)]
    reduced = [z3.Sum([V[a][r] * y[r] for r in range(m) if r != k] or [Q(0)]) + c[a] for a in range(p)]
    prove(vec_eq(original, reduced), z[k] <= 0, s[k] == 0)


@pytest.mark.parametrize("n,m,p,k", [(1, 1, 1, 0), (2, 2, 2, 1)])
def test_stably_inactive_leaky_becomes_linear_neuron(n, m, p, k):
    """z_k <= 0 on the box, slope s: replace neuron k by a linear neuron (slope 1) with row s W_k, bias s b_k."""
    h, W, b, s, V, c, z, y = _layer(n, m, p)
    y_new = list(y)
    y_new[k] = act(dot([s[k] * w for w in W[k]], h) + s[k] * b[k], 1)
    prove(vec_eq(y, y_new), z[k] <= 0)


@pytest.mark.parametrize("n,p", [(1, 1), (2, 1), (2, 2)])
def test_stably_active_rank_reduction(n, p):
    """Neurons 0, 1, 2 stably active; row 2 = c0 row 0 + c1 row 1 including the bias (c of any
    sign): drop 2 and add c_i V[:,2] to V[:,i]."""
    h, W, b, s, V, cc, z, y = _layer(n, 3, p)
    c = reals("coef", 2)
    hyps = [W[2][i] == c[0] * W[0][i] + c[1] * W[1][i] for i in range(n)]
    hyps += [b[2] == c[0] * b[0] + c[1] * b[1]] + [z[r] >= 0 for r in range(3)]
    original = [dot(V[a], y) + cc[a] for a in range(p)]
    reduced = [(V[a][0] + c[0] * V[a][2]) * y[0] + (V[a][1] + c[1] * V[a][2]) * y[1] + cc[a]
               for a in range(p)]
    prove(vec_eq(original, reduced), hyps)


def test_layer_collapse_symbolic_sizes():
    """All neurons stable: sigma(z) = D z with D = diag(1 or slope); V D (W h + b) + c is affine."""
    n, m, p = sp.symbols("n m p", integer=True, positive=True)
    W, V, D = sp.MatrixSymbol("W", m, n), sp.MatrixSymbol("V", p, m), sp.MatrixSymbol("D", m, m)
    h, b, c = sp.MatrixSymbol("h", n, 1), sp.MatrixSymbol("b", m, 1), sp.MatrixSymbol("c", p, 1)
    assert_identity(V * (D * (W * h + b)) + c, (V * D * W) * h + (V * D * b + c))


PHASES = [ph for m in (1, 2, 3) for ph in itertools.product((1, -1), repeat=m)]


@pytest.mark.parametrize("phases", PHASES)
def test_layer_collapse_end_to_end(phases):
    m, n, p = len(phases), 2, 2
    h, W, b, s, V, c, z, y = _layer(n, m, p)
    hyps = [z[r] >= 0 if ph > 0 else z[r] <= 0 for r, ph in enumerate(phases)]
    d = [1 if ph > 0 else s[r] for r, ph in enumerate(phases)]
    VD = [[V[a][r] * d[r] for r in range(m)] for a in range(p)]
    collapsed_w = [[z3.Sum([VD[a][r] * W[r][i] for r in range(m)]) for i in range(n)] for a in range(p)]
    collapsed_b = [dot(VD[a], b) + c[a] for a in range(p)]
    original = [dot(V[a], y) + c[a] for a in range(p)]
    collapsed = [x + bb for x, bb in zip(matvec(collapsed_w, h), collapsed_b)]
    prove(vec_eq(original, collapsed), hyps)


# ------------------------------------------------------------ wrong variants
def test_wrong_inactive_removal_of_unstable_neuron_fails():
    h, W, b, s, V, c, z, y = _layer(1, 1, 1)
    refute(dot(V[0], y) + c[0] == c[0], s[0] == 0)                  # no z <= 0 on the box


def test_wrong_inactive_leaky_neuron_removed_fails():
    # a stably inactive LeakyReLU neuron still outputs s z != 0: it cannot just be dropped
    h, W, b, s, V, c, z, y = _layer(1, 1, 1)
    refute(dot(V[0], y) + c[0] == c[0], z[0] <= 0, s[0] == Q("0.1"))


def test_wrong_rank_reduction_combination_not_active_fails():
    # only neurons 0 and 1 are known active; neuron 2 (their combination, c may be negative) is not
    h, W, b, s, V, cc, z, y = _layer(1, 3, 1)
    c = reals("coef", 2)
    hyps = [W[2][0] == c[0] * W[0][0] + c[1] * W[1][0], b[2] == c[0] * b[0] + c[1] * b[1],
            z[0] >= 0, z[1] >= 0, s[2] == 0]
    original = dot(V[0], y) + cc[0]
    reduced = (V[0][0] + c[0] * V[0][2]) * y[0] + (V[0][1] + c[1] * V[0][2]) * y[1] + cc[0]
    refute(original == reduced, hyps)


def test_wrong_rank_reduction_bias_not_combined_fails():
    h, W, b, s, V, cc, z, y = _layer(1, 3, 1)
    c = reals("coef", 2)
    hyps = [W[2][0] == c[0] * W[0][0] + c[1] * W[1][0]] + [z[r] >= 0 for r in range(3)]
    original = dot(V[0], y) + cc[0]
    reduced = (V[0][0] + c[0] * V[0][2]) * y[0] + (V[0][1] + c[1] * V[0][2]) * y[1] + cc[0]
    refute(original == reduced, hyps)


def test_wrong_layer_collapse_with_unstable_neuron_fails():
    h, W, b, s, V, c, z, y = _layer(1, 2, 1)
    original = dot(V[0], y) + c[0]
    collapsed = (V[0][0] * W[0][0] + V[0][1] * W[1][0]) * h[0] + V[0][0] * b[0] + V[0][1] * b[1] + c[0]
    refute(original == collapsed, z[0] >= 0, s[1] == 0)              # neuron 1 unstable


# ------------------------------------------------------------ splits (S5, S6)
def _inside(point, lo, hi):
    return z3.And([z3.And(l <= x, x <= u) for x, l, u in zip(point, lo, hi)])


@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_bound_over_a_cover_is_the_weakest_piece_bound(pieces):
    """S5: pieces cover the box, z <= u_p on piece p  =>  z <= max_p u_p on the box (z any function value
    at x: modelled as an uninterpreted function of a 1-D x)."""
    x = z3.Real("x")
    f = z3.Function("f", z3.RealSort(), z3.RealSort())
    lo, hi, u = reals("plo", pieces), reals("phi", pieces), reals("u", pieces)
    on_piece = [z3.ForAll([x], z3.Implies(z3.And(lo[p] <= x, x <= hi[p]), f(x) <= u[p])) for p in range(pieces)]
    a, b, t = z3.Reals("a b t")
    covered = z3.ForAll([x], z3.Implies(z3.And(a <= x, x <= b),
                                        z3.Or([z3.And(lo[p] <= x, x <= hi[p]) for p in range(pieces)])))
    prove(f(t) <= zmax_list(u), on_piece + [covered, a <= t, t <= b])


def zmax_list(values):
    out = values[0]
    for v in values[1:]:
        out = z3.If(v > out, v, out)
    return out


@pytest.mark.parametrize("dims,pieces", [(1, 2), (2, 2), (2, 3)])
def test_region_without_inner_faces_is_covered_only_if_contained(dims, pieces):
    """S6: if no piece face lies strictly inside a region (lo < hi in every dimension) and no piece
    contains the region, the region's midpoint lies in no piece."""
    lo, hi = reals("lo", dims), reals("hi", dims)
    plo, phi = real_matrix("plo", pieces, dims), real_matrix("phi", pieces, dims)
    hyps = [l < h for l, h in zip(lo, hi)]
    for p in range(pieces):
        for i in range(dims):
            hyps += [z3.Not(z3.And(lo[i] < plo[p][i], plo[p][i] < hi[i])),
                     z3.Not(z3.And(lo[i] < phi[p][i], phi[p][i] < hi[i]))]
        hyps.append(z3.Not(z3.And([z3.And(plo[p][i] <= lo[i], hi[i] <= phi[p][i]) for i in range(dims)])))
    mid = [(l + h) / 2 for l, h in zip(lo, hi)]
    prove(z3.And([z3.Not(_inside(mid, plo[p], phi[p])) for p in range(pieces)]), hyps)


@pytest.mark.parametrize("dims", [1, 2])
def test_cut_halves_cover_the_region(dims):
    """S6: [lo, c] and [c, hi] along one dimension cover [lo, hi] (closed halves)."""
    lo, hi, x = reals("lo", dims), reals("hi", dims), reals("x", dims)
    c = z3.Real("c")
    left_hi = [c] + hi[1:]
    right_lo = [c] + lo[1:]
    prove(z3.Or(_inside(x, lo, left_hi), _inside(x, right_lo, hi)), _inside(x, lo, hi), lo[0] <= c, c <= hi[0])


def test_wrong_cover_by_corners_fails():
    """**wrong**: 'every corner of the box lies in a piece' does not make the pieces cover it."""
    a, b, l1, h1, l2, h2, t = z3.Reals("a b l1 h1 l2 h2 t")
    corners = z3.And(z3.Or(z3.And(l1 <= a, a <= h1), z3.And(l2 <= a, a <= h2)),
                     z3.Or(z3.And(l1 <= b, b <= h1), z3.And(l2 <= b, b <= h2)))
    claim = z3.Implies(z3.And(a <= t, t <= b), z3.Or(z3.And(l1 <= t, t <= h1), z3.And(l2 <= t, t <= h2)))
    refute(claim, corners, a < b)


def test_wrong_bound_from_one_piece_only_fails():
    """**wrong**: taking the bound of the first piece instead of the weakest over the cover
    (pieces [0, 1] and [1, 2]; ``value`` is f(t))."""
    value, u1, u2, t = z3.Reals("value u1 u2 t")
    hyps = [z3.Implies(z3.And(0 <= t, t <= 1), value <= u1), z3.Implies(z3.And(1 <= t, t <= 2), value <= u2),
            0 <= t, t <= 2]
    refute(value <= u1, hyps)


# ------------------------------------------------------------ LP dual evidence (S7)
def _triangle_hyps(l, u, a, beta, z):
    return [l < 0, u > 0, 0 <= a, a <= 1, beta >= -a * l, beta >= (1 - a) * u, l <= z, z <= u]


def test_triangle_rows_hold_on_the_graph():
    """S7: every (z, relu(z)) with l <= z <= u satisfies the checker's rows y - z >= 0,
    y - a z <= beta (beta >= max(-a l, (1 - a) u), any a in [0, 1]) and column bounds."""
    l, u, a, beta, z = z3.Reals("l u a beta z")
    y = act(z, 0)
    prove(z3.And(y - z >= 0, y - a * z <= beta, y >= 0, y <= u), _triangle_hyps(l, u, a, beta, z))


def test_stable_rows_hold_on_the_graph():
    """S7: l >= 0 gives y - z = 0 (active row); u <= 0 gives y in [0, 0] (inactive column)."""
    l, u, z = z3.Reals("l u z")
    prove(act(z, 0) - z == 0, l >= 0, l <= z, z <= u)
    prove(act(z, 0) == 0, u <= 0, l <= z, z <= u)


def test_dual_bound_below_zero_proves_the_phase():
    """S7: the network's point is LP-feasible, so max over the LP >= z; max <= B <= 0 gives z <= 0."""
    z, lp_max, bound = z3.Reals("z lp_max bound")
    prove(z <= 0, z <= lp_max, lp_max <= bound, bound <= 0)


def test_wrong_triangle_beta_from_one_end_only_fails():
    """**wrong**: beta >= -a l only (the line may pass below relu at u)."""
    l, u, a, beta, z = z3.Reals("l u a beta z")
    hyps = [l < 0, u > 0, 0 <= a, a <= 1, beta >= -a * l, l <= z, z <= u]
    refute(act(z, 0) - a * z <= beta, hyps)


# ------------------------------------------------------------ bound refinements (S8)
def _rows(z, y, l, u, a, beta):
    """The checker's rows and columns for one Relu neuron with bounds [l, u] (S7)."""
    return z3.And(y - z >= 0, y - a * z <= beta, l <= z, z <= u, y >= 0, y <= z3.If(u > 0, u, 0))


def _outward(l, u, a, beta):
    """The triangle's parameters as the checker takes them: a in [0, 1], beta at or above both ends."""
    return [l < 0, u > 0, 0 <= a, a <= 1, beta >= -a * l, beta >= (1 - a) * u]


def test_refinement_keeps_valid_bounds_valid():
    """S8 induction step: [l, u] holds the network's value z, and the safe LP bound b proves
    z <= b (side upper) or -z <= b (side lower): the narrowed interval holds z, so it is not empty."""
    z, l, u, b = z3.Reals("z l u b")
    upper = z3.If(b < u, b, u)
    prove(z3.And(l <= z, z <= upper, l <= upper), l <= z, z <= u, z <= b)
    lower = z3.If(-b > l, -b, l)
    prove(z3.And(lower <= z, z <= u, lower <= u), l <= z, z <= u, -z <= b)


def test_refined_chain_contains_the_network():
    """S8, two layers: layer 0 bounds valid; the LP of layer 1 (triangle over [l0, u0]) bounds
    z1 = w y0 + c by B at every point of its rows, so at the network's point; then layer 1's
    refined bounds [l1, min(u1, B)] and any triangle over them hold the network's (z1, relu z1):
    the LP of layer 2 built on refined bounds contains the network (S7 applies)."""
    z0, l0, u0, a0, beta0, w, c, B, l1, u1, a1, beta1 = z3.Reals("z0 l0 u0 a0 beta0 w c B l1 u1 a1 beta1")
    y0 = act(z0, 0)
    z1 = w * y0 + c
    refined = z3.If(B < u1, B, u1)
    lp_bound = z3.Implies(_rows(z0, y0, l0, u0, a0, beta0), z1 <= B)    # max of the LP <= B
    hyps = _outward(l0, u0, a0, beta0) + _outward(l1, refined, a1, beta1) + [lp_bound, l0 <= z0, z0 <= u0,
                                                                              l1 <= z1, z1 <= u1]
    prove(_rows(z1, act(z1, 0), l1, refined, a1, beta1), hyps)


def test_wrong_refinement_over_inward_rounded_beta_fails():
    """**wrong**: the LP of layer 1 with beta rounded inward (below an end of the triangle) may
    exclude the network's point, and the bound its multipliers give may cut the network's value."""
    z0, l0, u0, a0, beta0, w, c, B, delta = z3.Reals("z0 l0 u0 a0 beta0 w c B delta")
    y0 = act(z0, 0)
    z1 = w * y0 + c
    exact = z3.If(-a0 * l0 > (1 - a0) * u0, -a0 * l0, (1 - a0) * u0)
    hyps = [l0 < 0, u0 > 0, 0 <= a0, a0 <= 1, delta > 0, beta0 == exact - delta,
            z3.Implies(_rows(z0, y0, l0, u0, a0, beta0), z1 <= B), l0 <= z0, z0 <= u0]
    refute(z1 <= B, hyps)


def test_wrong_refinement_reading_its_own_layer_fails():
    """**wrong**: an LP for layer k whose columns include the bound of z_k being refined proves
    that bound circularly (here: the LP max given z1 <= B is <= B), and z1 may exceed it."""
    z0, l0, u0, a0, beta0, w, c, B = z3.Reals("z0 l0 u0 a0 beta0 w c B")
    y0 = act(z0, 0)
    z1 = w * y0 + c
    circular = z3.Implies(z3.And(_rows(z0, y0, l0, u0, a0, beta0), z1 <= B), z1 <= B)
    refute(z1 <= B, _outward(l0, u0, a0, beta0) + [circular, l0 <= z0, z0 <= u0])
