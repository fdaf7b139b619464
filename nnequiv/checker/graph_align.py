"""Normalised layer graphs of two networks and their alignment (trusted).

A network is normalised into :class:`Stage` s in topological order: ``Identity`` is an
alias; ``Gemm`` / ``MatMul`` with a constant matrix become ``Dense`` (``y = x @ A + b``);
``Conv`` stays ``Conv``; an inference ``BatchNormalization`` whose input only it reads
and that follows a ``Dense`` / ``Conv`` is absorbed into that stage as an enclosure of the
real folded weights: centre plus radius (``proofs/batchnorm_fold.md`` B4, B5;
``proofs/structural_match.md`` P3); an ``Add`` of a per-channel constant right after such a
stage (its sole reader) is added to the stage's last additive parameter when that sum is
exact in float64 (P5: torch-simplify's pinned BatchNorm bias).  Two networks align when their stage lists agree in
op, attributes, wiring, per-sample shapes and weight shapes; only weight *values* may
differ.  Names (tensor, node, initializer) never matter.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..interpret import infer_shapes
from ..ir import Network, Node
from ..registering import registrar
from .rounding import ETA, UNIT, up

INPUT = -1
SHAPE_OPS = ("Flatten", "Reshape")
PLAIN_OPS = ("Relu", "LeakyRelu", "MaxPool", "GlobalAveragePool", "Add") + SHAPE_OPS


class AlignError(Exception):
    """The networks cannot be compared stage by stage; ``where`` names the node."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True, eq=False)
class Linear:
    """Real weights in ``[weight - weight_radius, weight + weight_radius]`` (float64), same for the bias."""

    weight: np.ndarray
    weight_radius: np.ndarray
    bias: np.ndarray
    bias_radius: np.ndarray
    raw: tuple[np.ndarray, ...] = ()     # the stored constants it was built from (identity test)
    additive: int | None = None          # index in raw of the per-channel constant added last (None: 0)

    @property
    def exact(self) -> bool:
        return not (np.any(self.weight_radius) or np.any(self.bias_radius))


@dataclass(frozen=True, eq=False)
class Stage:
    op: str                       # Dense, Conv, AddConst, or one of PLAIN_OPS
    node: Node                    # the source node (attributes, name for messages)
    inputs: tuple[int, ...]       # stage indices, INPUT for the network input
    shape: tuple[int, ...]        # per-sample output shape
    linear: Linear | None = None
    constant: np.ndarray | None = None   # AddConst's operand (float64)

    def signature(self) -> tuple:
        attrs = tuple(sorted((k, _plain(v)) for k, v in self.node.attrs.items() if k not in _IGNORED))
        shapes = () if self.linear is None else (self.linear.weight.shape, self.linear.bias.shape)
        const = () if self.constant is None else self.constant.shape
        return self.op, attrs, self.inputs, self.shape, shapes, const


_IGNORED = {"transB", "alpha", "beta"}     # Dense is normalised to x @ A + b


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return tuple(value.ravel().tolist())
    return tuple(_plain(v) for v in value) if isinstance(value, tuple) else value


def generous(x):
    """An upper bound on a nonnegative expression of at most 100 roundings computed in float64 (P1)."""
    return up(np.asarray(x, np.float64) * (1.0 + 2.0 ** -40))


def _f64(net: Network, name: str, where: str, what: str) -> np.ndarray:
    if name not in net.initializers:
        raise AlignError(where, f"{what} {name!r} is not a stored constant")
    array = np.asarray(net.initializers[name])
    if array.dtype.kind != "f" or not np.all(np.isfinite(array)):
        raise AlignError(where, f"{what} {name!r} is not a finite floating-point constant")
    return array.astype(np.float64)


def _zeros(shape) -> np.ndarray:
    return np.zeros(shape, np.float64)


# ------------------------------------------------------------------------------ per-op builders
Builder = Callable[[Network, Node, str, list[int], tuple, dict], Stage]
BUILDERS: dict[str, Builder] = {}


builder = registrar(BUILDERS, "stage builder for")


