"""Every supported op against onnxruntime (graph optimisations off) on seeded random inputs.

onnxruntime computes in float32, the interpreter in float64 on the same float32
inputs and weights, so they agree to float32 accuracy:
``|ours - ort| <= RTOL * |ort| + ATOL * max(1, max|ort|)`` with RTOL = ATOL = 1e-5.

Most models have a static per-sample input shape and are run sample by sample in
onnxruntime, batched in the interpreter: that checks the batch convention (every
axis attribute refers to the per-sample shape).  ``dynamic`` cases use a ``N``
batch dimension and run one onnxruntime batch.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from nnequiv.errors import UnsupportedOpError
from nnequiv.interpret import evaluate
from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.onnx_io import from_onnx_model, to_onnx_model
from nnequiv.ops.registry import SUPPORTED_OPS
from tests.helpers.onnx_builders import f32, make_model, ort_batch, ort_per_sample, single_op

RTOL = ATOL = 1e-5
BATCH = 3


def assert_close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL * scale)


def check(model, input_shape, seed: int = 0, scale: float = 1.0) -> None:
    """Static per-sample input: onnxruntime per sample vs the interpreter on the batch."""
    rng = np.random.default_rng(seed)
    x = f32(rng, BATCH, *input_shape, scale=scale)
    ours = evaluate(from_onnx_model(model), x)
    assert_close(ours, ort_per_sample(model, x))


def check_dynamic(model, sample_shape, seed: int = 0) -> None:
    """Input ``[N, *sample_shape]``: one onnxruntime batch vs the interpreter (per-sample (1, ...))."""
    rng = np.random.default_rng(seed)
    x = f32(rng, BATCH, *sample_shape)
    net = from_onnx_model(model)
    assert net.input.shape == (1, *sample_shape) and net.input.dynamic_axes == (0,)
    ours = evaluate(net, x[:, None])
    ref = ort_batch(model, x)
    assert_close(ours.reshape(ref.shape), ref)


# --------------------------------------------------------------------------- Gemm / MatMul
@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, 2.0)])
@pytest.mark.parametrize("c_shape", [None, (), (4,), (1, 4), (3, 4)])
def test_gemm(trans_a, trans_b, alpha, beta, c_shape):
    rng = np.random.default_rng(1)
    a_shape = (5, 3) if trans_a else (3, 5)
    init = {"b": f32(rng, *((4, 5) if trans_b else (5, 4)))}
    operands = ["x", "b"]
    if c_shape is not None:
        init["c"] = f32(rng, *c_shape)
        operands.append("c")
    model = single_op("Gemm", a_shape, init, operands=operands, transA=trans_a, transB=trans_b,
                      alpha=alpha, beta=beta)
    check(model, a_shape)


@pytest.mark.parametrize("opset", [9, 11, 13])
def test_gemm_opsets_dynamic_batch(opset):
    rng = np.random.default_rng(2)
    model = single_op("Gemm", ["N", 6], {"w": f32(rng, 4, 6), "c": f32(rng, 4)}, operands=["x", "w", "c"],
                      opset=opset, transB=1)
    check_dynamic(model, (6,))


def test_gemm_variable_right_operand():
    rng = np.random.default_rng(3)
    model = single_op("Gemm", (5, 2), {"w": f32(rng, 3, 5), "c": f32(rng, 3, 1)}, operands=["w", "x", "c"])
    check(model, (5, 2))


@pytest.mark.parametrize("x_shape,w_shape,x_left", [
    ((5,), (5, 3), True),           # vector @ matrix
    ((5,), (50, 5), False),         # W @ x: the ACAS Xu form
    ((2, 5), (5, 3), True),
    ((3, 2, 5), (5, 4), True),      # batched matmul inside the sample
    ((2, 5), (3, 5, 4), True),      # constant of higher rank than the sample
    ((5, 3), (4, 2, 5), False),
    ((5,), (5,), True),             # dot product: scalar per sample
    ((1, 5), (6, 5, 2), True),
])
def test_matmul(x_shape, w_shape, x_left):
    rng = np.random.default_rng(4)
    operands = ["x", "w"] if x_left else ["w", "x"]
    check(single_op("MatMul", x_shape, {"w": f32(rng, *w_shape)}, operands=operands), x_shape)


def test_matmul_both_variable():
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0]),
             helper.make_node("MatMul", ["x", "xt"], ["y"])]
    check(make_model(nodes, {"x": [3, 4]}, {"y": None}), (3, 4))


def test_matmul_constant_subgraph():
    """A weight transposed by a node (constants only) and then used."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
             helper.make_node("MatMul", ["x", "wt"], ["y"])]
    check(make_model(nodes, {"x": [2, 6]}, {"y": None}, {"w": f32(rng, 3, 6)}), (2, 6))


