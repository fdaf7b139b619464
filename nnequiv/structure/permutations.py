"""Infer per-layer neuron / channel permutations between two aligned stage lists (untrusted).

Stages are visited in topological order.  A linear stage's input axis is first reordered by
the permutation already found for the layer that feeds it (through channel-wise stages:
activations, pooling, added constants, a Flatten expands a channel into its block of
columns); then each reduced row (weights + bias, BatchNorm folded in float64) is paired with
the nearest original row.  A layer is accepted when the pairing is a bijection and every pair
agrees to a relative ``tolerance`` -- the certificate's checker decides what is really exact.

A residual ``Add`` needs both operands in the same order; the layers whose orders meet there
form one channel stream, which the checker's replay permutes as a whole from any one of its
producers, so only the first producer of each stream is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checker.graph_align import INPUT, Stage

CHANNELWISE_STAGES = ("Relu", "LeakyRelu", "MaxPool", "AddConst", "GlobalAveragePool")
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
    # the channel order each stage's output carries (None: unpermuted) and the stream it belongs to
    orders: dict[int, np.ndarray | None] = {INPUT: None}
    stream: dict[int, int] = {}          # stage -> index in ``found`` of its stream's first producer
    parent: dict[int, int] = {}          # union-find over ``found`` (streams joined at an Add)

    def root(k: int) -> int:
        while parent.get(k, k) != k:
            k = parent[k]
        return k

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
                stream[k] = len(found)
                found.append(LayerPermutation(k, a.node.name, tuple(int(v) for v in order)))
            orders[k] = order if permuted else None
        elif a.op in CHANNELWISE_STAGES:
            orders[k] = incoming[0]
            if incoming[0] is not None:
                stream[k] = stream[a.inputs[0]]
        elif a.op in ("Flatten", "Reshape") and incoming[0] is not None:
            block = int(np.prod(f[a.inputs[0]].shape[2:]))
            orders[k] = (incoming[0][:, None] * block + np.arange(block)[None, :]).ravel()
            stream[k] = stream[a.inputs[0]]
        elif a.op == "Add" and any(o is not None for o in incoming):
            if any(o is None or not np.array_equal(o, incoming[0]) for o in incoming):
                return Inference(tuple(found), f"stage {k} (Add {a.node.name!r}): the residual branches carry "
                                               "different channel orders")
            joined = sorted({root(stream[i]) for i in a.inputs})
            for other in joined[1:]:
                parent[other] = joined[0]
            orders[k], stream[k] = incoming[0], joined[0]
        elif any(o is not None for o in incoming):
            return Inference(tuple(found), f"stage {k} ({a.op} {a.node.name!r}): permuted channels reach an op "
                                           "that mixes them")
        else:
            orders[k] = None
    if orders.get(len(f) - 1) is not None:
        return Inference(tuple(found), "the outputs themselves are permuted (not the same function)")
    return Inference(tuple(p for index, p in enumerate(found) if root(index) == index), None)
