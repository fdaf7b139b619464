"""A Conv / Dense stage's linear map (no bias) applied to a stack of per-sample tensors, with the
im2col columns built once and shared by several kernels (trusted; the products are plain float64
matrix products, bounded by ``proofs/rounding.md``).  Same arithmetic as :func:`nnequiv.ops.conv.conv`."""

from __future__ import annotations

import math

import numpy as np

from ..ops.window import geometry, padded_windows
from .graph_align import Stage
from .rounding import ETA, gamma, up

__all__ = ["Columns", "columns"]


class Columns:
    """The stack's columns: ``product(kernel, items)`` = the linear map with ``kernel`` on stack items."""

    def __init__(self, stage: Stage, xs: np.ndarray, shape_in: tuple[int, ...]) -> None:
        self.stage = stage
        self.count = xs.shape[0]
        weight = stage.linear.weight
        if stage.op == "Conv":
            self.group = int(stage.node.attr("group", 1))
            flat = xs.reshape((-1,) + shape_in[1:])                       # (k, C, *spatial)
            n, channels, kernel = flat.shape[0], flat.shape[1], weight.shape[2:]
            self.geo = geometry(stage.node, flat.shape[2:], kernel)
            cols = padded_windows(flat, self.geo, 0.0)                    # (k, C, *out, *kernel)
            cols = cols.reshape((n, self.group, channels // self.group) + cols.shape[2:])
            cols = np.moveaxis(np.moveaxis(cols, 1, 0), 2, 2 + len(kernel))
            self.per_item = math.prod(self.geo.out)
            self.cols = cols.reshape(self.group, n * self.per_item, -1)   # (g, k * P, C/g * prod(kernel))
            self.fan_in = int(np.prod(weight.shape[1:]))
        else:
            self.fan_in = weight.shape[0]
            self.cols = xs.reshape(-1, self.fan_in)
            self.per_item = self.cols.shape[0] // self.count

    def product(self, kernel: np.ndarray, items: slice) -> np.ndarray:
        k = len(range(*items.indices(self.count)))
        out = (k,) + self.stage.shape
        rows = slice(items.start * self.per_item, (items.start + k) * self.per_item)
        if self.stage.op != "Conv":
            return (self.cols[rows] @ kernel).reshape(out)
        m, nd = kernel.shape[0], len(self.geo.out)
        weights = np.ascontiguousarray(np.swapaxes(kernel.reshape(self.group, m // self.group, -1), 1, 2))
        result = np.matmul(self.cols[:, rows], weights).reshape((self.group, k) + self.geo.out + (m // self.group,))
        result = np.transpose(result, (1, 0, nd + 2) + tuple(range(2, nd + 2)))
        return result.reshape(out)

    def upper(self, kernel: np.ndarray, items: slice) -> np.ndarray:
        """Upper bound on the real product for ``kernel >= 0`` and nonnegative items: the float
        result plus ``gamma(n + 1)`` relative and ``(n + 2) ETA`` absolute slack."""
        k = len(range(*items.indices(self.count)))
        if not np.any(kernel):
            return np.zeros((k,) + self.stage.shape)
        n = self.fan_in
        return up((self.product(kernel, items) + (n + 2) * ETA) * (1.0 + 2.0 * gamma(n + 1)))


def columns(stage: Stage, xs: np.ndarray, shape_in: tuple[int, ...]) -> Columns:
    return Columns(stage, xs, shape_in)
