"""Pair the neurons of hidden layers of different widths (untrusted search).

When a reduced network has fewer neurons in a hidden layer than the original (structured
pruning removed neurons that were not dead), the differential analysis can only track
``g - f`` neuron by neuron if both layers have the same width.  This module chooses, layer
by layer from the input, where each neuron of the narrower layer goes among the wider
layer's neurons: greedily by the cosine similarity of ``[incoming weights | bias]``,
compared in the common index space of the previous layer.  Any choice is sound (the
checker inserts zero neurons, ``nnequiv/checker/embedding.py``); a good one keeps the
difference bounds tight.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checker.embedding import embed, parse_embedding
from ..pwl import PwlNet


def _rows(weight: np.ndarray, bias: np.ndarray, cols: np.ndarray | None, width: int) -> np.ndarray:
    placed = np.zeros((weight.shape[0], width + 1))
    placed[:, np.arange(weight.shape[1]) if cols is None else cols] = weight
    placed[:, -1] = bias
    norms = np.linalg.norm(placed, axis=1, keepdims=True)
    return placed / np.where(norms > 0, norms, 1.0)


def _greedy(similarity: np.ndarray) -> np.ndarray:
    """Each row (narrow neuron) gets a distinct column (wide neuron), best pairs first."""
    order = np.argsort(-similarity, axis=None, kind="stable")
    rows, cols = np.unravel_index(order, similarity.shape)
    chosen = np.full(similarity.shape[0], -1)
    taken = np.zeros(similarity.shape[1], dtype=bool)
    for r, c in zip(rows, cols):
        if chosen[r] < 0 and not taken[c]:
            chosen[r], taken[c] = c, True
    return chosen


def embedding_for(f: PwlNet, g: PwlNet) -> dict[str, list[dict[str, Any]]] | None:
    """The ``bab_tree`` step's ``embedding`` field, or None when the hidden widths already agree
    (or the depths differ: the analysis then pads with identity layers instead)."""
    if len(f.layers) != len(g.layers) or f.widths == g.widths:
        return None
    found: dict[str, list[dict[str, Any]]] = {"f": [], "g": []}
    cols: dict[str, np.ndarray | None] = {"f": None, "g": None}
    width_in = f.input_size
    for k in range(len(f.layers) - 1):
        lf, lg = f.layers[k], g.layers[k]
        a = _rows(lf.weight, lf.bias, cols["f"], width_in)
        b = _rows(lg.weight, lg.bias, cols["g"], width_in)
        if lf.n_out == lg.n_out:
            cols = {"f": None, "g": None}
        else:
            narrow, wide = ("g", "f") if lg.n_out < lf.n_out else ("f", "g")
            similarity = (b @ a.T) if narrow == "g" else (a @ b.T)
            positions = _greedy(similarity)
            width = max(lf.n_out, lg.n_out)
            found[narrow].append({"layer": k, "width": width, "positions": [int(p) for p in positions]})
            cols = {narrow: positions, wide: None}
        width_in = max(lf.n_out, lg.n_out)
    return {net: entries for net, entries in found.items() if entries} or None


def embedded(f: PwlNet, g: PwlNet, embedding: dict[str, list[dict[str, Any]]] | None) -> tuple[PwlNet, PwlNet]:
    """Both networks with the embedding applied (the checker's own parsing and :func:`embed`)."""
    if not embedding:
        return f, g
    maps, problems = parse_embedding(embedding, {"f": f, "g": g}, "embedding")
    if problems:
        raise ValueError("; ".join(str(p) for p in problems))
    return embed(f, maps["f"]), embed(g, maps["g"])
