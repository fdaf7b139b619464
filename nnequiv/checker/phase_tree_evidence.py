"""Phase trees as JSON (trusted parsing for :mod:`.phase_tree`).

A layer entry's ``trees`` list holds ``{"neuron", "phase", ...node}`` where a node is either
``{"split": {"activation", "neuron"}, "inactive": node, "active": node}`` or a leaf
``{"rows": [int], "values": [hex]}``.  Depth and size are capped while parsing, so a hostile
file cannot exhaust the stack or memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..hexfloat import parse_hex
from .phase_tree import MAX_TREE_DEPTH, MAX_TREE_LEAVES, PHASE_SIGN, Leaf, PhaseTree, Split, TreeNode
from .rewrites import RewriteError
from .structural import _fields, _index

__all__ = ["hex_floats", "parse_trees", "row_indices", "tree_to_json"]


def parse_trees(value: Any, item: str) -> tuple[PhaseTree, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RewriteError(item, "not a list")
    return tuple(_parse_tree(entry, f"{item}/{t}") for t, entry in enumerate(value))


def _parse_tree(entry: Any, item: str) -> PhaseTree:
    neuron, phase = _fields(entry, item, "neuron", "phase")
    if phase not in PHASE_SIGN:
        raise RewriteError(f"{item}/phase", "must be 'inactive' or 'active'")
    return PhaseTree(_index(neuron, f"{item}/neuron"), phase, _parse_node(entry, item, 0, [0]))


def _parse_node(entry: Any, item: str, depth: int, leaves: list[int]) -> TreeNode:
    if not isinstance(entry, dict):
        raise RewriteError(item, "a tree node must be an object")
    if "split" not in entry:
        rows, values = _fields(entry, item, "rows", "values")
        leaves[0] += 1
        if leaves[0] > MAX_TREE_LEAVES:
            raise RewriteError(item, f"a tree may have at most {MAX_TREE_LEAVES} leaves")
        return Leaf(row_indices(rows, f"{item}/rows"), hex_floats(values, f"{item}/values"))
    if depth >= MAX_TREE_DEPTH:
        raise RewriteError(item, f"a tree may split at most {MAX_TREE_DEPTH} times on one path")
    split, inactive, active = _fields(entry, item, "split", "inactive", "active")
    activation, neuron = _fields(split, f"{item}/split", "activation", "neuron")
    return Split(_index(activation, f"{item}/split/activation"), _index(neuron, f"{item}/split/neuron"),
                 _parse_node(inactive, f"{item}/inactive", depth + 1, leaves),
                 _parse_node(active, f"{item}/active", depth + 1, leaves))


def row_indices(value: Any, item: str) -> np.ndarray:
    """A JSON list of LP row indices (shared by every multiplier field of ``stable_relu``)."""
    if not isinstance(value, list) or not all(isinstance(r, int) and not isinstance(r, bool) for r in value):
        raise RewriteError(item, "not a list of row indices")
    return np.array(value, dtype=np.int64).reshape(-1)


def hex_floats(value: Any, item: str) -> np.ndarray:
    """A JSON list of hex floats as a float64 vector."""
    if not isinstance(value, list):
        raise RewriteError(item, "not a list of hex floats")
    try:
        return np.array([parse_hex(v) for v in value], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise RewriteError(item, "not a list of hex floats") from None


def tree_to_json(tree: PhaseTree) -> dict:
    """The JSON form :func:`parse_trees` reads (for the pass)."""
    return {"neuron": tree.neuron, "phase": tree.phase, **_node_to_json(tree.root)}


def _node_to_json(node: TreeNode) -> dict:
    if isinstance(node, Leaf):
        return {"rows": [int(r) for r in node.rows], "values": [float(v).hex() for v in node.values]}
    return {"split": {"activation": node.activation, "neuron": node.neuron},
            "inactive": _node_to_json(node.inactive), "active": _node_to_json(node.active)}
