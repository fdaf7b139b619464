"""Branch and bound over input splits and activation-phase splits.

Every region is analysed by the trusted :func:`nnequiv.checker.diffzono.analyze`
and assessed by :func:`nnequiv.checker.leaf.assess`; regions it leaves open may be closed
by the differential LP with a safe dual bound (:mod:`.lp_leaf`, ``lp`` leaves).  The search
only decides *where* to split.  The recorded split tree is the ``bab_tree`` certificate step,
which the checker replays region by region.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..checker.diff_lp import lp_supported, zonotope_bounds
from ..checker.diffzono import aligned_layers, analyze_batch
from ..checker.leaf import assess
from ..pwl import PwlNet
from .lp_leaf import try_lp_leaf
from .objective import Relation, deviation, violates

# LP leaves: tried on every open region when the input has at least LP_WIDE_INPUT dimensions (input
# splits barely help there).  On narrow inputs (LP_ON_NARROW_INPUTS) only where the zonotope bound is
# within LP_FACTOR of eps -- off by default: one LP costs about as much as 60 zonotope regions on the
# 5-input ACAS pairs and the benchmark measured it slower there (0.39 s -> 1.3-2.1 s on quick proofs)
LP_WIDE_INPUT = 50
LP_ON_NARROW_INPUTS = False
LP_FACTOR = 1.25
LP_TIME_SHARE = {True: 0.5, False: 0.1}   # share of the search time, by "wide input" (plus LP_TIME_START)
LP_TIME_START = {True: 1.0, False: 0.0}   # seconds allowed up front: none on narrow inputs, where most
                                          # proofs take well under a second and LPs rarely close regions


@dataclass(frozen=True, eq=False)
class Region:
    lower: np.ndarray
    upper: np.ndarray
    splits: tuple[tuple[tuple[str, int, int], int], ...]
    node_id: int


@dataclass
class SearchOutcome:
    status: str                          # "proved" | "violated" | "exhausted"
    tree: dict[str, Any] | None
    upper: float                         # proved bound (max over leaves; open leaves count)
    best_point: np.ndarray | None
    best_value: float
    regions: int
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Tree:
    nodes: dict[int, dict[str, Any]] = field(default_factory=dict)

    def to_json(self, node_id: int = 0) -> dict[str, Any]:
        # iterative post-order build (trees can be deep)
        built: dict[int, dict[str, Any]] = {}
        stack = [(node_id, False)]
        while stack:
            current, expanded = stack.pop()
            entry = self.nodes[current]
            children = entry.get("children", ())
            if children and not expanded:
                stack.append((current, True))
                stack.extend((c, False) for c in children)
                continue
            node = {k: v for k, v in entry.items() if k != "children"}
            if children:
                node["children"] = [built.pop(c) for c in children]
            built[current] = node
        return built[node_id]


def branch_and_bound(f: PwlNet, g: PwlNet, lower: np.ndarray, upper: np.ndarray, relation: Relation,
                     deadline: float, max_regions: int = 200_000, batch: int = 32,
                     is_confirmed: Callable[[np.ndarray], bool] | None = None,
                     progress: Callable[[int, float], None] | None = None) -> SearchOutcome:
    """Worst-first search: pop up to ``batch`` open regions, split each, analyse all children at once."""
    tree = _Tree()
    ids = itertools.count()
    heap: list[tuple[float, int, Region, Any]] = []
    state = {"closed_max": -np.inf, "best_point": None, "best_value": -np.inf, "regions": 0}
    start = time.monotonic()
    fl, gl = aligned_layers(f, g)
    use_lp = relation.kind == "eps" and not f.softmax_output and not lp_supported(fl, gl)
    wide = use_lp and f.input_size >= LP_WIDE_INPUT
    lp_stats = {"lp_tries": 0, "lp_closed": 0, "lp_seconds": 0.0}

    def lp_close(analysis, index: int, region: Region, value: float) -> tuple[dict[str, Any] | None, float]:
        """An ``lp`` leaf for the region or None (not worth it, out of LP time, or not proved), and the
        region's best known bound (the LP's where it was solved)."""
        if not use_lp or not (wide or (LP_ON_NARROW_INPUTS and value <= LP_FACTOR * relation.eps)) \
                or time.monotonic() > deadline:
            return None, value
        if lp_stats["lp_seconds"] > LP_TIME_SHARE[wide] * (time.monotonic() - start) + LP_TIME_START[wide]:
            return None, value
        bounds = [tuple(None if b is None else (b[0][index], b[1][index]) for b in layer)
                  for layer in analysis.layer_bounds]
        lp_stats["lp_tries"] += 1
        try:
            attempt = try_lp_leaf(fl, gl, region.lower, region.upper, bounds, dict(region.splits),
                                  relation.outputs, relation.eps, zonotope_bounds(analysis, index, relation.outputs),
                                  deadline)
        except ValueError:        # e.g. HiGHS refuses an empty region's bounds
            return None, value
        lp_stats["lp_seconds"] += attempt.seconds
        if not attempt.closed:
            return None, min(value, attempt.upper)
        lp_stats["lp_closed"] += 1
        return {"leaf": "lp", "value": attempt.value.hex(), "multipliers": list(attempt.evidence)}, attempt.value

    def visit(regions: list[Region]) -> bool:
        """Analyse regions together: close them or queue them; True if a violation was confirmed."""
        state["regions"] += len(regions)
        analysis = analyze_batch(f, g, np.stack([r.lower for r in regions]),
                                 np.stack([r.upper for r in regions]), [dict(r.splits) for r in regions])
        verdict = assess(analysis, relation.kind, relation.eps, relation.outputs, f.softmax_output)
        centres = np.stack([(r.lower + r.upper) / 2 for r in regions])
        values = deviation(f, g, centres, relation)
        for index, region in enumerate(regions):
            if verdict.closed[index]:
                state["closed_max"] = max(state["closed_max"], float(verdict.value[index]))
                tree.nodes[region.node_id] = {
                    "leaf": "empty" if analysis.infeasible[index] else "bound",
                    "value": float(verdict.value[index]).hex()}
                continue
            leaf, bound = (None, float(verdict.value[index])) if violates(values[index], relation) else \
                lp_close(analysis, index, region, float(verdict.value[index]))
            if leaf is not None:
                state["closed_max"] = max(state["closed_max"], float.fromhex(leaf["value"]))
                tree.nodes[region.node_id] = leaf
                continue
            if values[index] > state["best_value"]:
                state["best_point"], state["best_value"] = centres[index], float(values[index])
                if violates(values[index], relation) and is_confirmed is not None and is_confirmed(centres[index]):
                    return True
            heapq.heappush(heap, (-bound, region.node_id, region,
                                  _Branching(verdict.worst_gens[index], analysis.symbols_of(index),
                                             analysis.unstable_in(index))))
        return False

    def outcome(status: str, **extra) -> SearchOutcome:
        extra.update(lp_stats if use_lp else {})
        return SearchOutcome(status, extra.pop("tree", None), extra.pop("upper", np.inf), state["best_point"],
                             state["best_value"], state["regions"], extra)

    root = Region(np.array(lower, float), np.array(upper, float), (), next(ids))
    if visit([root]):
        return outcome("violated")
    while heap:
        if time.monotonic() > deadline or state["regions"] >= max_regions:
            open_max = max(-item[0] for item in heap)
            return outcome("exhausted", upper=max(open_max, state["closed_max"]), open_regions=len(heap))
        children: list[Region] = []
        while heap and len(children) < 2 * batch:
            _, _, region, branching = heapq.heappop(heap)
            split = _split(region, branching, ids, phase_first=wide)
            if split is None:
                return outcome("exhausted", upper=np.inf, stuck=True)
            description, parts = split
            tree.nodes[region.node_id] = {"split": description, "children": [p.node_id for p in parts]}
            children.extend(parts)
        if visit(children):
            return outcome("violated")
        if progress is not None:
            progress(state["regions"], time.monotonic() - start)
    return outcome("proved", tree=tree.to_json(), upper=state["closed_max"])


@dataclass(frozen=True, eq=False)
class _Branching:
    """What the search keeps of an open region's analysis to choose its split."""

    worst_gens: np.ndarray
    symbols: tuple
    unstable: list


