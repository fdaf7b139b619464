"""Sound pre-activation bounds of ONE piecewise-linear network over boxes, and an exact check
that a list of sub-boxes covers a box (trusted).

Bounds: the DeepZ zonotope propagation of :mod:`.diffzono` (the same relaxation, rounding
and radii handling, ``proofs/differential.md``, ``proofs/rounding.md``) run on a single
network; over a split the bound of a neuron is the weakest over the pieces
(``proofs/stable_relu.md`` S5).  Cover check: ``proofs/stable_relu.md`` S6.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..pwl import PwlNet
from .diffzono import _activate, _phases, _place
from .forms import add_bias, input_forms, linear

Bounds = tuple[np.ndarray, np.ndarray]
MAX_COVER_REGIONS = 200_000


def pre_activation_bounds(net: PwlNet, lower: np.ndarray, upper: np.ndarray,
                          depth: int | None = None) -> list[Bounds]:
    """``[(lo, hi)]`` of the first ``depth`` layers' pre-activations over ``[lower, upper]``."""
    h = input_forms(np.asarray(lower, np.float64)[None], np.asarray(upper, np.float64)[None])
    result: list[Bounds] = []
    for layer in net.layers[:depth]:
        z = add_bias(linear(layer.weight, h, layer.weight_rad), layer.bias, layer.bias_rad)
        lo, hi = z.bounds()
        result.append((lo[0], hi[0]))
        phase, _ = _phases(layer.slope, lo, hi, np.zeros(lo.shape, dtype=np.int8))
        activated, fresh = _activate(z, phase, layer.slope, lo, hi)
        start = activated.symbols
        h = _place(activated, fresh, start, start + fresh.neurons.shape[1])
    return result


def bounds_over(net: PwlNet, pieces: Sequence[Bounds], depth: int | None = None) -> list[Bounds]:
    """Bounds valid on the union of the ``pieces`` (the weakest bound of each neuron)."""
    merged: list[Bounds] | None = None
    for lower, upper in pieces:
        found = pre_activation_bounds(net, lower, upper, depth)
        merged = found if merged is None else [(np.minimum(a, c), np.maximum(b, d))
                                               for (a, b), (c, d) in zip(merged, found)]
    return merged or []


def uncovered_point(lower: np.ndarray, upper: np.ndarray, pieces: Sequence[Bounds]) -> np.ndarray | None:
    """A point of ``[lower, upper]`` in no piece, or None when the (closed) pieces cover it.

    Float comparisons are exact.  A region no piece contains is cut at a piece face strictly
    inside it; a region with no such face and no containing piece misses its midpoint.
    Raises ValueError when the cover needs more than ``MAX_COVER_REGIONS`` regions.
    """
    los = np.array([p[0] for p in pieces], dtype=np.float64).reshape(len(pieces), -1)
    his = np.array([p[1] for p in pieces], dtype=np.float64).reshape(len(pieces), -1)
    stack = [(np.asarray(lower, np.float64), np.asarray(upper, np.float64))]
    visited = 0
    while stack:
        lo, hi = stack.pop()
        visited += 1
        if visited > MAX_COVER_REGIONS:
            raise ValueError(f"checking the cover needs more than {MAX_COVER_REGIONS} regions")
        meets = np.all((los <= hi) & (his >= lo), axis=1)
        if np.any(np.all((los[meets] <= lo) & (his[meets] >= hi), axis=1)):
            continue
        cut = _inner_face(lo, hi, los[meets], his[meets])
        if cut is None:
            return lo / 2.0 + hi / 2.0
        d, c = cut
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[d], right_lo[d] = c, c
        stack += [(lo, left_hi), (right_lo, hi)]
    return None


def _inner_face(lo: np.ndarray, hi: np.ndarray, los: np.ndarray, his: np.ndarray) -> tuple[int, float] | None:
    for faces in (los, his):
        inside = (faces > lo) & (faces < hi)
        if inside.any():
            piece, d = np.argwhere(inside)[0]
            return int(d), float(faces[piece, d])
    return None
