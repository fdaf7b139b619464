"""ONNX import/export: real models, round trips, canonical hash, external data, and every bad input.

Agreement with onnxruntime (float32) is checked with the tolerance of
tests/test_ops_vs_onnxruntime.py: rtol 1e-5, atol 1e-5 * max(1, max|ref|).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnequiv.errors import GraphError, ModelFormatError, NnequivError, ShapeError, UnsupportedOpError
from nnequiv.interpret import evaluate
from nnequiv.onnx_io import canonical_sha256, from_onnx_model, load_onnx, save_onnx, to_onnx_model
from tests.helpers.onnx_builders import f32, make_model, ort_batch, ort_per_sample, random_mlp, single_op, small_cnn
from tests.test_ops_vs_onnxruntime import assert_close

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_MODELS = sorted((SHARED / "verydiff-examples").glob("*.onnx")) if SHARED.is_dir() else []


# --------------------------------------------------------------------------- real models
@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")
@pytest.mark.parametrize("path", REAL_MODELS or [None], ids=lambda p: p.name if p else "none")
def test_real_models_agree_with_onnxruntime(path):
    assert len(REAL_MODELS) == 6, "expected the six VeryDiff example models"
    net = load_onnx(path)
    assert net.source == str(path)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, *net.input.shape)).astype(np.float32)
    assert_close(evaluate(net, x), ort_per_sample(onnx.load(str(path)), x))
    # export -> onnxruntime gives the same numbers again
    assert_close(evaluate(net, x), ort_per_sample(to_onnx_model(net), x))


# --------------------------------------------------------------------------- shapes on import
@pytest.mark.parametrize("shape", [[5], [1, 5], [1, 1, 1, 5]])
def test_vector_inputs_of_any_rank(shape):
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    model = make_model(nodes, {"x": shape}, {"y": shape[:-1] + [3]}, {"w": f32(rng, 5, 3), "b": f32(rng, 3)})
    net = from_onnx_model(model)
    assert net.input.shape == tuple(shape) and net.input.dynamic_axes == ()
    x = f32(rng, 4, *shape)
    assert_close(evaluate(net, x), ort_per_sample(model, x))


def _dims_model(dim: onnx.TensorShapeProto.Dimension) -> onnx.ModelProto:
    model = single_op("Relu", [1, 5], output_shape=[1, 5])
    for vi in (model.graph.input[0], model.graph.output[0]):
        vi.type.tensor_type.shape.dim[0].CopyFrom(dim)
    return model


@pytest.mark.parametrize("dim", [dict(dim_param="batch"), dict(dim_value=0), dict(dim_value=-1), dict()])
def test_dynamic_batch_dims(dim):
    net = from_onnx_model(_dims_model(onnx.TensorShapeProto.Dimension(**dim)))
    assert net.input.shape == (1, 5) and net.input.dynamic_axes == (0,)
    assert net.output.shape == (1, 5) and net.output.dynamic_axes == (0,)


def test_undeclared_output_shape_is_inferred():
    net = from_onnx_model(single_op("Flatten", [2, 3, 4], output_shape=None, axis=2))
    assert net.output.shape == (6, 4)


def test_initializer_listed_as_graph_input_is_a_constant():
    rng = np.random.default_rng(2)
    model = single_op("MatMul", [1, 4], {"w": f32(rng, 4, 2)}, operands=["x", "w"])
    model.graph.input.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 2]))
    net = from_onnx_model(model)
    assert [s.name for s in net.inputs] == ["x"] and "w" in net.initializers


def test_empty_node_names_are_synthesised_uniquely():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"], name="Relu_2"),
             helper.make_node("Relu", ["b"], ["y"])]
    model = make_model(nodes, {"x": [3]}, {"y": [3]})
    names = [n.name for n in from_onnx_model(model).nodes]
    assert names == ["Relu_0", "Relu_2", "Relu_2_1"]
    assert names == [n.name for n in from_onnx_model(model).nodes]


def test_constant_nodes_are_folded():
    value = helper.make_tensor("v", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    nodes = [helper.make_node("Constant", [], ["c"], value=value), helper.make_node("Add", ["x", "c"], ["y"])]
    net = from_onnx_model(make_model(nodes, {"x": [3]}, {"y": [3]}))
    assert net.ops == ("Add",)
    np.testing.assert_array_equal(net.initializers["c"], [1.0, 2.0, 3.0])


# --------------------------------------------------------------------------- export
ROUND_TRIP = {
    "mlp_gemm_dynamic": lambda rng: random_mlp(rng, [6, 8, 8, 3]),
    "mlp_matmul_vector": lambda rng: random_mlp(rng, [5, 7, 2], batch_dim=False, opset=13),
    "cnn_opset11": lambda rng: small_cnn(rng, opset=11),
    "cnn_opset17": lambda rng: small_cnn(rng, opset=17),
    "softmax_opset9": lambda rng: single_op("Softmax", [2, 3], opset=9),
    "unsqueeze_attr_opset11": lambda rng: single_op("Unsqueeze", [3], opset=11, axes=[0, 2]),
    "squeeze_input_opset13": lambda rng: single_op("Squeeze", [3, 1], {"a": np.array([1], np.int64)},
                                                   operands=["x", "a"], opset=13),
    "pool_opset21": lambda rng: single_op("AveragePool", ["N", 2, 6, 6], opset=21, kernel_shape=[3, 3],
                                          strides=[2, 2], ceil_mode=1, count_include_pad=1),
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_round_trip_through_export(name):
    rng = np.random.default_rng(3)
    model = ROUND_TRIP[name](rng)
    net = from_onnx_model(model)
    exported = to_onnx_model(net)
    onnx.checker.check_model(exported, full_check=True)
    x = f32(rng, 3, *net.input.shape)
    ours = evaluate(net, x)
    for reference in (model, exported):  # onnxruntime runs the export too
        if net.input.dynamic_axes == (0,):  # per-sample axis 0 is the ONNX batch axis
            assert_close(ours, ort_batch(reference, x[:, 0]).reshape(ours.shape))
        else:
            assert_close(ours, ort_per_sample(reference, x))
    again = from_onnx_model(exported)
    assert [s.shape for s in again.inputs + again.outputs] == [s.shape for s in net.inputs + net.outputs]
    assert [s.dynamic_axes for s in again.inputs] == [s.dynamic_axes for s in net.inputs]
    assert canonical_sha256(again) == canonical_sha256(net) == canonical_sha256(exported)


def test_dynamic_axes_are_written_as_dim_param():
    exported = to_onnx_model(from_onnx_model(random_mlp(np.random.default_rng(4), [4, 3])))
    dims = exported.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 4
    assert exported.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"
    x = f32(np.random.default_rng(5), 7, 4)
    assert ort_batch(exported, x).shape == (7, 3)


def test_save_onnx_writes_a_loadable_file(tmp_path):
    net = from_onnx_model(small_cnn(np.random.default_rng(6)))
    save_onnx(net, tmp_path / "cnn.onnx")
    onnx.checker.check_model(str(tmp_path / "cnn.onnx"), full_check=True)
    back = load_onnx(tmp_path / "cnn.onnx")
    x = f32(np.random.default_rng(7), 2, *net.input.shape)
    np.testing.assert_array_equal(evaluate(back, x), evaluate(net, x))


# --------------------------------------------------------------------------- canonical hash
def _save_external(model: onnx.ModelProto, path: Path, location: str = "model.onnx.data") -> None:
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)


def test_hash_is_stable_across_saves_and_storage(tmp_path):
    model = small_cnn(np.random.default_rng(8))
    reference = canonical_sha256(model)
    onnx.save_model(model, str(tmp_path / "plain.onnx"))
    assert canonical_sha256(tmp_path / "plain.onnx") == reference
    assert canonical_sha256(str(tmp_path / "plain.onnx")) == reference
    (tmp_path / "ext").mkdir()
    _save_external(onnx.load(str(tmp_path / "plain.onnx")), tmp_path / "ext" / "model.onnx")
    assert (tmp_path / "ext" / "model.onnx.data").stat().st_size > 0
    assert canonical_sha256(tmp_path / "ext" / "model.onnx") == reference

    noisy = onnx.ModelProto()
    noisy.CopyFrom(model)
    noisy.doc_string, noisy.producer_name, noisy.graph.name = "docs", "someone", "renamed"
    noisy.graph.node[0].doc_string = "a conv"
    inits = list(noisy.graph.initializer)[::-1]
    del noisy.graph.initializer[:]
    noisy.graph.initializer.extend(inits)
    for node in noisy.graph.node:
        node.name = ""
    assert canonical_sha256(noisy) == reference
    assert canonical_sha256(from_onnx_model(model)) == reference


def test_hash_ignores_tensor_names_and_constant_storage():
    rng = np.random.default_rng(9)
    w, b = f32(rng, 3, 4), f32(rng, 3)
    plain = single_op("Gemm", [1, 4], {"w": w, "b": b}, operands=["x", "w", "b"], transB=1)
    nodes = [helper.make_node("Constant", [], ["bias"], value=numpy_helper.from_array(b)),
             helper.make_node("Gemm", ["input", "weight", "bias"], ["out"], transB=1)]
    other = make_model(nodes, {"input": [1, 4]}, {"out": None}, {"weight": w, "unused": f32(rng, 2)})
    assert canonical_sha256(other) == canonical_sha256(plain)


def test_hash_changes_with_weights_attributes_and_shapes():
    rng = np.random.default_rng(10)
    w, b = f32(rng, 3, 4), f32(rng, 3)
    base = canonical_sha256(single_op("Gemm", [1, 4], {"w": w, "b": b}, operands=["x", "w", "b"], transB=1))
    w2 = w.copy()
    w2[1, 2] = np.nextafter(w2[1, 2], np.float32(np.inf))
    changed = [
        single_op("Gemm", [1, 4], {"w": w2, "b": b}, operands=["x", "w", "b"], transB=1),
        single_op("Gemm", [1, 4], {"w": w, "b": b}, operands=["x", "w", "b"], transB=1, alpha=2.0),
        single_op("Gemm", [1, 4], {"w": w.astype(np.float64), "b": b}, operands=["x", "w", "b"], transB=1),
        single_op("Gemm", ["N", 4], {"w": w, "b": b}, operands=["x", "w", "b"], transB=1),
        single_op("Gemm", [1, 4], {"w": w, "b": b}, operands=["x", "w", "b"], transB=1, opset=13),
    ]
    hashes = {canonical_sha256(m) for m in changed}
    assert base not in hashes and len(hashes) == len(changed)


# --------------------------------------------------------------------------- external data
@pytest.fixture
def external_model(tmp_path):
    """A CNN saved with its weights in model.onnx.data; returns the folder."""
    folder = tmp_path / "model"
    folder.mkdir()
    _save_external(small_cnn(np.random.default_rng(11)), folder / "model.onnx")
    return folder


def _retarget(folder: Path, location: str) -> Path:
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    path = folder / "evil.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_external_data_loads(external_model):
    net = load_onnx(external_model / "model.onnx")
    reference = from_onnx_model(small_cnn(np.random.default_rng(11)))
    for name, array in reference.initializers.items():
        np.testing.assert_array_equal(net.initializers[name], array)


def test_external_data_path_escaping_is_refused(external_model, tmp_path):
    data = (external_model / "model.onnx.data").read_bytes()
    (tmp_path / "outside.data").write_bytes(data)          # readable, but must not be read
    for location in ("../outside.data", str(tmp_path / "outside.data"), "sub/../../outside.data"):
        with pytest.raises(ModelFormatError, match="outside the model's folder") as info:
            load_onnx(_retarget(external_model, location))
        assert "evil.onnx" in str(info.value)


def test_external_data_symlink_escaping_is_refused(external_model, tmp_path):
    (tmp_path / "outside.data").write_bytes((external_model / "model.onnx.data").read_bytes())
    os.symlink(tmp_path / "outside.data", external_model / "link.data")
    with pytest.raises(ModelFormatError, match="symlink"):
        load_onnx(_retarget(external_model, "link.data"))


def test_external_data_missing_or_short(external_model):
    (external_model / "model.onnx.data").rename(external_model / "moved.data")
    with pytest.raises(ModelFormatError, match="missing") as info:
        load_onnx(external_model / "model.onnx")
    assert "model.onnx.data" in str(info.value) and info.value.fix
    (external_model / "model.onnx.data").write_bytes(b"\0" * 10)
    with pytest.raises(ModelFormatError, match="too short"):
        load_onnx(external_model / "model.onnx")


def test_external_data_needs_a_folder(external_model):
    model = onnx.load(str(external_model / "model.onnx"), load_external_data=False)
    with pytest.raises(ModelFormatError, match="external file"):
        from_onnx_model(model)


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.export internals
def test_torch_dynamo_export_with_external_data(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 5)).eval()
    example = torch.randn(2, 3, 8, 8)
    program = torch.onnx.export(module, (example,), None, dynamo=True, dynamic_shapes=({0: "batch"},))
    program.save(str(tmp_path / "m.onnx"), external_data=True)
    assert (tmp_path / "m.onnx.data").exists()
    net = load_onnx(tmp_path / "m.onnx")
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        ref = module(x).numpy()
    assert_close(evaluate(net, x.numpy()[:, None]).reshape(ref.shape), ref)


# --------------------------------------------------------------------------- bad inputs
def test_missing_file(tmp_path):
    with pytest.raises(ModelFormatError, match="no such file") as info:
        load_onnx(tmp_path / "nope.onnx")
    assert info.value.file == str(tmp_path / "nope.onnx")


def test_directory(tmp_path):
    with pytest.raises(ModelFormatError, match="not a regular file"):
        load_onnx(tmp_path)


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n" * 20)
    with pytest.raises(ModelFormatError) as info:
        load_onnx(path)
    assert str(path) in str(info.value)


def test_truncated_file(tmp_path):
    data = small_cnn(np.random.default_rng(12)).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="truncated") as info:
        load_onnx(path)
    assert info.value.file == str(path)


def test_empty_graph(tmp_path):
    path = tmp_path / "empty.onnx"
    onnx.save_model(make_model([], {"x": [2]}, {"x": [2]}), str(path))
    with pytest.raises(GraphError, match="no nodes") as info:
        load_onnx(path)
    assert info.value.file == str(path)


def test_missing_initializer(tmp_path):
    path = tmp_path / "missing.onnx"
    onnx.save_model(single_op("MatMul", [4], operands=["x", "w"]), str(path))
    with pytest.raises(GraphError, match="'w' is never defined") as info:
        load_onnx(path)
    assert info.value.node == "matmul_node" and info.value.file == str(path)


def test_cycle(tmp_path):
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second"),
             helper.make_node("Relu", ["a"], ["y"], name="out")]
    path = tmp_path / "cycle.onnx"
    onnx.save_model(make_model(nodes, {"x": [2]}, {"y": [2]}), str(path))
    with pytest.raises(GraphError, match="cycle") as info:
        load_onnx(path)
    assert info.value.file == str(path)


def test_shape_mismatch(tmp_path):
    path = tmp_path / "shapes.onnx"
    rng = np.random.default_rng(13)
    onnx.save_model(single_op("Gemm", [1, 4], {"w": f32(rng, 3, 5)}, operands=["x", "w"], transB=1), str(path))
    with pytest.raises(ShapeError) as info:
        load_onnx(path)
    assert info.value.node == "gemm_node" and info.value.file == str(path)


def test_declared_output_shape_mismatch():
    with pytest.raises(ShapeError, match="declared"):
        from_onnx_model(single_op("Relu", [3], output_shape=[4]))


def test_output_never_computed():
    model = make_model([helper.make_node("Relu", ["x"], ["r"])], {"x": [2]}, {"y": [2]})
    with pytest.raises(GraphError, match="'y' is never computed"):
        from_onnx_model(model)


def test_input_without_shape():
    model = single_op("Relu", [2])
    model.graph.input[0].type.tensor_type.ClearField("shape")
    with pytest.raises(ShapeError, match="no shape"):
        from_onnx_model(model, source="noshape.onnx")


def test_all_unsupported_ops_reported_at_once():
    nodes = [helper.make_node("Sin", ["x"], ["a"], name="sine"), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Cos", ["b"], ["c"]), helper.make_node("Gelu", ["c"], ["d"], domain="com.microsoft"),
             helper.make_node("Relu", ["d"], ["y"])]
    model = make_model(nodes, {"x": [2]}, {"y": [2]})
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedOpError) as info:
        from_onnx_model(model, source="many.onnx")
    text = str(info.value)
    for piece in ("Sin (sine)", "Cos (Cos_2)", "com.microsoft.Gelu (Gelu_3)", "many.onnx"):
        assert piece in text
    assert "Relu (" not in text


def test_opset_out_of_range():
    with pytest.raises(UnsupportedOpError, match="opset 7"):
        from_onnx_model(single_op("Relu", [2], opset=7))


@pytest.mark.parametrize("opset", [14, 15])
def test_batch_normalization_training_mode(opset):
    init = {k: np.ones(2, np.float32) for k in "sbmv"}
    model = single_op("BatchNormalization", [1, 2], init, operands=["x", "s", "b", "m", "v"], opset=opset,
                      training_mode=1)
    with pytest.raises(UnsupportedOpError, match="training mode") as info:
        from_onnx_model(model, source="bn.onnx")
    assert "eval" in info.value.fix and info.value.node == "batchnormalization_node"


def test_garbage_bytes_give_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07\x12\xff\xff")
    with pytest.raises(NnequivError) as info:
        load_onnx(bad)
    assert "\n" not in str(info.value)
