"""Read and write the NNet text format (ACAS Xu, ReluVal/ReluDiff/NeuroDiff benchmarks).

File layout (after ``//`` comment lines; values are comma separated, a trailing
comma is allowed, blank lines are ignored)::

    numLayers, inputSize, outputSize, maxLayerSize
    layerSize_0, ..., layerSize_numLayers        (layerSize_0 = inputSize)
    flag                                         (unused)
    min_0, ..., min_{n-1}                        (input minimums)
    max_0, ..., max_{n-1}                        (input maximums)
    mean_0, ..., mean_{n-1}, mean_out            (normalisation means)
    range_0, ..., range_{n-1}, range_out         (normalisation ranges)
    then per layer: one line per weight row, then one line per bias value.

An NNet network computes ``y = mlp((clip(x, min, max) - mean) / range) * range_out + mean_out``.
The imported :class:`~nnequiv.ir.Network` models everything **except the clipping**:
``Max``/``Min`` are not in nnequiv's op set, so the network reads ``x`` unclipped.
The two agree on the box ``[min, max]``; keep verification boxes inside it
(:class:`NnetInfo` returns ``min``/``max`` for that purpose).

Normalisation becomes explicit nodes, each emitted only when it is not the identity:
``Sub`` (input means), ``Div`` (input ranges), then ``Gemm`` + ``Relu`` per hidden
layer, a final ``Gemm``, and ``Mul`` (output range) / ``Add`` (output mean).
Weights are stored as float32, like the published ONNX conversions of these files.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from .errors import ModelFormatError, UnsupportedOpError, UsageError
from .ir import Network, Node, TensorSpec

__all__ = ["NnetInfo", "load_nnet", "load_nnet_with_info", "save_nnet"]

INPUT_NAME = "input"
OUTPUT_NAME = "output"
# Written as the input bounds when the caller gives none: the float32 extremes,
# finite so every NNet reader (C, Python, Julia) parses them.
_NO_BOUND = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class NnetInfo:
    """What an NNet file states besides the network function."""

    layer_sizes: tuple[int, ...]
    input_min: tuple[float, ...]
    input_max: tuple[float, ...]
    input_mean: tuple[float, ...]
    input_range: tuple[float, ...]
    output_mean: float
    output_range: float
    comments: tuple[str, ...] = ()

    @property
    def input_box(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` float64 arrays: the box on which the network equals the NNet semantics."""
        return np.array(self.input_min, dtype=np.float64), np.array(self.input_max, dtype=np.float64)


# ----------------------------------------------------------------------------- reading
class _Lines:
    """Non-blank data lines with their 1-based line numbers, after the header comments."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.comments: list[str] = []
        self._items: list[tuple[int, str]] = []
        header = True
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if header and line.startswith("//"):
                self.comments.append(line[2:].strip())
                continue
            if not line:
                continue
            header = False
            self._items.append((number, line))
        self._next = 0
        self.last_line = len(text.splitlines())

    def error(self, message: str, line: int | None, fix: str | None = None) -> ModelFormatError:
        where = f"line {line}: " if line is not None else ""
        return ModelFormatError(where + message, file=self.source, fix=fix)

    def numbers(self, what: str, count: int | None = None) -> tuple[int, list[float]]:
        """The next line as floats; ``count`` checks how many there are."""
        if self._next >= len(self._items):
            raise self.error(f"file ends after line {self.last_line}, expected {what}", None,
                             fix="the file is truncated or its header announces more layers")
        number, line = self._items[self._next]
        self._next += 1
        tokens = [t.strip() for t in line.split(",")]
        if tokens and tokens[-1] == "":
            tokens.pop()  # the usual trailing comma
        values = []
        for token in tokens:
            try:
                value = float(token)
            except ValueError:
                raise self.error(f"{token!r} is not a number (reading {what})", number) from None
            if not math.isfinite(value):
                raise self.error(f"{token!r} is not a finite number (reading {what})", number)
            values.append(value)
        if count is not None and len(values) != count:
            raise self.error(f"expected {count} value{'s' if count != 1 else ''} for {what}, "
                             f"found {len(values)}", number)
        return number, values

    def integers(self, what: str, count: int | None = None) -> tuple[int, list[int]]:
        number, values = self.numbers(what, count)
        if any(v != int(v) or v < 1 for v in values):
            raise self.error(f"{what} must be positive integers", number)
        return number, [int(v) for v in values]

    def rest(self) -> Iterator[tuple[int, str]]:
        yield from self._items[self._next:]


def load_nnet(path: str | os.PathLike[str]) -> Network:
    """Read an NNet file as a :class:`Network` (input clipping is not modelled; see module doc)."""
    return load_nnet_with_info(path)[0]


def load_nnet_with_info(path: str | os.PathLike[str]) -> tuple[Network, NnetInfo]:
    """Read an NNet file: the network and the file's bounds / normalisation constants."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelFormatError("no such file", file=source, fix="check the path") from None
    except IsADirectoryError:
        raise ModelFormatError("is a directory, not an NNet file", file=source) from None
    except UnicodeDecodeError:
        raise ModelFormatError("not an NNet text file (not UTF-8 text)", file=source,
                               fix="NNet files are comma-separated text") from None
    except OSError as exc:
        raise ModelFormatError(f"cannot read the file: {exc.strerror or exc}", file=source) from None
    return parse_nnet(text, source=source)


