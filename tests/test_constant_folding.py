"""Load-time constant folding of static shape subgraphs (``nnequiv/folding``).

Each folding rule is run on seeded constants and compared with onnxruntime running the same
node (bit for bit, dtype included: the rules are data movement and integer shape arithmetic);
graphs with ``Shape`` of a static tensor load with the shape ops gone and compute what
onnxruntime computes; a batch-size flatten with a dynamic axis folds batch-generically, other
uses of a batch-dependent shape and an op that cannot be folded are refused naming the node; ScatterElements with a variable ``updates`` is evaluated exactly and
lowered exactly; torch-simplify's ResNet output now loads and is decided.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnequiv.errors import ShapeError, UnsupportedOpError
from nnequiv.folding import FOLD_RULES
from nnequiv.interpret import evaluate, evaluate_exact
from nnequiv.ir import Node
from nnequiv.lowering import to_pwl
from nnequiv.onnx_io import canonical_sha256, from_onnx_model, to_onnx_model
from tests.helpers.onnx_builders import make_model, ort_batch, session

RNG_SEED = 7


def _cases(rng: np.random.Generator):
    """(op, {input name: array}, attributes) -- every rule, some twice (attribute variants)."""
    f = rng.normal(size=(2, 3, 4)).astype(np.float32)
    i = rng.integers(-5, 5, size=(3, 4)).astype(np.int64)
    return [
        ("Identity", {"a": f}, {}),
        ("Shape", {"a": f}, {}),
        ("Shape", {"a": f}, {"start": 1, "end": -1}),
        ("Size", {"a": f}, {}),
        ("Expand", {"a": f[:, :1, :], "s": np.array([2, 3, 4], np.int64)}, {}),
        ("Expand", {"a": rng.normal(size=(3, 1)).astype(np.float32), "s": np.array([2, 1, 4], np.int64)}, {}),
        ("Unsqueeze", {"a": i, "axes": np.array([0, -1], np.int64)}, {}),
        ("Squeeze", {"a": f[:, :1, :], "axes": np.array([1], np.int64)}, {}),
        ("Concat", {"a": f, "b": f[:, :2, :] * 2}, {"axis": 1}),
        ("Gather", {"a": f, "idx": np.array([[2, 0], [-1, 1]], np.int64)}, {"axis": 1}),
        ("Gather", {"a": np.array([1, 3, 8, 8], np.int64), "idx": np.array(0, np.int64)}, {}),
        ("ConstantOfShape", {"s": np.array([2, 3], np.int64)},
         {"value": numpy_helper.from_array(np.array([0.25], np.float32))}),
        ("ConstantOfShape", {"s": np.array([4], np.int64)}, {}),
        ("Cast", {"a": f * 4}, {"to": TensorProto.INT64}),
        ("Cast", {"a": i}, {"to": TensorProto.FLOAT}),
        ("Cast", {"a": rng.normal(size=5) * 1e3}, {"to": TensorProto.FLOAT}),    # float64 -> float32 rounds
        ("Reshape", {"a": f, "s": np.array([0, -1], np.int64)}, {}),
        ("Add", {"a": i, "b": np.array([1, -2, 3, 4], np.int64)}, {}),
        ("Sub", {"a": i, "b": i[:1] * 3}, {}),
        ("Mul", {"a": np.array([1, 3, 8, 8], np.int64), "b": np.array(2, np.int64)}, {}),
        ("Div", {"a": i * 7, "b": np.array([2, -3, 5, 4], np.int64)}, {}),
        ("ScatterElements", {"a": np.zeros((1, 4, 2, 2), np.float32),
                             "idx": np.broadcast_to(np.array([2, 0, 3, 1]).reshape(1, 4, 1, 1), (1, 4, 2, 2)).copy(),
                             "u": rng.normal(size=(1, 4, 2, 2)).astype(np.float32)}, {"axis": 1}),
        ("ScatterElements", {"a": f, "idx": np.array([[[1], [0]], [[-1], [0]]], np.int64),
                             "u": rng.normal(size=(2, 2, 1)).astype(np.float32)}, {"axis": 1}),
    ]


def _ours_attrs(attrs: dict) -> dict:
    return {k: numpy_helper.to_array(v) if hasattr(v, "data_type") else v for k, v in attrs.items()}


@pytest.mark.parametrize("case", range(len(_cases(np.random.default_rng(RNG_SEED)))))
def test_fold_rule_matches_onnxruntime(case):
    op, operands, attrs = _cases(np.random.default_rng(RNG_SEED))[case]
    node = helper.make_node(op, list(operands), ["y"], name="folded", **attrs)
    keep = helper.make_node("Identity", ["x"], ["x_out"], name="keep")
    model = make_model([node, keep], {"x": [1]}, {"x_out": [1]}, operands, opset=18)
    typed = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model.graph.output.append(next(v for v in typed.graph.value_info if v.name == "y"))
    reference = session(model).run(["y"], {"x": np.zeros(1, np.float32)})[0]
    ours = FOLD_RULES[op](Node("folded", op, tuple(operands), ("y",), _ours_attrs(attrs)),
                          tuple(operands.values()), 18)[0]
    assert ours.dtype == reference.dtype and ours.shape == reference.shape
    assert np.array_equal(ours, reference)


def test_float_arithmetic_on_constants_is_left_to_the_interpreter():
    """Only integer (shape) arithmetic is folded: a float Add of constants stays a node."""
    nodes = [helper.make_node("Add", ["c", "d"], ["e"], name="float_add"),
             helper.make_node("Add", ["x", "e"], ["y"], name="add")]
    c, d = np.array([0.1], np.float32), np.array([0.2], np.float32)
    net = from_onnx_model(make_model(nodes, {"x": [1]}, {"y": [1]}, {"c": c, "d": d}))
    assert [n.name for n in net.nodes] == ["float_add", "add"]


def test_every_rule_has_a_case():
    assert {op for op, _, _ in _cases(np.random.default_rng(0))} == set(FOLD_RULES)


def _flatten_by_shape_model(dims):
    """torch's ``x.view(x.size(0), -1)`` pattern feeding a Gemm."""
    rng = np.random.default_rng(RNG_SEED)
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
             helper.make_node("Concat", ["n1", "minus_one"], ["target"], name="concat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"], name="reshape"),
             helper.make_node("Gemm", ["flat", "w", "b"], ["y"], name="gemm", transB=1)]
    init = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64), "minus_one": np.array([-1], np.int64),
            "w": rng.normal(size=(5, 48)).astype(np.float32), "b": rng.normal(size=5).astype(np.float32)}
    return make_model(nodes, {"x": dims}, {"y": [dims[0], 5]}, init)


