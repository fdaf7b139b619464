"""Infer per-layer neuron / channel permutations between two aligned stage lists (untrusted).

Stages are visited in topological order.  A linear stage's input axis is first reordered by
the permutation already found for the layer that feeds it (through channel-wise stages:
activations, pooling, added constants, a Flatten expands a channel into its block of
columns); then each reduced row (weights + bias, BatchNorm folded in float64) is paired with
the nearest original row.  A layer is accepted when the pairing is a bijection and every pair
agrees to a relative ``tolerance`` -- the certificate's checker decides what is really exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checker.graph_align import INPUT, Stage

CHANNELWISE_STAGES = ("Relu", "LeakyRelu", "MaxPool", "AddConst")
TOLERANCE = 1e-4


@dataclass(frozen=True)
class LayerPermutation:
    stage: int
    node: str
    order: tuple[int, ...]     # new channel i = old channel order[i]


@dataclass(frozen=True)
class Inference:
    layers: tuple[LayerPermutation, ...]    # non-identity permutations only
    failure: str | None                     # first layer whose rows do not correspond


def _readers(stages: tuple[Stage, ...]) -> dict[int, list[int]]:
    table: dict[int, list[int]] = {}
    for k, stage in enumerate(stages):
        for i in stage.inputs:
            table.setdefault(i, []).append(k)
    return table


def _rows(stage: Stage, in_order: np.ndarray | None) -> np.ndarray:
    """Output-channel rows ``[weights..., bias]`` with the input axis reordered."""
    lin = stage.linear
    if stage.op == "Conv":
        weight = lin.weight if in_order is None else lin.weight[:, in_order]
        rows = weight.reshape(weight.shape[0], -1)
    else:
        weight = lin.weight if in_order is None else lin.weight[in_order]
        rows = weight.T
    return np.hstack([rows, lin.bias[:, None]])


def match_rows(f_rows: np.ndarray, g_rows: np.ndarray, tolerance: float = TOLERANCE) -> tuple[np.ndarray | None, int]:
    """``order`` with ``g_rows[i] ~ f_rows[order[i]]``, or ``(None, first failing reduced row)``."""
    if f_rows.shape != g_rows.shape:
        return None, 0
    scale = np.maximum(np.linalg.norm(f_rows, axis=1).max(initial=0.0), 1e-300)
    identity = np.linalg.norm(f_rows - g_rows, axis=1) <= tolerance * scale
    if identity.all():
        return np.arange(f_rows.shape[0]), -1
    squared = (np.sum(g_rows ** 2, axis=1)[:, None] - 2 * g_rows @ f_rows.T + np.sum(f_rows ** 2, axis=1)[None, :])
    order = np.argmin(squared, axis=1)
    close = np.linalg.norm(f_rows[order] - g_rows, axis=1) <= tolerance * scale
    if not close.all():
        return None, int(np.argmin(close))
    if len(set(order.tolist())) != order.size:
        counts = np.bincount(order, minlength=order.size)
        return None, int(np.argmax(counts[order] > 1))
    return order, -1


def infer(f: tuple[Stage, ...], g: tuple[Stage, ...]) -> Inference:
    readers = _readers(f)
    # the channel order each stage's output carries (None: unpermuted), and along which axis
    orders: dict[int, np.ndarray | None] = {INPUT: None}
    found: list[LayerPermutation] = []
    for k, (a, b) in enumerate(zip(f, g)):
        incoming = [orders.get(i) for i in a.inputs]
        if a.linear is not None:
            order, bad = match_rows(_rows(a, incoming[0]), _rows(b, None))
            if order is None:
                return Inference(tuple(found), f"stage {k} ({a.op} {a.node.name!r} / {b.node.name!r}): reduced "
                                               f"channel {bad} corresponds to no original channel")
            permuted = not np.array_equal(order, np.arange(order.size))
            if permuted:
                found.append(LayerPermutation(k, a.node.name, tuple(int(v) for v in order)))
            orders[k] = order if permuted else None
        elif a.op in CHANNELWISE_STAGES:
            orders[k] = incoming[0]
        elif a.op in ("Flatten", "Reshape") and incoming[0] is not None:
            block = int(np.prod(f[a.inputs[0]].shape[2:]))
            orders[k] = (incoming[0][:, None] * block + np.arange(block)[None, :]).ravel()
        elif any(o is not None for o in incoming):
            return Inference(tuple(found), f"stage {k} ({a.op} {a.node.name!r}): permuted channels reach an op "
                                           "that mixes them")
        else:
            orders[k] = None
        if orders.get(k) is not None and len(readers.get(k, [])) > 1:
            return Inference(tuple(found), f"stage {k} ({a.op} {a.node.name!r}): permuted channels are read "
                                           "twice (residual branches are not permuted yet)")
    if orders.get(len(f) - 1) is not None:
        return Inference(tuple(found), "the outputs themselves are permuted (not the same function)")
    return Inference(tuple(found), None)