@builder("Gemm")
def _gemm(net, node, where, inputs, shape, shapes):
    if int(node.attr("transA", 0)) or float(node.attr("alpha", 1.0)) != 1.0 or float(node.attr("beta", 1.0)) != 1.0:
        raise AlignError(where, "only Gemm with transA=0, alpha=beta=1 is compared")
    b = _f64(net, node.inputs[1], where, "weight")
    a = b.T if int(node.attr("transB", 0)) else b
    bias = _f64(net, node.inputs[2], where, "bias") if len(node.inputs) > 2 and node.inputs[2] else _zeros(a.shape[1])
    if a.ndim != 2 or bias.size not in (1, a.shape[1]):
        raise AlignError(where, "Gemm weight must be a matrix and the bias a vector")
    bias = np.broadcast_to(bias.ravel(), (a.shape[1],)).copy()
    linear = Linear(a, _zeros(a.shape), bias, _zeros(bias.shape), (a, bias), 1)
    return Stage("Dense", node, tuple(inputs[:1]), shape, linear)


@builder("MatMul")
def _matmul(net, node, where, inputs, shape, shapes):
    """``x @ W``, or ``W @ x`` for a vector / column ``x`` (per-sample ``(K,)``, ``(K, 1)``): ``A = W.T``."""
    if node.inputs[1] in net.initializers and node.inputs[0] not in net.initializers:
        a = _f64(net, node.inputs[1], where, "weight")
    elif node.inputs[0] in net.initializers and (len(shapes.get(node.inputs[1], ())) == 1 or
                                                 len(shapes.get(node.inputs[1], ())) == 2 and
                                                 shapes[node.inputs[1]][-1] == 1):
        a = _f64(net, node.inputs[0], where, "weight").T
    else:
        raise AlignError(where, "only x @ W (or W @ x for a column x) with a constant matrix W is compared")
    if a.ndim != 2:
        raise AlignError(where, "the constant operand must be a matrix")
    zeros = _zeros(a.shape[1])
    return Stage("Dense", node, tuple(inputs[:1]), shape, Linear(a, _zeros(a.shape), zeros, zeros, (a,)))


@builder("Conv")
def _conv(net, node, where, inputs, shape, shapes):
    w = _f64(net, node.inputs[1], where, "weight")
    bias = _f64(net, node.inputs[2], where, "bias") if len(node.inputs) > 2 and node.inputs[2] else _zeros(w.shape[0])
    linear = Linear(w, _zeros(w.shape), bias, _zeros(bias.shape), (w, bias), 1)
    return Stage("Conv", node, tuple(inputs[:1]), shape, linear)


@builder("Add")
def _add(net, node, where, inputs, shape, shapes):
    constants = [name for name in node.inputs if name in net.initializers]
    if not constants:
        return Stage("Add", node, tuple(inputs), shape)
    if len(constants) != 1:
        raise AlignError(where, "an Add of two constants is not compared")
    const = _f64(net, constants[0], where, "addend")
    if const.ndim > len(shape):
        extra = const.ndim - len(shape)
        if any(d != 1 for d in const.shape[:extra]):
            raise AlignError(where, "the added constant has more dimensions than the tensor")
        const = const.reshape(const.shape[extra:])
    return Stage("AddConst", node, tuple(inputs), shape, constant=const)


@builder(*PLAIN_OPS[:-3], *SHAPE_OPS)
def _plain_op(net, node, where, inputs, shape, shapes):
    if node.op == "LeakyRelu" and not 0.0 <= float(node.attr("alpha", 0.01)) <= 1.0:
        raise AlignError(where, "LeakyRelu slope must lie in [0, 1]")
    if node.op == "MaxPool" and len(node.outputs) > 1 and node.outputs[1]:
        raise AlignError(where, "MaxPool's Indices output is not compared")
    return Stage(node.op, node, tuple(inputs[:1]), shape)


