"""Zero-neuron embedding of a narrower layer into a wider index space (trusted).

A ``bab_tree`` step between networks whose hidden layers differ in width (a neuron pruned
away, not just zeroed) may name, per network and layer, the positions its neurons take in
a wider layer.  The checker inserts, at every other position, a linear neuron with zero
incoming weights, zero bias, zero radii and zero outgoing weights.  Such a neuron has pre-activation
exactly 0 and contributes exactly 0 to the next layer, so the embedded network computes the
same real function (``proofs/embedding.md`` E1); it only lets the differential analysis pair
the neurons of the two networks.  JSON form::

    "embedding": {"f": [{"layer": k, "width": W, "positions": [p_0, ..., p_{n-1}]}, ...],
                  "g": [...]}

``positions`` must be distinct integers in ``[0, W)`` with ``W >= n`` (the layer's width);
the last layer (the output) cannot be embedded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..pwl import PwlLayer, PwlNet
from .registry import Problem

NETS = ("f", "g")


def parse_embedding(raw: Any, nets: dict[str, PwlNet], where: str) -> tuple[dict[str, dict[int, tuple[int, np.ndarray]]],
                                                                           list[Problem]]:
    """``{net: {layer: (width, positions)}}`` from the step's ``embedding`` field, or problems."""
    maps: dict[str, dict[int, tuple[int, np.ndarray]]] = {net: {} for net in NETS}
    if raw is None:
        return maps, []
    if not isinstance(raw, dict) or set(raw) - set(NETS):
        return maps, [Problem(where, "must be an object with keys 'f' and/or 'g'")]
    problems: list[Problem] = []
    for net, entries in raw.items():
        if not isinstance(entries, list):
            problems.append(Problem(f"{where}/{net}", "must be a list of layer entries"))
            continue
        layers = nets[net].layers
        for i, entry in enumerate(entries):
            item = f"{where}/{net}/{i}"
            found = _entry(entry, layers, item)
            if isinstance(found, Problem):
                problems.append(found)
            elif found[0] in maps[net]:
                problems.append(Problem(f"{item}/layer", f"layer {found[0]} is embedded twice"))
            else:
                maps[net][found[0]] = found[1:]
    return maps, problems


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry(entry: Any, layers: tuple[PwlLayer, ...], item: str):
    if not isinstance(entry, dict) or not all(_integer(entry.get(key)) for key in ("layer", "width")):
        return Problem(item, "needs integer 'layer' and 'width' and a 'positions' list")
    layer, width, positions = entry["layer"], entry["width"], entry.get("positions")
    if not 0 <= layer < len(layers) - 1:
        return Problem(f"{item}/layer", f"{layer} is not a hidden layer (0 .. {len(layers) - 2})")
    n = layers[layer].n_out
    if not isinstance(positions, list) or len(positions) != n or not all(_integer(p) for p in positions):
        return Problem(f"{item}/positions", f"needs {n} integer positions (one per neuron of layer {layer})")
    if not n <= width <= 16 * max(n, 1) + 1024:
        return Problem(f"{item}/width", f"width {width} is below the layer's {n} neurons or absurdly large")
    array = np.array(positions, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= width or np.unique(array).size != array.size):
        return Problem(f"{item}/positions", f"positions must be distinct and in [0, {width})")
    return layer, width, array


def embed(net: PwlNet, layer_maps: dict[int, tuple[int, np.ndarray]]) -> PwlNet:
    """``net`` with each listed layer's neurons moved to their positions among zero neurons (E1)."""
    if not layer_maps:
        return net
    layers = []
    previous: tuple[int, np.ndarray] | None = None
    for k, layer in enumerate(net.layers):
        target = layer_maps.get(k)
        rows = np.arange(layer.n_out) if target is None else target[1]
        n_rows = layer.n_out if target is None else target[0]
        cols = np.arange(layer.n_in) if previous is None else previous[1]
        n_cols = layer.n_in if previous is None else previous[0]
        layers.append(_placed(layer, rows, n_rows, cols, n_cols))
        previous = target
    return PwlNet(tuple(layers), net.input_shape, net.output_shape, net.softmax_output)


def _placed(layer: PwlLayer, rows: np.ndarray, n_rows: int, cols: np.ndarray, n_cols: int) -> PwlLayer:
    weight, weight_rad = np.zeros((n_rows, n_cols)), np.zeros((n_rows, n_cols))
    weight[np.ix_(rows, cols)] = layer.weight
    weight_rad[np.ix_(rows, cols)] = layer.weight_rad
    bias, bias_rad, slope = np.zeros(n_rows), np.zeros(n_rows), np.ones(n_rows)   # inserted: linear, value 0
    bias[rows], bias_rad[rows], slope[rows] = layer.bias, layer.bias_rad, layer.slope
    return PwlLayer.make(weight, bias, slope, weight_rad, bias_rad)
