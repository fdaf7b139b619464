"""Trusted replay of ``bias_propagation`` (``proofs/simplify.md``; removal: :mod:`.removal`).

For each ``(node, channel)`` in order: channel ``k`` of the node's channel space
(:mod:`.channels`) must have exactly zero incoming weights in every producer of the
space, as the step has left them so far; it is then the constant
``channel_values(...)[t]`` on every tensor ``t`` of the space (S1, S6).  Every reader
gets that constant times its weights from the channel added to its bias, and those
weights are set to zero (S3).  A Conv reader with padding sees the constant only
through the taps that fall inside the image, so its contribution depends on the
position: it is computed exactly per *border pattern* (the set of kernel rows /
columns inside the image) and, unless it is the same at every position, added by a
new ``Add`` of a constant ``(1, O, H', W')`` tensor after the Conv (S2; a scalar bias
fold there is wrong, S2').  Contributions are accumulated exactly (integer-scaled)
and rounded once per stored bias at the end (S5); ``exact`` says whether every
stored bias equals its exact value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..interpret import infer_shapes
from ..ir import Network, Node
from ..ops.window import geometry
from .channels import ChannelPath, Reader, block_of, channel_path, channel_values, out_channels, scaled_ints
from .rewrites import Rewrite, RewriteError, _as_dtype, _fresh, _names, _rebuild

__all__ = ["Propagation", "Propagator", "bias_propagation", "matrix_view"]


@dataclass(frozen=True)
class Propagation:
    node: str
    channel: int


def _producer(net: Network, name: str, item: str) -> Node:
    for node in net.nodes:
        if node.name == name:
            return node
    raise RewriteError(item, f"no node named {name!r} in the source network")


def matrix_view(weight: np.ndarray, node: Node) -> np.ndarray:
    """(inputs, outputs) view of a Gemm / MatMul weight array."""
    return weight.T if node.op == "Gemm" and int(node.attr("transB", 0)) else weight


def _bias(net: Network, node: Node, channels: int, item: str) -> np.ndarray | None:
    if node.op == "MatMul" or len(node.inputs) < 3 or not node.inputs[2]:
        return None
    bias = net.initializers.get(node.inputs[2])
    if bias is None or bias.dtype.kind != "f" or bias.size not in (1, channels) or bias.ndim > 1:
        raise RewriteError(item, f"{node.name!r}: the bias must be a constant of {channels} or 1 entries")
    return np.broadcast_to(bias.reshape(-1), (channels,))


def _check_vector_input(node: Node, shapes: dict, item: str) -> None:
    shape = shapes[node.inputs[0]]
    if node.op == "Conv":
        if len(shape) != 4 or shape[0] != 1:
            raise RewriteError(item, f"{node.name!r}: only 2-D convolutions on one image per sample")
    elif any(d != 1 for d in shape[:-1]):
        raise RewriteError(item, f"{node.name!r}: Gemm / MatMul must act on vectors")


# ------------------------------------------------------------------------------ propagation
@dataclass
class _Pending:
    """Exact bias contributions of one reader: the sum of ``ints / denominator`` terms."""

    terms: list

    def collapse(self) -> tuple[np.ndarray, int]:
        """Merge the terms into one ``(ints, denominator)`` (kept, so later calls are cheap)."""
        if len(self.terms) > 1:
            common = math.lcm(*(d for _, d in self.terms))
            self.terms = [(sum(ints * (common // d) for ints, d in self.terms), common)]
        return self.terms[0]

    def total(self) -> np.ndarray:
        ints, common = self.collapse()
        return np.vectorize(lambda v: Fraction(v, common), otypes=[object])(ints)

    def channel(self, k: int) -> list[Fraction]:
        ints, common = self.collapse()
        return [Fraction(int(v), common) for v in np.ravel(ints[k])]


class Propagator:
    """The state of one ``bias_propagation`` step: working copies of the weights it zeroes and the
    exact pending bias contributions per reader; :meth:`build` writes the target network.  The
    ``simplify`` pass drives it directly (so a step verifies exactly when the pass succeeded)."""

    def __init__(self, net: Network) -> None:
        self.net, self.shapes = net, infer_shapes(net)
        self.weights: dict[str, np.ndarray] = {}
        self.pending: dict[str, _Pending] = {}
        self.patterns: dict[str, tuple] = {}
        self.inexact: set[str] = set()      # readers whose new bias is rounded (filled by build)
        self.applied: list[Propagation] = []
        self.paths: dict[str, ChannelPath | RewriteError] = {}
        self.producers = {n.name: n for n in net.nodes}

    def weight(self, node: Node) -> np.ndarray:
        if node.name not in self.weights:
            self.weights[node.name] = np.array(self.net.initializers[node.inputs[1]], copy=True)
        return self.weights[node.name]

    def current(self, node: Node) -> np.ndarray:
        """The weight as the step has left it so far (not copied)."""
        return self.weights.get(node.name, self.net.initializers[node.inputs[1]])

    def start(self, node: Node, k: int, channels: int, item: str) -> Fraction:
        bias = _bias(self.net, node, channels, item)
        value = Fraction(0) if bias is None else Fraction(float(bias[k]))
        if node.name in self.pending:
            delta = self.pending[node.name].channel(k)
            if any(v != delta[0] for v in delta):
                raise RewriteError(item, f"channel {k} of {node.name!r} is constant only up to a spatial bias "
                                         "(not uniform): not propagated")
            value += delta[0]
        return value

    def path(self, node: Node, item: str) -> ChannelPath:
        """The producer's channel space (validated once per space and step)."""
        if node.name not in self.paths:
            try:
                found = channel_path(self.net, node, self.shapes, item)
                for producer in found.producers:
                    _check_vector_input(producer, self.shapes, item)
            except RewriteError as exc:
                found = exc
            for name in [node.name] + ([p.name for p in found.producers] if isinstance(found, ChannelPath) else []):
                self.paths[name] = found
        found = self.paths[node.name]
        if isinstance(found, RewriteError):
            raise RewriteError(item, found.reason)
        return found

    def apply(self, entry: Propagation, item: str) -> None:
        node = self.producers.get(entry.node) if isinstance(entry.node, str) else None
        if node is None:
            raise RewriteError(f"{item}/node", f"no node named {entry.node!r} in the source network")
        path = self.path(node, item)
        k = entry.channel
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < path.channels:
            raise RewriteError(f"{item}/channel", f"no channel {k!r} (0..{path.channels - 1})")
        starts = {}
        for producer in path.producers:       # constant only if zero on every producer (every Add branch)
            w = self.current(producer)
            incoming = w[k] if producer.op == "Conv" else matrix_view(w, producer)[:, k]
            if np.any(incoming != 0):
                raise RewriteError(item, f"channel {k} of {producer.name!r} has non-zero incoming weights (all "
                                         "must be exactly zero, on every branch of a residual Add; weights that "
                                         "merely sum to zero do not make it constant)")
            starts[producer.name] = self.start(producer, k, path.channels, item)
        values = channel_values(self.net, path, k, starts, self.shapes, item)
        folds = [self.fold(reader, path, k, values[reader.tensor] != 0, item)    # validate all, then write
                 for reader in path.readers]
        for reader, (summed, shift), rows in folds:
            value = values[reader.tensor]
            if value != 0:
                self.pending.setdefault(reader.node.name, _Pending([])).terms.append(
                    (summed * value.numerator, value.denominator << shift))
            w = self.weight(reader.node)
            (w if reader.node.op == "Conv" else matrix_view(w, reader.node))[rows] = 0
        self.applied.append(entry)

    def fold(self, reader: Reader, path: ChannelPath, k: int, needed: bool, item: str) -> tuple:
        """The exact sums of the reader's weights from channel ``k`` (per output; only when ``needed``,
        i.e. the constant is not 0) and where those weights are."""
        node = reader.node
        if reader.flatten is None:
            _check_vector_input(node, self.shapes, item)
        w = self.weight(node)
        if node.op == "Conv":
            ints, rows = self._conv_taps(reader, w, path, k, needed, item)
            return reader, ints, rows
        view = matrix_view(w, node)
        block = block_of(reader, self.shapes)
        rows = slice(k * block, (k + 1) * block)
        if view.shape[0] != block * path.channels:
            raise RewriteError(item, f"{node.name!r}: the weight does not fit the channels it reads")
        if not needed:
            return reader, (None, 0), rows
        if node.op == "MatMul" and len(self.shapes[node.inputs[0]]) != 2:
            raise RewriteError(item, f"MatMul {node.name!r} on a 1-D input cannot take a bias (Gemm needs 2-D)")
        taps, shift = scaled_ints(view[rows], item)
        return reader, (taps.sum(axis=0), shift), rows

    def _conv_taps(self, reader: Reader, w: np.ndarray, path: ChannelPath, k: int, needed: bool, item: str):
        """Per output channel and border pattern, the exact sum of the taps reading channel ``k``."""
        node = reader.node
        group = int(node.attr("group", 1))
        per_group = w.shape[1]
        if per_group * group != path.channels:
            raise RewriteError(item, f"{node.name!r}: the weight does not fit the channels it reads")
        rows_pattern, cols_pattern = self.conv_patterns(node, w, reader.tensor)
        outputs = w.shape[0] // group
        block = slice((k // per_group) * outputs, (k // per_group + 1) * outputs)
        if not needed:
            return (None, 0), (block, k % per_group)
        taps, shift = scaled_ints(w[block, k % per_group], item)                 # (outputs, kh, kw)
        summed = np.zeros((w.shape[0], len(rows_pattern), len(cols_pattern)), dtype=object)
        for r, row_taps in enumerate(rows_pattern):
            for c, col_taps in enumerate(cols_pattern):
                summed[block, r, c] = taps[:, list(row_taps)][:, :, list(col_taps)].sum(axis=(1, 2)) \
                    if row_taps and col_taps else 0
        return (summed, shift), (block, k % per_group)

    def conv_patterns(self, node: Node, w: np.ndarray, tensor: str) -> tuple:
        """Distinct sets of kernel rows / columns that read inside the image, and each position's set."""
        if node.name not in self.patterns:
            spatial = self.shapes[tensor][2:]
            geo = geometry(node, spatial, w.shape[2:])
            per_axis = []
            for axis in range(2):
                sets = [tuple(u for u in range(w.shape[2 + axis])
                              if 0 <= i * geo.strides[axis] + u * geo.dilations[axis] - geo.begin[axis] < spatial[axis])
                        for i in range(geo.out[axis])]
                distinct = sorted(set(sets))
                per_axis.append((distinct, np.array([distinct.index(s) for s in sets])))
            self.patterns[node.name] = (per_axis[0][0], per_axis[1][0], per_axis[0][1], per_axis[1][1])
        return self.patterns[node.name][:2]

    def build(self) -> Rewrite:
        net, nodes = self.net, list(self.net.nodes)
        taken, added, exact = _names(net), {}, True
        position = {n.name: i for i, n in enumerate(net.nodes)}
        for name, weight in self.weights.items():
            node = nodes[position[name]]
            inputs = list(node.inputs)
            inputs[1] = _fresh(taken, f"{name}_W_simplify")
            added[inputs[1]] = weight
            op, attrs, outputs, extra = node.op, dict(node.attrs), node.outputs, None
            if name in self.pending:
                channels = out_channels(net, node, name)
                old = _bias(net, node, channels, name)
                total = self.pending[name].total()
                if node.op == "Conv" and any(len(set(total[o].ravel())) > 1 for o in range(channels)):
                    spatial, spatial_exact = self._spatial(node, total, weight.dtype)
                    exact &= spatial_exact
                    self.inexact |= set() if spatial_exact else {name}
                    inner = _fresh(taken, f"{node.outputs[0]}_simplify")
                    const = _fresh(taken, f"{name}_spatial_bias")
                    added[const] = spatial
                    extra = Node(_fresh(taken, f"{name}_spatial_add"), "Add", (inner, const), node.outputs)
                    outputs = (inner,)
                    total = np.zeros(channels, dtype=object) + Fraction(0)
                else:
                    total = total.reshape(channels, -1)[:, 0]
                if np.any(total != 0) or old is not None:
                    base = np.zeros(channels, dtype=object) if old is None else \
                        np.array([Fraction(float(v)) for v in old], dtype=object)
                    bias, bias_exact = _as_dtype(base + total, weight.dtype if old is None else old.dtype)
                    exact &= bias_exact
                    self.inexact |= set() if bias_exact else {name}
                    inputs = inputs[:2] + [_fresh(taken, f"{name}_B_simplify")]
                    added[inputs[2]] = bias
                if op == "MatMul" and len(inputs) == 3:
                    op, attrs = "Gemm", {}
            nodes[position[name]] = Node(name, op, tuple(inputs), outputs, attrs)
            if extra is not None:
                nodes.append(extra)
        return Rewrite(_rebuild(net, nodes, added), exact)

    def _spatial(self, node: Node, total: np.ndarray, dtype) -> tuple[np.ndarray, bool]:
        _, _, row_of, col_of = self.patterns[node.name]
        values, exact = _as_dtype(total, dtype)
        return np.ascontiguousarray(values[:, row_of][:, :, col_of])[None], exact


def bias_propagation(net: Network, propagations: Sequence[Propagation]) -> Rewrite:
    """Apply the propagations in order (each sees the weights zeroed by the earlier ones)."""
    state = Propagator(net)
    for position, entry in enumerate(propagations):
        state.apply(entry, f"propagations/{position}")
    return state.build()
