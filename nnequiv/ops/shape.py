"""Layout ops: Flatten, Reshape, Transpose, Concat, Squeeze, Unsqueeze, Constant.

Every axis attribute refers to the per-sample ONNX shape; batched arrays keep
their batch axis in front.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError, UnsupportedOpError
from .context import Value, to_batched
from .registry import register


def _lead(value: Value) -> tuple[int, ...]:
    return value.data.shape[:1] if value.batched else ()


def _reshaped(value: Value, shape: tuple[int, ...]) -> np.ndarray:
    return value.data.reshape(_lead(value) + tuple(shape))


@register("Flatten")
def _flatten(node, inputs, ctx):
    x = inputs[0]
    axis = int(node.attr("axis", 1))
    if not -x.rank <= axis <= x.rank:
        raise ShapeError(f"Flatten axis {axis} is out of range for shape {x.shape}")
    axis = axis + x.rank if axis < 0 else axis
    return (_reshaped(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))),)


def reshape_target(source: tuple[int, ...], target: list[int], allowzero: bool) -> tuple[int, ...]:
    """Resolve ONNX Reshape's 0 (copy the input's dimension) and -1 (infer) entries."""
    out = []
    for index, dim in enumerate(target):
        if dim == 0 and not allowzero:
            if index >= len(source):
                raise ShapeError(f"Reshape target {target}: 0 at axis {index} has no input axis to copy")
            dim = source[index]
        out.append(dim)
    size = math.prod(source)
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise ShapeError(f"invalid Reshape target {target}")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or size % known:
            raise ShapeError(f"cannot reshape per-sample shape {source} to {target}")
        out[out.index(-1)] = size // known
    if math.prod(out) != size:
        raise ShapeError(f"cannot reshape per-sample shape {source} ({size} elements) to {target}")
    return tuple(out)


@register("Reshape")
def _reshape(node, inputs, ctx):
    x = inputs[0]
    target = [int(d) for d in np.asarray(inputs[1].constant("Reshape's target shape")).ravel()]
    return (_reshaped(x, reshape_target(x.shape, target, bool(node.attr("allowzero", 0)))),)


@register("Transpose")
def _transpose(node, inputs, ctx):
    x = inputs[0]
    perm = node.attr("perm")
    perm = tuple(reversed(range(x.rank))) if perm is None or len(perm) == 0 else tuple(int(p) for p in perm)
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(f"Transpose perm {perm} is not a permutation of the axes of shape {x.shape}")
    if x.batched:
        perm = (0,) + tuple(p + 1 for p in perm)
    return (np.transpose(x.data, perm),)


@register("Concat")
def _concat(node, inputs, ctx):
    values = [v for v in inputs if v is not None]
    ranks = {v.rank for v in values}
    if len(ranks) != 1:
        raise ShapeError(f"Concat of tensors with different ranks: {[v.shape for v in values]}")
    axis = values[0].axis(int(node.attr("axis", 0))) - int(values[0].batched)
    batched = [v for v in values if v.batched]
    if not batched:
        return (np.concatenate([v.data for v in values], axis=axis),)
    batch = batched[0].data.shape[0]
    return (np.concatenate([to_batched(v, batch) for v in values], axis=axis + 1),)


def _axes(node, inputs) -> list[int] | None:
    """Axes from the second input (opset >= 13) or the ``axes`` attribute (before)."""
    if len(inputs) > 1 and inputs[1] is not None:
        return [int(a) for a in np.asarray(inputs[1].constant(f"{node.op}'s axes")).ravel()]
    attr = node.attr("axes")
    return None if attr is None else [int(a) for a in np.ravel(attr)]


@register("Squeeze")
def _squeeze(node, inputs, ctx):
    x = inputs[0]
    axes = _axes(node, inputs)
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    positions = sorted({x.axis(a) - int(x.batched) for a in axes})
    if any(x.shape[p] != 1 for p in positions):
        raise ShapeError(f"Squeeze axes {axes} of shape {x.shape} are not all of size 1")
    return (_reshaped(x, tuple(d for i, d in enumerate(x.shape) if i not in positions)),)


@register("Unsqueeze")
def _unsqueeze(node, inputs, ctx):
    x = inputs[0]
    axes = _axes(node, inputs)
    if axes is None:
        raise ShapeError("Unsqueeze needs axes")
    rank = x.rank + len(axes)
    if any(not -rank <= a < rank for a in axes):
        raise ShapeError(f"Unsqueeze axes {axes} are out of range for output rank {rank}")
    positions = {a % rank for a in axes}
    if len(positions) != len(axes):
        raise ShapeError(f"Unsqueeze axes {axes} repeat an axis")
    dims = iter(x.shape)
    return (_reshaped(x, tuple(1 if i in positions else next(dims) for i in range(rank))),)


_CONSTANT_ATTRS = {"value": None, "value_float": np.float32, "value_floats": np.float32,
                   "value_int": np.int64, "value_ints": np.int64}


def constant_value(attrs) -> np.ndarray | None:
    """The numeric value of a Constant node's attributes in its stored dtype (None if not numeric)."""
    for key, dtype in _CONSTANT_ATTRS.items():
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    return None


@register("Constant")
def _constant(node, inputs, ctx):
    value = constant_value(node.attrs)
    if value is None:
        raise UnsupportedOpError(f"Constant without a numeric value (attributes: {sorted(node.attrs)})",
                                 fix="use a tensor, float or int value")
    return (ctx.tensor(value),)
