"""Data-movement ops (exact on every array): each limb and the radius go through the
interpreter's own float64 implementation (:mod:`nnequiv.ops`) separately."""

from __future__ import annotations

import numpy as np

from ..ops import OpContext, Value, lookup
from .expansion import Enclosure, point
from .registry import rule

# op -> positions of its data inputs (the others are constant parameters: shapes, axes)
DATA_INPUTS = {"Flatten": (0,), "Reshape": (0,), "Identity": (0,), "Dropout": (0,), "Transpose": (0,),
               "Squeeze": (0,), "Unsqueeze": (0,), "Concat": None}
CONSTANT_OPS = frozenset({"Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Flatten",
                          "Identity", "Transpose", "Cast"})  # exact in float64 on constants


def _movement(node, args) -> Enclosure:
    data = DATA_INPUTS[node.op]
    positions = range(len(args)) if data is None else data
    lifted = [point(a) if i in positions and a is not None and not isinstance(a, Enclosure) else a
              for i, a in enumerate(args)]
    size = len(next(a for a in lifted if isinstance(a, Enclosure)).limbs)
    function = lookup(node.op).function

    def run(pick) -> np.ndarray:
        values = tuple(None if a is None else Value(pick(a) if isinstance(a, Enclosure) else np.asarray(a))
                       for a in lifted)
        return np.asarray(function(node, values, OpContext())[0], dtype=np.float64)

    limbs = tuple(run(lambda a, l=l: a.limbs[l]) for l in range(size))
    return Enclosure(limbs, run(lambda a: a.radius))


for _op in DATA_INPUTS:
    rule(_op)(_movement)
