"""The interpreter itself: exact rational mode, shape inference, constants, input forms.

Exact mode must equal a hand-computed Fraction result on a tiny net, agree with
float64 mode to 1e-12 (relative) on random MLPs and CNNs, and report irrational
ops (BatchNormalization, Softmax) as approximations accurate far beyond float64.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest
from onnx import helper

from nnequiv.errors import ShapeError, UsageError
from nnequiv.interpret import (ExactResult, evaluate, evaluate_all, evaluate_constant, evaluate_exact,
                               infer_shapes)
from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.onnx_io import from_onnx_model
from tests.helpers.onnx_builders import f32, make_model, random_mlp, single_op, small_cnn


def exact(value: float) -> Fraction:
    return Fraction(float(value))


def tiny_net() -> Network:
    """y = v . (relu(W x + b) / 3) + c with float32 weights that are not short decimals."""
    init = {
        "W": np.array([[0.1, -0.2], [0.3, 0.4]], np.float32), "b": np.array([0.5, -0.1], np.float32),
        "three": np.array(3.0, np.float32), "v": np.array([0.7, 0.25], np.float32),
        "c": np.array([1.1], np.float32),
    }
    nodes = [Node("gemm", "Gemm", ("x", "W", "b"), ("h",), {"transB": 1}),
             Node("relu", "Relu", ("h",), ("r",)),
             Node("div", "Div", ("r", "three"), ("z",)),
             Node("dot", "MatMul", ("z", "v"), ("d",)),
             Node("add", "Add", ("d", "c"), ("y",))]
    return Network.create(inputs=[TensorSpec("x", (1, 2))], outputs=[TensorSpec("y", (1,))], nodes=nodes,
                          initializers=init, source="tiny.onnx")


def test_exact_equals_hand_computation():
    net = tiny_net()
    W, b, v, c = (net.initializers[k] for k in ("W", "b", "v", "c"))
    x = [Fraction(1, 3), exact(-0.75)]
    pre = [sum(exact(W[i, j]) * x[j] for j in range(2)) + exact(b[i]) for i in range(2)]
    hidden = [max(p, Fraction(0)) / 3 for p in pre]
    expected = sum(exact(v[i]) * hidden[i] for i in range(2)) + exact(c[0])
    result = evaluate_exact(net, x)
    assert result.exact and result.irrational_ops == ()
    assert result.values.shape == (1,)
    assert result.values[0] == expected            # equality of rationals, not closeness
    assert expected.denominator % 3 == 0           # really rational, not a float
    assert result.as_float()[0] == float(expected)


def test_exact_result_is_immutable_fractions():
    result = evaluate_exact(tiny_net(), [0.5, 0.25])
    assert result.values.dtype == object
    assert all(isinstance(v, Fraction) for v in result.values.ravel())
    with pytest.raises(ValueError):
        result.values[0] = Fraction(0)
    assert result.as_float().dtype == np.float64


def test_exact_input_size_is_checked():
    with pytest.raises(ShapeError, match="tiny.onnx"):
        evaluate_exact(tiny_net(), [1.0, 2.0, 3.0])


def assert_exact_close(net: Network, x: np.ndarray) -> ExactResult:
    floats = evaluate(net, x[None])[0]
    result = evaluate_exact(net, x)
    np.testing.assert_allclose(result.as_float(), floats, rtol=1e-12,
                               atol=1e-12 * max(1.0, np.abs(floats).max()))
    return result


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("leaky", [None, 0.1])
def test_exact_matches_float_on_random_mlps(seed, leaky):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(2, 12)) for _ in range(int(rng.integers(2, 5)))]
    net = from_onnx_model(random_mlp(rng, widths, leaky=leaky, batch_dim=bool(seed % 2)))
    assert assert_exact_close(net, f32(rng, *net.input.shape)).exact


@pytest.mark.parametrize("seed", range(3))
def test_exact_matches_float_on_cnns(seed):
    rng = np.random.default_rng(seed)
    net = from_onnx_model(small_cnn(rng))
    result = assert_exact_close(net, f32(rng, *net.input.shape))
    assert not result.exact
    assert result.irrational_ops == tuple(n.name for n in net.nodes if n.op == "BatchNormalization")


def test_exact_pooling_and_division_stay_exact():
    """Average pooling (count_include_pad=0 divides by 4, 6 or 9) and Div are rational."""
    nodes = [helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Div", ["a", "d"], ["y"])]
    model = make_model(nodes, {"x": [1, 1, 3, 3]}, {"y": None}, {"d": np.array(7.0, np.float32)})
    net = from_onnx_model(model)
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3) + 0.5
    result = evaluate_exact(net, x)
    assert result.exact
    corner = sum(Fraction(v) for v in (0.5, 1.5, 3.5, 4.5)) / 4 / 7
    assert result.values[0, 0, 0, 0] == corner


def test_exact_batch_normalization_precision():
    init = {"s": np.array([1.5], np.float32), "b": np.array([0.25], np.float32),
            "m": np.array([0.1], np.float32), "v": np.array([0.3], np.float32)}
    net = from_onnx_model(single_op("BatchNormalization", (1, 1), init, operands=["x", "s", "b", "m", "v"],
                                    epsilon=1e-5))
    result = evaluate_exact(net, [0.7])
    assert not result.exact and result.irrational_ops == ("batchnormalization_node",)
    with mpmath.workdps(80):
        f = lambda a: mpmath.mpf(Fraction(float(a)).numerator) / Fraction(float(a)).denominator
        eps = f(np.float32(1e-5))
        ref = (f(0.7) - f(init["m"][0])) / mpmath.sqrt(f(init["v"][0]) + eps) * f(init["s"][0]) + f(init["b"][0])
        got = mpmath.mpf(result.values[0, 0].numerator) / result.values[0, 0].denominator
        assert abs(got - ref) < mpmath.mpf(10) ** -50


def test_exact_softmax_sums_to_one_and_is_accurate():
    net = from_onnx_model(single_op("Softmax", (4,), axis=-1))
    x = [0.5, -1.25, 3.0, 0.0]
    result = evaluate_exact(net, x)
    assert not result.exact and result.irrational_ops == ("softmax_node",)
    assert sum(result.values) == 1
    with mpmath.workdps(80):
        exps = [mpmath.exp(mpmath.mpf(v)) for v in x]
        for got, e in zip(result.values, exps):
            assert abs(mpmath.mpf(got.numerator) / got.denominator - e / sum(exps)) < mpmath.mpf(10) ** -50


def test_exact_mnist_sized_mlp():
    rng = np.random.default_rng(7)
    net = from_onnx_model(random_mlp(rng, [784, 100, 100, 100, 10], batch_dim=False))
    x = rng.uniform(0, 1, 784).astype(np.float32)
    result = assert_exact_close(net, x)
    assert result.exact and result.values.shape == (10,)


# --------------------------------------------------------------------------- float mode API
def test_evaluate_accepts_flat_or_shaped_batches():
    net = from_onnx_model(small_cnn(np.random.default_rng(1)))
    x = f32(np.random.default_rng(2), 2, *net.input.shape)
    np.testing.assert_array_equal(evaluate(net, x), evaluate(net, x.reshape(2, -1)))
    assert evaluate(net, x).shape == (2, *net.output.shape)
    assert evaluate(net, x).dtype == np.float64
    np.testing.assert_array_equal(net.evaluate(x), evaluate(net, x))


def test_evaluate_rejects_wrong_input_shape():
    with pytest.raises(ShapeError, match=r"tiny\.onnx.*\(B, 1, 2\) or \(B, 2\)"):
        evaluate(tiny_net(), np.zeros((3, 5)))


def test_evaluate_all_keeps_every_tensor():
    net = tiny_net()
    values = evaluate_all(net, np.ones((4, 1, 2)))
    assert {"x", "h", "r", "z", "d", "y", "W"} <= set(values)
    assert values["h"].shape == (4, 1, 2)          # variable: batch axis in front
    assert values["W"].shape == (2, 2)             # constant: no batch axis
    np.testing.assert_array_equal(values["y"], evaluate(net, np.ones((4, 1, 2))))


def test_infer_shapes_per_sample():
    net = from_onnx_model(small_cnn(np.random.default_rng(0)))
    shapes = infer_shapes(net)
    assert shapes["x"] == (1, 3, 8, 8)
    assert shapes["c1"] == (1, 4, 8, 8)
    assert shapes["p2"] == (1, 4, 4, 4)
    assert shapes["g"] == (1, 4, 1, 1)
    assert shapes["f"] == (1, 4)
    assert shapes["y"] == (1, 3)
    assert shapes["w1"] == (4, 3, 3, 3)


def test_infer_shapes_names_node_and_file():
    net = Network.create(
        inputs=[TensorSpec("x", (1, 4))], outputs=[TensorSpec("y", (1, 3))],
        nodes=[Node("dense", "Gemm", ("x", "W"), ("y",), {"transB": 1})],
        initializers={"W": np.zeros((3, 5), np.float32)}, source="bad.onnx")
    with pytest.raises(ShapeError) as info:
        infer_shapes(net)
    assert info.value.node == "dense" and info.value.file == "bad.onnx"
    assert "bad.onnx" in str(info.value) and "dense" in str(info.value)


def test_evaluate_constant():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    net = Network.create(
        inputs=[TensorSpec("x", (3,))], outputs=[TensorSpec("y", (2,))],
        nodes=[Node("t", "Transpose", ("w",), ("wt",)), Node("mm", "MatMul", ("x", "wt"), ("y",))],
        initializers={"w": w})
    value = evaluate_constant(net, net.node("t"))
    np.testing.assert_array_equal(value, w.T)
    assert value.dtype == np.float64
    with pytest.raises(UsageError, match="depends on the network input"):
        evaluate_constant(net, net.node("mm"))


def test_constant_output_is_broadcast_over_the_batch():
    net = Network.create(inputs=[TensorSpec("x", (2,))], outputs=[TensorSpec("y", (2,))],
                         nodes=[Node("id", "Identity", ("c",), ("y",))],
                         initializers={"c": np.array([1.0, 2.0])})
    np.testing.assert_array_equal(evaluate(net, np.zeros((3, 2))), [[1.0, 2.0]] * 3)


def test_exact_mode_rejects_non_finite_values():
    with pytest.raises(UsageError, match="finite"):
        evaluate_exact(tiny_net(), [float("nan"), 1.0])
    net = tiny_net().replace(initializers={**tiny_net().initializers, "c": np.array([np.inf], np.float32)})
    with pytest.raises(UsageError, match="'c' holds inf"):
        evaluate_exact(net, [1.0, 1.0])
