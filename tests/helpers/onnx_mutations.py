"""Structured mutations of a valid ONNX model (bad-input fuzzing of the loader and the CLI).

Each mutation is ``(name, function)``; the function edits a copy of the ModelProto in place and may
create files in the model's folder (external data) through the ``folder`` argument.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

Mutate = Callable[[onnx.ModelProto, Path], None]

HUGE = 10 ** 12          # no allocation of this many float64 can succeed (8 TB): refused, never swapped


def _first_weight(model: onnx.ModelProto) -> TensorProto:
    return max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)) if t.dims else 0)


def _set_input_dims(dims):
    def mutate(model, _folder):
        shape = model.graph.input[0].type.tensor_type.shape
        for dim, value in zip(shape.dim, dims):
            dim.Clear()
            dim.dim_value = value
    return mutate


def _init_dtype(code: int) -> Mutate:
    def mutate(model, _folder):
        _first_weight(model).data_type = code
    return mutate


def _input_dtype(code: int) -> Mutate:
    def mutate(model, _folder):
        model.graph.input[0].type.tensor_type.elem_type = code
    return mutate


def _init_dims(dims) -> Mutate:
    def mutate(model, _folder):
        weight = _first_weight(model)
        del weight.dims[:]
        weight.dims.extend(dims)
    return mutate


def _external(location_of: Callable[[Path], str], offset: str | None = None, length: str | None = None) -> Mutate:
    """Move the largest weight to an external file named by ``location_of(folder)`` (the bytes are written
    to ``folder/../outside.bin``, ``folder/data.bin`` and a symlink ``folder/link.bin`` -> outside)."""
    def mutate(model, folder):
        weight = _first_weight(model)
        raw = onnx.numpy_helper.to_array(weight).tobytes()
        outside = folder.parent / "outside.bin"
        outside.write_bytes(raw)
        (folder / "data.bin").write_bytes(raw)
        link = folder / "link.bin"
        if not link.exists():
            os.symlink(outside, link)
        weight.ClearField("raw_data")
        weight.ClearField("double_data")
        weight.ClearField("float_data")
        weight.data_location = TensorProto.EXTERNAL
        entries = {"location": location_of(folder)}
        if offset is not None:
            entries["offset"] = offset
        if length is not None:
            entries["length"] = length
        for key, value in entries.items():
            weight.external_data.add(key=key, value=value)
    return mutate


def _weight_value(value: float) -> Mutate:
    def mutate(model, _folder):
        weight = _first_weight(model)
        array = onnx.numpy_helper.to_array(weight).copy()
        array.flat[0] = value
        weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
    return mutate


def _node_input(node: int, slot: int, name_of: Callable[[onnx.ModelProto], str]) -> Mutate:
    def mutate(model, _folder):
        model.graph.node[node].input[slot] = name_of(model)
    return mutate


def _attr(node_op: str, attribute: onnx.AttributeProto) -> Mutate:
    def mutate(model, _folder):
        node = next(n for n in model.graph.node if n.op_type == node_op)
        kept = [a for a in node.attribute if a.name != attribute.name]
        del node.attribute[:]
        node.attribute.extend(kept + [attribute])
    return mutate


def _clear(field: str) -> Mutate:
    def mutate(model, _folder):
        del getattr(model.graph, field)[:]
    return mutate


def _drop_initializer(model, _folder):
    weight = _first_weight(model)
    kept = [t for t in model.graph.initializer if t.name != weight.name]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def _duplicate_output(model, _folder):
    model.graph.node[1].output[0] = model.graph.node[0].output[0]


def _unknown_domain(model, _folder):
    model.graph.node[0].domain = "com.example.custom"


def _opset(version: int) -> Mutate:
    def mutate(model, _folder):
        model.opset_import[0].version = version
    return mutate


def _no_opset(model, _folder):
    del model.opset_import[:]


def _ghost_output(model, _folder):
    model.graph.output[0].name = "ghost"


def _second_input(model, _folder):
    extra = onnx.ValueInfoProto()
    extra.CopyFrom(model.graph.input[0])
    extra.name = "second_input"
    model.graph.input.append(extra)


MUTATIONS: dict[str, Mutate] = {
    **{f"init_dtype_{code}": _init_dtype(code) for code in (0, 2, 6, 7, 8, 9, 10, 14, 16, 100)},
    **{f"input_dtype_{code}": _input_dtype(code) for code in (0, 7, 8, 9, 100)},
    "input_dims_huge": _set_input_dims([1, HUGE]),
    "input_dims_negative": _set_input_dims([1, -5]),
    "input_dims_zero": _set_input_dims([1, 0]),
    "init_dims_huge": _init_dims([HUGE, HUGE]),
    "init_dims_too_many_values": _init_dims([1]),
    "missing_initializer": _drop_initializer,
    "cycle": _node_input(0, 0, lambda m: m.graph.node[-1].output[0]),
    "self_loop": _node_input(1, 0, lambda m: m.graph.node[1].output[0]),
    "dangling_input": _node_input(0, 0, lambda m: "nowhere"),
    "duplicate_output": _duplicate_output,
    "ghost_graph_output": _ghost_output,
    "no_nodes": _clear("node"),
    "no_graph_inputs": _clear("input"),
    "no_graph_outputs": _clear("output"),
    "second_graph_input": _second_input,
    "unknown_domain": _unknown_domain,
    "opset_1": _opset(1),
    "opset_huge": _opset(10 ** 6),
    "no_opset": _no_opset,
    "attr_string_transB": _attr("Gemm", helper.make_attribute("transB", "yes")),
    "attr_floats_transB": _attr("Gemm", helper.make_attribute("transB", [1.0, 2.0])),
    "attr_huge_alpha": _attr("Gemm", helper.make_attribute("alpha", 1e308)),
    "weight_nan": _weight_value(float("nan")),
    "weight_inf": _weight_value(float("inf")),
    "weight_huge": _weight_value(1e308),
    "external_outside_relative": _external(lambda folder: "../outside.bin"),
    "external_absolute": _external(lambda folder: str((folder.parent / "outside.bin").resolve())),
    "external_symlink_outside": _external(lambda folder: "link.bin"),
    "external_missing_file": _external(lambda folder: "absent.bin"),
    "external_negative_offset": _external(lambda folder: "data.bin", offset="-8"),
    "external_bad_offset": _external(lambda folder: "data.bin", offset="eight"),
    "external_too_long": _external(lambda folder: "data.bin", length=str(HUGE)),
    "external_nul_in_name": _external(lambda folder: "data.bin\0../../etc/passwd"),
}
