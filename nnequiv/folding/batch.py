"""Shape values that depend on a dynamic (batch) dimension, folded batch-generically.

``x.view(x.size(0), -1)`` exports as ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``;
with a dynamic batch axis the Shape's value is not a constant.  nnequiv's semantics is per
sample (every dynamic dimension is 1, ``nnequiv.onnx_io``), so the value at size 1 is what the
analysis needs; but a folded ``Reshape(x, [1, -1])`` written back with a dynamic axis would be
wrong for any other batch size.  So the shape subgraph is evaluated twice, with the dynamic
dimensions at 1 and at :data:`PROBE` (a second dry run, :func:`probe_inputs`): an entry that
differs between the two is batch dependent.  A Reshape target whose batch-dependent entries
each equal the data's own dimension at the same axis in both runs becomes a constant target
with ``0`` there ("copy the input's dimension", ONNX Reshape with ``allowzero = 0``): equal to
the original at size 1 exactly, and batch-generic (:func:`generic_reshape_target`).  Any other
use of a batch-dependent value is refused, naming the node.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import UnsupportedOpError
from ..ir import Node, TensorSpec
from ..ops.shape import reshape_target

__all__ = ["PROBE", "generic_reshape_target", "probe_inputs", "refuse"]

PROBE = 7      # the second size of every dynamic dimension (1 is the first)


def probe_inputs(inputs: Sequence[TensorSpec]) -> tuple[TensorSpec, ...]:
    """The inputs with every dynamic dimension at :data:`PROBE` instead of 1."""
    return tuple(TensorSpec(s.name, tuple(PROBE if axis in s.dynamic_axes else d for axis, d in enumerate(s.shape)),
                            s.dtype, s.dynamic_axes) for s in inputs)


def generic_reshape_target(node: Node, target: np.ndarray, probed: np.ndarray, data: tuple[int, ...],
                           data_probed: tuple[int, ...], source: str | None) -> np.ndarray:
    """The batch-generic constant target of a Reshape whose target is ``target`` at batch size 1
    and ``probed`` at :data:`PROBE`, reading data of shape ``data`` / ``data_probed``."""
    at_one = [int(v) for v in np.asarray(target).ravel()]
    at_probe = [int(v) for v in np.asarray(probed).ravel()]
    if len(at_one) != len(at_probe) or int(node.attr("allowzero", 0)):
        refuse(node, "its target shape changes length with the batch size" if len(at_one) != len(at_probe)
               else "allowzero = 1 leaves no way to copy the batch dimension", source)
    generic = []
    for axis, (a, b) in enumerate(zip(at_one, at_probe)):
        copies = axis < min(len(data), len(data_probed)) and data[axis] == a and data_probed[axis] == b
        if a != b and not copies:
            refuse(node, f"entry {axis} of its target shape ({a} at batch size 1, {b} at {PROBE}) is not the "
                         f"input's own dimension {axis}", source)
        generic.append(0 if a != b else a)
    for shape, original in ((data, at_one), (data_probed, at_probe)):   # same output shape at both sizes
        if reshape_target(shape, generic, False) != reshape_target(shape, original, False):
            refuse(node, "a batch-generic target gives another shape", source)
    return np.asarray(generic, dtype=np.asarray(target).dtype)


def refuse(node: Node, why: str, source: str | None) -> None:
    raise UnsupportedOpError(
        f"{node.op} {node.name!r} reads a shape value that depends on a dynamic (batch) dimension: {why}",
        file=source, node=node.name,
        fix="export the model with a fixed input shape (no dynamic axes), or flatten with "
            "x.view(x.size(0), -1) / torch.flatten(x, 1) so that only the batch dimension is copied")
