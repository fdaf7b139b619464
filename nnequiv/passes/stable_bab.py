"""Untrusted branch and bound over ReLU phases: phase trees for neurons one LP cannot prove
stable (``proofs/phase_tree.md``; the checker: :mod:`nnequiv.checker.phase_tree`).

For a neuron ``j`` of layer ``k`` and a phase, depth first: at a node (a set of earlier
neurons fixed inactive / active), the checker's triangle LP over the node's bounds is solved
with HiGHS -- one instance per neuron, warm started, the node's splits applied as column /
row bound changes to the root LP, which then is the checker's LP of the node up to the
dropped triangle rows of the split neurons -- and its multipliers are re-evaluated with
:func:`nnequiv.checker.lp_dual.safe_max` on the checker's own LP of the node: ``<= 0`` makes a
leaf (an infeasible node: a scaled Farkas ray).  Otherwise the LP optimum's input is tried
in the network (a clear violation shows the phase does not hold: the search stops with that
witness), and the node is split on the unstable neuron whose triangle row contributes most
to the LP bound (multiplier times intercept, as BaBSR; the largest triangle gap at the
optimum when no row is active).  Caps: nodes, seconds, depth, the step's leaves.  A search
cut short proves nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import highspy
import numpy as np

from ..checker.lp_dual import safe_max, triangle_lp
from ..checker.net_bounds import Bounds
from ..checker.phase_tree import MAX_TREE_DEPTH, MAX_TREE_LEAVES, PHASE_SIGN, Leaf, PhaseTree, Split, child_bounds
from ..pwl import PwlNet
from ..solvers import MilpModel
from ..solvers.highs_backend import loaded_highs

LEAF_TRY = 1e-6            # an LP optimum at most this is worth a safe bound
WITNESS_MARGIN = 1e-9      # relative: a violation the float evaluation clearly shows
FARKAS_SCALES = tuple(10.0 ** e for e in range(0, 19, 3))


@dataclass(frozen=True)
class LayerSplit:
    """A search tree's inner node, its split neuron named by lowered layer (see :func:`as_phase_tree`)."""

    layer: int
    neuron: int
    inactive: "SearchNode"
    active: "SearchNode"


SearchNode = Union[Leaf, LayerSplit]


@dataclass(frozen=True)
class TreeOutcome:
    root: SearchNode | None        # a proof, or None
    witness: np.ndarray | None     # an input violating the phase (search stopped), or None
    nodes: int
    leaves: int
    seconds: float


class _Abandon(Exception):
    def __init__(self, witness: np.ndarray | None = None) -> None:
        super().__init__("search abandoned")
        self.witness = witness


def as_phase_tree(neuron: int, phase: str, node: SearchNode, activations: Sequence[int]) -> PhaseTree:
    """The checker's tree: layers named by their activation node (``activations[layer]``)."""
    def convert(n: SearchNode):
        if isinstance(n, Leaf):
            return n
        return Split(activations[n.layer], n.neuron, convert(n.inactive), convert(n.active))
    return PhaseTree(neuron, phase, convert(node))


def open_phases(phases, neurons: int) -> list[tuple[int, str]]:
    """``(neuron, phase)`` of the first ``neurons`` of ``phases`` (a :class:`.stable_search.LayerPhases`)
    neither certified nor ruled out by a witness."""
    return [(int(j), phase) for j in np.flatnonzero(phases.undecided[:neurons]) for phase, seen in
            (("inactive", phases.seen_positive), ("active", phases.seen_negative)) if not seen[j]]


def tree_phases(pwl: PwlNet, layer: int, todo: Sequence[tuple[int, str]], lower: np.ndarray, upper: np.ndarray,
                bounds: list[Bounds], phases, budget, seconds: float, settings,
                show: Callable[[np.ndarray], None]) -> None:
    """Phase trees (each within ``seconds``) for the ``(neuron, phase)`` pairs ``todo`` of ``layer``
    still open when reached; ``phases`` (a :class:`.stable_search.LayerPhases`) records them,
    ``show`` records witnesses."""
    if layer == 0 or seconds <= 0:
        return
    tried = set()
    for j, phase in todo:
        seen = phases.seen_positive if phase == "inactive" else phases.seen_negative
        if (j, phase) in tried or seen[j] or phases.certified_inactive[j] or phases.certified_active[j]:
            continue
        tried.add((j, phase))
        leaves_left = MAX_TREE_LEAVES - budget.tree_leaves
        if budget.left <= 0 or leaves_left <= 0:
            return
        outcome = prove_phase(pwl, layer, j, PHASE_SIGN[phase], lower, upper, bounds,
                              min(seconds, budget.left), min(settings.tree_nodes, 2 * leaves_left))
        budget.spent += outcome.seconds
        phases.tree_queries += 1
        phases.tree_seconds += outcome.seconds
        phases.tree_nodes += outcome.nodes
        if outcome.root is not None and outcome.leaves <= leaves_left:
            phases.trees[(j, phase)] = outcome.root
            (phases.tree_inactive if phase == "inactive" else phases.tree_active)[j] = True
            budget.tree_leaves += outcome.leaves
            phases.tree_leaves += outcome.leaves
            phases.unknown[j] = False
        elif outcome.witness is not None:
            show(outcome.witness[None])
        if phases.seen_positive[j] and phases.seen_negative[j]:
            phases.unknown[j] = False


