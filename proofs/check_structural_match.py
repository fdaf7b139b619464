"""Machine check for proofs/structural_match.md: permutations (P1), the weight-perturbation
bound (P2), the BatchNorm enclosure of an absorbed fold (P3), the float slack (P4), an added
constant absorbed into a linear stage (P5) and a permuted channel stream through residual Adds (P6)."""

from fractions import Fraction

import numpy as np
import sympy as sp
import z3

from proofs._symutil import assert_identity
from proofs._z3util import Q, act, prove, reals, refute, relu, zabs, zmax

U = Fraction(1, 2 ** 53)


def _relu_rows(w, b, x):
    return [max(sum(wi * xi for wi, xi in zip(row, x)) + bi, Fraction(0)) for row, bi in zip(w, b)]


def _random_fractions(rng, *shape):
    return np.array([Fraction(int(v), 8) for v in rng.integers(-16, 17, int(np.prod(shape)))],
                    dtype=object).reshape(shape)


# ------------------------------------------------------------------ P1 permutations
def test_permutation_commutes_with_an_elementwise_activation():
    """sigma((P z)_i) = sigma(z_{p(i)}) = (P sigma(z))_i for any activation applied entrywise."""
    n = 4
    z, s = reals("z", n), z3.Real("s")
    for order in ([1, 0, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        permuted = [z[order[i]] for i in range(n)]
        prove(z3.And(*[act(permuted[i], s) == [act(v, s) for v in z][order[i]] for i in range(n)]))


def test_permuted_layer_pair_is_the_same_function_symbolic():
    """W2 P^T (P W1 x + P b1) = W2 (W1 x + b1) for every permutation P: sum over the permuted index."""
    m = sp.Symbol("m", integer=True, positive=True)
    i = sp.Symbol("i", integer=True)
    V, y = sp.IndexedBase("V"), sp.IndexedBase("y")
    p = sp.Function("p")    # a bijection of 0..m-1: reindexing a finite sum does not change it
    original = sp.Sum(V[i] * y[i], (i, 0, m - 1))
    # the permuted consumer column i is V[p(i)], the permuted neuron i carries y[p(i)]
    permuted_terms = [V[p(k)] * y[p(k)] for k in range(3)]
    bijection = {p(0): 2, p(1): 0, p(2): 1}
    assert_identity(sum(permuted_terms).subs(bijection), original.subs(m, 3).doit())


def test_permuted_mlp_end_to_end_exact():
    rng = np.random.default_rng(0)
    w1, b1, w2 = _random_fractions(rng, 5, 3), _random_fractions(rng, 5), _random_fractions(rng, 2, 5)
    order = rng.permutation(5)
    for x in _random_fractions(rng, 20, 3):
        hidden = _relu_rows(w1, b1, x)
        hidden_p = _relu_rows(w1[order], b1[order], x)
        assert list(w2.dot(np.array(hidden, dtype=object))) == list(w2[:, order].dot(np.array(hidden_p, dtype=object)))


def test_flatten_turns_a_channel_permutation_into_column_blocks():
    """Flatten of (C, H, W) after permuting channels equals the flat vector reindexed by
    c * HW + q -> p(c) * HW + q."""
    rng = np.random.default_rng(1)
    tensor = rng.integers(-9, 9, (4, 2, 3))
    order = rng.permutation(4)
    columns = (order[:, None] * 6 + np.arange(6)[None, :]).ravel()
    assert np.array_equal(tensor[order].reshape(-1), tensor.reshape(-1)[columns])


def test_maxpool_acts_channel_by_channel():
    rng = np.random.default_rng(2)
    tensor = rng.integers(-9, 9, (3, 4, 4))
    order = rng.permutation(3)
    pool = lambda t: t.reshape(t.shape[0], 2, 2, 2, 2).max(axis=(2, 4))  # noqa: E731
    assert np.array_equal(pool(tensor[order]), pool(tensor)[order])


def test_wrong_permuting_rows_without_the_consumer_columns_fails():
    rng = np.random.default_rng(3)
    w1, b1, w2 = _random_fractions(rng, 5, 3), _random_fractions(rng, 5), _random_fractions(rng, 2, 5)
    order = np.array([1, 0, 2, 3, 4])
    differs = False
    for x in _random_fractions(rng, 20, 3):
        out = w2.dot(np.array(_relu_rows(w1, b1, x), dtype=object))
        wrong = w2.dot(np.array(_relu_rows(w1[order], b1[order], x), dtype=object))
        differs |= list(out) != list(wrong)
    assert differs


def test_wrong_flatten_permutation_of_single_columns_fails():
    rng = np.random.default_rng(4)
    tensor = rng.integers(-9, 9, (4, 2, 3))
    order = np.array([1, 0, 2, 3])
    assert not np.array_equal(tensor[order].reshape(-1), tensor.reshape(-1)[order.tolist() + list(range(4, 24))])


# -------------------------------------------------------------- P2 the perturbation bound
def test_difference_through_a_linear_layer_identity():
    Wf, Wg = sp.MatrixSymbol("W_f", 3, 4), sp.MatrixSymbol("W_g", 3, 4)
    af, ag = sp.MatrixSymbol("a_f", 4, 1), sp.MatrixSymbol("a_g", 4, 1)
    assert_identity((Wf * af - Wg * ag).as_explicit(), (Wf * (af - ag) + (Wf - Wg) * ag).as_explicit())


def test_product_bound():
    """|x| <= X and |y| <= Y imply |x y| <= X Y (each term of the bound)."""
    x, y, bx, by = z3.Reals("x y X Y")
    prove(zabs(x * y) <= bx * by, zabs(x) <= bx, zabs(y) <= by)


def test_linear_difference_bound():
    """With the identity above, |W_f a_f + b_f - W_g a_g - b_g| <= sum_i |W_f,i| D_i + |W_f,i - W_g,i| M_i + |b_f - b_g|
    given |a_f - a_g| <= D, |a_g| <= M: the triangle inequality over the product terms, each bounded
    by test_product_bound (products abstracted as reals t_i, g_i)."""
    n = 3
    t, g, tb, gb = (reals(p, n) for p in ("t", "g", "T", "G"))
    c, cb = z3.Reals("c C")
    hyps = [z3.And(zabs(t[i]) <= tb[i], zabs(g[i]) <= gb[i]) for i in range(n)] + [zabs(c) <= cb]
    prove(zabs(sum(t) + sum(g) + c) <= sum(tb) + sum(gb) + cb, *hyps)


def test_linear_difference_bound_with_weight_radii():
    """Real weights W_f* in [W_fc -+ R_f], W_g* in [W_gc -+ R_g]: |W_f*| <= |W_fc| + R_f and
    |W_f* - W_g*| <= |W_fc - W_gc| + R_f + R_g, so the bound above holds with these magnitudes."""
    wf, wg, cf, cg, rf, rg = z3.Reals("wf wg cf cg rf rg")
    hyps = [zabs(wf - cf) <= rf, zabs(wg - cg) <= rg]
    prove(z3.And(zabs(wf) <= zabs(cf) + rf, zabs(wf - wg) <= zabs(cf - cg) + rf + rg), *hyps)


def test_enclosure_of_a_linear_layer_with_uncertain_weights():
    """x in [c - r, c + r], |W* - W| <= R, |x| <= M: |W* x - W c| <= |W| r + R M."""
    w, ws, x, c, r, rr, m = z3.Reals("w ws x c r R M")
    # W* x - W c = W (x - c) + (W* - W) x; each product by test_product_bound
    assert_identity(sp.Symbol("ws") * sp.Symbol("x") - sp.Symbol("w") * sp.Symbol("c"),
                    sp.Symbol("w") * (sp.Symbol("x") - sp.Symbol("c")) + (sp.Symbol("ws") - sp.Symbol("w")) * sp.Symbol("x"))
    prove(zabs(w * (x - c)) <= zabs(w) * r, zabs(x - c) <= r)
    prove(zabs((ws - w) * x) <= rr * m, zabs(ws - w) <= rr, zabs(x) <= m)


def test_activation_difference_is_one_lipschitz_and_zero_when_both_inactive():
    p, q, s, d, hi = z3.Reals("p q s d hi")
    prove(zabs(act(p, s) - act(q, s)) <= zabs(p - q), s >= 0, s <= 1)
    prove(zabs(act(p, s) - act(q, s)) <= s * d, s >= 0, s <= 1, q <= hi, zabs(p - q) <= d, hi + d <= 0)


def test_maxpool_difference():
    p, q = reals("p", 3), reals("q", 3)
    prove(zabs(zmax(*p) - zmax(*q)) <= zmax(*[zabs(a - b) for a, b in zip(p, q)]))


def test_wrong_linear_bound_without_the_weight_gap_fails():
    wf, wg, af, ag, d, m = z3.Reals("wf wg af ag d m")
    refute(zabs(wf * af - wg * ag) <= zabs(wf) * d, zabs(af - ag) <= d, zabs(ag) <= m, wf == 1, wg == 2)


def test_wrong_leaky_slope_above_one_is_not_lipschitz_one():
    p, q = z3.Reals("p q")
    refute(zabs(act(p, Q(2)) - act(q, Q(2))) <= zabs(p - q))


def test_wrong_both_inactive_with_only_g_inactive_fails():
    p, q, d, hi = z3.Reals("p q d hi")
    refute(zabs(relu(p) - relu(q)) <= 0, q <= hi, zabs(p - q) <= d, hi <= 0)


# ----------------------------------------------------- P3 BatchNorm absorbed as an enclosure
def test_absorbed_weight_radius():
    """|W s - fl(W s_fl)| <= |W| R_s + 2u |fl(W s_fl)| + ETA when |s - s_fl| <= R_s and one rounding."""
    w, s, sf, rs, prod, u = z3.Reals("w s sf Rs prod u")
    eta = z3.Real("eta")
    rounding = zabs(prod - w * sf) <= u * zabs(prod) + eta
    prove(zabs(w * s - prod) <= zabs(w) * rs + 2 * u * zabs(prod) + eta,
          zabs(s - sf) <= rs, rounding, u >= 0, u <= Fraction(1, 2 ** 20), eta >= 0)


def test_wrong_absorbed_weight_radius_without_scale_radius_fails():
    w, s, sf, rs, prod, u = z3.Reals("w s sf Rs prod u")
    refute(zabs(w * s - prod) <= 2 * u * zabs(prod), zabs(s - sf) <= rs, prod == w * sf, u >= 0,
           u <= Fraction(1, 2 ** 20))


# ------------------------------------------------------------------ P4 float slack
def test_generous_factor_covers_a_hundred_roundings():
    """A nonnegative expression of k <= 100 roundings is within (1 + gamma_k) of the computed value,
    and 1 / (1 - gamma_100) <= 1 + 2^-40 (so ``generous`` is an upper bound)."""
    gamma = 100 * U / (1 - 100 * U)
    assert 1 / (1 - gamma) <= 1 + Fraction(1, 2 ** 40)


def test_wrong_generous_factor_for_a_billion_roundings_fails():
    gamma = 10 ** 9 * U / (1 - 10 ** 9 * U)
    assert not 1 / (1 - gamma) <= 1 + Fraction(1, 2 ** 40)


# ------------------------------------------------------------------ P5 an added constant absorbed
def _two_sum_error(a: float, b: float) -> float:
    """The float64 TwoSum error term, exactly as ``graph_align._absorb_constant`` computes it."""
    s = a + b
    back = s - a
    return (a - (s - back)) + (b - back)


def test_added_constant_is_absorbed_into_the_last_additive_parameter():
    """(s (W x + b - mu) + beta) + c = s (W x + b - mu) + (beta + c), and (W x + b) + c = W x + (b + c)."""
    w, x, b, mu, s, beta, c = sp.symbols("w x b mu s beta c", real=True)
    assert_identity((s * (w * x + b - mu) + beta) + c, s * (w * x + b - mu) + (beta + c))
    assert_identity((w * x + b) + c, w * x + (b + c))


def test_two_sum_error_zero_means_the_float_sum_is_the_real_sum():
    """Over float32 values stored in float64 (and random float64 pairs): TwoSum's error is 0 exactly
    when fl(a + b) = a + b, so replacing the stored parameter by fl(a + b) keeps the real function."""
    rng = np.random.default_rng(5)
    pairs = [(float(np.float32(a)), float(np.float32(b))) for a, b in rng.normal(size=(300, 2)) * [1, 1e-3]]
    pairs += [(float(a), float(b)) for a, b in rng.normal(size=(300, 2)) * [1, 1e-9]]
    pairs += [(0.1, 0.2), (1.0, 2.0 ** -60), (2.0 ** 52, 0.5), (0.0, -0.0)]
    seen = {True: 0, False: 0}
    for a, b in pairs:
        exact = Fraction(a) + Fraction(b) == Fraction(a + b)
        assert (_two_sum_error(a, b) == 0) == exact
        seen[exact] += 1
    assert seen[True] and seen[False]


def test_added_constant_bias_radius():
    """|b* + c - fl(b + c)| <= R_b + u |fl(b + c)| when |b* - b| <= R_b (one rounding to nearest)."""
    bstar, b, c, r, total, u = z3.Reals("bstar b c r total u")
    rounding = zabs(total - (b + c)) <= u * zabs(total)
    prove(zabs(bstar + c - total) <= r + u * zabs(total), zabs(bstar - b) <= r, rounding, u >= 0)


def test_wrong_absorbing_an_inexact_sum_as_exact_fails():
    """Storing fl(beta + c) as if it were beta + c changes the function when the sum rounds."""
    beta, c = 1.0, 2.0 ** -60
    assert _two_sum_error(beta, c) != 0
    assert Fraction(beta) + Fraction(c) != Fraction(beta + c)


# ------------------------------------------------------------------ P6 a permuted channel stream
def _relu_vec(v):
    return np.array([max(e, Fraction(0)) for e in v], dtype=object)


def _residual_net(w0, b0, w1, b1, w2, b2, wr, v, x):
    """s0 = relu(W0 x + b0); s1 = relu(W2 relu(W1 s0 + b1) + b2 + s0); s2 = s1 + Wr s1 (a layer
    reading and writing the stream); y = V relu(s2)."""
    s0 = _relu_vec(w0.dot(x) + b0)
    s1 = _relu_vec(w2.dot(_relu_vec(w1.dot(s0) + b1)) + b2 + s0)
    s2 = s1 + wr.dot(s1)
    return list(v.dot(_relu_vec(s2)))


def _stream_case(seed: int):
    rng = np.random.default_rng(seed)
    n, inner = 4, 3
    parts = (_random_fractions(rng, n, 3), _random_fractions(rng, n), _random_fractions(rng, inner, n),
             _random_fractions(rng, inner), _random_fractions(rng, n, inner), _random_fractions(rng, n),
             _random_fractions(rng, n, n), _random_fractions(rng, 2, n))
    return rng, parts, rng.permutation(n), rng.permutation(inner)


def test_permuted_stream_through_residual_adds_is_the_same_function():
    """Every producer into the stream gets rows P (W0, W2 and b0, b2; Wr both rows and columns),
    every reader columns P^T (W1, V, Wr); inner channels Q as in P1: the output is unchanged."""
    for seed in range(3):
        rng, (w0, b0, w1, b1, w2, b2, wr, v), p, q = _stream_case(seed)
        permuted = (w0[p], b0[p], w1[q][:, p], b1[q], w2[p][:, q], b2[p], wr[p][:, p], v[:, p])
        for x in _random_fractions(rng, 10, 3):
            assert _residual_net(w0, b0, w1, b1, w2, b2, wr, v, x) == _residual_net(*permuted, x)


def test_sum_of_permuted_operands_is_the_permuted_sum():
    """(P a + P b)_i = a_p(i) + b_p(i) = (P (a + b))_i: an Add keeps the stream's order."""
    n = 4
    a, b = reals("a", n), reals("b", n)
    for order in ([1, 0, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        prove(z3.And(*[a[order[i]] + b[order[i]] == [x + y for x, y in zip(a, b)][order[i]] for i in range(n)]))


def test_wrong_permuting_only_the_main_branch_fails():
    """Rows of W2 reordered but not the skip path's producer W0: the residual Add mixes channels."""
    found_difference = False
    for seed in range(3):
        rng, (w0, b0, w1, b1, w2, b2, wr, v), p, q = _stream_case(seed)
        wrong = (w0, b0, w1[q], b1[q], w2[p][:, q], b2[p], wr, v[:, p])
        for x in _random_fractions(rng, 10, 3):
            found_difference |= _residual_net(w0, b0, w1, b1, w2, b2, wr, v, x) != _residual_net(*wrong, x)
    assert found_difference
