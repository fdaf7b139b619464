"""Conv (1-D, 2-D, N-d; groups, pads, auto_pad, strides, dilations) as im2col + one matmul."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from .registry import register
from .window import geometry, padded_windows


def conv(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, node, group: int) -> np.ndarray:
    """ONNX Conv of ``x`` (N, C, *spatial) with ``w`` (M, C/group, *kernel)."""
    n, channels = x.shape[:2]
    m, kernel = w.shape[0], w.shape[2:]
    nd = len(kernel)
    if x.ndim != w.ndim or channels != w.shape[1] * group or m % group:
        raise ShapeError(f"Conv input {x.shape[1:]} does not fit weight {w.shape} with group={group}")
    geo = geometry(node, x.shape[2:], kernel)
    cols = padded_windows(x, geo, 0.0)                              # (N, C, *out, *kernel)
    cols = cols.reshape((n, group, channels // group) + cols.shape[2:])
    cols = np.moveaxis(np.moveaxis(cols, 1, 0), 2, 2 + nd)          # (g, N, *out, C/g, *kernel)
    cols = cols.reshape(group, n * math.prod(geo.out), -1)          # one GEMM per group
    weights = np.ascontiguousarray(np.swapaxes(w.reshape(group, m // group, -1), 1, 2))
    out = np.matmul(cols, weights).reshape((group, n) + geo.out + (m // group,))
    out = np.transpose(out, (1, 0, nd + 2) + tuple(range(2, nd + 2)))  # (N, g, M/g, *out)
    out = out.reshape((n, m) + geo.out)
    if bias is not None:
        out = out + bias.reshape((m,) + (1,) * nd)
    return out


@register("Conv")
def _conv(node, inputs, ctx):
    x, w = inputs[0], inputs[1].constant("Conv's weight")
    bias = inputs[2].constant("Conv's bias") if len(inputs) > 2 and inputs[2] is not None else None
    kernel = node.attr("kernel_shape")
    if kernel is not None and tuple(kernel) != w.shape[2:]:
        raise ShapeError(f"Conv kernel_shape {tuple(kernel)} differs from the weight's {w.shape[2:]}")
    group = int(node.attr("group", 1))
    return (x.per_sample(lambda t: conv(t, w, bias, node, group)),)
