"""NNet import/export: structure, NNet semantics (normalisation), round trips, located errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnequiv.errors import ModelFormatError, UnsupportedOpError, UsageError
from nnequiv.nnet_io import load_nnet, load_nnet_with_info, parse_nnet, save_nnet
from tests.helpers.models import mlp_reference, random_cnn, random_mlp

# 2 inputs -> 3 hidden -> 1 output, non-trivial input and output normalisation
EXAMPLE = """\
// Neural Network File Format by Kyle Julian, Stanford 2016
// a tiny test network
2,2,1,3,
2,3,1,
0,
-1.0,-2.0,
1.0,2.0,
0.5,0.0,2.0,
2.0,1.0,3.0,
1.0,2.0,
-3.0,4.0,
0.5,-6.0,
0.1,
-0.2,
0.3,
1.0,-1.0,1.0,
0.25,
"""


def run(net, x: np.ndarray) -> np.ndarray:
    """The network on a batch of flat inputs, as a (B, outputs) array."""
    return net.evaluate(x).reshape(len(x), -1)


def nnet_reference(text: str, x: np.ndarray) -> np.ndarray:
    """Independent NNet semantics (without clipping): token-level parsing, float64 arithmetic."""
    rows = [line.strip().rstrip(",") for line in text.splitlines()
            if line.strip() and not line.startswith("//")]
    values = [[float(t) for t in row.split(",")] for row in rows]
    n_layers, n_in = int(values[0][0]), int(values[0][1])
    sizes = [int(v) for v in values[1]]
    mean, rng = np.array(values[5]), np.array(values[6])
    h = (np.asarray(x, dtype=np.float64) - mean[:n_in]) / rng[:n_in]
    pos = 7
    for k in range(n_layers):
        w = np.array(values[pos:pos + sizes[k + 1]], dtype=np.float32).astype(np.float64)
        pos += sizes[k + 1]
        b = np.array([v[0] for v in values[pos:pos + sizes[k + 1]]], dtype=np.float32).astype(np.float64)
        pos += sizes[k + 1]
        h = h @ w.T + b
        if k < n_layers - 1:
            h = np.maximum(h, 0.0)
    return h * rng[-1] + mean[-1]


def test_example_structure_and_info(tmp_path):
    path = tmp_path / "tiny.nnet"
    path.write_text(EXAMPLE)
    net, info = load_nnet_with_info(path)
    assert net.ops == ("Sub", "Div", "Gemm", "Relu", "Gemm", "Mul", "Add")
    assert net.input.shape == (1, 2) and net.output.shape == (1, 1)
    assert net.input.dynamic_axes == (0,)
    assert net.name == "tiny" and net.source == str(path)
    assert info.layer_sizes == (2, 3, 1)
    assert info.input_min == (-1.0, -2.0) and info.input_max == (1.0, 2.0)
    assert info.input_mean == (0.5, 0.0) and info.input_range == (2.0, 1.0)
    assert (info.output_mean, info.output_range) == (2.0, 3.0)
    assert info.comments[1] == "a tiny test network"
    lo, hi = info.input_box
    assert lo.tolist() == [-1.0, -2.0] and hi.tolist() == [1.0, 2.0]
    np.testing.assert_array_equal(net.initializers["layer1_weight"], [[1, 2], [-3, 4], [0.5, -6]])


def test_example_matches_nnet_semantics_inside_box(tmp_path):
    path = tmp_path / "tiny.nnet"
    path.write_text(EXAMPLE)
    net, info = load_nnet_with_info(path)
    lo, hi = info.input_box
    x = np.random.default_rng(0).uniform(lo, hi, (200, 2))
    expected = nnet_reference(EXAMPLE, x)
    np.testing.assert_allclose(run(net, x), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mlp_reference(net, x), expected, rtol=1e-6, atol=1e-6)


def test_exported_onnx_runs_in_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from nnequiv.onnx_io import load_onnx, save_onnx

    path = tmp_path / "tiny.nnet"
    path.write_text(EXAMPLE)
    net = load_nnet(path)
    save_onnx(net, tmp_path / "tiny.onnx")
    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).uniform(-1, 1, (10, 2)).astype(np.float32)
    (y,) = session.run(None, {"input": x})
    np.testing.assert_allclose(y, nnet_reference(EXAMPLE, x), rtol=1e-5, atol=1e-5)
    again = load_onnx(tmp_path / "tiny.onnx")
    assert again.input.shape == net.input.shape and again.ops == net.ops


def test_identity_normalisation_adds_no_nodes():
    text = EXAMPLE.replace("0.5,0.0,2.0,", "0,0,0,").replace("2.0,1.0,3.0,", "1,1,1,")
    net, info = parse_nnet(text)
    assert net.ops == ("Gemm", "Relu", "Gemm")
    assert (info.output_mean, info.output_range) == (0.0, 1.0)
    # only the output side non-trivial
    net, _ = parse_nnet(text.replace("1,1,1,", "1,1,4,"))
    assert net.ops == ("Gemm", "Relu", "Gemm", "Mul")


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_random_mlp(tmp_path, seed):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, 6))] + [int(w) for w in rng.integers(1, 9, rng.integers(0, 4))] + [3]
    n = widths[0]
    normalised = seed % 2 == 0
    net = random_mlp(rng, widths,
                     input_mean=rng.normal(size=n) if normalised else None,
                     input_range=rng.uniform(0.5, 3, n) if normalised else None,
                     output_scale=7.5 if normalised else None, output_shift=-1.25 if normalised else None)
    lo, hi = -np.ones(n), np.ones(n) * 2
    path = tmp_path / "net.nnet"
    save_nnet(net, path, input_min=lo, input_max=hi)
    back, info = load_nnet_with_info(path)
    assert back.ops == net.ops
    assert info.layer_sizes == tuple(widths)
    assert info.input_min == tuple(lo) and info.input_max == tuple(hi)
    for a, b in zip(net.nodes, back.nodes):  # every constant survives exactly (float32)
        for name_a, name_b in zip(a.inputs[1:], b.inputs[1:]):
            np.testing.assert_array_equal(net.initializers[name_a], back.initializers[name_b])
    x = rng.uniform(lo, hi, (64, n))
    np.testing.assert_allclose(run(back, x), run(net, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(run(back, x), mlp_reference(net, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run(back, x), nnet_reference(path.read_text(), x), rtol=1e-6, atol=1e-6)


def test_text_round_trip_is_stable(tmp_path):
    first = tmp_path / "a.nnet"
    first.write_text(EXAMPLE)
    net, info = load_nnet_with_info(first)
    second = tmp_path / "b.nnet"
    save_nnet(net, second, input_min=info.input_min, input_max=info.input_max)
    again, info2 = load_nnet_with_info(second)
    assert info2.input_mean == info.input_mean and info2.output_range == info.output_range
    third = tmp_path / "c.nnet"
    save_nnet(again, third, input_min=info2.input_min, input_max=info2.input_max)
    assert second.read_text().splitlines()[1:] == third.read_text().splitlines()[1:]


def test_default_bounds_are_float32_extremes(tmp_path):
    net = random_mlp(np.random.default_rng(1), [2, 3, 1])
    save_nnet(net, tmp_path / "n.nnet", comment="line one\nline two")
    text = (tmp_path / "n.nnet").read_text()
    assert text.startswith("// line one\n// line two\n")
    info = load_nnet_with_info(tmp_path / "n.nnet")[1]
    assert all(np.float32(v) == np.finfo(np.float32).max for v in info.input_max)
    assert info.input_min == tuple(-v for v in info.input_max)


def test_lenient_layout_blank_lines_and_no_trailing_commas():
    text = "\n".join(line.rstrip(",") for line in EXAMPLE.splitlines()) + "\n\n"
    text = text.replace("2,3,1\n", "2,3,1\n\n")
    net, info = parse_nnet(text)
    assert info.layer_sizes == (2, 3, 1) and len(net.nodes) == 7


# ----------------------------------------------------------------------------- errors
def _broken(tmp_path: Path, old: str, new: str) -> str:
    assert old in EXAMPLE
    path = tmp_path / "bad.nnet"
    path.write_text(EXAMPLE.replace(old, new, 1))
    with pytest.raises(ModelFormatError) as info:
        load_nnet(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_malformed_number_names_file_and_line(tmp_path):
    message = _broken(tmp_path, "-3.0,4.0,", "-3.0,4.O,")
    assert "line 11" in message and "'4.O' is not a number" in message and "layer 1 weight row 2" in message


def test_wrong_count_in_weight_row(tmp_path):
    message = _broken(tmp_path, "0.5,-6.0,", "0.5,-6.0,7.0,")
    assert "line 12" in message and "expected 2 values" in message and "found 3" in message


def test_wrong_count_of_means(tmp_path):
    message = _broken(tmp_path, "0.5,0.0,2.0,", "0.5,0.0,")
    assert "line 8" in message and "means" in message


def test_truncated_file(tmp_path):
    path = tmp_path / "bad.nnet"
    path.write_text("\n".join(EXAMPLE.splitlines()[:-2]) + "\n")
    with pytest.raises(ModelFormatError, match=r"file ends after line 15, expected layer 2 weight row 1"):
        load_nnet(path)


def test_extra_data_after_last_layer(tmp_path):
    message = _broken(tmp_path, "0.25,\n", "0.25,\n1.0,\n")
    assert "line 18" in message and "unexpected data" in message


def test_layer_sizes_disagree_with_header(tmp_path):
    message = _broken(tmp_path, "2,3,1,\n", "3,3,1,\n")
    assert "line 4" in message and "disagree" in message


def test_zero_range_and_non_finite(tmp_path):
    assert "range is 0" in _broken(tmp_path, "2.0,1.0,3.0,", "2.0,0.0,3.0,")
    assert "not a finite number" in _broken(tmp_path, "0.1,\n", "nan,\n")


def test_empty_and_binary_and_missing(tmp_path):
    empty = tmp_path / "empty.nnet"
    empty.write_text("// only a comment\n")
    with pytest.raises(ModelFormatError, match="expected the header"):
        load_nnet(empty)
    binary = tmp_path / "bin.nnet"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ModelFormatError, match="not UTF-8"):
        load_nnet(binary)
    with pytest.raises(ModelFormatError, match="no such file"):
        load_nnet(tmp_path / "missing.nnet")


# ----------------------------------------------------------------------------- writer refusals
def test_writer_refuses_non_mlps(tmp_path):
    with pytest.raises(UnsupportedOpError, match="NNet"):
        save_nnet(random_cnn(np.random.default_rng(0)), tmp_path / "cnn.nnet")
    with pytest.raises(UnsupportedOpError, match="Sigmoid"):
        save_nnet(random_mlp(np.random.default_rng(0), [2, 3, 1], activation="Sigmoid"), tmp_path / "s.nnet")
    net = random_mlp(np.random.default_rng(0), [2, 3, 2])
    with pytest.raises(UsageError, match="input_min"):
        save_nnet(net, tmp_path / "m.nnet", input_min=[0, 0, 0])


def test_writer_refuses_non_uniform_output_scale(tmp_path):
    rng = np.random.default_rng(0)
    net = random_mlp(rng, [2, 3, 2], output_scale=2.0)
    scale = next(n for n in net.nodes if n.op == "Mul").inputs[1]
    init = dict(net.initializers)
    init[scale] = np.array([1.0, 2.0], dtype=np.float32)
    with pytest.raises(UnsupportedOpError, match="one value for all outputs"):
        save_nnet(net.replace(initializers=init), tmp_path / "m.nnet")
