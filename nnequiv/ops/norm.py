"""BatchNormalization in inference mode (its square root is irrational in exact mode)."""

from __future__ import annotations

from ..errors import ShapeError, UnsupportedOpError
from .registry import register
from .defaults import ONNX_DEFAULT_BN_EPSILON

_TRAINING_FIX = ("export the model in eval mode (model.eval(), torch.onnx.export(..., "
                 "training=torch.onnx.TrainingMode.EVAL)) so BatchNormalization uses its running statistics")


@register("BatchNormalization", exact=False)
def _batch_norm(node, inputs, ctx):
    """``(X - mean) / sqrt(var + epsilon) * scale + B`` over channel axis 1."""
    if int(node.attr("training_mode", 0)) or any(node.outputs[1:]):
        raise UnsupportedOpError("BatchNormalization in training mode", fix=_TRAINING_FIX)
    x = inputs[0]
    scale, bias, mean, var = (v.constant(f"BatchNormalization's {what}")
                              for v, what in zip(inputs[1:5], ("scale", "B", "mean", "var")))
    if x.rank < 2:
        raise ShapeError(f"BatchNormalization needs (N, C, ...) input, got per-sample shape {x.shape}")
    channels = x.shape[1]
    if any(p.shape != (channels,) for p in (scale, bias, mean, var)):
        raise ShapeError(f"BatchNormalization parameters must have shape ({channels},)")
    factor = scale / ctx.sqrt(var + ctx.number(node.attr("epsilon", ONNX_DEFAULT_BN_EPSILON)))
    column = (channels,) + (1,) * (x.rank - 2)
    return ((x.data - mean.reshape(column)) * factor.reshape(column) + bias.reshape(column),)
