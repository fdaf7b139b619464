"""Constant folding rules: the ONNX semantics of shape and data-movement ops on constants.

A rule is ``fn(node, args, opset) -> tuple[np.ndarray, ...] | None``; ``args`` holds one
stored array per node input (``None`` for an omitted optional input) in its ONNX element
type, and the results keep the element type ONNX specifies; ``None`` leaves the node in the
graph (integer arithmetic folds, float arithmetic stays for the interpreter).  Every rule is data movement or integer
arithmetic on shapes, hence exact; ``Cast`` rounds as ONNX specifies (to nearest) and
refuses a float that has no value in the target integer type.  Registered by op name with
``@fold_rule``.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
from onnx import helper

from ..errors import ShapeError, UnsupportedOpError
from ..ir import Node
from ..ops.scatter import check_reduction, scatter_targets
from ..ops.shape import reshape_target
from ..registering import registrar

FoldRule = Callable[[Node, Sequence[Optional[np.ndarray]], int], Optional[tuple[np.ndarray, ...]]]
FOLD_RULES: dict[str, FoldRule] = {}


fold_rule = registrar(FOLD_RULES, "fold rule")


def _ints(array: np.ndarray | None, what: str) -> list[int]:
    if array is None:
        raise ShapeError(f"{what} is missing")
    array = np.asarray(array)
    if array.dtype.kind not in "iu":
        raise ShapeError(f"{what} must be integers, not {array.dtype}")
    return [int(v) for v in array.ravel()]


def _axes(node: Node, args, what: str) -> list[int] | None:
    """Axes from the second input (opset >= 13) or the ``axes`` attribute (before)."""
    if len(args) > 1 and args[1] is not None:
        return _ints(args[1], what)
    attr = node.attr("axes")
    return None if attr is None else [int(a) for a in np.ravel(attr)]


def shape_slice(shape: tuple[int, ...], node: Node) -> np.ndarray:
    """Shape's output for an input of ``shape``: dims ``start:end`` (opset 15), as int64."""
    rank = len(shape)
    start, end = int(node.attr("start", 0)), node.attr("end")
    end = rank if end is None else int(end)
    start, end = (min(max(v + rank if v < 0 else v, 0), rank) for v in (start, end))
    return np.array(shape[start:end], dtype=np.int64)


def _size_of(shape: tuple[int, ...], node: Node) -> np.ndarray:
    return np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)


# ops whose value is a function of their input's shape alone: folded for a variable input too
# when that shape is static (``fold.fold_constants``)
STATIC_SHAPE_RULES: dict[str, Callable[[tuple[int, ...], Node], np.ndarray]] = {"Shape": shape_slice,
                                                                               "Size": _size_of}


@fold_rule("Identity")
def _identity(node, args, opset):
    return (np.asarray(args[0]),)


@fold_rule(*STATIC_SHAPE_RULES)
def _of_shape(node, args, opset):
    return (STATIC_SHAPE_RULES[node.op](tuple(np.shape(args[0])), node),)


@fold_rule("Expand")
def _expand(node, args, opset):
    x, target = np.asarray(args[0]), tuple(_ints(args[1], "Expand's shape"))
    try:
        out = np.broadcast_shapes(x.shape, target)      # ONNX Expand broadcasts both ways
    except ValueError:
        raise ShapeError(f"Expand cannot broadcast shape {x.shape} to {target}") from None
    return (np.array(np.broadcast_to(x, out)),)