def _split(region: Region, branching: _Branching, ids, phase_first: bool = False):
    """Input splits first: they shrink every relaxation at once.  Phase splits do not cut the
    region in the zonotope domain (a forced phase keeps the whole pre-activation range), which
    measured worse on the ACAS and MNIST pairs, so they come only when no input can be split --
    unless LP leaves are tried on a wide input (``phase_first``): the LP honours phase splits,
    and halving one of hundreds of input dimensions barely changes any bound."""
    scores = np.abs(branching.worst_gens)
    done = {key for key, _ in region.splits}
    if phase_first:
        return (_neuron_split(region, branching, scores, done, ids)
                or _input_split(region, scores, branching.symbols, ids))
    return (_input_split(region, scores, branching.symbols, ids)
            or _neuron_split(region, branching, scores, done, ids))


def _input_split(region: Region, scores, symbols, ids):
    widths = region.upper - region.lower
    n = region.lower.size
    input_scores = np.where(widths > 0, scores[:n] + 1e-12 * widths, -1.0)
    for d in np.argsort(-input_scores):
        if input_scores[d] < 0:
            break
        mid = (region.lower[d] + region.upper[d]) / 2
        if region.lower[d] < mid < region.upper[d]:
            left_upper, right_lower = region.upper.copy(), region.lower.copy()
            left_upper[d], right_lower[d] = mid, mid
            parts = (Region(region.lower, left_upper, region.splits, next(ids)),
                     Region(right_lower, region.upper, region.splits, next(ids)))
            return {"input": int(d), "at": float(mid).hex()}, parts
    return None


def _neuron_split(region: Region, branching: _Branching, scores, done, ids):
    unstable = {(net, layer, j): width for net, layer, j, width in branching.unstable}
    for key in done:
        unstable.pop(key, None)
    if not unstable:
        return None
    best, best_score = None, -1.0
    for column, symbol in enumerate(branching.symbols):
        if symbol is None or symbol.kind == "input" or column >= scores.size:
            continue
        for net in (("f", "g") if symbol.kind == "delta" else (symbol.kind,)):
            key = (net, symbol.layer, symbol.index)
            if key in unstable and scores[column] > best_score:
                best, best_score = key, scores[column]
    if best is None:
        best = max(unstable, key=unstable.get)
    parts = tuple(Region(region.lower, region.upper, region.splits + ((best, side),), next(ids))
                  for side in (-1, +1))
    return {"relu": [best[0], int(best[1]), int(best[2])]}, parts
