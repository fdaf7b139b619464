"""Machine check for proofs/top1.md: top-1 (argmax) agreement from deviation bounds."""

import itertools

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity, assert_not_identity
from proofs._z3util import all_of, prove, reals, refute, value, zabs


def _logits(n):
    f, g = reals("f", n), reals("g", n)
    return f, g


@pytest.mark.parametrize("n", [2, 3, 4])
def test_uniform_margin_two_epsilon(n):
    """max_k |f_k - g_k| <= eps and f_i - f_j > 2 eps for all j != i  =>  g_i > g_j for all j != i."""
    f, g = _logits(n)
    eps = z3.Real("eps")
    i = 0
    hyps = [zabs(f[k] - g[k]) <= eps for k in range(n)] + [f[i] - f[j] > 2 * eps for j in range(n) if j != i]
    prove(all_of(g[i] > g[j] for j in range(n) if j != i), hyps)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_per_class_margin(n):
    """|f_k - g_k| <= eps_k and f_i - f_j > eps_i + eps_j  =>  g_i > g_j."""
    f, g = _logits(n)
    eps = reals("eps", n)
    i = 0
    hyps = [zabs(f[k] - g[k]) <= eps[k] for k in range(n)]
    hyps += [f[i] - f[j] > eps[i] + eps[j] for j in range(n) if j != i]
    prove(all_of(g[i] > g[j] for j in range(n) if j != i), hyps)


@pytest.mark.parametrize("n", [2, 3])
def test_pairwise_difference_margin(n):
    """With d = g - f and lower bounds m_ij <= d_i - d_j (e.g. from a differential analysis):
    f_i - f_j + m_ij > 0  =>  g_i > g_j.  Never weaker than the per-class rule."""
    f, g = _logits(n)
    i = 0
    m = {j: z3.Real(f"m{j}") for j in range(n) if j != i}
    hyps = [(g[i] - f[i]) - (g[j] - f[j]) >= m[j] for j in m] + [f[i] - f[j] + m[j] > 0 for j in m]
    prove(all_of(g[i] > g[j] for j in m), hyps)


def test_exact_equivalence_preserves_argmax_sets():
    f, g = _logits(3)
    for i, j in itertools.permutations(range(3), 2):
        prove((f[i] >= f[j]) == (g[i] >= g[j]), [f[k] == g[k] for k in range(3)])


def test_softmax_preserves_order():
    """p_i / p_j == exp(z_i - z_j) for p = softmax(z), so p_i > p_j iff z_i > z_j."""
    z = sp.symbols("z0:3", real=True)
    denom = sum(sp.exp(t) for t in z)
    p = [sp.exp(t) / denom for t in z]
    assert_identity(p[0] / p[1], sp.exp(z[0] - z[1]))


def test_direct_margins_in_both_networks():
    """T0: f_i > f_j and g_i > g_j for all j != i (e.g. positive lower bounds of both networks'
    margins over the region)  =>  i is the unique argmax of f and of g."""
    f, g = _logits(3)
    hyps = [f[0] - f[j] > 0 for j in (1, 2)] + [g[0] - g[j] > 0 for j in (1, 2)]
    prove(all_of([f[0] > f[1], f[0] > f[2], g[0] > g[1], g[0] > g[2]]), hyps)


@pytest.mark.parametrize("n", [2, 3])
def test_softmax_jacobian_entries(n):
    """T6: d p_i / d z_i = p_i (1 - p_i) and d p_i / d z_j = -p_i p_j (j != i)."""
    z = sp.symbols(f"z0:{n}", real=True)
    denom = sum(sp.exp(t) for t in z)
    p = [sp.exp(t) / denom for t in z]
    for i in range(n):
        for j in range(n):
            expected = p[i] * (1 - p[i]) if i == j else -p[i] * p[j]
            assert_identity(sp.diff(p[i], z[j]), expected)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_softmax_jacobian_row_sums_at_most_one_half(n):
    """T6: with p >= 0, sum p = 1, the absolute row sums of the Jacobian are 2 p_i (1 - p_i) <= 1/2."""
    p = reals("p", n)
    hyps = [t >= 0 for t in p] + [z3.Sum(p) == 1]
    for i in range(n):
        row = zabs(p[i] * (1 - p[i])) + z3.Sum([zabs(-p[i] * p[j]) for j in range(n) if j != i])
        prove(z3.And(row == 2 * p[i] * (1 - p[i]), row <= z3.RealVal(1) / 2), hyps)