def _absorb_batchnorm(net: Network, node: Node, where: str, stage: Stage) -> Stage:
    """Conv/Dense followed by BN -> the same stage with an enclosure of the folded real weights."""
    if int(node.attr("training_mode", 0)) or any(node.outputs[1:]):
        raise AlignError(where, "BatchNormalization in training mode")
    gamma, beta, mean, var = (_f64(net, name, where, what) for name, what in
                              zip(node.inputs[1:5], ("scale", "B", "mean", "var")))
    lin = stage.linear
    channels = lin.bias.shape[0]
    if any(p.shape != (channels,) for p in (gamma, beta, mean, var)):
        raise AlignError(where, f"BatchNormalization parameters must have shape ({channels},)")
    denominator = var + float(node.attr("epsilon", 1e-5))
    if not np.all(denominator >= 2.0 ** -1000):
        raise AlignError(where, "var + epsilon must be positive (and not tiny)")
    # B4 / B5 of proofs/batchnorm_fold.md: the scale and the shift with their radii
    scale = gamma / np.sqrt(denominator)
    scale_rad = up(4 * UNIT * np.abs(scale)) + ETA
    shift = beta - mean * scale
    shift_rad = generous(np.abs(mean) * scale_rad + 2 * UNIT * (np.abs(mean * scale) + np.abs(shift)) + 2 * ETA)
    if stage.op == "Conv":                           # output channels: the weight's first axis
        def per_channel(v):
            return v.reshape((-1,) + (1,) * (lin.weight.ndim - 1))
    else:                                            # Dense: x @ A, output features the last axis
        def per_channel(v):
            return v[None, :]
    weight = lin.weight * per_channel(scale)
    # P3: |W s - fl(W s_fl)| <= |W| R_s + 2u |fl(W s_fl)| + ETA, plus the old radius scaled
    weight_rad = generous(np.abs(lin.weight) * per_channel(scale_rad) + 2 * UNIT * np.abs(weight) + ETA
                          + lin.weight_radius * per_channel(np.abs(scale) + scale_rad))
    product = lin.bias * scale
    bias = product + shift
    bias_rad = generous(np.abs(lin.bias) * scale_rad + 2 * UNIT * (np.abs(product) + np.abs(bias)) + 2 * ETA
                        + shift_rad + lin.bias_radius * (np.abs(scale) + scale_rad))
    raw = lin.raw + (gamma, beta, mean, var, np.array([float(node.attr("epsilon", 1e-5))]))
    linear = Linear(weight, weight_rad, bias, bias_rad, raw, len(lin.raw) + 1)     # beta is added last
    return Stage(stage.op, stage.node, stage.inputs, stage.shape, linear)


def _read_only_by(net: Network, tensor: str, reader: Node) -> bool:
    """``tensor`` (through Identity aliases) is read by ``reader`` alone and is no network output."""
    while not any(o.name == tensor for o in net.outputs):
        readers = net.consumers.get(tensor, ())
        if len(readers) != 1:
            return False
        if readers[0].name == reader.name:
            return True
        if readers[0].op != "Identity":
            return False
        tensor = readers[0].outputs[0]
    return False


def _absorb_constant(stage: Stage, const: np.ndarray) -> Stage | None:
    """P5: ``z + c`` after a linear stage, ``c`` constant per output channel, is the same stage with
    ``c`` added to its last additive parameter -- when that float64 sum is exact (TwoSum error 0),
    so the stored constants still name the real function.  None when it does not apply."""
    lin = stage.linear
    channels = lin.bias.shape[0]
    axis = 1 if stage.op == "Conv" else len(stage.shape) - 1
    if const.ndim > len(stage.shape) or axis < 0 or axis >= len(stage.shape):
        return None
    try:
        full = np.broadcast_to(const, stage.shape)
    except ValueError:
        return None
    if full.shape[axis] != channels:
        return None
    c = np.moveaxis(full, axis, 0).reshape(channels, -1)[:, 0].astype(np.float64)
    per_channel = c.reshape((channels,) + (1,) * (len(stage.shape) - 1 - axis))
    if not np.array_equal(np.broadcast_to(per_channel, stage.shape), full):
        return None                                   # varies within a channel: not a bias
    old = lin.raw[lin.additive] if lin.additive is not None else _zeros(channels)
    if old.shape != (channels,):
        return None
    total = old + c
    back = total - old
    if not (np.all(np.isfinite(total)) and np.all((old - (total - back)) + (c - back) == 0)):
        return None                                   # not exact: keep the Add as its own stage
    raw = (lin.raw[:lin.additive] + (total,) + lin.raw[lin.additive + 1:] if lin.additive is not None
           else lin.raw + (total,))
    bias = lin.bias + c
    bias_rad = generous(lin.bias_radius + UNIT * np.abs(bias))       # one rounding of fl(b + c)
    linear = Linear(lin.weight, lin.weight_radius, bias, bias_rad, raw,
                    lin.additive if lin.additive is not None else len(lin.raw))
    return Stage(stage.op, stage.node, stage.inputs, stage.shape, linear)


