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
