"""Statistics of a ``bab_tree`` split tree, read from the certificate as it stands.

Nothing here decides validity: the counts describe what the certificate *contains*
(the checker re-derives and re-analyses every region).  The walk is iterative
(trees can be deep) and tolerates malformed nodes, which it counts instead of
raising, so a tampered certificate can still be described.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["TreeFacts", "tree_facts"]

TOP_DIMENSIONS = 8


@dataclass(frozen=True)
class TreeFacts:
    regions: int                 # every node is a region the search analysed (inner nodes + leaves)
    leaves: int
    bound_leaves: int            # leaves closed by a bound
    empty_leaves: int            # leaves closed as empty (inconsistent activation phases)
    depth: int                   # longest root-to-leaf path, in splits
    input_splits: int
    activation_splits: int
    activation_splits_original: int
    activation_splits_reduced: int
    split_dimensions: tuple[tuple[int, int], ...]   # (input dimension, times split), most split first
    max_leaf_value: float | None                    # largest finite value recorded at a leaf
    max_leaf_value_hex: str | None
    malformed: int               # nodes that are neither a leaf nor a two-child split


def tree_facts(tree: Any) -> TreeFacts:
    counts: Counter[str] = Counter()
    dims: Counter[int] = Counter()
    depth = 0
    worst: float | None = None
    stack: list[tuple[Any, int]] = [(tree, 0)]
    while stack:
        node, level = stack.pop()
        counts["regions"] += 1
        if not isinstance(node, dict):
            counts["malformed"] += 1
            continue
        if "leaf" in node:
            depth = max(depth, level)
            counts["leaves"] += 1
            counts["empty" if node.get("leaf") == "empty" else "bound"] += 1
            value = hex_or_none(node.get("value"))
            if value is not None and value not in (float("inf"), float("-inf")):
                worst = value if worst is None else max(worst, value)
            continue
        split, children = node.get("split"), node.get("children")
        if not isinstance(split, dict) or not isinstance(children, list) or len(children) != 2:
            counts["malformed"] += 1
            continue
        if "input" in split:
            counts["input"] += 1
            if isinstance(split["input"], int) and not isinstance(split["input"], bool):
                dims[split["input"]] += 1
        elif "relu" in split:
            counts["activation"] += 1
            key = split["relu"]
            net = key[0] if isinstance(key, list) and key else None
            counts["activation_f" if net == "f" else "activation_g" if net == "g" else "activation_other"] += 1
        else:
            counts["malformed"] += 1
        stack.extend((child, level + 1) for child in children)
    ranked = sorted(dims.items(), key=lambda item: (-item[1], item[0]))[:TOP_DIMENSIONS]
    return TreeFacts(
        regions=counts["regions"], leaves=counts["leaves"], bound_leaves=counts["bound"],
        empty_leaves=counts["empty"], depth=depth, input_splits=counts["input"],
        activation_splits=counts["activation"], activation_splits_original=counts["activation_f"],
        activation_splits_reduced=counts["activation_g"], split_dimensions=tuple(ranked),
        max_leaf_value=worst, max_leaf_value_hex=None if worst is None else worst.hex(),
        malformed=counts["malformed"])


def hex_or_none(value: Any) -> float | None:
    """A hex-float string as a float, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return float.fromhex(value)
    except (ValueError, OverflowError):
        return None
