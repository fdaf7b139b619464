"""ReLU-phase split trees: one neuron's phase proved by LP leaves below phase splits (trusted;
``proofs/phase_tree.md``).

A :class:`PhaseTree` proves ``sign * z_k[j] <= 0`` on the box for neuron ``j`` of lowered layer
``k >= 1`` (``sign = +1``: never active, ``-1``: always active).  An inner node (:class:`Split`)
splits on a neuron ``i`` of an earlier Relu layer ``l < k`` (named by its activation node, as
``stable_relu`` names layers): the ``inactive`` child holds the inputs with ``z_l[i] <= 0`` and
reads the bounds with ``hi_l[i] := min(hi_l[i], 0)``, the ``active`` child those with
``z_l[i] >= 0`` and ``lo_l[i] := max(lo_l[i], 0)`` (T1: the children cover the parent; T2: the
changed bounds hold in the child).  A :class:`Leaf` carries sparse LP multipliers whose
:func:`.lp_dual.safe_max` on the checker's own :func:`.lp_dual.triangle_lp` over the leaf's
bounds must be ``<= 0`` (T3 = ``stable_relu.md`` S7).  No solver is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from ..pwl import PwlNet
from .lp_dual import safe_max, triangle_lp
from .net_bounds import Bounds
from .rewrites import RewriteError
from .stable_refine import sparse_multipliers

__all__ = ["Leaf", "MAX_TREE_DEPTH", "MAX_TREE_LEAVES", "PhaseTree", "Split", "check_tree_sizes", "child_bounds",
           "leaf_count", "tree_proofs"]

MAX_TREE_DEPTH = 128           # splits on one root-to-leaf path
MAX_TREE_LEAVES = 20_000       # leaves of all the trees of one step
PHASE_SIGN = {"inactive": 1.0, "active": -1.0}


@dataclass(frozen=True, eq=False)
class Leaf:
    """LP multipliers (sparse: ``rows`` and ``values``) over the leaf's triangle LP."""

    rows: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Split:
    activation: int             # the Relu node of the split neuron's layer (a node index of the source)
    neuron: int
    inactive: "TreeNode"
    active: "TreeNode"


TreeNode = Union[Leaf, Split]


@dataclass(frozen=True)
class PhaseTree:
    neuron: int
    phase: str                  # "inactive" | "active"
    root: TreeNode


def leaf_count(node: TreeNode, cap: int = MAX_TREE_LEAVES) -> int:
    """The leaves below ``node``, counted up to ``cap + 1`` (shared subtrees count each time)."""
    stack, leaves = [node], 0
    while stack and leaves <= cap:
        node = stack.pop()
        if isinstance(node, Split):
            stack += [node.inactive, node.active]
        else:
            leaves += 1
    return leaves


def check_tree_sizes(trees_of_layers: Sequence[Sequence[PhaseTree]]) -> None:
    """At most :data:`MAX_TREE_LEAVES` leaves in one step (RewriteError at the tree past the cap)."""
    total = 0
    for p, trees in enumerate(trees_of_layers):
        for t, tree in enumerate(trees):
            total += leaf_count(tree.root, MAX_TREE_LEAVES - total)
            if total > MAX_TREE_LEAVES:
                raise RewriteError(f"layers/{p}/trees/{t}", f"the trees of a step may have at most "
                                                            f"{MAX_TREE_LEAVES} leaves in all")


def tree_proofs(pwl: PwlNet, bounds: list[Bounds], k: int, n: int, lower: np.ndarray, upper: np.ndarray,
                trees: Sequence[PhaseTree], layer_of: dict[int, int], item: str) -> set[tuple[int, str]]:
    """``(neuron, phase)`` pairs of layer ``k`` proved by ``trees`` over the sound ``bounds``
    (``bounds[l]`` for every layer ``l < k``; ``layer_of``: activation node -> lowered layer)."""
    proved = set()
    for t, tree in enumerate(trees):
        at = f"{item}/{t}"
        if not 0 <= tree.neuron < n:
            raise RewriteError(f"{at}/neuron", f"neuron {tree.neuron} out of range 0..{n - 1}")
        if tree.phase not in PHASE_SIGN:
            raise RewriteError(f"{at}/phase", "must be 'inactive' or 'active'")
        _check_tree(pwl, bounds, k, lower, upper, tree, layer_of, at)
        proved.add((tree.neuron, tree.phase))
    return proved


def _check_tree(pwl: PwlNet, bounds: list[Bounds], k: int, lower: np.ndarray, upper: np.ndarray,
                tree: PhaseTree, layer_of: dict[int, int], item: str) -> None:
    stack: list[tuple[TreeNode, tuple[tuple[int, int, str], ...], str]] = [(tree.root, (), item)]
    while stack:
        node, path, at = stack.pop()
        if isinstance(node, Leaf):
            _check_leaf(pwl, child_bounds(bounds, k, path), k, lower, upper, tree, node, at)
            continue
        if len(path) >= MAX_TREE_DEPTH:
            raise RewriteError(at, f"a tree may split at most {MAX_TREE_DEPTH} times on one path")
        l = layer_of.get(node.activation)
        if l is None:
            raise RewriteError(f"{at}/split/activation", f"node #{node.activation} is not an activation")
        if not l < k:
            raise RewriteError(f"{at}/split/activation", f"a split must be on a layer before the proved "
                                                         f"neuron's (layer {l} is not before layer {k})")
        if not 0 <= node.neuron < pwl.layers[l].n_out or pwl.layers[l].slope[node.neuron] != 0.0:
            raise RewriteError(f"{at}/split/neuron", f"neuron {node.neuron} is not a Relu neuron of layer {l}")
        for side in ("active", "inactive"):        # popped inactive first
            stack.append((getattr(node, side), path + ((l, node.neuron, side),), f"{at}/{side}"))


def child_bounds(bounds: list[Bounds], k: int, path: tuple[tuple[int, int, str], ...]) -> list[Bounds]:
    """The bounds of layers ``< k`` in the region of ``path`` (T2): the split neurons' upper bound
    clipped to 0 (inactive child) or lower bound to 0 (active child)."""
    changed = [(lo.copy(), hi.copy()) if any(p[0] == l for p in path) else (lo, hi)
               for l, (lo, hi) in enumerate(bounds[:k])]
    for l, i, side in path:
        lo, hi = changed[l]
        if side == "inactive":
            hi[i] = min(hi[i], 0.0)
        else:
            lo[i] = max(lo[i], 0.0)
    return changed


def _check_leaf(pwl: PwlNet, bounds: list[Bounds], k: int, lower: np.ndarray, upper: np.ndarray,
                tree: PhaseTree, leaf: Leaf, item: str) -> None:
    try:
        lp = triangle_lp(pwl, bounds, k, lower, upper)
    except ValueError as exc:
        raise RewriteError(item, str(exc)) from None
    multipliers = sparse_multipliers(lp, leaf.rows, leaf.values, f"{item}/rows")
    c, c0 = lp.objective(tree.neuron, PHASE_SIGN[tree.phase])
    try:
        bound = safe_max(lp, c, c0, multipliers)
    except ValueError as exc:
        raise RewriteError(f"{item}/values", str(exc)) from None
    if not bound <= 0.0:
        what = "max z" if tree.phase == "inactive" else "max -z"
        raise RewriteError(f"{item}/values", f"the multipliers prove only {what} <= {bound!r} for neuron "
                                             f"{tree.neuron} in this branch, not <= 0")
