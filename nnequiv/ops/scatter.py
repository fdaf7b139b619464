"""ScatterElements (reduction "none"): ``data`` with the positions named by ``indices`` along
``axis`` overwritten by ``updates``.  Pure data movement, exact in every arithmetic.

The indices must be a constant; two updates aimed at the same position are refused (ONNX
leaves their order undefined).  :func:`scatter_targets` is shared with constant folding and
lowering.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, UnsupportedOpError
from .context import to_batched
from .registry import register


def scatter_targets(data_shape: tuple[int, ...], indices: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """The data coordinates (one index array per axis, each of ``indices``' shape) written by
    ScatterElements; ShapeError / UnsupportedOpError when ONNX would not define the result."""
    indices = np.asarray(indices)
    rank = len(data_shape)
    if indices.dtype.kind not in "iu":
        raise ShapeError(f"ScatterElements indices must be integers, not {indices.dtype}")
    if indices.ndim != rank:
        raise ShapeError(f"ScatterElements indices of shape {indices.shape} and data of shape {data_shape} "
                         "must have the same rank")
    if not -rank <= axis < rank:
        raise ShapeError(f"ScatterElements axis {axis} is out of range for data of shape {data_shape}")
    axis %= rank
    if any(i > d for k, (i, d) in enumerate(zip(indices.shape, data_shape)) if k != axis):
        raise ShapeError(f"ScatterElements indices of shape {indices.shape} exceed data of shape {data_shape}")
    size = data_shape[axis]
    if np.any((indices < -size) | (indices >= size)):
        raise ShapeError(f"ScatterElements index out of range [-{size}, {size - 1}] on axis {axis}")
    coords = list(np.indices(indices.shape, dtype=np.int64))
    coords[axis] = np.where(indices < 0, indices + size, indices).astype(np.int64)
    flat = np.ravel_multi_index(tuple(coords), data_shape) if indices.size else np.zeros(0, np.int64)
    if np.unique(flat).size != flat.size:
        raise UnsupportedOpError("ScatterElements writes one position twice (ONNX leaves the result undefined)",
                                 fix="use indices that name every position at most once")
    return tuple(coords)


def check_reduction(node) -> None:
    reduction = node.attr("reduction", "none")
    if reduction != "none":
        raise UnsupportedOpError(f"ScatterElements with reduction {reduction!r}",
                                 fix="nnequiv supports reduction 'none' (plain data movement)")


@register("ScatterElements")
def _scatter_elements(node, inputs, ctx):
    check_reduction(node)
    data, indices, updates = inputs
    index = indices.constant("ScatterElements' indices")
    if tuple(index.shape) != updates.shape:
        raise ShapeError(f"ScatterElements indices {tuple(index.shape)} and updates {updates.shape} differ in shape")
    coords = scatter_targets(data.shape, index, int(node.attr("axis", 0)))
    if not (data.batched or updates.batched):
        out = np.array(data.data, copy=True)
        out[coords] = updates.data
        return (out,)
    batch = (data if data.batched else updates).data.shape[0]
    out = np.array(to_batched(data, batch), copy=True)
    source = to_batched(updates, batch)
    if out.dtype != source.dtype and out.dtype.kind != "O":
        out = out.astype(np.result_type(out.dtype, source.dtype))
    out[(slice(None),) + coords] = source
    return (out,)


def is_identity(shape: tuple[int, ...], indices: np.ndarray, axis: int) -> bool:
    """Every position of a tensor of ``shape`` is overwritten by the update at the same position."""
    indices = np.asarray(indices)
    if tuple(indices.shape) != shape or not shape:
        return False
    axis %= len(shape)
    own = np.indices(shape)[axis]
    return bool(np.array_equal(np.where(indices < 0, indices + shape[axis], indices), own))
