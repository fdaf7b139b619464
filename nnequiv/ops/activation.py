"""Activations: Relu, LeakyRelu and Softmax (whose ``exp`` is irrational in exact mode)."""

from __future__ import annotations

import math

import numpy as np

from .registry import register
from .defaults import ONNX_DEFAULT_LEAKY_ALPHA


@register("Relu")
def _relu(node, inputs, ctx):
    return (np.maximum(inputs[0].data, ctx.number(0.0)),)


@register("LeakyRelu")
def _leaky_relu(node, inputs, ctx):
    x = inputs[0].data
    alpha = ctx.number(node.attr("alpha", ONNX_DEFAULT_LEAKY_ALPHA))
    return (np.where(x >= 0, x, x * alpha),)


def _softmax_last(x: np.ndarray, ctx) -> np.ndarray:
    e = ctx.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@register("Softmax", exact=False)
def _softmax(node, inputs, ctx):
    """Opset >= 13: along ``axis`` (default -1).  Before: the input is coerced to 2-D
    ``[prod(shape[:axis]), prod(shape[axis:])]`` (default axis 1) and normalised per row."""
    value = inputs[0]
    x = value.data
    if ctx.opset >= 13:
        axis = value.axis(int(node.attr("axis", -1)))
        return (np.moveaxis(_softmax_last(np.moveaxis(x, axis, -1), ctx), -1, axis),)
    axis = value.axis(int(node.attr("axis", 1))) - int(value.batched)
    rows = math.prod(value.shape[:axis])
    lead = x.shape[:1] if value.batched else ()
    return (_softmax_last(x.reshape(lead + (rows, -1)), ctx).reshape(x.shape),)