# --------------------------------------------------------------------------- arithmetic
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("c_shape", [(), (4,), (3, 1), (1, 1, 4), (2, 3, 4), (2, 1, 1)])
@pytest.mark.parametrize("constant_first", [False, True])
def test_binary_with_constant(op, c_shape, constant_first):
    rng = np.random.default_rng(6)
    c = f32(rng, *c_shape)
    if op == "Div" and not constant_first:  # keep divisors away from zero
        c = np.where(np.abs(c) < 0.2, np.float32(0.5), c).astype(np.float32)
    operands = ["c", "x"] if constant_first else ["x", "c"]
    check(single_op(op, (3, 4), {"c": c}, operands=operands), (3, 4))


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_binary_two_variables(op):
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Add", ["r"] + ["one"], ["d"]),
             helper.make_node(op, ["x", "d"], ["y"])]
    check(make_model(nodes, {"x": [2, 3]}, {"y": [2, 3]}, {"one": np.ones(3, np.float32)}), (2, 3))


def test_arithmetic_on_constants_only():
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("Mul", ["a", "b"], ["ab"]),
             helper.make_node("Div", ["ab", "c"], ["abc"]),
             helper.make_node("Sub", ["x", "abc"], ["y"])]
    init = {"a": f32(rng, 4), "b": f32(rng, 3, 1), "c": np.full((4,), 3.0, np.float32)}
    check(make_model(nodes, {"x": [3, 4]}, {"y": None}, init), (3, 4))


# --------------------------------------------------------------------------- activations
def test_relu():
    check(single_op("Relu", (2, 7)), (2, 7))


@pytest.mark.parametrize("alpha", [0.01, 0.2, 1.5])
def test_leaky_relu(alpha):
    check(single_op("LeakyRelu", (4, 5), alpha=alpha), (4, 5))


@pytest.mark.parametrize("opset", [11, 13, 17])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -2])
def test_softmax(opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    check(single_op("Softmax", (2, 3, 4), opset=opset, **attrs), (2, 3, 4), scale=3.0)


def test_softmax_dynamic_batch():
    check_dynamic(single_op("Softmax", ["N", 5], opset=11, axis=1), (5,))


# --------------------------------------------------------------------------- Conv
CONV_CASES = [
    dict(),
    dict(pads=[1, 1, 1, 1]),
    dict(pads=[0, 2, 1, 0], strides=[2, 1]),
    dict(strides=[2, 2], dilations=[2, 1]),
    dict(dilations=[2, 2], pads=[2, 2, 2, 2]),
    dict(auto_pad="VALID", strides=[2, 2]),
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 2]),
    dict(auto_pad="SAME_UPPER", kernel_shape=[2, 2]),
    dict(auto_pad="SAME_LOWER", kernel_shape=[2, 3], strides=[1, 2]),  # ORT: no dilation with SAME
]


