"""Trusted replay of ``channel_removal`` (``proofs/simplify.md`` S4, S6).

For each ``(node, channels)`` in order: every reader of the node's channel space must
weigh those channels with exact zeros; they are then deleted from every producer of
the space (weight rows, bias), from its per-channel constants (constant ``Add``,
BatchNormalization parameters) and from the readers (weight columns / input
channels).  Always exact.  Grouped convolutions are refused as producers and readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..interpret import infer_shapes
from ..ir import Network, Node
from .channels import ChannelPath, Reader, block_of, channel_axis, channel_entries, channel_path
from .rewrites import Rewrite, RewriteError, _fresh, _names, _rebuild
from .simplify_rewrites import _bias, _check_vector_input, matrix_view, _producer

__all__ = ["Removal", "channel_removal", "remove_channels"]


@dataclass(frozen=True)
class Removal:
    node: str
    channels: tuple[int, ...]


def channel_removal(net: Network, removals: Sequence[Removal]) -> Rewrite:
    """Remove the channels in order; every reader's weights from them must be exactly zero."""
    shapes = dict(infer_shapes(net))
    for position, entry in enumerate(removals):
        net = remove_channels(net, entry, shapes, f"removals/{position}")
    return Rewrite(net, True)


def remove_channels(net: Network, entry: Removal, shapes: dict, item: str) -> Network:
    """One removal; ``shapes`` (per-sample shapes of ``net``) is updated to the result's."""
    node = _producer(net, entry.node, f"{item}/node")
    path = channel_path(net, node, shapes, item)
    channels, drop = path.channels, entry.channels
    if not drop or len(set(drop)) != len(drop) or any(
            not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < channels for k in drop):
        raise RewriteError(f"{item}/channels", f"channels must be distinct indices in 0..{channels - 1}")
    if len(drop) == channels:
        raise RewriteError(f"{item}/channels", f"would remove every channel of {node.name!r}")
    for part in (*path.producers, *(r.node for r in path.readers)):
        _check_vector_input(part, shapes, item)
        if part.op == "Conv" and int(part.attr("group", 1)) != 1:
            raise RewriteError(item, f"grouped convolution {part.name!r}: channel removal is not supported")
    keep = np.array([k for k in range(channels) if k not in set(drop)], dtype=int)
    arrays: dict[tuple[str, int], np.ndarray] = {}          # (node, input index) -> new constant

    def current(part: Node, index: int) -> np.ndarray:
        return arrays.get((part.name, index), net.initializers[part.inputs[index]])

    for reader in path.readers:                              # first: are the channels unread?
        arrays[(reader.node.name, 1)] = _drop_inputs(reader, current(reader.node, 1), path, drop, keep, shapes, item)
    for producer in path.producers:
        arrays[(producer.name, 1)] = _keep_columns(current(producer, 1), producer, keep)
        bias = _bias(net, producer, channels, item)
        if bias is not None and net.initializers[producer.inputs[2]].size == channels:
            arrays[(producer.name, 2)] = bias[keep]
    for part in path.members:
        if part.op == "Add" and part.inputs[1] in net.initializers:
            const, shape = net.initializers[part.inputs[1]], shapes[part.inputs[0]]
            channel_entries(const, 0, channels, shape, item, f"Add {part.name!r}")     # shape check
            axis = channel_axis(shape) - (len(shape) - const.ndim)
            if axis >= 0 and const.shape[axis] == channels:
                arrays[(part.name, 1)] = np.take(const, keep, axis=axis)
        elif part.op == "BatchNormalization":
            for index in range(1, 5):
                param = net.initializers.get(part.inputs[index])
                if param is None or param.shape != (channels,):
                    raise RewriteError(item, f"BatchNormalization {part.name!r}: parameters must be constants "
                                             f"of shape ({channels},)")
                arrays[(part.name, index)] = param[keep]
    nodes, taken, added = list(net.nodes), _names(net), {}
    position = {n.name: i for i, n in enumerate(net.nodes)}
    for (name, index), array in arrays.items():
        current_node = nodes[position[name]]
        inputs = list(current_node.inputs)
        inputs[index] = _fresh(taken, f"{name}_{'WB'[index - 1] if index < 3 else 'P'}_simplify")
        added[inputs[index]] = np.ascontiguousarray(array)
        nodes[position[name]] = Node(current_node.name, current_node.op, tuple(inputs), current_node.outputs,
                                     dict(current_node.attrs))
    for tensor in path.tensors:
        shape = list(shapes[tensor])
        shape[channel_axis(shape)] = len(keep)
        shapes[tensor] = tuple(shape)
    return _rebuild(net, nodes, added)


def _keep_columns(weight: np.ndarray, node: Node, keep: np.ndarray) -> np.ndarray:
    """The producer's weight with only the ``keep`` output channels."""
    if node.op == "Conv":
        return weight[keep]
    return weight[keep] if node.op == "Gemm" and int(node.attr("transB", 0)) else weight[:, keep]


def _drop_inputs(reader: Reader, weight: np.ndarray, path: ChannelPath, drop, keep, shapes: dict,
                 item: str) -> np.ndarray:
    """The reader's weight without the removed input channels, which it must weigh with exact zeros."""
    node = reader.node
    if node.op == "Conv":
        if weight.ndim != 4 or weight.shape[1] != path.channels:
            raise RewriteError(item, f"{node.name!r}: the weight does not fit the channels it reads")
        if np.any(weight[:, list(drop)] != 0):
            raise RewriteError(item, f"{node.name!r} reads a removed channel with a non-zero weight")
        return weight[:, keep]
    view = matrix_view(weight, node)
    block = block_of(reader, shapes)
    if view.shape[0] != block * path.channels:
        raise RewriteError(item, f"{node.name!r}: the weight does not fit the channels it reads")
    rows = (np.arange(block)[None, :] + block * np.asarray(list(drop))[:, None]).ravel()
    kept = (np.arange(block)[None, :] + block * keep[:, None]).ravel()
    if np.any(view[rows] != 0):
        raise RewriteError(item, f"{node.name!r} reads a removed channel with a non-zero weight")
    new = view[kept]
    return new.T if node.op == "Gemm" and int(node.attr("transB", 0)) else new