def parse_nnet(text: str, *, source: str = "<nnet>") -> tuple[Network, NnetInfo]:
    """Parse NNet text (``source`` names it in errors)."""
    lines = _Lines(text, source)
    number, head = lines.integers("the header numLayers,inputSize,outputSize,maxLayerSize")
    if len(head) < 3:
        raise lines.error("the header must hold numLayers,inputSize,outputSize,maxLayerSize", number)
    n_layers, n_in, n_out = head[:3]
    number, sizes = lines.integers("the layer sizes", n_layers + 1)
    if sizes[0] != n_in or sizes[-1] != n_out:
        raise lines.error(f"layer sizes {sizes[0]}..{sizes[-1]} disagree with the header's input "
                          f"size {n_in} and output size {n_out}", number)
    lines.numbers("the flag line")
    _, lo = lines.numbers("the input minimums", n_in)
    _, hi = lines.numbers("the input maximums", n_in)
    _, mean = lines.numbers("the means (one per input, then the output mean)", n_in + 1)
    number, scale = lines.numbers("the ranges (one per input, then the output range)", n_in + 1)
    if any(r == 0.0 for r in scale):
        raise lines.error("a normalisation range is 0", number, fix="ranges divide the inputs")

    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    for k in range(n_layers):
        n_prev, n_next = sizes[k], sizes[k + 1]
        rows = [lines.numbers(f"layer {k + 1} weight row {i + 1}", n_prev)[1] for i in range(n_next)]
        bias = [lines.numbers(f"layer {k + 1} bias {i + 1}", 1)[1][0] for i in range(n_next)]
        weights.append(np.array(rows, dtype=np.float32).reshape(n_next, n_prev))
        biases.append(np.array(bias, dtype=np.float32))
    for number, _ in lines.rest():
        raise lines.error(f"unexpected data after the last layer ({n_layers} layers announced)", number,
                          fix="check numLayers and the layer sizes in the header")

    info = NnetInfo(layer_sizes=tuple(sizes), input_min=tuple(lo), input_max=tuple(hi),
                    input_mean=tuple(mean[:-1]), input_range=tuple(scale[:-1]),
                    output_mean=mean[-1], output_range=scale[-1], comments=tuple(lines.comments))
    return _build(weights, biases, info, source), info