@pytest.mark.parametrize("attrs", CONV_CASES)
@pytest.mark.parametrize("group", [1, 2, 4])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(attrs, group, bias):
    rng = np.random.default_rng(8)
    kernel = attrs.get("kernel_shape", [3, 3])
    init = {"w": f32(rng, 8, 4 // group, *kernel, scale=0.3)}
    if bias:
        init["b"] = f32(rng, 8)
    model = single_op("Conv", (1, 4, 9, 8), init, operands=["x", "w"] + (["b"] if bias else []),
                      group=group, **attrs)
    check(model, (1, 4, 9, 8))


@pytest.mark.parametrize("attrs", [dict(), dict(pads=[2, 1], strides=[2]), dict(dilations=[3], group=3),
                                   dict(auto_pad="SAME_UPPER", strides=[3])])
def test_conv1d(attrs):
    rng = np.random.default_rng(9)
    group = attrs.get("group", 1)
    model = single_op("Conv", (1, 3, 11), {"w": f32(rng, 6, 3 // group, 3), "b": f32(rng, 6)},
                      operands=["x", "w", "b"], **attrs)
    check(model, (1, 3, 11))


def test_conv3d():
    rng = np.random.default_rng(10)
    model = single_op("Conv", (1, 2, 5, 4, 6), {"w": f32(rng, 3, 2, 2, 3, 2)}, operands=["x", "w"],
                      pads=[1, 0, 1, 0, 1, 1], strides=[1, 2, 2])
    check(model, (1, 2, 5, 4, 6))


def test_conv_dynamic_batch():
    rng = np.random.default_rng(11)
    model = single_op("Conv", ["N", 3, 7, 7], {"w": f32(rng, 5, 3, 3, 3), "b": f32(rng, 5)},
                      operands=["x", "w", "b"], pads=[1, 1, 1, 1], strides=[2, 2], opset=11)
    check_dynamic(model, (3, 7, 7))


def test_conv_per_sample_batch_of_two():
    """A static ONNX batch of 2 inside each sample (the sample's own N axis is kept)."""
    rng = np.random.default_rng(12)
    check(single_op("Conv", (2, 3, 5, 5), {"w": f32(rng, 4, 3, 3, 3)}, operands=["x", "w"]), (2, 3, 5, 5))


# --------------------------------------------------------------------------- BatchNormalization
@pytest.mark.parametrize("opset", [9, 14, 15])
@pytest.mark.parametrize("shape", [(1, 4), (1, 4, 6), (2, 4, 3, 5)])
@pytest.mark.parametrize("epsilon", [1e-5, 0.1])
def test_batch_normalization(opset, shape, epsilon):
    rng = np.random.default_rng(13)
    init = {"s": f32(rng, 4), "b": f32(rng, 4), "m": f32(rng, 4), "v": np.abs(f32(rng, 4)) + 0.1}
    model = single_op("BatchNormalization", shape, init, operands=["x", "s", "b", "m", "v"], opset=opset,
                      epsilon=epsilon)
    check(model, shape)


# --------------------------------------------------------------------------- pooling
POOL_CASES = [
    dict(kernel_shape=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[3, 2], strides=[2, 3], pads=[1, 0, 0, 1]),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[2, 3], strides=[3, 2], pads=[1, 1, 0, 1], ceil_mode=1),
    dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1], ceil_mode=1),  # last window dropped
    dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_LOWER"),
    dict(kernel_shape=[3, 3], auto_pad="VALID"),
]


@pytest.mark.parametrize("attrs", POOL_CASES)
def test_max_pool(attrs):
    check(single_op("MaxPool", (1, 3, 9, 8), opset=12, **attrs), (1, 3, 9, 8))


@pytest.mark.parametrize("attrs", [dict(kernel_shape=[2, 2], dilations=[2, 2]),
                                   dict(kernel_shape=[3, 3], dilations=[2, 1], pads=[1, 1, 1, 1], strides=[2, 2])])
def test_max_pool_dilations(attrs):
    check(single_op("MaxPool", (1, 2, 9, 8), opset=12, **attrs), (1, 2, 9, 8))


@pytest.mark.parametrize("attrs", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool(attrs, count_include_pad):
    model = single_op("AveragePool", (1, 3, 9, 8), opset=11, count_include_pad=count_include_pad, **attrs)
    check(model, (1, 3, 9, 8))


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_dilations_opset19(count_include_pad):
    model = single_op("AveragePool", (1, 2, 9, 8), opset=19, kernel_shape=[2, 3], dilations=[2, 2],
                      pads=[1, 1, 1, 1], count_include_pad=count_include_pad)
    check(model, (1, 2, 9, 8))


def test_pool_1d():
    check(single_op("MaxPool", (1, 2, 10), kernel_shape=[3], strides=[2], pads=[1, 1]), (1, 2, 10))
    check(single_op("AveragePool", (1, 2, 10), kernel_shape=[3], strides=[2], pads=[1, 1]), (1, 2, 10))


def test_global_average_pool():
    check(single_op("GlobalAveragePool", (1, 3, 5, 4)), (1, 3, 5, 4))
    check_dynamic(single_op("GlobalAveragePool", ["N", 3, 6]), (3, 6))


# --------------------------------------------------------------------------- layout ops
@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1, -3])
def test_flatten(axis):
    check(single_op("Flatten", (2, 3, 4), axis=axis), (2, 3, 4))