_NORMALISED: "weakref.WeakKeyDictionary[Network, tuple[Stage, ...]]" = weakref.WeakKeyDictionary()


def normalise(net: Network) -> tuple[Stage, ...]:
    """The stage list of a network (remembered per network object: networks are immutable and
    the shape inference dry run dominates the cost at ResNet scale)."""
    if net not in _NORMALISED:
        _NORMALISED[net] = _normalise(net)
    return _NORMALISED[net]


def _normalise(net: Network) -> tuple[Stage, ...]:
    shapes = infer_shapes(net)
    index: dict[str, int] = {net.input.name: INPUT}
    stages: list[Stage] = []
    for node in net.nodes:
        where = f"node {node.name!r} ({node.op})"
        if node.op == "Identity":
            if node.inputs[0] not in index:
                raise AlignError(where, "an Identity of a constant is not compared")
            index[node.outputs[0]] = index[node.inputs[0]]
            continue
        if node.op == "Constant":
            raise AlignError(where, "Constant nodes are not compared (store constants as initializers)")
        variable = [index[name] for name in node.inputs if name and name in index]
        if node.op == "BatchNormalization":
            producer = variable[0] if variable else INPUT
            if producer == INPUT or stages[producer].op not in ("Dense", "Conv") or \
                    len(net.consumers.get(node.inputs[0], ())) != 1 or \
                    any(o.name == node.inputs[0] for o in net.outputs):
                raise AlignError(where, "only a BatchNormalization right after a Conv or Gemm (its sole reader) "
                                        "is compared")
            stages[producer] = _absorb_batchnorm(net, node, where, stages[producer])
            index[node.outputs[0]] = producer
            continue
        build = BUILDERS.get(node.op)
        if build is None:
            raise AlignError(where, f"op {node.op} is not supported by the structural comparison")
        stage = build(net, node, where, variable, tuple(shapes[node.outputs[0]]), shapes)
        if stage.op == "AddConst" and variable and variable[0] != INPUT and \
                stages[variable[0]].linear is not None and stages[variable[0]].shape == stage.shape:
            operand = next(name for name in node.inputs if name not in net.initializers)
            absorbed = _absorb_constant(stages[variable[0]], stage.constant) \
                if _read_only_by(net, operand, node) else None
            if absorbed is not None:
                stages[variable[0]] = absorbed
                index[node.outputs[0]] = variable[0]
                continue
        stages.append(stage)
        index[node.outputs[0]] = len(stages) - 1
    if net.output.name not in index or index[net.output.name] != len(stages) - 1:
        raise AlignError("output", "the output must be written by the last stage")
    return tuple(stages)


def align(f: tuple[Stage, ...], g: tuple[Stage, ...]) -> None:
    """Raise AlignError at the first stage where the two graphs differ other than in weight values."""
    if len(f) != len(g):
        raise AlignError("graph", f"{len(f)} stages against {len(g)} (after removing Identity and folding "
                                  "BatchNormalization into the layer before it)")
    for k, (a, b) in enumerate(zip(f, g)):
        if a.signature() != b.signature():
            raise AlignError(f"stage {k}: node {a.node.name!r} / {b.node.name!r}",
                             f"{a.op}{list(a.shape)} differs from {b.op}{list(b.shape)} in op, attributes, "
                             "wiring or shapes")


def identical(f: tuple[Stage, ...], g: tuple[Stage, ...]) -> bool:
    """Aligned stages whose every real weight is the same number: the same function (P0)."""
    for a, b in zip(f, g):
        if a.linear is not None:
            ra, rb = a.linear.raw, b.linear.raw
            if len(ra) != len(rb) or not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(ra, rb)):
                return False
        if a.constant is not None and not np.array_equal(a.constant, b.constant):
            return False
    return True
