"""Float evaluation of the relation on sample points (untrusted: it only ranks candidates)."""

from __future__ import annotations

import numpy as np

from ..pwl import PwlNet, softmax
from ..spec.relation import Relation


def deviation(f: PwlNet, g: PwlNet, x: np.ndarray, relation: Relation) -> np.ndarray:
    """Per-sample deviation; for top-1, the violation margin (> 0 or == 0 with ties means violated)."""
    fx, gx = f.logits(x), g.logits(x)
    if relation.kind == "top1":
        return top1_violation(fx, gx)
    if f.softmax_output:
        fx, gx = softmax(fx), softmax(gx)
    diff = np.abs(gx - fx)
    if relation.outputs is not None:
        diff = diff[:, list(relation.outputs)]
    return diff.max(axis=1)


def top1_violation(fx: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """``>= 0`` where the top classes may differ: how far ``g`` prefers another class than f's top."""
    top_f = fx.argmax(axis=1)
    rows = np.arange(len(fx))
    g_other = gx.copy()
    g_other[rows, top_f] = -np.inf
    f_other = fx.copy()
    f_other[rows, top_f] = -np.inf
    # g's best rival minus g's score of f's class; f's tie also counts (strict rule)
    return np.maximum(g_other.max(axis=1) - gx[rows, top_f], f_other.max(axis=1) - fx[rows, top_f])


def violates(value: float, relation: Relation) -> bool:
    if relation.kind == "top1":
        return value >= 0
    if relation.kind == "exact":
        return value > 0
    return value > relation.eps