@pytest.mark.parametrize("target", [[6, 4], [0, -1], [-1], [2, 0, 2, 2], [4, -1, 3], [1, 24]])
def test_reshape_initializer(target):
    model = single_op("Reshape", (2, 3, 4), {"s": np.array(target, np.int64)}, operands=["x", "s"])
    check(model, (2, 3, 4))


def test_reshape_from_constant_node_and_allowzero():
    shape = helper.make_tensor("shape", 7, [3], [3, -1, 2])  # INT64
    nodes = [helper.make_node("Constant", [], ["s"], value=shape),
             helper.make_node("Reshape", ["x", "s"], ["y"], allowzero=1)]
    check(make_model(nodes, {"x": [2, 3, 4]}, {"y": None}, opset=14), (2, 3, 4))


def test_reshape_dynamic_batch():
    model = single_op("Reshape", ["N", 2, 3], {"s": np.array([-1, 6], np.int64)}, operands=["x", "s"])
    check_dynamic(model, (2, 3))


@pytest.mark.parametrize("perm", [None, [0, 1, 2], [2, 0, 1], [1, 2, 0]])
def test_transpose(perm):
    attrs = {} if perm is None else {"perm": perm}
    check(single_op("Transpose", (2, 3, 4), **attrs), (2, 3, 4))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_variable_and_constant(axis):
    rng = np.random.default_rng(14)
    shape = [2, 3, 4]
    shape[axis] = 5
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Concat", ["x", "c", "r"], ["y"], axis=axis)]
    check(make_model(nodes, {"x": [2, 3, 4]}, {"y": None}, {"c": f32(rng, *shape)}), (2, 3, 4))


def test_concat_constants_only_then_add():
    nodes = [helper.make_node("Concat", ["a", "b"], ["ab"], axis=0),
             helper.make_node("Add", ["x", "ab"], ["y"])]
    init = {"a": np.ones((1, 3), np.float32), "b": np.full((1, 3), 2.0, np.float32)}
    check(make_model(nodes, {"x": [2, 3]}, {"y": None}, init), (2, 3))


def test_identity():
    check(single_op("Identity", (3, 2)), (3, 2))


@pytest.mark.parametrize("opset", [10, 12, 13])
def test_dropout_inference(opset):
    operands = ["x", "ratio"] if opset >= 12 else ["x"]
    init = {"ratio": np.array(0.5, np.float32)} if opset >= 12 else {}
    attrs = {"ratio": 0.3} if opset < 12 else {}
    check(single_op("Dropout", (2, 5), init, operands=operands, opset=opset, **attrs), (2, 5))


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axes", [None, [0], [2], [0, -1]])
def test_squeeze(opset, axes):
    shape = (1, 3, 1, 1)
    if axes is None:
        model = single_op("Squeeze", shape, opset=opset)
    elif opset < 13:
        model = single_op("Squeeze", shape, opset=opset, axes=axes)
    else:
        model = single_op("Squeeze", shape, {"a": np.array(axes, np.int64)}, operands=["x", "a"], opset=opset)
    check(model, shape)


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axes", [[0], [1], [-1], [0, 3], [1, -1]])
def test_unsqueeze(opset, axes):
    shape = (3, 2)
    if opset < 13:
        model = single_op("Unsqueeze", shape, opset=opset, axes=axes)
    else:
        model = single_op("Unsqueeze", shape, {"a": np.array(axes, np.int64)}, operands=["x", "a"], opset=opset)
    check(model, shape)


