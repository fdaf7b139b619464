"""Machine check for proofs/affine_fold.md: composing affine maps (layers without a
non-linearity, or with identity activation) into one affine map."""

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity, assert_not_identity, entries
from proofs._z3util import act, prove, refute

n, m, p, q = sp.symbols("n m p q", integer=True, positive=True)


def test_two_affine_maps_symbolic_sizes():
    W1, W2 = sp.MatrixSymbol("W1", m, n), sp.MatrixSymbol("W2", p, m)
    x, b1, b2 = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("b1", m, 1), sp.MatrixSymbol("b2", p, 1)
    assert_identity(W2 * (W1 * x + b1) + b2, (W2 * W1) * x + (W2 * b1 + b2))


def test_three_affine_maps_symbolic_sizes():
    W1, W2, W3 = sp.MatrixSymbol("W1", m, n), sp.MatrixSymbol("W2", p, m), sp.MatrixSymbol("W3", q, p)
    x = sp.MatrixSymbol("x", n, 1)
    b1, b2, b3 = sp.MatrixSymbol("b1", m, 1), sp.MatrixSymbol("b2", p, 1), sp.MatrixSymbol("b3", q, 1)
    chained = W3 * (W2 * (W1 * x + b1) + b2) + b3
    assert_identity(chained, (W3 * W2 * W1) * x + (W3 * (W2 * b1 + b2) + b3))


@pytest.mark.parametrize("dims", [(1, 1, 1), (1, 2, 3), (3, 2, 1), (2, 3, 2), (3, 3, 3)])
def test_two_affine_maps_explicit(dims):
    n_, m_, p_ = dims
    W1, W2 = entries("a", m_, n_), entries("b", p_, m_)
    x, b1, b2 = entries("x", n_), entries("c", m_), entries("d", p_)
    assert_identity(W2 * (W1 * x + b1) + b2, (W2 * W1) * x + (W2 * b1 + b2))


def test_identity_activation_is_the_identity():
    z = z3.Real("z")
    prove(act(z, 1) == z)


# ------------------------------------------------------------ wrong variants
def _square():
    W1, W2 = sp.MatrixSymbol("W1", n, n), sp.MatrixSymbol("W2", n, n)
    x, b1, b2 = (sp.MatrixSymbol(name, n, 1) for name in ("x", "b1", "b2"))
    witness = {n: 2, W1: sp.Matrix([[1, 1], [0, 1]]), W2: sp.Matrix([[1, 0], [1, 1]]),
               x: sp.Matrix([1, 0]), b1: sp.Matrix([1, 0]), b2: sp.Matrix([0, 0])}
    return W1, W2, x, b1, b2, witness


def test_wrong_fold_bias_not_propagated_fails():
    W1, W2, x, b1, b2, witness = _square()
    assert_not_identity(W2 * (W1 * x + b1) + b2, (W2 * W1) * x + (b1 + b2), witness)


def test_wrong_fold_product_order_swapped_fails():
    W1, W2, x, b1, b2, witness = _square()
    assert_not_identity(W2 * (W1 * x + b1) + b2, (W1 * W2) * x + (W2 * b1 + b2), witness)


def test_wrong_fold_inner_bias_dropped_fails():
    W1, W2, x, b1, b2, witness = _square()
    assert_not_identity(W2 * (W1 * x + b1) + b2, (W2 * W1) * x + b2, witness)


def test_wrong_fold_through_relu_fails():
    # a ReLU between the two maps is not affine: relu is not the identity
    z = z3.Real("z")
    refute(act(z, 0) == z)
