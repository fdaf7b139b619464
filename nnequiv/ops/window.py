"""Sliding-window geometry shared by Conv and the pooling ops (``N``-d, any dtype).

Windows are strided views of the padded input (``sliding_window_view``), so
Conv is one matmul over them and pooling one reduction, with no Python loop
over pixels; the same code runs on object arrays of Fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ShapeError, UnsupportedOpError
from ..ir import Node


@dataclass(frozen=True)
class Geometry:
    """Per spatial axis: padding before/after (``extra`` = ceil_mode's additional
    padding after), window extent, stride, dilation and output size."""

    begin: tuple[int, ...]
    end: tuple[int, ...]
    extra: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    out: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.kernel)


def _ints(node: Node, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = node.attr(key)
    return default if value is None or len(value) == 0 else tuple(int(v) for v in value)


def geometry(node: Node, spatial: tuple[int, ...], kernel: tuple[int, ...], *,
             ceil_mode: bool = False) -> Geometry:
    """Resolve ``auto_pad``/``pads``/``strides``/``dilations``/``ceil_mode`` like onnxruntime."""
    nd = len(spatial)
    strides = _ints(node, "strides", (1,) * nd)
    dilations = _ints(node, "dilations", (1,) * nd)
    if len(kernel) != nd or len(strides) != nd or len(dilations) != nd:
        raise ShapeError(f"{node.op} attributes do not match {nd} spatial axes")
    if min(strides + dilations + kernel, default=1) < 1:
        raise ShapeError(f"{node.op} needs positive kernel sizes, strides and dilations")
    extent = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
    auto_pad = node.attr("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = tuple(-(-s // t) for s, t in zip(spatial, strides))
        total = tuple(max(0, (o - 1) * t + e - s) for o, t, e, s in zip(out, strides, extent, spatial))
        small = tuple(p // 2 for p in total)
        begin = small if auto_pad == "SAME_UPPER" else tuple(p - q for p, q in zip(total, small))
        end = tuple(p - b for p, b in zip(total, begin))
    elif auto_pad == "VALID":
        begin = end = (0,) * nd
        out = tuple((s - e) // t + 1 for s, e, t in zip(spatial, extent, strides))
    elif auto_pad == "NOTSET":
        pads = _ints(node, "pads", (0,) * (2 * nd))
        if len(pads) != 2 * nd or min(pads) < 0:
            raise ShapeError(f"{node.op} pads {pads} do not fit {nd} spatial axes")
        begin, end = pads[:nd], pads[nd:]
        spans = tuple(s + b + f - e for s, b, f, e in zip(spatial, begin, end, extent))
        if ceil_mode:
            # ceil, but the last window must start inside the input or the leading padding
            out = tuple(-(-p // t) + 1 for p, t in zip(spans, strides))
            out = tuple(o - 1 if (o - 1) * t >= s + b else o
                        for o, t, s, b in zip(out, strides, spatial, begin))
        else:
            out = tuple(p // t + 1 if p >= 0 else 0 for p, t in zip(spans, strides))
    else:
        raise UnsupportedOpError(f"{node.op} auto_pad={auto_pad!r}",
                                 fix="use NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    if min(out, default=1) < 1:
        raise ShapeError(f"{node.op} window {kernel} does not fit the input of spatial shape {spatial}")
    extra = tuple(max(0, (o - 1) * t + e - (s + b + f))
                  for o, t, e, s, b, f in zip(out, strides, extent, spatial, begin, end))
    return Geometry(begin, end, extra, kernel, strides, dilations, out)


def pad(x: np.ndarray, begin: tuple[int, ...], end: tuple[int, ...], fill: float) -> np.ndarray:
    """Pad the trailing ``len(begin)`` axes of ``x`` with ``fill`` (exact zero in object arrays)."""
    if not any(begin) and not any(end):
        return x
    nd = len(begin)
    lead = x.shape[: x.ndim - nd]
    shape = lead + tuple(s + b + e for s, b, e in zip(x.shape[x.ndim - nd:], begin, end))
    value = Fraction(fill) if x.dtype == object and math.isfinite(fill) else fill
    out = np.full(shape, value, dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(b, b + s) for b, s in zip(begin, x.shape[x.ndim - nd:]))] = x
    return out


def windows(padded: np.ndarray, geo: Geometry) -> np.ndarray:
    """View ``(..., *out, *kernel)`` of the windows of an already padded array."""
    nd = geo.rank
    extent = tuple((k - 1) * d + 1 for k, d in zip(geo.kernel, geo.dilations))
    view = sliding_window_view(padded, extent, axis=tuple(range(padded.ndim - nd, padded.ndim)))
    index = ((Ellipsis,) + tuple(slice(0, (o - 1) * t + 1, t) for o, t in zip(geo.out, geo.strides))
             + tuple(slice(None, None, d) for d in geo.dilations))
    return view[index]


def padded_windows(x: np.ndarray, geo: Geometry, fill: float) -> np.ndarray:
    """Windows of ``x`` padded with ``fill`` (declared and ceil_mode padding alike)."""
    end = tuple(e + more for e, more in zip(geo.end, geo.extra))
    return windows(pad(x, geo.begin, end, fill), geo)
