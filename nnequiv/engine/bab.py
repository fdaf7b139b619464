"""Branch and bound over input splits and activation-phase splits.

Every region is analysed by the trusted :func:`nnequiv.checker.diffzono.analyze`
and assessed by :func:`nnequiv.checker.leaf.assess`; the search only decides
*where* to split.  The recorded split tree is the ``bab_tree`` certificate step,
which the checker replays region by region.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..checker.diffzono import analyze
from ..checker.leaf import assess
from ..pwl import PwlNet
from .objective import Relation, deviation, violates



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
                     deadline: float, max_regions: int = 200_000,
                     is_confirmed: Callable[[np.ndarray], bool] | None = None,
                     progress: Callable[[int, float], None] | None = None) -> SearchOutcome:
    kind, eps, outputs = relation.kind, relation.eps, relation.outputs
    tree = _Tree()
    ids = itertools.count()
    root = Region(np.array(lower, float), np.array(upper, float), (), next(ids))
    heap: list[tuple[float, int, Region, Any]] = []
    closed_max = -np.inf
    best_point, best_value = None, -np.inf
    regions = 0
    start = time.monotonic()

    def visit(region: Region) -> bool:
        """Analyse one region: close it, or queue it; return True if a violation was confirmed."""
        nonlocal closed_max, best_point, best_value, regions
        regions += 1
        analysis = analyze(f, g, region.lower, region.upper, dict(region.splits))
        verdict = assess(analysis, kind, eps, outputs, f.softmax_output)
        if verdict.closed:
            closed_max = max(closed_max, verdict.value)
            tree.nodes[region.node_id] = {"leaf": "empty" if analysis.infeasible else "bound",
                                          "value": float(verdict.value).hex()}
            return False
        centre = (region.lower + region.upper) / 2
        value = float(deviation(f, g, centre[None], relation)[0])
        if value > best_value:
            best_point, best_value = centre, value
            if violates(value, relation) and is_confirmed is not None and is_confirmed(centre):
                return True
        heapq.heappush(heap, (-verdict.value, region.node_id, region, (analysis, verdict)))
        return False

    if visit(root):
        return SearchOutcome("violated", None, np.inf, best_point, best_value, regions)
    while heap:
        if time.monotonic() > deadline or regions >= max_regions:
            open_max = max(-item[0] for item in heap)
            return SearchOutcome("exhausted", None, max(open_max, closed_max), best_point, best_value,
                                 regions, {"open_regions": len(heap)})
        _, _, region, (analysis, verdict) = heapq.heappop(heap)
        children = _split(region, analysis, verdict, ids)
        if children is None:
            return SearchOutcome("exhausted", None, -heap[0][0] if heap else verdict.value, best_point,
                                 best_value, regions, {"stuck": True})
        split, parts = children
        tree.nodes[region.node_id] = {"split": split, "children": [p.node_id for p in parts]}
        for part in parts:
            if visit(part):
                return SearchOutcome("violated", None, np.inf, best_point, best_value, regions)
        if progress is not None:
            progress(regions, time.monotonic() - start)
    return SearchOutcome("proved", tree.to_json(), closed_max, best_point, best_value, regions,
                         {"regions": regions})


def _split(region: Region, analysis, verdict, ids):
    scores = np.abs(verdict.worst_gens)
    symbols = analysis.symbols
    done = {key for key, _ in region.splits}
    # input splits shrink every relaxation at once; phase splits do not cut the region in the
    # zonotope domain, so they come only when no input dimension can be split any more
    return _input_split(region, scores, symbols, ids) or _neuron_split(region, analysis, scores, done, ids)


def _input_split(region: Region, scores, symbols, ids):
    widths = region.upper - region.lower
    n = region.lower.size
    input_scores = np.zeros(n)
    for column, symbol in enumerate(symbols[:n]):
        input_scores[symbol.index] = scores[column] if column < scores.size else 0.0
    input_scores = np.where(widths > 0, input_scores + 1e-12 * widths, -1.0)
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


def _neuron_split(region: Region, analysis, scores, done, ids):
    unstable = {(net, layer, j) for net, layer, j, _ in analysis.unstable} - done
    if not unstable:
        return None
    best, best_score = None, -1.0
    for column, symbol in enumerate(analysis.symbols):
        if symbol.kind == "input" or column >= scores.size:
            continue
        nets = ("f", "g") if symbol.kind == "delta" else (symbol.kind,)
        for net in nets:
            key = (net, symbol.layer, symbol.index)
            if key in unstable and scores[column] > best_score:
                best, best_score = key, scores[column]
    if best is None:
        best = max(unstable, key=lambda k: next(w for n, l, j, w in analysis.unstable if (n, l, j) == k))
    parts = tuple(Region(region.lower, region.upper, region.splits + ((best, side),), next(ids))
                  for side in (-1, +1))
    return {"relu": [best[0], int(best[1]), int(best[2])]}, parts