def prove_phase(pwl: PwlNet, k: int, j: int, sign: float, lower: np.ndarray, upper: np.ndarray,
                bounds: list[Bounds], seconds: float, node_cap: int) -> TreeOutcome:
    """A phase tree for ``sign * z_k[j] <= 0`` over ``bounds`` (the checker's), within the caps."""
    start = time.perf_counter()
    try:
        search = _Search(pwl, k, j, sign, lower, upper, bounds, start + seconds, node_cap)
    except ValueError:
        return TreeOutcome(None, None, 0, 0, time.perf_counter() - start)
    try:
        root = search.grow(())
    except _Abandon as stop:
        return TreeOutcome(None, stop.witness, search.nodes, 0, time.perf_counter() - start)
    return TreeOutcome(root, None, search.nodes, search.leaves, time.perf_counter() - start)


class _Search:
    """One neuron's depth-first search on one warm HiGHS instance (mutable search state)."""

    def __init__(self, pwl: PwlNet, k: int, j: int, sign: float, lower: np.ndarray, upper: np.ndarray,
                 bounds: list[Bounds], deadline: float, node_cap: int) -> None:
        self.pwl, self.k, self.j, self.sign = pwl, k, j, sign
        self.lower, self.upper, self.bounds = lower, upper, bounds
        self.deadline, self.node_cap = deadline, node_cap
        self.lp = triangle_lp(pwl, bounds, k, lower, upper)
        self.c, self.c0 = self.lp.objective(j, sign)
        model = MilpModel.from_relaxation(self.lp).with_objective((np.arange(self.c.size), self.c), self.c0, "max")
        self.h = loaded_highs(model, {"threads": 1})
        self.layout = _Layout.of(pwl, bounds, k, self.lp)
        self.applied: dict[tuple[int, int], str] = {}
        self.nodes = self.leaves = 0

    def grow(self, path: tuple[tuple[int, int, str], ...]) -> SearchNode:
        self.nodes += 1
        left = self.deadline - time.perf_counter()
        if self.nodes > self.node_cap or left <= 0:
            raise _Abandon()
        self._apply(path)
        self.h.setOptionValue("time_limit", self.h.getRunTime() + left)     # HiGHS's clock runs across runs
        self.h.run()
        status = self.h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return self._leaf_or_abandon(self._farkas(path))
        if status != highspy.HighsModelStatus.kOptimal:
            raise _Abandon()
        solution = self.h.getSolution()
        duals = np.asarray(solution.row_dual, np.float64)
        primal = np.asarray(solution.col_value, np.float64)
        if self.h.getInfo().objective_function_value <= LEAF_TRY:
            leaf = self._leaf(path, [duals])
            if leaf is not None:
                return leaf
        x = np.clip(primal[:self.lower.size], self.lower, self.upper)
        z = float(self.pwl.activations(x[None])[self.k][0, self.j])
        if self.sign * z > WITNESS_MARGIN * (1.0 + abs(z)):
            raise _Abandon(x)
        if len(path) >= MAX_TREE_DEPTH:
            raise _Abandon()
        l, i = self.layout.choose(path, duals, primal, self.lp)
        first = "inactive" if primal[self.layout.z_col(l, i)] <= 0.0 else "active"
        children = {}
        for side in (first, "active" if first == "inactive" else "inactive"):
            children[side] = self.grow(path + ((l, i, side),))
        return LayerSplit(l, i, children["inactive"], children["active"])

    def _leaf_or_abandon(self, leaf: Leaf | None) -> Leaf:
        if leaf is None:
            raise _Abandon()
        return leaf

    def _leaf(self, path, candidates: Sequence[np.ndarray]) -> Leaf | None:
        """The first root-LP multipliers whose checker's safe bound on its own LP of the node is ``<= 0``."""
        lp = triangle_lp(self.pwl, child_bounds(self.bounds, self.k, path), self.k, self.lower, self.upper)
        for base in candidates:
            m = self.layout.node_rows(path, base)
            if m.size == lp.row_lo.size and np.all(np.isfinite(m)) and safe_max(lp, self.c, self.c0, m) <= 0.0:
                rows = np.flatnonzero(m)
                self.leaves += 1
                return Leaf(rows, m[rows])
        return None

    def _farkas(self, path) -> Leaf | None:
        _, has_ray, ray = self.h.getDualRay()
        if not has_ray:
            return None
        ray = np.asarray(ray, np.float64)
        return self._leaf(path, [s * t * ray for t in FARKAS_SCALES for s in (1.0, -1.0)])

    def _apply(self, path) -> None:
        """Make the HiGHS instance the LP of the node ``path`` (bound changes from the last node)."""
        wanted = {(l, i): side for l, i, side in path}
        for key in [key for key, side in self.applied.items() if wanted.get(key) != side]:
            self.layout.restore(self.h, self.lp, *key)
            del self.applied[key]
        for key, side in wanted.items():
            if key not in self.applied:
                self.layout.fix(self.h, self.lp, *key, side)
                self.applied[key] = side


