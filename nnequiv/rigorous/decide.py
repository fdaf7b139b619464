"""Decide a relation violation from output enclosures (``proofs/rigorous_eval.md``, Lemma 12)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec.relation import Relation
from .evaluate import difference
from .expansion import Enclosure


@dataclass(frozen=True)
class Decision:
    violated: bool          # the enclosures PROVE the exact outputs violate the relation
    deviation_lower: float  # proved lower bound on max |g_i - f_i| over the compared outputs (top1: 1 or 0)
    radius: float           # the widest output radius of either network
    satisfied: bool = False  # the enclosures PROVE the relation holds at this input
    deviation: float = 0.0   # max |g_i - f_i| of the midpoints (computed on the expansions; top1: 1 or 0)


def decide(f: Enclosure, g: Enclosure, relation: Relation) -> Decision:
    """Whether the exact outputs enclosed by ``f`` and ``g`` (flat) surely violate ``relation``."""
    rows = np.arange(f.shape[0]) if relation.outputs is None else np.asarray(relation.outputs)
    f, g = f.map(lambda a: a.ravel()[rows]), g.map(lambda a: a.ravel()[rows])
    radius = float(max(np.max(f.radius), np.max(g.radius)))
    if relation.kind == "top1":
        differ = _top_differs(f, g) or _top_differs(g, f)
        same = _unique_top(f) is not None and _unique_top(f) == _unique_top(g)
        return Decision(differ, float(differ), radius, same, float(differ))
    d = difference(f, g)
    lower = float(np.max(np.maximum(np.maximum(d.lower(), -d.upper()), 0.0)))
    upper = float(np.max(np.maximum(d.upper(), -d.lower())))
    deviation = float(np.max(np.abs(d.approx())))
    if relation.kind == "eps":
        return Decision(lower > relation.eps, lower, radius, upper <= relation.eps, deviation)
    return Decision(lower > 0.0, lower, radius, upper == 0.0, deviation)


def _unique_top(a: Enclosure) -> int | None:
    """The index ``i`` with ``a_j - a_i < 0`` proved for every ``j != i`` (the argmax set is {i})."""
    i = int(np.argmax(a.approx()))
    others = np.arange(a.shape[0]) != i
    return i if np.all(difference(_at(a, i), a).upper()[others] < 0) else None


def _top_differs(a: Enclosure, b: Enclosure) -> bool:
    """``a`` has a proved unique maximiser ``i`` and ``b`` a proved larger entry than ``b_i``:
    then ``i`` is in a's argmax set and not in b's, so the sets differ."""
    i = _unique_top(a)
    if i is None:
        return False
    others = np.arange(a.shape[0]) != i
    return bool(np.any(difference(_at(b, i), b).lower()[others] > 0))  # some b_j - b_i > 0


def _at(x: Enclosure, i: int) -> Enclosure:
    return x.map(lambda a: np.full(a.shape, a[i]))
