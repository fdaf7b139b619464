"""Lowering to the piecewise-linear form agrees with the reference interpreter, and its weight
radii cover the exact (rational) semantics."""

from fractions import Fraction

import numpy as np
import pytest

from nnequiv.checker.diffzono import analyze
from nnequiv.interpret import evaluate, evaluate_exact
from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.lowering import to_pwl
from tests.helpers.models import random_cnn, random_mlp


def _agree(net: Network, rng, n=64, scale=1.0, atol=1e-9):
    pwl = to_pwl(net)
    x = rng.uniform(-scale, scale, (n, net.input.size))
    expected = evaluate(net, x).reshape(n, -1)
    got = pwl.evaluate(x)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=atol)
    return pwl


@pytest.mark.parametrize("activation", ["Relu", "LeakyRelu"])
def test_mlp_with_normalisation(activation):
    rng = np.random.default_rng(0)
    net = random_mlp(rng, [4, 8, 8, 3], activation=activation, input_mean=[0.1, -0.2, 0.3, 0.0],
                     input_range=[3.0, 0.7, 2.0, 1.0], output_scale=0.3, output_shift=1.5)
    pwl = _agree(net, rng)
    assert not pwl.is_exact  # 1/0.7, 1/3 and 0.3 products are not float64 numbers
    assert pwl.layers[0].weight_rad.max() < 1e-14 * np.abs(pwl.layers[0].weight).max()


def test_exact_lowering_has_zero_radii():
    rng = np.random.default_rng(1)
    net = random_mlp(rng, [5, 7, 7, 2])
    pwl = _agree(net, rng)
    assert pwl.is_exact


@pytest.mark.parametrize("batchnorm,residual", [(False, False), (True, False), (True, True)])
def test_cnn_with_batchnorm_and_residual(batchnorm, residual):
    rng = np.random.default_rng(2)
    net = random_cnn(rng, batchnorm=batchnorm, residual=residual)
    _agree(net, rng, n=16, atol=1e-8)


def test_radii_cover_the_exact_semantics():
    """At random points the exact rational output lies inside the lowered network's analysis
    of the single point (a zero-width box), which accounts for every weight radius."""
    rng = np.random.default_rng(3)
    net = random_mlp(rng, [3, 6, 2], input_mean=[0.1, 0.2, 0.3], input_range=[0.3, 0.7, 1.1],
                     output_scale=0.1)
    pwl = to_pwl(net)
    for _ in range(5):
        x = rng.uniform(-1, 1, 3)
        exact = evaluate_exact(net, x).values.ravel()
        lo, hi = (b[0] for b in analyze(pwl, pwl, x, x).f_out.bounds())
        for value, a, b in zip(exact, lo, hi):
            assert Fraction(float(a)) <= value <= Fraction(float(b))


def test_transpose_concat_and_final_softmax():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(6, 4)).astype(np.float32)
    nodes = [
        Node("t", "Transpose", ("x",), ("xt",), {"perm": (1, 0)}),
        Node("flat", "Flatten", ("xt",), ("xf",), {"axis": 0}),
        Node("cat", "Concat", ("xf", "xf"), ("xc",), {"axis": 1}),
        Node("mm", "MatMul", ("xc", "w"), ("h",)),
        Node("act", "Relu", ("h",), ("r",)),
        Node("sm", "Softmax", ("r",), ("y",), {"axis": 1}),
    ]
    net = Network.create(inputs=[TensorSpec("x", (1, 2))], outputs=[TensorSpec("y", (1, 6))], nodes=nodes,
                         initializers={"w": np.concatenate([w[:, :2].T, w[:, 2:].T])}, name="t")
    pwl = to_pwl(net)
    assert pwl.softmax_output
    x = rng.uniform(-1, 1, (8, 2))
    np.testing.assert_allclose(pwl.evaluate(x), evaluate(net, x).reshape(8, -1), rtol=1e-9, atol=1e-12)


def test_unsupported_op_is_named():
    from nnequiv.errors import UnsupportedOpError

    nodes = [Node("m", "Mul", ("x", "x"), ("y",))]
    net = Network.create(inputs=[TensorSpec("x", (2,))], outputs=[TensorSpec("y", (2,))], nodes=nodes,
                         initializers={})
    with pytest.raises(UnsupportedOpError, match="'m'|variable"):
        to_pwl(net)


def test_leaky_relu_default_alpha_is_float32():
    """ONNX stores attributes as float32: the default alpha is float32(0.01) (found by the campaign)."""
    nodes = [Node("act", "LeakyRelu", ("x",), ("y",))]
    net = Network.create(inputs=[TensorSpec("x", (1, 1))], outputs=[TensorSpec("y", (1, 1))], nodes=nodes,
                         initializers={})
    slope = to_pwl(net).layers[0].slope[0]
    assert slope == float(np.float32(0.01))
    np.testing.assert_array_equal(to_pwl(net).evaluate(np.array([[-1.0]])), evaluate(net, np.array([[-1.0]])).reshape(1, 1))
