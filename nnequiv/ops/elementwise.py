"""Broadcasting arithmetic (Add, Sub, Mul, Div) and the identities (Identity, Dropout)."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from .context import aligned
from .registry import register


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":  # ONNX integer Div truncates toward zero
        quotient = np.abs(a) // np.abs(b)
        return np.where((a < 0) ^ (b < 0), -quotient, quotient)
    return a / b


_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _divide}


@register(*_BINARY)
def _binary(node, inputs, ctx):
    a, b = aligned(inputs)
    return (_BINARY[node.op](a, b),)


@register("Identity")
def _identity(node, inputs, ctx):
    return (inputs[0].data,)


@register("Dropout")
def _dropout(node, inputs, ctx):
    """Inference mode: the identity (and an all-true mask if asked for)."""
    training = inputs[2] if len(inputs) > 2 else None
    if training is not None and bool(np.any(training.constant("Dropout's training_mode"))):
        raise UnsupportedOpError("Dropout in training mode",
                                 fix="export the model in eval mode (model.eval())")
    x = inputs[0].data
    return (x, np.ones(x.shape, dtype=bool))