@fold_rule("Unsqueeze")
def _unsqueeze(node, args, opset):
    x = np.asarray(args[0])
    axes = _axes(node, args, "Unsqueeze's axes")
    rank = x.ndim + len(axes or ())
    if not axes or any(not -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
        raise ShapeError(f"Unsqueeze axes {axes} do not fit output rank {rank}")
    return (np.expand_dims(x, tuple(sorted(a % rank for a in axes))),)


@fold_rule("Squeeze")
def _squeeze(node, args, opset):
    x = np.asarray(args[0])
    axes = _axes(node, args, "Squeeze's axes")
    if axes is None:
        return (np.squeeze(x),)
    if any(not -x.ndim <= a < x.ndim for a in axes) or any(x.shape[a] != 1 for a in axes):
        raise ShapeError(f"Squeeze axes {axes} of shape {x.shape} are not all of size 1")
    return (np.squeeze(x, tuple(a % x.ndim for a in axes)),)


@fold_rule("Concat")
def _concat(node, args, opset):
    parts = [np.asarray(a) for a in args if a is not None]
    if len({p.ndim for p in parts}) != 1 or len({p.dtype for p in parts}) != 1:
        raise ShapeError(f"Concat of tensors with different ranks or types: {[(p.shape, p.dtype.name) for p in parts]}")
    return (np.concatenate(parts, axis=int(node.attr("axis", 0))),)


@fold_rule("Gather")
def _gather(node, args, opset):
    data, indices = np.asarray(args[0]), np.asarray(args[1])
    if data.ndim == 0:
        raise ShapeError("Gather of a scalar")
    axis = int(node.attr("axis", 0))
    if not -data.ndim <= axis < data.ndim:
        raise ShapeError(f"Gather axis {axis} is out of range for shape {data.shape}")
    size = data.shape[axis]
    index = np.array(_ints(indices, "Gather's indices"), dtype=np.int64).reshape(indices.shape)
    if np.any((index < -size) | (index >= size)):
        raise ShapeError(f"Gather index out of range [-{size}, {size - 1}]")
    return (np.take(data, np.where(index < 0, index + size, index), axis=axis),)


@fold_rule("ConstantOfShape")
def _constant_of_shape(node, args, opset):
    shape = _ints(args[0], "ConstantOfShape's shape")
    if any(d < 0 for d in shape):
        raise ShapeError(f"ConstantOfShape shape {shape} has a negative dimension")
    value = node.attr("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value)
    if value.size != 1:
        raise ShapeError("ConstantOfShape's value must hold one element")
    return (np.full(shape, value.ravel()[0], dtype=value.dtype),)


@fold_rule("Cast")
def _cast(node, args, opset):
    x = np.asarray(args[0])
    try:
        target = np.dtype(helper.tensor_dtype_to_np_dtype(int(node.attr("to"))))
    except (KeyError, TypeError, ValueError):
        raise UnsupportedOpError(f"Cast to element type {node.attr('to')!r}") from None
    if target.kind not in "iufb" or x.dtype.kind not in "iufb":
        raise UnsupportedOpError(f"Cast from {x.dtype} to {target}", fix="only numeric casts are folded")
    if x.dtype.kind == "f" and target.kind in "iu":
        info = np.iinfo(target)
        if not np.all(np.isfinite(x)) or np.any(np.trunc(x) < info.min) or np.any(np.trunc(x) > info.max):
            raise UnsupportedOpError(f"Cast of a value outside {target} (ONNX leaves it undefined)")
        return (np.trunc(x).astype(target),)
    return (x.astype(target),)


@fold_rule("Reshape")
def _reshape(node, args, opset):
    x = np.asarray(args[0])
    target = reshape_target(x.shape, _ints(args[1], "Reshape's shape"), bool(node.attr("allowzero", 0)))
    return (x.reshape(target),)


@fold_rule("ScatterElements")
def _scatter(node, args, opset):
    check_reduction(node)
    data, indices, updates = (np.asarray(a) for a in args)
    if indices.shape != updates.shape:
        raise ShapeError(f"ScatterElements indices {indices.shape} and updates {updates.shape} differ in shape")
    out = np.array(data, copy=True)
    out[scatter_targets(data.shape, indices, int(node.attr("axis", 0)))] = updates
    return (out,)


_INTEGER_ARITHMETIC = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}


@fold_rule("Add", "Sub", "Mul", "Div")
def _integer_arithmetic(node, args, opset):
    """Shape arithmetic: both operands integers of one type (Div truncates toward zero, as ONNX)."""
    a, b = (np.asarray(v) for v in args)
    if a.dtype.kind not in "iu" or a.dtype != b.dtype:
        return None
    if node.op != "Div":
        return (_INTEGER_ARITHMETIC[node.op](a, b).astype(a.dtype),)
    if np.any(b == 0):
        raise ShapeError("integer division by zero")
    quotient = np.abs(a) // np.abs(b)
    return (np.where((a < 0) ^ (b < 0), -quotient, quotient).astype(a.dtype),)
