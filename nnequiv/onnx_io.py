"""ONNX import and export, and the canonical SHA-256 of a network.

Import (:func:`load_onnx`, :func:`from_onnx_model`)
    * opsets 9 to 25 of the default domain (22-25 only widened the element types of
      the supported ops); every unsupported op is reported in one UnsupportedOpError;
    * dynamic dimensions (``dim_param``, 0, -1, unset) become 1 in the per-sample
      shape and are listed in ``TensorSpec.dynamic_axes``;
    * graph inputs that are also initializers are constants; ``Constant`` nodes are
      folded into initializers; empty node names become ``{op}_{index}``;
    * static shape subgraphs (``Shape`` of a tensor with a static shape, and shape or
      data-movement ops on constants only) are folded into initializers (a Reshape target
      built from the batch size, ``x.view(x.size(0), -1)``, becomes a batch-generic ``[0, -1]``:
      :mod:`nnequiv.folding.batch`), and a
      ScatterElements that overwrites every position in place becomes an Identity
      (:mod:`nnequiv.folding`); the canonical hash is that of the folded network;
    * external tensor data is read only from regular files inside the model's folder;
    * a dry run (:func:`nnequiv.interpret.infer_shapes`) checks that shapes fit.

Export (:func:`to_onnx_model`, :func:`save_onnx`) writes dynamic axes back as
``dim_param "N"`` and types attributes by the op schema.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from .errors import GraphError, ModelFormatError, NnequivError, ShapeError, UnsupportedOpError
from .folding import FOLD_RULES, fold_constants, identity_scatters
from .interpret import infer_shapes
from .ir import Network, Node, TensorSpec
from .ops.registry import SUPPORTED_OPS
from .ops.shape import constant_value

__all__ = ["MAX_OPSET", "MIN_OPSET", "canonical_sha256", "from_onnx_model", "load_onnx",
           "save_onnx", "to_onnx_model"]

MIN_OPSET = 9
MAX_OPSET = 25
_DEFAULT_DOMAINS = ("", "ai.onnx")
_IN_MEMORY = "<in-memory ONNX model>"
_REEXPORT = "re-export the model (e.g. torch.onnx.export) or check the file was copied completely"


# ------------------------------------------------------------------------------ loading
def load_onnx(path: str | os.PathLike[str]) -> Network:
    """Read an ``.onnx`` file (external data from its folder) as a :class:`Network`."""
    source = str(path)
    p = Path(path)
    if not p.exists():
        raise ModelFormatError("no such file", file=source, fix="check the path")
    if not p.is_file():
        raise ModelFormatError("not a regular file", file=source, fix="pass the .onnx file itself")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"not a readable ONNX file ({detail}); it may be truncated or not ONNX",
                               file=source, fix=_REEXPORT) from None
    return from_onnx_model(model, source=source, base_dir=str(p.parent))


def from_onnx_model(model: onnx.ModelProto, source: str | None = None,
                    base_dir: str | None = None) -> Network:
    """Convert an in-memory ONNX model.  ``base_dir`` is where its external data lives."""
    where = source or _IN_MEMORY
    if not isinstance(model, onnx.ModelProto) or not model.HasField("graph"):
        raise ModelFormatError("not an ONNX model (it has no graph)", file=where, fix=_REEXPORT)
    graph = model.graph
    _check_text(graph, where)
    opset = _opset(model, where)
    if not graph.node:
        raise GraphError("the graph has no nodes", file=where, fix="export a model that computes something")
    named = _named(graph.node)
    _reject_unsupported(named, where)
    if len(graph.sparse_initializer):
        raise UnsupportedOpError("sparse initializers", file=where, fix="store the weights densely")

    reader = _TensorReader(base_dir, where)
    initializers = _initializers(graph, reader, where)
    inputs = tuple(_spec(vi, where, required=True) for vi in graph.input if vi.name not in initializers)
    if not inputs:
        raise GraphError("the graph has no variable input", file=where,
                         fix="the model must read at least one input that is not an initializer")
    output_names = {vi.name for vi in graph.output}
    nodes = []
    for node in named:
        attrs = _attributes(node, reader, where)
        folded = constant_value(attrs) if node.op == "Constant" else None
        if folded is not None and node.outputs[0] not in output_names:
            initializers[node.outputs[0]] = folded  # Constant nodes become initializers
        else:
            nodes.append(Node(node.name, node.op, node.inputs, node.outputs, attrs))
    _check_outputs_defined(graph, inputs, initializers, nodes, where)
    declared = [(vi.name, _spec(vi, where, required=False)) for vi in graph.output]
    net_name = graph.name or (Path(source).stem if source and not source.startswith("<") else "network")
    try:
        folding = fold_constants(nodes, initializers, inputs, [vi.name for vi in graph.output], opset, where)
        _reject_unfolded(folding.nodes, where)
        net = Network.create(inputs=inputs, outputs=[spec or TensorSpec(name, ()) for name, spec in declared],
                             nodes=folding.nodes, initializers=folding.initializers, name=net_name, opset=opset,
                             source=source)
        shapes = folding.shapes if folding.shapes is not None else infer_shapes(net)   # one dry run either way
        scatters = identity_scatters(net.nodes, net.initializers, shapes)
        if scatters != net.nodes:
            net = net.replace(nodes=scatters)
    except NnequivError as exc:
        raise exc.located(file=where) from None
    except MemoryError:
        sizes = ", ".join(f"{spec.name!r} {spec.shape}" for spec in inputs)
        raise ShapeError(f"the model is too large to evaluate (inputs {sizes[:200]})", file=where,
                         fix="check the input dimensions of the model") from None
    return net.replace(outputs=tuple(_checked_output(name, spec, shapes[name], where) for name, spec in declared))


def _check_text(graph: onnx.GraphProto, where: str) -> None:
    """Protobuf hands a string field that is not valid UTF-8 to Python as ``bytes``: refuse it here."""
    names = [graph.name, *(t.name for t in graph.initializer),
             *(vi.name for vi in (*graph.input, *graph.output, *graph.value_info))]
    for node in graph.node:
        names += [node.name, node.op_type, node.domain, *node.input, *node.output, *(a.name for a in node.attribute)]
    bad = next((n for n in names if isinstance(n, bytes)), None)
    if bad is not None:
        raise ModelFormatError(f"the name {bad[:40]!r} in the graph is not valid UTF-8 text", file=where,
                               fix=_REEXPORT)


def _initializers(graph: onnx.GraphProto, reader: "_TensorReader", where: str) -> dict[str, np.ndarray]:
    initializers: dict[str, np.ndarray] = {}
    for tensor in graph.initializer:
        if tensor.name in initializers:
            raise GraphError(f"initializer {tensor.name!r} is defined twice", file=where,
                             fix="give every initializer a unique name")
        initializers[tensor.name] = reader.array(tensor)
    return initializers


def _opset(model: onnx.ModelProto, where: str) -> int:
    versions = [o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS]
    if not versions:
        raise ModelFormatError("the model imports no ai.onnx opset", file=where, fix=_REEXPORT)
    opset = int(versions[0])
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UnsupportedOpError(f"opset {opset} (nnequiv reads opsets {MIN_OPSET} to {MAX_OPSET})",
                                 file=where, fix="convert it with onnx.version_converter.convert_version(model, 17)")
    return opset


@dataclass(frozen=True)
class _Named:
    """A NodeProto with its (possibly synthesised) unique name."""

    proto: onnx.NodeProto
    name: str

    @property
    def op(self) -> str:
        return self.proto.op_type

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.proto.input)

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(self.proto.output)


def _named(protos: Iterable[onnx.NodeProto]) -> list[_Named]:
    """Empty names become ``{op}_{index}`` (with a suffix if that name is taken)."""
    protos = list(protos)
    taken = {p.name for p in protos if p.name}
    result = []
    for index, proto in enumerate(protos):
        name = proto.name
        if not name:
            name, suffix = f"{proto.op_type}_{index}", 1
            while name in taken:
                name, suffix = f"{proto.op_type}_{index}_{suffix}", suffix + 1
            taken.add(name)
        result.append(_Named(proto, name))
    return result


def _reject_unsupported(nodes: Iterable[_Named], where: str) -> None:
    """Before folding: every op must be supported or foldable (all reported at once)."""
    bad = []
    for node in nodes:
        domain = node.proto.domain
        if domain not in _DEFAULT_DOMAINS:
            bad.append(f"{domain}.{node.op} ({node.name})")
        elif node.op not in SUPPORTED_OPS and node.op not in FOLD_RULES:
            bad.append(f"{node.op} ({node.name})")
    if bad:
        raise UnsupportedOpError(f"unsupported ops: {', '.join(bad)}", file=where,
                                 fix=f"nnequiv supports {', '.join(sorted(SUPPORTED_OPS))} (and folds "
                                     f"{', '.join(sorted(set(FOLD_RULES) - SUPPORTED_OPS))} on constants)")


def _reject_unfolded(nodes: Iterable[Node], where: str) -> None:
    """After folding: a foldable op that is left must be one the interpreter supports."""
    bad = [f"{node.op} ({node.name})" for node in nodes if node.op not in SUPPORTED_OPS]
    if bad:
        raise UnsupportedOpError(f"unsupported ops (their inputs are not all constants, so they cannot be "
                                 f"folded): {', '.join(bad)}", file=where,
                                 fix="nnequiv folds these ops only when every input is a constant or a static shape")


def _attributes(node: _Named, reader: "_TensorReader", where: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for attr in node.proto.attribute:
        kind = attr.type
        if attr.ref_attr_name:
            raise UnsupportedOpError(f"attribute {attr.name} refers to a function attribute",
                                     file=where, node=node.name)
        if kind == AttributeProto.FLOAT:
            attrs[attr.name] = float(attr.f)
        elif kind == AttributeProto.INT:
            attrs[attr.name] = int(attr.i)
        elif kind == AttributeProto.STRING:
            attrs[attr.name] = attr.s.decode("utf-8", "replace")
        elif kind == AttributeProto.FLOATS:
            attrs[attr.name] = tuple(float(v) for v in attr.floats)
        elif kind == AttributeProto.INTS:
            attrs[attr.name] = tuple(int(v) for v in attr.ints)
        elif kind == AttributeProto.STRINGS:
            attrs[attr.name] = tuple(s.decode("utf-8", "replace") for s in attr.strings)
        elif kind == AttributeProto.TENSOR:
            attrs[attr.name] = reader.array(attr.t)
        elif kind == AttributeProto.TENSORS:
            attrs[attr.name] = tuple(reader.array(t) for t in attr.tensors)
        else:
            raise UnsupportedOpError(
                f"attribute {attr.name} of type {AttributeProto.AttributeType.Name(kind)}",
                file=where, node=node.name, fix="nnequiv reads numeric and string attributes")
    return attrs


def _spec(vi: onnx.ValueInfoProto, where: str, *, required: bool) -> TensorSpec | None:
    kind = vi.type.WhichOneof("value")
    if kind != "tensor_type":
        raise UnsupportedOpError(f"graph value {vi.name!r} is a {kind or 'untyped value'}, not a tensor",
                                 file=where, fix="nnequiv reads tensor inputs and outputs")
    tensor_type = vi.type.tensor_type
    try:
        dtype = (helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
                 if tensor_type.elem_type else "float32")
    except KeyError:
        raise ModelFormatError(f"graph value {vi.name!r} has unknown element type {tensor_type.elem_type}",
                               file=where, fix=_REEXPORT) from None
    if not tensor_type.HasField("shape"):
        if required:
            raise ShapeError(f"input {vi.name!r} has no shape", file=where,
                             fix="export the model with a fixed input shape (dynamic batch axis allowed)")
        return None
    dims, dynamic = [], []
    for axis, dim in enumerate(tensor_type.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        else:
            dims.append(1)
            dynamic.append(axis)
    return TensorSpec(vi.name, tuple(dims), dtype, tuple(dynamic))


def _check_outputs_defined(graph, inputs, initializers, nodes, where: str) -> None:
    known = {s.name for s in inputs} | set(initializers) | {o for n in nodes for o in n.outputs}
    for vi in graph.output:
        if vi.name not in known:
            raise GraphError(f"graph output {vi.name!r} is never computed", file=where,
                             fix="connect the output to a node")


def _checked_output(name: str, spec: TensorSpec | None, computed: tuple[int, ...], where: str) -> TensorSpec:
    if spec is None:
        return TensorSpec(name, computed)
    if math.prod(spec.shape) != math.prod(computed):
        raise ShapeError(f"output {name!r} is declared with per-sample shape {spec.shape} "
                         f"but the graph computes {computed}", file=where,
                         fix="fix the declared output shape or the layer sizes")
    return spec


# ------------------------------------------------------------------------------ tensors
class _TensorReader:
    """TensorProto -> numpy, reading external data only from files inside ``base_dir``."""

    def __init__(self, base_dir: str | None, where: str) -> None:
        self.base = Path(base_dir).resolve() if base_dir is not None else None
        self.where = where

    def array(self, tensor: TensorProto) -> np.ndarray:
        if tensor.data_location == TensorProto.EXTERNAL:
            inline = TensorProto()
            inline.CopyFrom(tensor)
            del inline.external_data[:]
            inline.data_location = TensorProto.DEFAULT
            inline.raw_data = self._external_bytes(tensor)
            tensor = inline
        try:
            array = numpy_helper.to_array(tensor)
        except Exception as exc:
            raise ModelFormatError(f"tensor {tensor.name!r} cannot be read ({exc})", file=self.where,
                                   fix=_REEXPORT) from None
        if array.dtype.kind == "c":
            raise UnsupportedOpError(f"tensor {tensor.name!r} of complex type {array.dtype}", file=self.where,
                                     fix="nnequiv computes over the reals: store real tensors")
        return array

    def _external_bytes(self, tensor: TensorProto) -> bytes:
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        name = tensor.name
        if self.base is None:
            raise ModelFormatError(f"tensor {name!r} is stored in an external file", file=self.where,
                                   fix="load the model with load_onnx(path) so its data files can be found")
        escape_fix = "keep external data files in the model's folder and refer to them by relative name"
        if not location:
            raise ModelFormatError(f"tensor {name!r} is marked external but names no data file",
                                   file=self.where, fix=_REEXPORT)
        if ("\0" in location
                or any(PurePath(location).is_absolute() or ".." in PurePath(location).parts
                       for PurePath in (PurePosixPath, PureWindowsPath))):
            raise ModelFormatError(f"external data location {location!r} of tensor {name!r} is outside "
                                   "the model's folder; refusing to read it", file=self.where, fix=escape_fix)
        target = (self.base / location).resolve()
        if not target.is_relative_to(self.base):
            raise ModelFormatError(f"external data location {location!r} of tensor {name!r} resolves "
                                   f"outside the model's folder (symlink); refusing to read it",
                                   file=self.where, fix=escape_fix)
        if not target.is_file():
            raise ModelFormatError(f"external data file {location!r} of tensor {name!r} is missing",
                                   file=self.where, fix=f"copy {location} next to the .onnx file")
        size = target.stat().st_size
        try:
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else size - offset
        except ValueError:
            raise ModelFormatError(f"tensor {name!r} has a malformed external data offset/length",
                                   file=self.where, fix=_REEXPORT) from None
        if offset < 0 or length < 0 or offset + length > size:
            raise ModelFormatError(f"external data file {location!r} is too short for tensor {name!r}",
                                   file=self.where, fix=_REEXPORT)
        with open(target, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)


# ------------------------------------------------------------------------------ export
def to_onnx_model(net: Network) -> onnx.ModelProto:
    """A self-contained ONNX model of ``net`` (dynamic axes written as ``dim_param "N"``)."""
    opsets = [helper.make_opsetid("", net.opset)]
    nodes = [helper.make_node(n.op, list(n.inputs), list(n.outputs), name=n.name) for n in net.nodes]
    for proto, node in zip(nodes, net.nodes):
        proto.attribute.extend(_export_attribute(node.op, net.opset, key, value)
                               for key, value in sorted(node.attrs.items()))
    graph = helper.make_graph(
        nodes, net.name, [_value_info(s) for s in net.inputs], [_value_info(s) for s in net.outputs],
        initializer=[numpy_helper.from_array(np.asarray(a), name) for name, a in net.initializers.items()])
    model = helper.make_model(graph, opset_imports=opsets, producer_name="nnequiv")
    model.ir_version = max(helper.find_min_ir_version_for(opsets), 7)
    return model


def save_onnx(net: Network, path: str | os.PathLike[str]) -> None:
    """Write ``net`` as a self-contained ``.onnx`` file."""
    onnx.save_model(to_onnx_model(net), str(path))


def _value_info(spec: TensorSpec) -> onnx.ValueInfoProto:
    dims: list[int | str] = [("N" if axis in spec.dynamic_axes and d == 1 else d)
                             for axis, d in enumerate(spec.shape)]
    return helper.make_tensor_value_info(spec.name, helper.np_dtype_to_tensor_dtype(np.dtype(spec.dtype)), dims)


def _export_attribute(op: str, opset: int, key: str, value: Any) -> AttributeProto:
    if isinstance(value, np.ndarray):
        return helper.make_attribute(key, numpy_helper.from_array(value))
    if isinstance(value, tuple) and value and isinstance(value[0], np.ndarray):
        return helper.make_attribute(key, [numpy_helper.from_array(v) for v in value])
    value = list(value) if isinstance(value, tuple) else value
    try:
        schema_type = onnx.defs.get_schema(op, opset, "").attributes[key].type
        kind = AttributeProto.AttributeType.Value(schema_type.name)
    except (onnx.defs.SchemaError, KeyError, ValueError):
        kind = None  # unknown attribute: let onnx infer the type from the value
    return helper.make_attribute(key, value, attr_type=kind)


# ------------------------------------------------------------------------------ hashing
def canonical_sha256(item: Network | onnx.ModelProto | str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a canonical serialisation of a network's function.

    Covered: the opset; each input's and output's dtype, per-sample shape and dynamic
    axes; the nodes in topological order (op, operand wiring, attributes sorted by
    name); each initializer's dtype, shape and little-endian bytes, at its first use.
    Not covered: tensor, node and graph names (tensors are numbered by first
    appearance), doc strings, producer, initializer order, unused initializers,
    external versus inline storage, and whether a constant was a Constant node or a
    static shape subgraph folded at load time (the hash is that of the loaded network).
    Reordering independent nodes in the file changes the hash.
    """
    net = item if isinstance(item, Network) else (
        from_onnx_model(item) if isinstance(item, onnx.ModelProto) else load_onnx(item))
    digest = hashlib.sha256()

    def emit(kind: str, payload: Any, blob: bytes = b"") -> None:
        text = json.dumps([kind, payload], sort_keys=True, separators=(",", ":")).encode()
        for part in (text, blob):
            digest.update(len(part).to_bytes(8, "little") + part)

    emit("nnequiv-canonical", [1, net.opset])
    ids: dict[str, str] = {}
    for index, spec in enumerate(net.inputs):
        ids[spec.name] = f"i{index}"
        emit("input", [spec.dtype, list(spec.shape), list(spec.dynamic_axes)])

    def ref(name: str) -> str:
        if not name:
            return ""
        if name not in ids:  # an initializer, hashed where first consumed
            ids[name] = f"c{sum(1 for v in ids.values() if v.startswith('c'))}"
            kind, blob = _array_payload(net.initializers[name])
            emit("constant", [ids[name], kind], blob)
        return ids[name]

    for index, node in enumerate(net.nodes):
        operands = [ref(name) for name in node.inputs]
        attrs = []
        for key in sorted(node.attrs):
            payload, blob = _attr_payload(node.attrs[key])
            attrs.append([key, payload, hashlib.sha256(blob).hexdigest() if blob else ""])
        emit("node", [node.op, operands, [bool(o) for o in node.outputs], attrs])
        for position, name in enumerate(node.outputs):
            if name:
                ids[name] = f"n{index}.{position}"
    for spec in net.outputs:
        emit("output", [ref(spec.name), spec.dtype, list(spec.shape), list(spec.dynamic_axes)])
    return digest.hexdigest()


def _array_payload(array: np.ndarray) -> tuple[list, bytes]:
    array = np.asarray(array)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return [array.dtype.name, list(array.shape)], np.ascontiguousarray(little).tobytes()


def _attr_payload(value: Any) -> tuple[Any, bytes]:
    if isinstance(value, np.ndarray):
        kind, blob = _array_payload(value)
        return ["tensor", kind], blob
    if isinstance(value, (tuple, list)):
        parts = [_attr_payload(v) for v in value]
        return ["list", [p for p, _ in parts]], b"".join(b for _, b in parts)
    if isinstance(value, bool) or isinstance(value, (int, np.integer)):
        return ["int", int(value)], b""
    if isinstance(value, (float, np.floating)):
        return ["float", float(value).hex()], b""
    return ["str", str(value)], b""
