"""Machine check for proofs/linear_merge.md: merging a neuron whose pre-activation is a
non-negative combination of others, under sign agreement."""

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity
from proofs._z3util import Q, act, all_of, dot, prove, real_matrix, reals, refute, relu, value, vec_eq


def _agree(zs):
    return z3.Or(all_of(z >= 0 for z in zs), all_of(z <= 0 for z in zs))


def test_two_term_relu_iff_product_nonnegative():
    """For c1, c2 > 0: relu(c1 y1 + c2 y2) == c1 relu(y1) + c2 relu(y2)  iff  y1 * y2 >= 0."""
    c1, c2, y1, y2 = z3.Reals("c1 c2 y1 y2")
    merged = relu(c1 * y1 + c2 * y2) == c1 * relu(y1) + c2 * relu(y2)
    prove(merged == (y1 * y2 >= 0), c1 > 0, c2 > 0)


def test_two_term_leaky_iff_product_nonnegative():
    c1, c2, y1, y2, s = z3.Reals("c1 c2 y1 y2 s")
    merged = act(c1 * y1 + c2 * y2, s) == c1 * act(y1, s) + c2 * act(y2, s)
    prove(merged == (y1 * y2 >= 0), c1 > 0, c2 > 0, s >= 0, s < 1)


@pytest.mark.parametrize("terms", [1, 2, 3])
def test_shared_sign_merge(terms):
    """c_i >= 0 and all z_i of one sign  =>  sigma(sum c_i z_i) == sum c_i sigma(z_i) (any slope)."""
    c, z = reals("c", terms), reals("z", terms)
    s = z3.Real("s")
    lhs = act(dot(c, z), s)
    rhs = z3.Sum([ci * act(zi, s) for ci, zi in zip(c, z)])
    prove(lhs == rhs, [ci >= 0 for ci in c], _agree(z))


def test_merge_condition_on_weights_symbolic():
    """W_k = c^T W and b_k = c^T b  =>  z_k = c^T z  (symbolic sizes)."""
    m, n = sp.symbols("m n", integer=True, positive=True)
    W, b = sp.MatrixSymbol("W", m, n), sp.MatrixSymbol("b", m, 1)
    c, h = sp.MatrixSymbol("c", m, 1), sp.MatrixSymbol("h", n, 1)
    z_k = (c.T * W) * h + c.T * b
    assert_identity(z_k, c.T * (W * h + b))


@pytest.mark.parametrize("n,p", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_merge_end_to_end(n, p):
    """Neuron 2 = c0 * neuron 0 + c1 * neuron 1 (weights and bias), c >= 0, pre-activations of
    0 and 1 agree in sign at this input: dropping 2 and adding c_i V[:,2] to V[:,i] is exact."""
    h, W, b = reals("h", n), real_matrix("W", 3, n), reals("b", 3)
    V, cc, c, s = real_matrix("V", p, 3), reals("cc", p), reals("c", 2), z3.Real("s")
    hyps = [W[2][i] == c[0] * W[0][i] + c[1] * W[1][i] for i in range(n)]
    hyps += [b[2] == c[0] * b[0] + c[1] * b[1], c[0] >= 0, c[1] >= 0]
    z = [dot(W[r], h) + b[r] for r in range(3)]
    hyps.append(_agree(z[:2]))
    y = [act(t, s) for t in z]
    original = [dot(V[a], y) + cc[a] for a in range(p)]
    reduced = [(V[a][0] + c[0] * V[a][2]) * y[0] + (V[a][1] + c[1] * V[a][2]) * y[1] + cc[a]
               for a in range(p)]
    prove(vec_eq(original, reduced), hyps)


# ------------------------------------------------------------ wrong variants
def test_wrong_merge_without_sign_agreement_fails():
    c1, c2, y1, y2 = z3.Reals("c1 c2 y1 y2")
    model = refute(relu(c1 * y1 + c2 * y2) == c1 * relu(y1) + c2 * relu(y2), c1 > 0, c2 > 0)
    assert value(model, y1) * value(model, y2) < 0


def test_wrong_merge_negative_coefficient_fails():
    c, z = reals("c", 2), reals("z", 2)
    refute(relu(dot(c, z)) == c[0] * relu(z[0]) + c[1] * relu(z[1]), _agree(z))


def test_wrong_merge_bias_not_combined_fails():
    h, c = z3.Reals("h c")
    w0, b0, b2 = z3.Reals("w0 b0 b2")
    z0, z2 = w0 * h + b0, c * w0 * h + b2                 # weights combined, bias not
    refute(relu(z2) == c * relu(z0), c > 0, z0 >= 0, b2 != c * b0)


def test_wrong_merge_leaky_without_sign_agreement_fails():
    y1, y2 = z3.Reals("y1 y2")
    s = Q("0.1")
    refute(act(y1 + y2, s) == act(y1, s) + act(y2, s))