@pytest.mark.parametrize("attr,value", [("value", helper.make_tensor("t", 1, [2], [0.25, -1.0])),
                                        ("value_float", 1.5), ("value_floats", [1.0, -2.0])])
def test_constant_node_float(attr, value):
    nodes = [helper.make_node("Constant", [], ["c"], **{attr: value}), helper.make_node("Mul", ["x", "c"], ["y"])]
    check(make_model(nodes, {"x": [2, 2]}, {"y": None}, opset=13), (2, 2))


def test_constant_node_ints_as_shape():
    nodes = [helper.make_node("Constant", [], ["s"], value_ints=[4, -1]),
             helper.make_node("Reshape", ["x", "s"], ["y"])]
    check(make_model(nodes, {"x": [2, 2, 2]}, {"y": None}, opset=13), (2, 2, 2))


def test_constant_op_in_the_interpreter():
    """Import folds Constant nodes; a Network may still hold one.  Checked through export."""
    net = Network.create(
        inputs=[TensorSpec("x", (2, 3))], outputs=[TensorSpec("y", (2, 3))],
        nodes=[Node("c", "Constant", (), ("c",), {"value": np.array([0.5, -2.0, 3.0], np.float32)}),
               Node("mul", "Mul", ("x", "c"), ("y",))],
        initializers={})
    x = f32(np.random.default_rng(15), BATCH, 2, 3)
    np.testing.assert_array_equal(evaluate(net, x), x.astype(np.float64) * np.array([0.5, -2.0, 3.0]))
    assert_close(evaluate(net, x), ort_per_sample(to_onnx_model(net), x))


@pytest.mark.parametrize("variable", ["updates", "data"])
@pytest.mark.parametrize("axis", [1, -1])
def test_scatter_elements(variable, axis):
    """ScatterElements with constant indices (a permutation of part of the axis, negative entries
    included); the variable input is either the updates or the data."""
    rng = np.random.default_rng(17)
    shape, part = (1, 4, 3), (1, 4, 2) if axis == 1 else (1, 2, 3)
    size = shape[axis]
    along = rng.permutation(size)[:part[axis]] - size * (rng.random(part[axis]) < 0.5)
    index = np.broadcast_to(along.reshape([-1 if k == axis % 3 else 1 for k in range(3)]), part).copy()
    const = rng.normal(size=shape if variable == "updates" else part).astype(np.float32)
    operands = ["c", "i", "x"] if variable == "updates" else ["x", "i", "c"]
    model = single_op("ScatterElements", part if variable == "updates" else shape, {"c": const, "i": index},
                      operands=operands, axis=axis)
    check(model, part if variable == "updates" else shape, seed=axis + 3)


def test_every_supported_op_is_tested():
    tested = {"Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Softmax", "Conv",
              "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape",
              "Transpose", "Concat", "Identity", "Dropout", "Squeeze", "Unsqueeze", "Constant", "ScatterElements"}
    assert SUPPORTED_OPS == tested


def test_unsupported_op_in_dispatch_is_named():
    with pytest.raises(UnsupportedOpError, match="Sin"):
        from_onnx_model(single_op("Sin", (2,)))


@pytest.mark.slow
def test_resnet18_sized_cnn():
    """The full ResNet-18 layout on 224x224 (speed is measured elsewhere, not asserted)."""
    from tests.helpers.onnx_builders import resnet18_like

    check_dynamic(resnet18_like(np.random.default_rng(16)), (3, 224, 224))
