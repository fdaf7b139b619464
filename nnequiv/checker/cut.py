"""A network cut into prefix, middle and suffix at single tensors; identity of sub-networks (trusted).

Positions count nodes in the network's topological order (the order the canonical hash covers):
the prefix is the first ``k`` nodes, the suffix the last ``m``.  A position is a *cut* when
exactly one tensor produced before it (or the network input) is read after it (or is the
network output): then ``N = S o M o P`` as functions (``proofs/cut_composition.md`` C1).
Two sub-networks compute the same function when their nodes agree pairwise in op,
attributes and wiring, and every constant operand is the same stored array (dtype, shape,
values); names never matter (C1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..interpret import infer_shapes
from ..ir import Network, Node, TensorSpec

__all__ = ["CutError", "Parts", "crossing", "cut_tensor", "first_difference", "node_difference", "sequence_difference",
           "split"]


class CutError(Exception):
    """The positions do not cut the network at single tensors."""


@dataclass(frozen=True, eq=False)
class Parts:
    prefix: Network | None      # None when k = 0 (the cut is the network input)
    middle: Network
    suffix: Network | None      # None when m = 0 (the cut is the network output)
    prefix_names: tuple[str, ...]
    suffix_names: tuple[str, ...]


def crossing(net: Network, position: int) -> tuple[str, ...]:
    """Tensors written before ``position`` (or the input) that are read from ``position`` on."""
    produced = {net.input.name} | {out for node in net.nodes[:position] for out in node.outputs if out}
    read = {name for node in net.nodes[position:] for name in node.inputs if name}
    read.add(net.output.name)
    return tuple(sorted(produced & read))


def cut_tensor(net: Network, position: int) -> str:
    found = crossing(net, position)
    if len(found) != 1:
        shown = ", ".join(repr(t) for t in found[:4]) or "none"
        raise CutError(f"position {position} is not a single-tensor cut: the tensors crossing it are {shown}")
    return found[0]


def split(net: Network, prefix_nodes: int, suffix_nodes: int) -> Parts:
    """Prefix (first ``prefix_nodes``), middle and suffix (last ``suffix_nodes``); raises CutError."""
    n = len(net.nodes)
    for value, what in ((prefix_nodes, "prefix_nodes"), (suffix_nodes, "suffix_nodes")):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CutError(f"{what} must be a non-negative integer, got {value!r}")
    end = n - suffix_nodes
    if end <= prefix_nodes:
        raise CutError(f"{prefix_nodes} prefix and {suffix_nodes} suffix nodes leave no middle of the {n} nodes")
    first, last = cut_tensor(net, prefix_nodes), cut_tensor(net, end)
    if first == last:
        raise CutError("the middle computes nothing (its output is its input)")
    shapes = infer_shapes(net)

    def spec(name: str) -> TensorSpec:
        for known in net.inputs + net.outputs:
            if known.name == name:
                return TensorSpec(name, known.shape, known.dtype)
        return TensorSpec(name, tuple(shapes[name]), "float32")

    def sub(nodes: tuple[Node, ...], source: str, target: str, label: str) -> Network:
        used = {name for node in nodes for name in node.inputs if name in net.initializers}
        return Network.create(inputs=[spec(source)], outputs=[spec(target)], nodes=nodes,
                              initializers={name: net.initializers[name] for name in used},
                              name=f"{net.name}[{label}]", opset=net.opset, source=net.source)

    nodes = net.nodes
    prefix = sub(nodes[:prefix_nodes], net.input.name, first, "prefix") if prefix_nodes else None
    suffix = sub(nodes[end:], last, net.output.name, "suffix") if suffix_nodes else None
    middle = sub(nodes[prefix_nodes:end], first, last, f"{prefix_nodes}:{end}")
    return Parts(prefix, middle, suffix, tuple(x.name for x in nodes[:prefix_nodes]),
                 tuple(x.name for x in nodes[end:]))


def first_difference(f: Network, g: Network) -> str | None:
    """None when ``f`` and ``g`` agree node by node (the same function, C1); else where they differ."""
    if f.opset != g.opset:
        return f"opsets differ ({f.opset} vs {g.opset})"
    if f.input.shape != g.input.shape or f.output.shape != g.output.shape:
        return f"shapes differ: {f.input.shape} -> {f.output.shape} vs {g.input.shape} -> {g.output.shape}"
    return sequence_difference(f, g, f.nodes, g.nodes, {f.input.name: g.input.name}, f.output.name, g.output.name)


def sequence_difference(f: Network, g: Network, f_nodes, g_nodes, mapping: dict[str, str],
                        f_out: str, g_out: str) -> str | None:
    """Node lists of ``f`` and ``g`` (constants read from their initializers) that agree pairwise,
    starting from the tensor correspondence ``mapping`` and ending at ``f_out`` / ``g_out``."""
    if len(f_nodes) != len(g_nodes):
        return f"{len(f_nodes)} nodes against {len(g_nodes)}"
    mapping = {**mapping, "": ""}
    for a, b in zip(f_nodes, g_nodes):
        reason = node_difference(f, g, a, b, mapping)
        if reason is not None:
            return f"node {a.name!r} / {b.name!r}: {reason}"
        mapping.update(zip(a.outputs, b.outputs))
    if mapping.get(f_out) != g_out:
        return "the outputs are not the same tensor"
    return None


def node_difference(f: Network, g: Network, a: Node, b: Node, mapping: dict[str, str]) -> str | None:
    if a.op != b.op:
        return f"op {a.op} vs {b.op}"
    if len(a.inputs) != len(b.inputs) or len(a.outputs) != len(b.outputs):
        return "different numbers of operands"
    if [bool(o) for o in a.outputs] != [bool(o) for o in b.outputs]:
        return "different optional outputs"
    for slot, (p, q) in enumerate(zip(a.inputs, b.inputs)):
        if p in f.initializers or q in g.initializers:
            if not (p in f.initializers and q in g.initializers and _same_array(f.initializers[p], g.initializers[q])):
                return f"constant operand {slot} differs"
        elif p not in mapping or mapping[p] != q:
            return f"operand {slot} is wired differently"
    if set(a.attrs) != set(b.attrs):
        return "different attributes"
    for key in a.attrs:
        if not _same_value(a.attrs[key], b.attrs[key]):
            return f"attribute {key!r} differs"
    return None


def _same_array(x, y) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    return x.dtype == y.dtype and x.shape == y.shape and bool(np.array_equal(x, y))


def _same_value(x, y) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and _same_array(x, y)
    if isinstance(x, tuple) or isinstance(y, tuple):
        return (isinstance(x, tuple) and isinstance(y, tuple) and len(x) == len(y)
                and all(_same_value(p, q) for p, q in zip(x, y)))
    return type(x) is type(y) and x == y
