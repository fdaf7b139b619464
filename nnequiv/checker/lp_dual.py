"""Safe LP dual bounds on a neuron of the triangle relaxation (trusted; ``proofs/lp_dual.md``,
``proofs/stable_relu.md`` S7).

:func:`triangle_lp` builds, deterministically from a lowered network, sound pre-activation
bounds the checker derived itself, and the box, the LP relaxation of the layers before
layer ``k`` over the variables ``[x, z_0, y_0, ..., z_{k-1}, y_{k-1}]``:

* ``z_l - W_l v_{l-1} = b_l``                       (``A`` rows; ``v_{-1} = x``)
* ``y_l - z_l >= 0`` (``= 0`` when active or linear) (``P`` rows; ``relu(z) >= z``)
* ``y - a z <= beta`` for each unstable Relu neuron  (``T`` rows: a line on or above ``relu``
  at both ends of ``[l, u]``, hence on it -- ``beta`` rounded up, ``proofs/bounds_symbolic.md``)
* columns: ``x`` in the box, ``z`` in ``[l, u]``, ``y`` in ``[relu(l), relu(u)]``.

:func:`safe_max` turns ANY multipliers into a rigorous upper bound of ``c . v + c0`` over it:
weak duality with the box handled explicitly (Neumaier--Shcherbina), the residual
``c - A^T m`` enclosed with the dot-product allowance of ``proofs/rounding.md`` and every
product / sum rounded up.  No solver is imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..pwl import PwlNet
from .net_bounds import Bounds
from .rounding import ETA, add_down, add_up, gamma, up

__all__ = ["LinearRelaxation", "TriangleLp", "safe_max", "triangle_lp"]


class LinearRelaxation(Protocol):
    """``row_lo <= matrix v <= row_hi``, ``col_lo <= v <= col_hi`` (all :func:`safe_max` reads;
    :class:`TriangleLp` and :class:`nnequiv.checker.diff_lp.DiffLp`)."""

    matrix: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray


@dataclass(frozen=True, eq=False)
class TriangleLp:
    matrix: np.ndarray        # (rows, columns)
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    last: slice               # the columns layer k reads (y_{k-1})
    weight: np.ndarray        # W_k
    bias: np.ndarray          # b_k

    def objective(self, neuron: int, sign: float) -> tuple[np.ndarray, float]:
        """``sign * z_k[neuron]`` as ``c . v + c0``."""
        c = np.zeros(self.matrix.shape[1])
        c[self.last] = sign * self.weight[neuron]
        return c, sign * float(self.bias[neuron])


def triangle_lp(net: PwlNet, bounds: list[Bounds], k: int, lower: np.ndarray, upper: np.ndarray) -> TriangleLp:
    """The relaxation for the neurons of layer ``k >= 1``; ValueError where it does not apply."""
    if not 1 <= k < len(net.layers):
        raise ValueError(f"LP dual evidence is for hidden layers 1..{len(net.layers) - 2}")
    if not all(layer.is_exact for layer in net.layers[:k + 1]):
        raise ValueError("LP dual evidence needs layers without weight radii")
    widths = [net.input_size] + [2 * layer.n_out for layer in net.layers[:k]]
    starts = np.cumsum([0] + widths)
    col_lo, col_hi = [np.asarray(lower, np.float64)], [np.asarray(upper, np.float64)]
    blocks, row_lo, row_hi, n_prev = [], [], [], 0
    for l, layer in enumerate(net.layers[:k]):
        lo, hi = bounds[l]
        if np.any((layer.slope != 0.0) & (layer.slope != 1.0)):
            raise ValueError("LP dual evidence handles Relu and linear neurons only")
        linear = (layer.slope == 1.0) | (lo >= 0.0)
        unstable = ~linear & (hi > 0.0)
        relu = layer.slope == 0.0
        n, z0, y0 = layer.n_out, starts[l + 1], starts[l + 1] + layer.n_out
        prev = slice(0, net.input_size) if l == 0 else slice(starts[l] + n_prev, starts[l + 1])
        a_rows = np.zeros((n, starts[-1]))
        a_rows[:, z0:z0 + n] = np.eye(n)
        a_rows[:, prev] = -layer.weight
        p_rows = np.zeros((n, starts[-1]))
        p_rows[:, y0:y0 + n] = np.eye(n)
        p_rows[:, z0:z0 + n] = -np.eye(n)
        index = np.flatnonzero(unstable)
        slope = np.clip(hi[index] / (hi[index] - lo[index]), 0.0, 1.0)
        beta = np.maximum(up(slope * -lo[index]), up(add_up(1.0, -slope) * hi[index]))
        t_rows = np.zeros((index.size, starts[-1]))
        t_rows[np.arange(index.size), y0 + index] = 1.0
        t_rows[np.arange(index.size), z0 + index] = -slope
        blocks += [a_rows, p_rows, t_rows]
        row_lo += [layer.bias, np.zeros(n), np.full(index.size, -np.inf)]
        row_hi += [layer.bias, np.where(linear, 0.0, np.inf), beta]
        col_lo += [lo, np.where(relu, np.maximum(lo, 0.0), lo)]
        col_hi += [hi, np.where(relu, np.maximum(hi, 0.0), hi)]
        n_prev = n
    last = slice(starts[k] + net.layers[k - 1].n_out, starts[k + 1])
    return TriangleLp(np.vstack(blocks), np.concatenate(row_lo), np.concatenate(row_hi), np.concatenate(col_lo),
                      np.concatenate(col_hi), last, net.layers[k].weight, net.layers[k].bias)


def safe_max(lp: LinearRelaxation, c: np.ndarray, c0: float, multipliers: np.ndarray) -> float:
    """A rigorous upper bound on ``max c . v + c0`` over the LP (any finite multipliers)."""
    m = np.asarray(multipliers, np.float64)
    if m.shape != lp.row_lo.shape or not np.all(np.isfinite(m)):
        raise ValueError(f"needs {lp.row_lo.size} finite multipliers")
    side = np.where(m > 0, lp.row_hi, np.where(m < 0, lp.row_lo, 0.0))
    m = np.where(np.isfinite(side), m, 0.0)              # any multipliers are allowed: drop unusable ones
    side = np.where(m != 0, side, 0.0)
    n_terms = lp.matrix.shape[0]
    s = lp.matrix.T @ m
    err = up(np.abs(lp.matrix).T @ np.abs(m) * (2.0 * gamma(n_terms + 2)) + (n_terms + 2) * ETA)
    r_lo = add_down(add_down(c, -s), -err)
    r_hi = add_up(add_up(c, -s), err)
    corners = np.stack([_product_up(r, b) for r in (r_lo, r_hi) for b in (lp.col_lo, lp.col_hi)])
    columns = corners.max(axis=0)
    rows = _product_up(m, side)
    terms = np.concatenate([rows, columns, [c0]])
    if not np.all(np.isfinite(terms)):
        return math.inf
    return float(up(math.fsum(terms.tolist())))


def _product_up(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Upper bounds on the real products (exact zero when a factor is zero; one ulp up otherwise,
    which also covers a product that underflowed to zero)."""
    return np.where((a == 0) | (b == 0), 0.0, up(a * b))
