"""Channel spaces for the Simplify rewrites (trusted; ``proofs/simplify.md`` S6).

A *channel space* is a set of tensors that share one channel index: it starts at a
producer's output (Gemm / MatMul / Conv, output channel ``k`` = one row of its weight)
and is closed under per-channel nodes (a constant ``Add``, BatchNormalization, Relu /
LeakyRelu, pooling, Identity; forwards and backwards) and residual ``Add`` nodes (the
output and every operand: all branches).  Its *producers* are the linear nodes writing
its tensors, its *readers* the linear consumers: Gemm / MatMul (input 0), Conv
(input 0), or Flatten followed only by Gemm / MatMul (channel ``k`` is then a block of
``H*W`` columns).  Anything else touching the space (``Concat``, a graph input or
output, a reshape, ...) makes it unsupported: the rewrites refuse it with
:class:`RewriteError` and the channels are kept.

``channel_values`` is the exact constant channel ``k`` takes on every tensor of the
space when every producer's channel ``k`` has zero incoming weights (S1); every
operation on it is exact or refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from ..ir import Network, Node
from .rewrites import RewriteError, _exact_sqrt

__all__ = ["LINEAR", "ChannelPath", "Reader", "block_of", "channel_path", "channel_values", "gemm_matrix",
           "scaled_ints"]

LINEAR = ("Gemm", "MatMul", "Conv")
_POOLS = ("MaxPool", "GlobalMaxPool", "GlobalAveragePool", "AveragePool")
_PASS_THROUGH = ("Identity",)


@dataclass(frozen=True, eq=False)
class Reader:
    node: Node                 # Gemm / MatMul / Conv reading the channel
    flatten: Node | None       # Flatten between the space's tensor and ``node``
    tensor: str                # the tensor of the space it reads


@dataclass(frozen=True, eq=False)
class ChannelPath:
    """A channel space: tensors sharing one channel index (``proofs/simplify.md`` S6)."""

    producers: tuple[Node, ...]     # Gemm / MatMul / Conv writing a tensor of the space (topological order)
    members: tuple[Node, ...]       # per-channel nodes and residual Adds inside it (topological order)
    tensors: frozenset[str]
    readers: tuple[Reader, ...]
    channels: int

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.producers)


def _const(net: Network, name: str, item: str) -> np.ndarray:
    if name not in net.initializers:
        raise RewriteError(item, f"{name!r} is not a stored constant")
    array = net.initializers[name]
    if array.dtype.kind != "f" or not np.all(np.isfinite(array)):
        raise RewriteError(item, f"{name!r} is not a finite floating-point constant")
    return array


def gemm_matrix(net: Network, node: Node, item: str) -> np.ndarray:
    """The (inputs, outputs) view of a Gemm / MatMul weight (a view: writes go through)."""
    if node.op == "Gemm" and (int(node.attr("transA", 0)) or float(node.attr("alpha", 1.0)) != 1.0
                              or float(node.attr("beta", 1.0)) != 1.0):
        raise RewriteError(item, f"{node.name!r}: only Gemm with transA=0, alpha=beta=1")
    if node.inputs[0] in net.initializers:
        raise RewriteError(item, f"{node.name!r}: the variable must be the first operand")
    w = _const(net, node.inputs[1], item)
    if w.ndim != 2:
        raise RewriteError(item, f"{node.name!r}: the weight must be a matrix")
    return w.T if node.op == "Gemm" and int(node.attr("transB", 0)) else w


def conv_weight(net: Network, node: Node, item: str) -> np.ndarray:
    w = _const(net, node.inputs[1], item)
    if w.ndim != 4:
        raise RewriteError(item, f"{node.name!r}: only 2-D convolutions")
    return w


def out_channels(net: Network, node: Node, item: str) -> int:
    if node.op == "Conv":
        return conv_weight(net, node, item).shape[0]
    if node.op in ("Gemm", "MatMul"):
        return gemm_matrix(net, node, item).shape[1]
    raise RewriteError(item, f"{node.name!r} is {node.op}, not Gemm, MatMul or Conv")


def _is_output(net: Network, tensor: str) -> bool:
    return any(o.name == tensor for o in net.outputs)


def _per_channel(net: Network, node: Node, tensor: str) -> bool:
    if node.inputs[0] != tensor or any(node.outputs[1:]):
        return False
    if node.op == "Add":
        return len(node.inputs) == 2 and node.inputs[1] in net.initializers
    if node.op == "BatchNormalization":
        return not int(node.attr("training_mode", 0))
    return node.op in ("Relu", "LeakyRelu", *_POOLS, *_PASS_THROUGH)


def _residual_add(net: Network, node: Node, shapes: dict) -> bool:
    return node.op == "Add" and len(node.inputs) == 2 and not any(i in net.initializers for i in node.inputs) \
        and shapes[node.inputs[0]] == shapes[node.inputs[1]] == shapes[node.outputs[0]]


def channel_path(net: Network, producer: Node, shapes: dict, item: str) -> ChannelPath:
    """The channel space of ``producer``'s output: closed under per-channel nodes (both ways) and
    residual Adds (output and every operand); RewriteError naming what leaves it otherwise."""
    channels = out_channels(net, producer, item)
    position = {n.name: i for i, n in enumerate(net.nodes)}
    tensors, producers, members, readers = set(), {}, {}, []
    todo = []

    def join(tensor: str) -> None:
        if tensor not in tensors:
            tensors.add(tensor)
            todo.append(tensor)

    join(producer.outputs[0])
    while todo:
        tensor = todo.pop()
        if _is_output(net, tensor):
            raise RewriteError(item, f"the channels of {producer.name!r} reach the graph output {tensor!r}")
        if channel_count(shapes[tensor]) != channels:
            raise RewriteError(item, f"tensor {tensor!r} does not have the {channels} channels of {producer.name!r}")
        source = net.producer.get(tensor)
        if source is None:
            raise RewriteError(item, f"the channels of {producer.name!r} meet the graph input {tensor!r}")
        if source.op in LINEAR and source.outputs[0] == tensor:
            producers[source.name] = source
            if out_channels(net, source, item) != channels:
                raise RewriteError(item, f"{source.name!r} does not have {channels} output channels")
        elif _per_channel(net, source, source.inputs[0]) or _residual_add(net, source, shapes):
            members[source.name] = source
            for name in source.inputs[:1] if source.op != "Add" or source.inputs[1] in net.initializers \
                    else source.inputs:
                join(name)
        else:
            raise RewriteError(item, f"tensor {tensor!r} of the channels of {producer.name!r} is written by "
                                     f"{source.op} {source.name!r}")
        for node in net.consumers.get(tensor, ()):
            if node.op in LINEAR and node.inputs[0] == tensor and tensor not in node.inputs[1:]:
                readers.append(Reader(node, None, tensor))
            elif node.op == "Flatten" and int(node.attr("axis", 1)) == 1 and not _is_output(net, node.outputs[0]):
                after = net.consumers.get(node.outputs[0], ())
                if not after or any(n.op not in ("Gemm", "MatMul") or n.inputs[0] != node.outputs[0] for n in after):
                    raise RewriteError(item, f"the Flatten {node.name!r} must be read only by Gemm / MatMul")
                readers += [Reader(n, node, tensor) for n in after]
            elif _per_channel(net, node, tensor) or _residual_add(net, node, shapes):
                members[node.name] = node
                join(node.outputs[0])
                for name in node.inputs if node.op == "Add" and node.inputs[1] not in net.initializers else ():
                    join(name)
            else:
                raise RewriteError(item, f"the channels of {producer.name!r} are read by {node.op} {node.name!r} "
                                         "(supported: Gemm, MatMul, Conv, Flatten->Gemm, per-channel nodes and "
                                         "residual Adds; Concat keeps the channel)")
    if not readers:
        raise RewriteError(item, f"the channels of {producer.name!r} are not read")
    for reader in readers:                  # constant, finite weights of a supported form
        out_channels(net, reader.node, item)
    order = lambda nodes: tuple(sorted(nodes.values(), key=lambda n: position[n.name]))
    return ChannelPath(order(producers), order(members), frozenset(tensors), tuple(readers), channels)


def channel_axis(shape: tuple[int, ...]) -> int:
    """The channel axis of a per-sample shape (ONNX layout: ``(1, C, ...)``; a bare vector ``(C,)``)."""
    if len(shape) >= 2 and shape[0] != 1:
        raise RewriteError("", f"a tensor of per-sample shape {shape} has a batch axis other than 1")
    return 1 if len(shape) >= 2 else 0


def channel_count(shape: tuple[int, ...]) -> int:
    return shape[channel_axis(shape)]


def block_of(reader: Reader, shapes: dict) -> int:
    """Columns per channel of a Gemm / MatMul reader (H*W after a Flatten, else 1)."""
    shape = shapes[reader.tensor]
    return math.prod(shape[channel_axis(shape) + 1:]) if reader.flatten is not None else 1


# ------------------------------------------------------------------------------ exact values
def _fraction(value: float) -> Fraction:
    return Fraction(float(value))


def _uniform(values: np.ndarray, k: int, item: str, what: str) -> Fraction:
    values = values.ravel()
    if np.any(values != values[0]):
        raise RewriteError(item, f"{what}: channel {k} is not uniform over positions (a spatial constant)")
    return _fraction(values[0])


def channel_entries(const: np.ndarray, k: int, channels: int, shape: tuple[int, ...], item: str,
                    what: str) -> np.ndarray:
    """The entries of a constant added to a tensor of per-sample ``shape`` that reach channel ``k``
    (numpy broadcasting: the constant's shape is aligned to the right)."""
    axis = channel_axis(shape)
    if const.ndim > len(shape):
        raise RewriteError(item, f"{what}: a constant of shape {const.shape} does not broadcast")
    full = (1,) * (len(shape) - const.ndim) + const.shape
    if any(d != 1 for d in full[:axis]) or full[axis] not in (1, channels):
        raise RewriteError(item, f"{what}: a constant of shape {const.shape} is not per channel")
    return const.reshape(full)[(0,) * axis + (k if full[axis] == channels else 0,)]


def channel_values(net: Network, path: ChannelPath, k: int, starts: dict[str, Fraction],
                   shapes: dict[str, tuple[int, ...]], item: str) -> dict[str, Fraction]:
    """Exact value of channel ``k`` on every tensor of the space, from each producer's ``starts``."""
    values = {p.outputs[0]: starts[p.name] for p in path.producers}
    for node in path.members:
        if node.op == "Add" and node.inputs[1] not in net.initializers:
            values[node.outputs[0]] = values[node.inputs[0]] + values[node.inputs[1]]
        else:
            shape = (path.channels, shapes[node.inputs[0]])
            values[node.outputs[0]] = _STEP[node.op](net, node, k, values[node.inputs[0]], shape, item)
    return values


def _add(net, node, k, v, shape, item):
    what = f"Add {node.name!r}"
    return v + _uniform(channel_entries(_const(net, node.inputs[1], item), k, *shape, item, what), k, item, what)


def _batchnorm(net, node, k, v, shape, item):
    params = [_const(net, name, item) for name in node.inputs[1:5]]
    if any(p.shape != (shape[0],) for p in params):
        raise RewriteError(item, f"BatchNormalization {node.name!r}: parameters must have shape ({shape[0]},)")
    gamma, beta, mean, var = (_fraction(p[k]) for p in params)
    if gamma == 0 and var + Fraction(float(node.attr("epsilon", 1e-5))) > 0:
        return beta        # 0 * (v - mean) / sqrt(var + eps) + beta = beta, the root need not be rational
    root = _exact_sqrt(var + Fraction(float(node.attr("epsilon", 1e-5))))
    if root is None or root == 0:
        raise RewriteError(item, f"BatchNormalization {node.name!r}: sqrt(var + epsilon) of channel {k} is "
                                 "irrational, the constant has no exact value (run fuse-bn first)")
    return gamma * (v - mean) / root + beta


def _leaky(net, node, k, v, channels, item):
    return v if v >= 0 else _fraction(node.attr("alpha", 0.01)) * v


def _average(net, node, k, v, channels, item):
    padded = any(node.attr("pads", ()) or ()) or int(node.attr("ceil_mode", 0)) or \
        str(node.attr("auto_pad", "NOTSET")) not in ("NOTSET", "VALID")
    if int(node.attr("count_include_pad", 0)) and padded:
        raise RewriteError(item, f"AveragePool {node.name!r} counts padding: the channel is not constant")
    return v


_STEP: dict[str, Callable[..., Fraction]] = {
    "Add": _add, "BatchNormalization": _batchnorm, "Relu": lambda net, node, k, v, c, item: max(v, Fraction(0)),
    "LeakyRelu": _leaky, "AveragePool": _average,
    **{op: (lambda net, node, k, v, c, item: v) for op in ("MaxPool", "GlobalMaxPool", "GlobalAveragePool",
                                                           *_PASS_THROUGH)},
}


def scaled_ints(array: np.ndarray, item: str) -> tuple[np.ndarray, int]:
    """``(ints, shift)`` with ``array == ints * 2**-shift`` exactly (object array of Python ints)."""
    x = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise RewriteError(item, "a weight is inf or NaN (no exact value)")
    mantissa, exponent = np.frexp(x)
    ints = np.ldexp(mantissa, 53).astype(np.int64)
    exponent = exponent.astype(np.int64) - 53
    nonzero = ints != 0
    low = int(exponent[nonzero].min()) if nonzero.any() else 0
    shifts = np.where(nonzero, exponent - low, 0)
    return ints.astype(object) << shifts.astype(object), -low