# ------------------------------------------------------------ wrong variants
def test_wrong_top1_from_one_network_only_fails():
    f, g = _logits(2)
    refute(g[0] > g[1], f[0] - f[1] > 0)


def test_wrong_softmax_lipschitz_one_quarter_fails():
    """The constant 1/2 is needed: a = (0, 0), b = (t, -t) moves p_0 by sigmoid(2t) - 1/2 > t / 4."""
    t = sp.Rational(1, 10)
    z = sp.symbols("z0:2", real=True)
    p0 = sp.exp(z[0]) / (sp.exp(z[0]) + sp.exp(z[1]))
    change = p0.subs({z[0]: t, z[1]: -t}) - p0.subs({z[0]: 0, z[1]: 0})
    excess = change - sp.Rational(1, 4) * t
    assert sp.N(excess, 50) > 0
    assert sp.N(change - sp.Rational(1, 2) * t, 50) <= 0



def test_wrong_margin_epsilon_instead_of_two_epsilon_fails():
    f, g = _logits(2)
    eps = z3.Real("eps")
    model = refute(g[0] > g[1], zabs(f[0] - g[0]) <= eps, zabs(f[1] - g[1]) <= eps, f[0] - f[1] > eps)
    assert value(model, g[0]) <= value(model, g[1])


def test_wrong_non_strict_margin_fails():
    f, g = _logits(2)
    eps = z3.Real("eps")
    refute(g[0] > g[1], zabs(f[0] - g[0]) <= eps, zabs(f[1] - g[1]) <= eps, f[0] - f[1] >= 2 * eps)


def test_wrong_pairwise_margin_with_upper_bound_fails():
    # using an UPPER bound M >= d_i - d_j in place of the lower bound
    f, g = _logits(2)
    M = z3.Real("M")
    refute(g[0] > g[1], (g[0] - f[0]) - (g[1] - f[1]) <= M, f[0] - f[1] + M > 0)


def test_wrong_softmax_order_identity_fails():
    z = sp.symbols("z0:3", real=True)
    denom = sum(sp.exp(t) for t in z)
    p = [sp.exp(t) / denom for t in z]
    assert_not_identity(p[0] / p[1], sp.exp(z[0] + z[1]), {z[0]: 1, z[1]: 1, z[2]: 0})


def _pairwise_hypotheses(f, g, n, strict=True):
    hyps = []
    for i, k in itertools.combinations(range(n), 2):
        df, dg = f[i] - f[k], g[i] - g[k]
        if strict:
            hyps.append(z3.Or(z3.And(df > 0, dg > 0), z3.And(df < 0, dg < 0), dg == df))
        else:
            hyps.append(z3.Or(z3.And(df >= 0, dg >= 0), z3.And(df <= 0, dg <= 0), dg == df))
    return hyps


def _same_maximal_sets(f, g, n):
    return all_of(all_of(f[i] >= f[k] for k in range(n)) == all_of(g[i] >= g[k] for k in range(n))
                  for i in range(n))


@pytest.mark.parametrize("n", [2, 3, 4])
def test_pairwise_agreement_gives_equal_maximal_sets(n):
    """T3: same strict order or identical difference for every pair => M_f = M_g (ties included)."""
    f, g = _logits(n)
    prove(_same_maximal_sets(f, g, n), _pairwise_hypotheses(f, g, n))


def test_wrong_pairwise_agreement_non_strict_fails():
    """With non-strict orders a tie in f may meet a strict order in g: the sets differ."""
    f, g = _logits(2)
    refute(_same_maximal_sets(f, g, 2), _pairwise_hypotheses(f, g, 2, strict=False))
