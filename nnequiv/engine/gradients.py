"""Exact gradients of piecewise-linear networks (for the falsifier's projected gradient search)."""

from __future__ import annotations

import numpy as np

from ..pwl import PwlNet


def value_and_grad(net: PwlNet, x: np.ndarray, cotangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outputs (B, m) and ``d(cotangent . logits)/dx`` (B, n) for per-sample cotangents (B, m)."""
    pre = net.activations(x)
    out = net.layers[-1].activate(pre[-1])
    v = np.asarray(cotangent, dtype=np.float64)
    for layer, z in zip(reversed(net.layers), reversed(pre)):
        v = v * np.where(z >= 0, 1.0, layer.slope)
        v = v @ layer.weight
    return out, v
