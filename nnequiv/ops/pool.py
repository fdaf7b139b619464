"""Pooling: MaxPool, AveragePool (count_include_pad, ceil_mode, dilations), GlobalAveragePool."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError, UnsupportedOpError
from .registry import register
from .window import geometry, pad, padded_windows, windows


def _kernel(node) -> tuple[int, ...]:
    kernel = node.attr("kernel_shape")
    if not kernel:
        raise ShapeError(f"{node.op} needs kernel_shape")
    return tuple(int(k) for k in kernel)


def _reduce_axes(nd: int) -> tuple[int, ...]:
    return tuple(range(-nd, 0))


@register("MaxPool")
def _max_pool(node, inputs, ctx):
    if len(node.outputs) > 1 and node.outputs[1]:
        raise UnsupportedOpError("MaxPool's Indices output", fix="use only the pooled values")
    kernel = _kernel(node)

    def run(x: np.ndarray) -> np.ndarray:
        geo = geometry(node, x.shape[2:], kernel, ceil_mode=bool(node.attr("ceil_mode", 0)))
        return padded_windows(x, geo, -math.inf).max(axis=_reduce_axes(len(kernel)))
    return (inputs[0].per_sample(run),)


def window_counts(node, spatial: tuple[int, ...], geo) -> np.ndarray:
    """Per window, how many positions the average divides by (as onnxruntime counts them):
    input positions, plus the declared padding if count_include_pad; never ceil_mode's extra."""
    declared = int(bool(node.attr("count_include_pad", 0)))
    mask = pad(np.ones(spatial, dtype=np.int64), geo.begin, geo.end, declared)
    mask = pad(mask, (0,) * geo.rank, geo.extra, 0)
    return windows(mask, geo).sum(axis=_reduce_axes(geo.rank))


@register("AveragePool")
def _average_pool(node, inputs, ctx):
    kernel = _kernel(node)

    def run(x: np.ndarray) -> np.ndarray:
        geo = geometry(node, x.shape[2:], kernel, ceil_mode=bool(node.attr("ceil_mode", 0)))
        sums = padded_windows(x, geo, 0.0).sum(axis=_reduce_axes(len(kernel)))
        return sums / window_counts(node, x.shape[2:], geo)
    return (inputs[0].per_sample(run),)


@register("GlobalAveragePool")
def _global_average_pool(node, inputs, ctx):
    def run(x: np.ndarray) -> np.ndarray:
        axes = tuple(range(2, x.ndim))
        return x.sum(axis=axes, keepdims=True) / math.prod(x.shape[2:])
    return (inputs[0].per_sample(run),)
