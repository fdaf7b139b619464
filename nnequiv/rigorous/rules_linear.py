"""Enclosure rules of the linear ops: Conv, Gemm, MatMul, AveragePool, GlobalAveragePool.

Each is ``x @ W.T + b`` on exact float weights, computed by :func:`.ozaki.exact_matmul`
(exact slice products, Lemma 6) plus ``|W| @ radius`` rounded upward (Lemma 8)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..checker.rounding import add_up, upper_matvec_abs
from ..errors import ShapeError, UnsupportedOpError
from ..ops.pool import window_counts
from ..ops.window import geometry, padded_windows
from .expansion import Enclosure, add, compress, constant, point, scale
from .ozaki import exact_matmul
from .registry import rule


ROW_BLOCK = 2048      # rows of x per block (rows are split independently: blocks bound the memory)


def linear(x: Enclosure, w: np.ndarray, bias: np.ndarray | None = None) -> Enclosure:
    """Rows of ``x`` (P, k) times ``w.T`` (k, m), plus ``bias`` (broadcast to (P, m))."""
    w = np.asarray(w, dtype=np.float64)
    if x.shape[0] > ROW_BLOCK:
        blocks = [_linear_block(x.map(lambda a, s=s: a[s:s + ROW_BLOCK]), w, bias)
                  for s in range(0, x.shape[0], ROW_BLOCK)]
        return Enclosure(tuple(np.concatenate([b.limbs[l] for b in blocks]) for l in range(len(x.limbs))),
                         np.concatenate([b.radius for b in blocks]))
    return _linear_block(x, w, bias)


def _linear_block(x: Enclosure, w: np.ndarray, bias: np.ndarray | None) -> Enclosure:
    terms, neglected, starts = exact_matmul(x.limbs, w)
    if bias is not None:
        terms, starts = [np.asarray(bias, dtype=np.float64)] + terms, [0] + starts
    shape = (x.shape[0], w.shape[0])
    limbs, err = compress(terms, shape, starts)
    radius = add_up(neglected, err)
    if np.any(x.radius):
        radius = add_up(radius, upper_matvec_abs(w, x.radius))
    return Enclosure(limbs, radius)


def _variable(args, what: str) -> Enclosure:
    if not isinstance(args[0], Enclosure):
        raise UnsupportedOpError(f"{what} of a constant first operand", fix="fold constants before checking")
    return args[0]


def _constant(value, what: str) -> np.ndarray:
    if isinstance(value, Enclosure):
        raise UnsupportedOpError(f"{what} depends on the network input", fix=f"{what} must be a constant")
    return np.asarray(value, dtype=np.float64)


@rule("Conv")
def _conv(node, args) -> Enclosure:
    x, w = _variable(args, "Conv"), _constant(args[1], "Conv's weight")
    bias = _constant(args[2], "Conv's bias") if len(args) > 2 and args[2] is not None else None
    group = int(node.attr("group", 1))
    n, channels = x.shape[:2]
    m, kernel = w.shape[0], w.shape[2:]
    nd = len(kernel)
    if len(x.shape) != w.ndim or channels != w.shape[1] * group or m % group:
        raise ShapeError(f"Conv input {x.shape} does not fit weight {w.shape} with group={group}")
    geo = geometry(node, x.shape[2:], kernel)

    def columns(a: np.ndarray) -> np.ndarray:                       # (g, n * out, C/g * kernel)
        cols = padded_windows(a, geo, 0.0).reshape((n, group, channels // group) + geo.out + kernel)
        cols = np.moveaxis(np.moveaxis(cols, 1, 0), 2, 2 + nd)
        return cols.reshape(group, n * math.prod(geo.out), -1)

    cols = x.map(columns)
    weights = w.reshape(group, m // group, -1)
    parts = [linear(cols.map(lambda a, g=g: a[g]), weights[g],
                    None if bias is None else bias[g * (m // group):(g + 1) * (m // group)]) for g in range(group)]

    def assemble(arrays) -> np.ndarray:                               # (g, n*out, m/g) -> (n, m, *out)
        out = np.stack(arrays).reshape((group, n) + geo.out + (m // group,))
        return np.transpose(out, (1, 0, nd + 2) + tuple(range(2, nd + 2))).reshape((n, m) + geo.out)

    limbs = tuple(assemble([p.limbs[l] for p in parts]) for l in range(len(parts[0].limbs)))
    return Enclosure(limbs, assemble([p.radius for p in parts]))


def _rows(x: Enclosure) -> Enclosure:
    return x.map(lambda a: a.reshape(-1, a.shape[-1]))


@rule("MatMul")
def _matmul(node, args) -> Enclosure:
    x, b = _variable(args, "MatMul"), _constant(args[1], "MatMul's right operand")
    if b.ndim != 2 or x.shape[-1] != b.shape[0]:
        raise UnsupportedOpError(f"MatMul of {x.shape} by a constant of shape {b.shape}",
                                 fix="rigorous evaluation supports x @ (constant matrix)")
    y = linear(_rows(x), b.T)
    return y.map(lambda a: a.reshape(x.shape[:-1] + (b.shape[1],)))


@rule("Gemm")
def _gemm(node, args) -> Enclosure:
    x, b = _variable(args, "Gemm"), _constant(args[1], "Gemm's B")
    c = _constant(args[2], "Gemm's C") if len(args) > 2 and args[2] is not None else None
    if int(node.attr("transA", 0)) or len(x.shape) > 2 or b.ndim != 2:
        raise UnsupportedOpError("Gemm with transA or a batched A", fix="export Linear layers as Gemm(x, W, b)")
    w = b if int(node.attr("transB", 0)) else b.T
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    y = linear(_rows(x), w, c if beta == 1.0 else None)
    if alpha != 1.0:
        y = scale(y, point(np.asarray(alpha)))
    if c is not None and beta not in (0.0, 1.0):
        shift = np.vectorize(lambda v: Fraction(float(v)) * Fraction(beta), otypes=[object])(c)
        y = add(y, constant(shift, np.zeros(c.shape, dtype=object)))
    return y.map(lambda a: a.reshape(x.shape[:-1] + (w.shape[0],)))


def _window_sums(x: Enclosure, geo) -> Enclosure:
    """Per window, the exact sum of its entries (zero padding), via a product with ones."""
    windows = x.map(lambda a: padded_windows(a, geo, 0.0))
    out_shape = windows.shape[: len(x.shape)]
    flat = windows.map(lambda a: a.reshape(math.prod(out_shape), -1))
    sums = linear(flat, np.ones((1, flat.shape[1])))
    return sums.map(lambda a: a.reshape(out_shape))


def _reciprocals(counts: np.ndarray) -> Enclosure:
    counts = np.asarray(counts, dtype=np.int64)
    mids = np.vectorize(lambda c: Fraction(1, int(c)), otypes=[object])(counts)
    return constant(mids, np.zeros(counts.shape, dtype=object))


@rule("AveragePool")
def _average_pool(node, args) -> Enclosure:
    x = _variable(args, "AveragePool")
    kernel = tuple(int(k) for k in node.attr("kernel_shape"))
    geo = geometry(node, x.shape[2:], kernel, ceil_mode=bool(node.attr("ceil_mode", 0)))
    return scale(_window_sums(x, geo), _reciprocals(window_counts(node, x.shape[2:], geo)))


@rule("GlobalAveragePool")
def _global_average_pool(node, args) -> Enclosure:
    x = _variable(args, "GlobalAveragePool")
    lead = x.shape[:2]
    flat = x.map(lambda a: a.reshape(math.prod(lead), -1))
    sums = linear(flat, np.ones((1, flat.shape[1])))
    size = flat.shape[1]
    return scale(sums, _reciprocals(np.array(size))).map(lambda a: a.reshape(lead + (1,) * (len(x.shape) - 2)))
