"""Machine check for proofs/linear_merge.md: merging a neuron whose pre-activation is a
rational combination of others, under sign agreement (of the terms; and of z_k itself when
a coefficient is negative), proved on sub-boxes that cover the box."""

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


@pytest.mark.parametrize("terms", [1, 2, 3])
def test_mixed_sign_merge_with_the_merged_sign(terms):
    """M2': any real c_i; the z_i AND z_k = sum c_i z_i share a sign  =>  sigma(z_k) = sum c_i sigma(z_i)."""
    c, z = reals("c", terms), reals("z", terms)
    s = z3.Real("s")
    z_k = dot(c, z)
    rhs = z3.Sum([ci * act(zi, s) for ci, zi in zip(c, z)])
    prove(act(z_k, s) == rhs, _agree(list(z) + [z_k]))


@pytest.mark.parametrize("terms", [1, 2, 3])
def test_positive_coefficients_give_the_merged_sign(terms):
    """For c_i >= 0 the sign of z_k follows from the z_i: M2 is M2' with z_k's sign implied."""
    c, z = reals("c", terms), reals("z", terms)
    prove(_agree(list(z) + [dot(c, z)]), [ci >= 0 for ci in c], _agree(z))


def test_mixed_merge_end_to_end():
    """z_2 = c0 z_0 + c1 z_1 with any real c, z_0, z_1, z_2 sharing a sign at this input: exact merge."""
    h, W, b = reals("h", 2), real_matrix("W", 3, 2), reals("b", 3)
    V, cc, c, s = real_matrix("V", 2, 3), reals("cc", 2), reals("c", 2), z3.Real("s")
    hyps = [W[2][i] == c[0] * W[0][i] + c[1] * W[1][i] for i in range(2)]
    hyps.append(b[2] == c[0] * b[0] + c[1] * b[1])
    z = [dot(W[r], h) + b[r] for r in range(3)]
    hyps.append(_agree(z))
    y = [act(t, s) for t in z]
    original = [dot(V[a], y) + cc[a] for a in range(2)]
    reduced = [(V[a][0] + c[0] * V[a][2]) * y[0] + (V[a][1] + c[1] * V[a][2]) * y[1] + cc[a] for a in range(2)]
    prove(vec_eq(original, reduced), hyps)


def test_cover_lifts_the_sign_condition_to_the_box():
    """C1: if [l, u] lies in [l1, u1] u [l2, u2] (closed pieces, here a split at t) and the sign condition
    holds on each piece, it holds at every x of [l, u]."""
    x, l, u, t = z3.Reals("x l u t")
    z0, z1 = z3.Function("z0", z3.RealSort(), z3.RealSort()), z3.Function("z1", z3.RealSort(), z3.RealSort())
    piece1 = z3.ForAll([x], z3.Implies(z3.And(l <= x, x <= t), _agree([z0(x), z1(x)])))
    piece2 = z3.ForAll([x], z3.Implies(z3.And(t <= x, x <= u), _agree([z0(x), z1(x)])))
    y = z3.Real("y")
    prove(_agree([z0(y), z1(y)]), piece1, piece2, l <= y, y <= u)


# ------------------------------------------------------------ wrong variants
def test_wrong_mixed_merge_ignoring_the_merged_sign_fails():
    """With a negative coefficient the terms' shared sign is not enough: z_k's sign must be included."""
    c, z = reals("c", 2), reals("z", 2)
    model = refute(relu(dot(c, z)) == c[0] * relu(z[0]) + c[1] * relu(z[1]), _agree(z), c[0] != 0, c[1] != 0)
    z_k = value(model, dot(c, z))
    assert (value(model, z[0]) >= 0 and value(model, z[1]) >= 0 and z_k < 0) or \
        (value(model, z[0]) <= 0 and value(model, z[1]) <= 0 and z_k > 0)


def test_wrong_cover_with_an_open_seam_fails():
    """Pieces [l, t) and (t, u] miss t: the sign condition can fail there."""
    x, l, u, t = z3.Reals("x l u t")
    z0, z1 = z3.Function("z0", z3.RealSort(), z3.RealSort()), z3.Function("z1", z3.RealSort(), z3.RealSort())
    piece1 = z3.ForAll([x], z3.Implies(z3.And(l <= x, x < t), _agree([z0(x), z1(x)])))
    piece2 = z3.ForAll([x], z3.Implies(z3.And(t < x, x <= u), _agree([z0(x), z1(x)])))
    y = z3.Real("y")
    refute(_agree([z0(y), z1(y)]), piece1, piece2, l <= y, y <= u)


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
