"""MaxPool as ReLU layers: a knock-out tournament per window (``proofs/maxpool_lowering.md``).

``max(a, b) = b + relu(a - b)`` exactly over the reals, so one round pairs the candidates of
every window, puts ``a - b`` through a ReLU neuron and carries ``b`` (and an unpaired
candidate) through identity neurons; the next round reads ``relu(a - b) + b``.  A window of
``w`` input positions needs ``ceil(log2 w)`` rounds.  Padding positions (``-inf`` in ONNX)
are left out of their windows.  The subtraction ``a - b`` is the only rounding; it is
enclosed by :meth:`~.affine.Affine.plus`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedOpError
from ..ir import Node
from ..ops.window import geometry, padded_windows
from .affine import Affine

__all__ = ["Round", "pool_windows", "tournament_round"]


def pool_windows(node: Node, shape: tuple[int, ...]) -> list[list[int]]:
    """Per output element (row-major), the flat indices of the input positions in its window."""
    if len(node.outputs) > 1 and node.outputs[1]:
        raise UnsupportedOpError("MaxPool's Indices output", node=node.name, fix="use only the pooled values")
    kernel = tuple(int(k) for k in node.attr("kernel_shape"))
    index = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    geo = geometry(node, tuple(shape[2:]), kernel, ceil_mode=bool(node.attr("ceil_mode", 0)))
    flat = padded_windows(index, geo, -1).reshape(-1, int(np.prod(kernel)))
    found = [[int(i) for i in row if i >= 0] for row in flat]
    if any(not window for window in found):
        raise UnsupportedOpError("a MaxPool window covers only padding", node=node.name,
                                 fix="use pads smaller than the kernel")
    return found


@dataclass(frozen=True)
class Round:
    """One tournament round over the candidates ``pool`` (rows of an :class:`Affine`)."""

    differences: Affine          # a - b for every pair: the ReLU neurons
    seconds: Affine              # b for every pair: identity neurons
    singles: Affine              # unpaired candidates: identity neurons
    windows: list[list[int]]     # per window, its candidates after the round (pairs first, then singles)


def tournament_round(pool: Affine, windows: list[list[int]]) -> Round:
    """Pair the candidates of every window that has more than one."""
    first, second, single, after = [], [], [], []
    for window in windows:
        here = []
        for a, b in zip(window[0::2], window[1::2]):
            here.append(("pair", len(first)))
            first.append(a)
            second.append(b)
        if len(window) % 2:
            here.append(("single", len(single)))
            single.append(window[-1])
        after.append(here)
    pairs = len(first)
    windows_after = [[k if kind == "pair" else pairs + k for kind, k in here] for here in after]
    take = lambda rows: pool.gather(np.asarray(rows, dtype=np.int64))      # noqa: E731
    return Round(take(first).plus(take(second), -1.0), take(second), take(single), windows_after)
