"""Does a finite union of closed boxes cover a closed box? (trusted; exact float comparisons)

``covers(lower, upper, boxes)`` answers True only if every real point of
``[lower, upper]`` lies in some box of ``boxes``.  It splits the region at a box
boundary strictly inside it (the two closed halves cover the region) until each
piece lies inside one box.  If no boundary is strictly inside a piece and no box
contains it, the piece's centre (a real point) is in no box, so the answer False
is exact too; a piece with no intersecting box is likewise uncovered.  Splits are
chosen to cut through as few boxes as possible, so covers made by bisection are
checked with one split per internal node of their tree.  ``budget`` caps the number
of pieces examined (False when exceeded: nothing is claimed).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["CoverBudgetExceeded", "covers", "uncovered_point"]


class CoverBudgetExceeded(ValueError):
    """Checking the cover needs more pieces than the budget allows (nothing is claimed)."""


def uncovered_point(lower: np.ndarray, upper: np.ndarray, boxes: Sequence[tuple[np.ndarray, np.ndarray]],
                    budget: int | None = None) -> np.ndarray | None:
    """A point of ``[lower, upper]`` in no box (a region's midpoint; see the module note), or None
    when the closed boxes cover it.  Raises :class:`CoverBudgetExceeded`."""
    lower, upper = np.asarray(lower, np.float64), np.asarray(upper, np.float64)
    lows = np.array([np.asarray(lo, np.float64) for lo, _ in boxes]).reshape(len(boxes), -1)
    highs = np.array([np.asarray(hi, np.float64) for _, hi in boxes]).reshape(len(boxes), -1)
    if not boxes or lows.shape[1] != lower.size or highs.shape != lows.shape:
        return lower / 2.0 + upper / 2.0
    limit = budget if budget is not None else 64 * len(boxes) + 64
    stack = [(lower, upper, np.arange(len(boxes)))]
    examined = 0
    while stack:
        lo, hi, index = stack.pop()
        examined += 1
        if examined > limit:
            raise CoverBudgetExceeded(f"checking the cover needs more than {limit} pieces")
        meets = np.all(lows[index] <= hi, axis=1) & np.all(highs[index] >= lo, axis=1)
        index = index[meets]
        if index.size and np.any(np.all(lows[index] <= lo, axis=1) & np.all(highs[index] >= hi, axis=1)):
            continue
        split = _cleanest_split(lo, hi, lows[index], highs[index]) if index.size else None
        if split is None:
            return lo / 2.0 + hi / 2.0
        dim, t = split
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[dim], right_lo[dim] = t, t
        stack += [(lo, left_hi, index), (right_lo, hi, index)]
    return None


def covers(lower: np.ndarray, upper: np.ndarray, boxes: Sequence[tuple[np.ndarray, np.ndarray]],
           budget: int | None = None) -> bool:
    """True only if the closed ``boxes`` are proved to cover ``[lower, upper]`` within the budget."""
    try:
        return uncovered_point(lower, upper, boxes, budget) is None
    except CoverBudgetExceeded:
        return False


def _cleanest_split(lo: np.ndarray, hi: np.ndarray, lows: np.ndarray,
                    highs: np.ndarray) -> tuple[int, float] | None:
    """A box boundary ``t`` with ``lo[d] < t < hi[d]`` that cuts through the fewest boxes."""
    best: tuple[int, int, float] | None = None
    inside = (lows > lo) & (lows < hi)
    inside_hi = (highs > lo) & (highs < hi)
    for dim in np.flatnonzero(inside.any(axis=0) | inside_hi.any(axis=0)):
        values = np.unique(np.concatenate([lows[inside[:, dim], dim], highs[inside_hi[:, dim], dim]]))
        cuts = ((lows[:, dim][None, :] < values[:, None]) & (highs[:, dim][None, :] > values[:, None])).sum(axis=1)
        k = int(np.argmin(cuts))
        if best is None or cuts[k] < best[0]:
            best = (int(cuts[k]), int(dim), float(values[k]))
        if best[0] == 0:
            break
    return None if best is None else (best[1], best[2])