def _build(weights: list[np.ndarray], biases: list[np.ndarray], info: NnetInfo, source: str) -> Network:
    nodes: list[Node] = []
    init: dict[str, np.ndarray] = {}
    current = INPUT_NAME

    def step(op: str, name: str, operands: tuple[str, ...], **attrs: object) -> None:
        nonlocal current
        nodes.append(Node(name, op, (current, *operands), (name,), attrs))
        current = name

    n_in = info.layer_sizes[0]
    if any(m != 0.0 for m in info.input_mean):
        init["input_mean"] = np.array(info.input_mean, dtype=np.float32)
        step("Sub", "input_centered", ("input_mean",))
    if any(r != 1.0 for r in info.input_range):
        init["input_range"] = np.array(info.input_range, dtype=np.float32)
        step("Div", "input_normalized", ("input_range",))
    for k, (w, b) in enumerate(zip(weights, biases), start=1):
        init[f"layer{k}_weight"], init[f"layer{k}_bias"] = w, b
        step("Gemm", f"layer{k}_gemm", (f"layer{k}_weight", f"layer{k}_bias"), transB=1)
        if k < len(weights):
            step("Relu", f"layer{k}_relu", ())
    n_out = info.layer_sizes[-1]
    if info.output_range != 1.0:
        init["output_range"] = np.full(n_out, info.output_range, dtype=np.float32)
        step("Mul", "output_scaled", ("output_range",))
    if info.output_mean != 0.0:
        init["output_mean"] = np.full(n_out, info.output_mean, dtype=np.float32)
        step("Add", "output_shifted", ("output_mean",))
    # the last node writes the graph output
    last = nodes[-1]
    nodes[-1] = Node(last.name, last.op, last.inputs, (OUTPUT_NAME,), last.attrs)
    name = Path(source).stem if source and not source.startswith("<") else "nnet"
    # per-sample shapes (1, n) with a dynamic first axis: exported, this is the usual [N, n]
    return Network.create(
        inputs=(TensorSpec(INPUT_NAME, (1, n_in), "float32", (0,)),),
        outputs=(TensorSpec(OUTPUT_NAME, (1, n_out), "float32", (0,)),),
        nodes=nodes, initializers=init, name=name, source=source)


# ----------------------------------------------------------------------------- writing
@dataclass(frozen=True)
class _Mlp:
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    input_mean: np.ndarray
    input_range: np.ndarray
    output_mean: float
    output_range: float


def save_nnet(net: Network, path: str | os.PathLike[str], *,
              input_min: "np.typing.ArrayLike | None" = None,
              input_max: "np.typing.ArrayLike | None" = None,
              comment: str | None = None) -> None:
    """Write a plain MLP as NNet.

    ``net`` must be a chain ``[Sub c] [Div c] (Gemm Relu)* Gemm [Mul c] [Add c]`` over a
    1-D input (what :func:`load_nnet` produces; output ``Mul``/``Add`` constants must be
    uniform).  ``input_min``/``input_max`` default to the float32 extremes (no clipping).
    """
    mlp = _as_mlp(net)
    n_in = mlp.weights[0].shape[1]
    lo = _bounds(input_min, -_NO_BOUND, n_in, "input_min")
    hi = _bounds(input_max, _NO_BOUND, n_in, "input_max")
    sizes = [n_in] + [w.shape[0] for w in mlp.weights]
    out: list[str] = [f"// {line}" for line in (comment or f"{net.name}, written by nnequiv").splitlines()]
    out.append(_row([len(mlp.weights), n_in, sizes[-1], max(sizes)], int))
    out.append(_row(sizes, int))
    out.append("0,")
    out.append(_row(lo))
    out.append(_row(hi))
    out.append(_row([*mlp.input_mean, mlp.output_mean]))
    out.append(_row([*mlp.input_range, mlp.output_range]))
    for w, b in zip(mlp.weights, mlp.biases):
        out.extend(_row(row) for row in w)
        out.extend(_row([v]) for v in b)
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")


def _bounds(values: "np.typing.ArrayLike | None", default: float, n: int, what: str) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=np.float32)
    array = np.ravel(np.asarray(values, dtype=np.float64))
    if array.size not in (1, n) or not np.all(np.isfinite(array)):
        raise UsageError(f"{what} must be one finite number or {n} of them")
    return np.broadcast_to(array, (n,))


def _format(value: float | np.floating) -> str:
    if isinstance(value, np.float32):  # shortest text that reads back to the same float32
        return str(value)
    return repr(float(value))


def _row(values, kind=float) -> str:
    if kind is int:
        return ",".join(str(int(v)) for v in values) + ","
    return ",".join(_format(v) for v in values) + ","


def _unsupported(net: Network, node: Node | None, why: str) -> UnsupportedOpError:
    return UnsupportedOpError(f"cannot write as NNet: {why}", file=net.source,
                              node=node.name if node else None,
                              fix="NNet holds only fully connected ReLU networks (Gemm/Relu)")