def test_static_shape_subgraph_folds_and_computes_what_onnxruntime_computes():
    model = _flatten_by_shape_model([1, 3, 4, 4])
    net = from_onnx_model(model, source="flat.onnx")
    assert net.ops == ("Reshape", "Gemm")
    assert net.initializers[net.nodes[0].inputs[1]].tolist() == [1, -1]
    x = np.random.default_rng(1).normal(size=(1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(evaluate(net, x[None])[0], ort_batch(model, x), rtol=1e-5, atol=1e-5)
    # check and verify hash the same folded network, however it is reached
    assert canonical_sha256(model) == canonical_sha256(net) == canonical_sha256(from_onnx_model(to_onnx_model(net)))


def test_size_of_a_static_tensor_folds():
    nodes = [helper.make_node("Size", ["x"], ["n"], name="size"),
             helper.make_node("Cast", ["n"], ["nf"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Mul", ["x", "nf"], ["y"], name="scale")]
    model = make_model(nodes, {"x": [1, 2, 3]}, {"y": [1, 2, 3]})
    net = from_onnx_model(model)
    assert net.ops == ("Mul",) and float(net.initializers["nf"]) == 6.0
    x = np.random.default_rng(3).normal(size=(1, 2, 3)).astype(np.float32)
    ours = evaluate(net, x[None])[0]
    np.testing.assert_array_equal(ours, x.astype(np.float64) * 6)          # x * Size(x), in float64
    np.testing.assert_allclose(ours, ort_batch(model, x), rtol=1e-6)       # onnxruntime in float32


def test_batch_size_flatten_with_a_dynamic_axis_folds_batch_generically():
    """``x.view(x.size(0), -1)`` with a dynamic batch axis: the target becomes ``[0, -1]`` (copy
    the batch dimension), the loaded network computes what onnxruntime computes, and the model
    written back still runs on every batch size."""
    model = _flatten_by_shape_model(["N", 3, 4, 4])
    net = from_onnx_model(model, source="dyn.onnx")
    assert net.ops == ("Reshape", "Gemm") and net.inputs[0].dynamic_axes == (0,)
    assert net.initializers[net.nodes[0].inputs[1]].tolist() == [0, -1]
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(evaluate(net, x[None])[0], ort_batch(model, x), rtol=1e-5, atol=1e-5)
    written = to_onnx_model(net)
    for batch in (1, 5):
        xs = rng.normal(size=(batch, 3, 4, 4)).astype(np.float32)
        np.testing.assert_allclose(ort_batch(written, xs), ort_batch(model, xs), rtol=1e-5, atol=1e-5)


def test_exported_dynamic_batch_cnn_is_checked():
    """A real torch export with a dynamic batch axis and ``view(x.size(0), -1)`` loads, and the
    folded network equals the model on samples."""
    torch = pytest.importorskip("torch")
    import io
    import warnings

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = torch.nn.Conv2d(1, 2, 3), torch.nn.Linear(2 * 4 * 4, 3)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            return self.fc(y.view(y.size(0), -1))

    torch.manual_seed(0)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Net().eval(), torch.zeros(1, 1, 6, 6), buffer, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}})
    model = onnx.load_from_string(buffer.getvalue())
    net = from_onnx_model(model, source="dyn.onnx")
    assert "Shape" not in net.ops and net.inputs[0].dynamic_axes == (0,)
    xs = np.random.default_rng(4).uniform(size=(6, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(evaluate(net, xs[:, None])[:, 0], ort_batch(model, xs), rtol=1e-5, atol=1e-5)


def test_other_uses_of_a_batch_dependent_shape_are_refused_naming_the_node():
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Mul", ["s", "two"], ["s2"], name="double"),
             helper.make_node("Reshape", ["x", "s2"], ["y"], name="reshape")]
    model = make_model(nodes, {"x": ["N", 4]}, {"y": None}, {"two": np.array([2, 1], np.int64)})
    with pytest.raises(UnsupportedOpError) as info:
        from_onnx_model(model, source="dyn.onnx")
    error = info.value
    assert error.node == "reshape" and "batch" in error.message and "dyn.onnx" in str(error)
    expand = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
              helper.make_node("Expand", ["x", "s"], ["y"], name="expand_x")]
    with pytest.raises(UnsupportedOpError) as info:
        from_onnx_model(make_model(expand, {"x": ["N", 4]}, {"y": None}), source="dyn.onnx")
    assert info.value.node == "expand_x" and "fixed input shape" in info.value.fix


def test_an_op_that_cannot_be_folded_is_refused_naming_the_node():
    nodes = [helper.make_node("Shape", ["x"], ["s1"], name="shape"),
             helper.make_node("Mul", ["s1", "two_one"], ["s"], name="double_rows"),
             helper.make_node("Expand", ["x", "s"], ["y"], name="expand_x")]
    model = make_model(nodes, {"x": [1, 3]}, {"y": [2, 3]}, {"two_one": np.array([2, 1], np.int64)})
    with pytest.raises(UnsupportedOpError, match=r"Expand \(expand_x\)") as info:
        from_onnx_model(model, source="expand.onnx")
    assert "cannot be folded" in info.value.message


def test_a_malformed_constant_subgraph_names_the_node():
    nodes = [helper.make_node("Gather", ["c", "idx"], ["g"], name="bad_gather"),
             helper.make_node("Reshape", ["x", "g"], ["y"], name="reshape")]
    model = make_model(nodes, {"x": [1, 4]}, {"y": None}, {"c": np.array([1, 4], np.int64),
                                                           "idx": np.array([0, 5], np.int64)})
    with pytest.raises(ShapeError, match="out of range") as info:
        from_onnx_model(model)
    assert info.value.node == "bad_gather"


def _pinned_channels_model(order, data_value: float):
    """torch-simplify's pinned BatchNorm: ``ScatterElements(data, Expand(idx, Shape(h)), h) + bias``
    after a Conv, then a ReLU and a Gemm (so it lowers)."""
    rng = np.random.default_rng(RNG_SEED)
    channels = len(order)
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Unsqueeze", ["idxs", "axes"], ["idx4"], name="unsqueeze"),
             helper.make_node("Shape", ["h"], ["hs"], name="shape"),
             helper.make_node("Expand", ["idx4", "hs"], ["idx"], name="expand"),
             helper.make_node("ScatterElements", ["data", "idx", "h"], ["s"], name="scatter", axis=1),
             helper.make_node("Shape", ["s"], ["ss"], name="shape_1"),
             helper.make_node("Expand", ["bias4", "ss"], ["bias"], name="expand_1"),
             helper.make_node("Add", ["s", "bias"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["flat"], name="flatten"),
             helper.make_node("Gemm", ["flat", "v"], ["y"], name="gemm", transB=1)]
    init = {"w": rng.normal(size=(channels, 2, 3, 3)).astype(np.float32),
            "idxs": np.array(order, np.int64), "axes": np.array([0, 2, 3], np.int64),
            "data": np.full((1, channels, 3, 3), data_value, np.float32),
            "bias4": rng.normal(size=(channels, 1, 1)).astype(np.float32),
            "v": rng.normal(size=(2, channels * 9)).astype(np.float32)}
    return make_model(nodes, {"x": [1, 2, 3, 3]}, {"y": [1, 2]}, init)


@pytest.mark.parametrize("order,data_value,kept", [((0, 1, 2), 0.0, "Identity"), ((2, 0, 1), 0.5, "ScatterElements")])
def test_pinned_batchnorm_pattern_loads_evaluates_and_lowers_exactly(order, data_value, kept):
    model = _pinned_channels_model(order, data_value)
    net = from_onnx_model(model)
    assert set(net.ops) == {"Conv", kept, "Add", "Relu", "Flatten", "Gemm"}
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 1, 2, 3, 3)).astype(np.float32)
    reference = np.stack([ort_batch(model, sample) for sample in x])
    ours = evaluate(net, x)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)
    dyadic = np.round(x[0] * 8) / 8                       # the exact value is the float64 value here
    exact = evaluate_exact(net, dyadic)
    np.testing.assert_allclose(exact.as_float(), evaluate(net, dyadic[None])[0], rtol=1e-12, atol=1e-12)
    lowered = to_pwl(net)
    np.testing.assert_allclose(lowered.evaluate(x.reshape(4, -1)), ours.reshape(4, -1), rtol=1e-12, atol=1e-12)


