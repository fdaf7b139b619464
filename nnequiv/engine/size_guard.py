"""A cheap estimate of the dense piecewise-linear form's size, checked before lowering.

The numeric engine lowers each network to dense affine layers (``nnequiv.lowering``): every
tensor between two activations is held as a matrix of (its size) x (the width of the layer's
input).  On an image-sized CNN that is ~1e11 entries, so lowering would exhaust memory long
before any analysis starts.  The estimate below walks the graph's shapes only (no weights are
expanded); it ignores tensors carried through activations, so it never overestimates much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..interpret import infer_shapes
from ..ir import Network

DENSE_BUDGET = 2e8          # float64 entries (1.6 GB per matrix) the numeric engine may build
ACTIVATIONS = ("Relu", "LeakyRelu")


@dataclass(frozen=True)
class DenseEstimate:
    entries: float           # largest dense matrix the lowering would build
    node: str                # the node whose output needs it
    shape: tuple[int, ...]   # that node's per-sample output shape
    width: int               # the layer input width it is expressed over


def dense_estimate(net: Network) -> DenseEstimate:
    """The largest (tensor size) x (layer input width) product over the graph's nodes."""
    shapes = infer_shapes(net)
    width = int(np.prod(net.input.shape))
    best = DenseEstimate(0.0, net.input.name, tuple(net.input.shape), width)
    for node in net.nodes:
        for name in node.outputs:
            shape = tuple(shapes.get(name, ()))
            size = int(np.prod(shape))
            if float(size) * width > best.entries:
                best = DenseEstimate(float(size) * width, node.name, shape, width)
        if node.op in ACTIVATIONS:
            width = int(np.prod(shapes[node.outputs[0]]))
    return best


def too_large(f: Network, g: Network, budget: float = DENSE_BUDGET) -> str | None:
    """None when both networks fit the budget, else the reason (naming the model and node)."""
    for label, net in (("original", f), ("reduced", g)):
        estimate = dense_estimate(net)
        if estimate.entries > budget:
            return (f"the {label} model is too large for the numeric engine: lowering it would build a dense "
                    f"{int(np.prod(estimate.shape)):,} x {estimate.width:,} matrix "
                    f"({estimate.entries:.3g} entries, budget {budget:.3g}) at node {estimate.node!r}")
    return None
