"""Matrix products: MatMul (numpy semantics, any operand may be batched) and Gemm."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .context import Value, aligned
from .registry import register


def matmul(a: Value, b: Value) -> np.ndarray:
    """ONNX MatMul of the per-sample tensors: a 1-D left operand is a row vector, a 1-D
    right operand a column vector, and the added axis is dropped from the result."""
    if a.rank == 0 or b.rank == 0:
        raise ShapeError("MatMul operands must have at least one axis")
    a_vector, b_vector = a.rank == 1, b.rank == 1
    left = Value(np.expand_dims(a.data, -2), a.batched) if a_vector else a
    right = Value(np.expand_dims(b.data, -1), b.batched) if b_vector else b
    x, y = aligned([left, right])
    if x.shape[-1] != y.shape[-2]:
        raise ShapeError(f"MatMul of per-sample shapes {a.shape} and {b.shape}: inner sizes differ")
    result = np.matmul(x, y)
    if b_vector:
        result = result[..., 0]
    if a_vector:
        result = result[..., 0, :] if not b_vector else result[..., 0]
    return result


@register("MatMul")
def _matmul(node, inputs, ctx):
    return (matmul(inputs[0], inputs[1]),)


def _transposed(value: Value, flag: int) -> Value:
    return Value(np.swapaxes(value.data, -1, -2), value.batched) if flag else value


@register("Gemm")
def _gemm(node, inputs, ctx):
    """``alpha * A' B' + beta * C``.  A 1-D ``A`` (as written by some converters) is
    read as a row vector and the result stays 1-D."""
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    trans_a, trans_b = int(node.attr("transA", 0)), int(node.attr("transB", 0))
    if b.rank != 2 or a.rank > 2 or (a.rank == 1 and trans_a) or a.rank == 0:
        raise ShapeError(f"Gemm needs matrices, got per-sample shapes {a.shape} and {b.shape}")
    y = matmul(_transposed(a, trans_a), _transposed(b, trans_b))
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    if alpha != 1.0:
        y = y * ctx.number(alpha)
    if c is None or beta == 0.0:
        return (y,)
    batched = a.batched or b.batched
    scaled = c if beta == 1.0 else Value(c.data * ctx.number(beta), c.batched)
    if scaled.rank > (1 if a.rank == 1 else 2):
        raise ShapeError(f"Gemm bias of per-sample shape {c.shape} does not fit the product")
    y_arr, c_arr = aligned([Value(y, batched), scaled])
    return (y_arr + c_arr,)