def test_scatter_writing_one_position_twice_is_refused():
    model = _pinned_channels_model((0, 0, 1), 0.0)
    with pytest.raises(UnsupportedOpError, match="twice"):
        from_onnx_model(model)


def test_torch_simplify_resnet_loads_and_is_decided(tmp_path):
    torch = pytest.importorskip("torch")  # noqa: F841
    from nnequiv.checker import verify
    from nnequiv.engine.check import check
    from nnequiv.loading import load
    from tests.helpers import third_party
    from tests.helpers.torch_families import SCALES, build, export, zero_channels

    model = build("resnet", "small", seed=0)
    zero_channels(model, "resnet", 0.5, seed=1)
    reduced = third_party.simplified(model, SCALES["small"]["image"])
    if reduced is None:
        pytest.skip("torch-simplify (PyPI torch-simplify, module simplify) is not installed")
    export(model, tmp_path / "original.onnx", SCALES["small"]["image"])
    export(reduced, tmp_path / "reduced.onnx", SCALES["small"]["image"])
    raw_ops = {n.op_type for n in onnx.load(str(tmp_path / "reduced.onnx")).graph.node}
    assert {"Shape", "Expand", "ScatterElements"} <= raw_ops          # the pattern under test is there
    f, g = load(tmp_path / "original.onnx"), load(tmp_path / "reduced.onnx")
    assert not {"Shape", "Expand", "ScatterElements", "Unsqueeze", "Constant"} & set(g.ops)
    verdict = check(f, g, box=(0.0, 1.0), timeout=30)
    assert verdict.verdict == "equivalent" and verdict.upper == 0.0, verdict.stats
    assert verdict.stats["stage"] == "structural"
    assert verify(verdict.certificate, f, g).valid
    x = np.random.default_rng(0).uniform(0, 1, (3, f.input.size))
    assert np.max(np.abs(evaluate(f, x) - evaluate(g, x))) < 1e-9
