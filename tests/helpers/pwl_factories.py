"""Random piecewise-linear networks and edits of them, for soundness tests (seeded by the caller)."""

from __future__ import annotations

import numpy as np

from nnequiv.pwl import PwlLayer, PwlNet


def random_pwl(rng: np.random.Generator, widths: list[int], slopes=(0.0,), scale: float = 1.0) -> PwlNet:
    layers = []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        last = k == len(widths) - 2
        weight = rng.normal(0, scale / np.sqrt(n_in), (n_out, n_in))
        bias = rng.normal(0, 0.3, n_out)
        slope = np.ones(n_out) if last else rng.choice(slopes, n_out)
        layers.append(PwlLayer.make(weight, bias, slope))
    return PwlNet(tuple(layers), (widths[0],), (widths[-1],))


def perturbed(rng: np.random.Generator, net: PwlNet, prune: float = 0.1, noise: float = 0.0,
              radius: float = 0.0) -> PwlNet:
    """Magnitude-prune a fraction of weights, add noise, optionally give weights a radius."""
    layers = []
    for layer in net.layers:
        w = np.array(layer.weight)
        if prune:
            cut = np.quantile(np.abs(w), prune)
            w[np.abs(w) <= cut] = 0.0
        w = w + noise * rng.normal(size=w.shape)
        rad = radius * np.abs(w)
        layers.append(PwlLayer.make(w, layer.bias, layer.slope, rad, radius * np.abs(layer.bias)))
    return PwlNet(tuple(layers), net.input_shape, net.output_shape)


def sample_exact_variant(rng, net: PwlNet, x: np.ndarray) -> np.ndarray:
    """Outputs of ``net`` with weights drawn anywhere inside their radii (the real semantics set)."""
    h = np.asarray(x, dtype=np.float64)
    for layer in net.layers:
        w = layer.weight + layer.weight_rad * rng.uniform(-1, 1, layer.weight.shape)
        b = layer.bias + layer.bias_rad * rng.uniform(-1, 1, layer.bias.shape)
        z = h @ w.T + b
        h = np.where(z >= 0, z, z * layer.slope)
    return h