def _as_mlp(net: Network) -> _Mlp:
    """Match the chain pattern, returning weights as (out, in) arrays in their stored dtype."""
    spec = net.input
    if not (_is_vector(spec.shape) and len(net.outputs) == 1 and _is_vector(net.output.shape)):
        raise _unsupported(net, None, "NNet needs one input and one output of shape (n,) or (1, n)")
    init = net.initializers
    chain: list[Node] = []
    current = spec.name
    while True:
        readers = net.consumers.get(current, ())
        if not readers:
            break
        if len(readers) != 1:
            raise _unsupported(net, readers[0], f"tensor {current!r} feeds several nodes")
        node = readers[0]
        if len(node.outputs) != 1 or not node.inputs or node.inputs[0] != current:
            raise _unsupported(net, node, f"{node.op} is not part of a simple chain")
        if any(name not in init for name in node.inputs[1:] if name):
            raise _unsupported(net, node, f"{node.op} reads a second variable tensor")
        chain.append(node)
        current = node.outputs[0]
    if current != net.output.name or len(chain) != len(net.nodes):
        raise _unsupported(net, None, "the graph is not a single chain from input to output")

    ops = [n.op for n in chain]
    pos = 0
    n_in = spec.size
    input_mean = np.zeros(n_in)
    input_range = np.ones(n_in)

    def const(node: Node) -> np.ndarray:
        return np.ravel(np.asarray(init[node.inputs[1]]))

    def per_input(node: Node) -> np.ndarray:
        values = const(node)
        if values.size not in (1, n_in):
            raise _unsupported(net, node, f"{node.op} constant has {values.size} values, not {n_in}")
        return np.broadcast_to(values, (n_in,)).copy()

    if pos < len(ops) and ops[pos] == "Sub":
        input_mean = per_input(chain[pos])
        pos += 1
    if pos < len(ops) and ops[pos] == "Div":
        input_range = per_input(chain[pos])
        pos += 1
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    width = n_in
    while pos < len(ops) and ops[pos] == "Gemm":
        w, b = _gemm(net, chain[pos], width)
        weights.append(w)
        biases.append(b)
        width = w.shape[0]
        pos += 1
        if pos < len(ops) and ops[pos] == "Relu":
            if pos + 1 >= len(ops) or ops[pos + 1] != "Gemm":
                raise _unsupported(net, chain[pos], "the last layer must be linear (no Relu)")
            pos += 1
        elif pos < len(ops) and ops[pos] == "Gemm":
            raise _unsupported(net, chain[pos], "two Gemm layers without a Relu between them")
    if not weights:
        raise _unsupported(net, chain[pos] if pos < len(chain) else None, "no Gemm layer found")
    out_range, out_mean = 1.0, 0.0
    if pos < len(ops) and ops[pos] == "Mul":
        out_range = _uniform(net, chain[pos], const(chain[pos]), "output range")
        pos += 1
    if pos < len(ops) and ops[pos] == "Add":
        out_mean = _uniform(net, chain[pos], const(chain[pos]), "output mean")
        pos += 1
    if pos < len(ops):
        raise _unsupported(net, chain[pos], f"op {ops[pos]} at this position")
    return _Mlp(tuple(weights), tuple(biases), input_mean, input_range, out_mean, out_range)


def _is_vector(shape: tuple[int, ...]) -> bool:
    return len(shape) in (1, 2) and shape[:-1] in ((), (1,))


def _uniform(net: Network, node: Node, values: np.ndarray, what: str) -> float:
    flat = values
    if flat.size == 0 or np.any(flat != flat[0]):
        raise _unsupported(net, node, f"the {what} must be one value for all outputs")
    return flat[0]


def _gemm(net: Network, node: Node, width: int) -> tuple[np.ndarray, np.ndarray]:
    attrs: Mapping[str, object] = node.attrs
    if attrs.get("transA", 0):
        raise _unsupported(net, node, "Gemm with transA")
    w = np.asarray(net.initializers[node.inputs[1]])
    if w.ndim != 2:
        raise _unsupported(net, node, "Gemm weight is not a matrix")
    if not attrs.get("transB", 0):
        w = w.T
    alpha = float(attrs.get("alpha", 1.0))
    beta = float(attrs.get("beta", 1.0))
    if alpha != 1.0 or beta != 1.0:
        raise _unsupported(net, node, "Gemm with alpha or beta other than 1")
    if w.shape[1] != width:
        raise _unsupported(net, node, f"Gemm expects {w.shape[1]} inputs, the layer before has {width}")
    if len(node.inputs) > 2 and node.inputs[2]:
        b = np.broadcast_to(np.asarray(net.initializers[node.inputs[2]]), (w.shape[0],))
    else:
        b = np.zeros(w.shape[0], dtype=w.dtype)
    return w, b