@dataclass(frozen=True, eq=False)
class _Layout:
    """Where :func:`triangle_lp` puts each neuron's columns and rows (layers ``< k``)."""

    col_start: tuple[int, ...]     # z_l columns start; y_l columns follow after n_l
    widths: tuple[int, ...]
    p_start: tuple[int, ...]       # first P row of layer l
    t_row: tuple[np.ndarray, ...]  # per neuron of layer l: its triangle row, or -1

    @classmethod
    def of(cls, pwl: PwlNet, bounds: list[Bounds], k: int, lp) -> "_Layout":
        col, row = pwl.input_size, 0
        col_start, widths, p_start, t_row = [], [], [], []
        for l, layer in enumerate(pwl.layers[:k]):
            lo, hi = bounds[l]
            n = layer.n_out
            unstable = ~((layer.slope == 1.0) | (lo >= 0.0)) & (hi > 0.0)
            rows = np.full(n, -1, dtype=np.int64)
            rows[unstable] = row + 2 * n + np.arange(int(unstable.sum()))
            col_start.append(col)
            widths.append(n)
            p_start.append(row + n)
            t_row.append(rows)
            col += 2 * n
            row += 2 * n + int(unstable.sum())
        if row != lp.row_lo.size or col != lp.col_lo.size:
            raise ValueError("the triangle LP layout is not the expected one")
        return cls(tuple(col_start), tuple(widths), tuple(p_start), tuple(t_row))

    def z_col(self, l: int, i: int) -> int:
        return self.col_start[l] + i

    def y_col(self, l: int, i: int) -> int:
        return self.col_start[l] + self.widths[l] + i

    def choose(self, path, duals: np.ndarray, primal: np.ndarray, lp) -> tuple[int, int]:
        """The split: the largest triangle-row multiplier times intercept, else the largest gap."""
        taken = {(l, i) for l, i, _ in path}
        best, best_gap = (-1.0, None), (0.0, None)
        for l, rows in enumerate(self.t_row):
            for i in np.flatnonzero(rows >= 0):
                if (l, int(i)) in taken:
                    continue
                r = rows[i]
                score = max(duals[r], 0.0) * lp.row_hi[r]
                gap = primal[self.y_col(l, i)] - max(primal[self.z_col(l, i)], 0.0)
                if score > best[0]:
                    best = (score, (l, int(i)))
                if gap > best_gap[0]:
                    best_gap = (gap, (l, int(i)))
        choice = best[1] if best[0] > 0.0 else best_gap[1]
        if choice is None:
            raise _Abandon()
        return choice

    def node_rows(self, path, multipliers: np.ndarray) -> np.ndarray:
        """Root-LP multipliers as multipliers of the node's LP (the split neurons' triangle rows dropped)."""
        return np.delete(multipliers, [self.t_row[l][i] for l, i, _ in path])

    def fix(self, h, lp, l: int, i: int, side: str) -> None:
        z, y, p, t = self.z_col(l, i), self.y_col(l, i), self.p_start[l] + i, int(self.t_row[l][i])
        inf = highspy.kHighsInf
        h.changeRowBounds(t, -inf, inf)
        if side == "inactive":
            h.changeColBounds(z, float(lp.col_lo[z]), 0.0)
            h.changeColBounds(y, 0.0, 0.0)
        else:
            h.changeColBounds(z, 0.0, float(lp.col_hi[z]))
            h.changeColBounds(y, 0.0, float(lp.col_hi[y]))
            h.changeRowBounds(p, 0.0, 0.0)

    def restore(self, h, lp, l: int, i: int) -> None:
        inf = highspy.kHighsInf
        for column in (self.z_col(l, i), self.y_col(l, i)):
            h.changeColBounds(column, float(lp.col_lo[column]), float(lp.col_hi[column]))
        for row in (self.p_start[l] + i, int(self.t_row[l][i])):
            h.changeRowBounds(row, max(float(lp.row_lo[row]), -inf), min(float(lp.row_hi[row]), inf))
