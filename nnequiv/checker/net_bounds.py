"""Sound pre-activation bounds of ONE piecewise-linear network over boxes (trusted).

Bounds: the DeepZ zonotope propagation of :mod:`.diffzono` (the same relaxation, rounding
and radii handling, ``proofs/differential.md``, ``proofs/rounding.md``) run on a single
network; over a split the bound of a neuron is the weakest over the pieces
(``proofs/stable_relu.md`` S5).  That the pieces cover the box is checked by :mod:`.cover` (S6).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..pwl import PwlNet
from .diffzono import _activate, _phases, _place
from .forms import add_bias, input_forms, linear

Bounds = tuple[np.ndarray, np.ndarray]
MAX_COVER_REGIONS = 200_000       # budget of the cover check for a stable_relu split


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
