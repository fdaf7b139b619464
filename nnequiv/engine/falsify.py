"""Search for violating inputs: centre, vertices, random samples, projected gradient ascent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..pwl import PwlNet
from .gradients import value_and_grad
from .objective import Relation, deviation, top1_violation


@dataclass(frozen=True)
class Candidate:
    x: np.ndarray
    value: float        # float64 deviation (or top-1 violation margin) at x


def falsify(f: PwlNet, g: PwlNet, lower: np.ndarray, upper: np.ndarray, relation: Relation,
            rng: np.random.Generator, samples: int = 512, restarts: int = 6, steps: int = 40) -> Candidate:
    n = lower.size
    points = [(lower + upper) / 2, lower, upper]
    corners = rng.integers(0, 2, (min(64, 2 ** min(n, 20)), n)).astype(bool)
    points += list(np.where(corners, upper, lower))
    points = np.vstack(points + [rng.uniform(lower, upper, (samples, n))])
    values = deviation(f, g, points, relation)
    order = np.argsort(-values)
    best = Candidate(points[order[0]], float(values[order[0]]))
    starts = points[order[:restarts]]
    for start in starts:
        found = _ascend(f, g, start, lower, upper, relation, steps)
        if found.value > best.value:
            best = found
    return best


def _ascend(f: PwlNet, g: PwlNet, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            relation: Relation, steps: int) -> Candidate:
    x = start.copy()
    best = Candidate(x.copy(), float(deviation(f, g, x[None], relation)[0]))
    step = (upper - lower) / 8
    for t in range(steps):
        grad = _gradient(f, g, x, relation)
        if not np.any(grad):
            break
        x = np.clip(x + step * np.sign(grad), lower, upper)
        value = float(deviation(f, g, x[None], relation)[0])
        if value > best.value:
            best = Candidate(x.copy(), value)
        if t % 10 == 9:
            step = step / 2
    return best


def _gradient(f: PwlNet, g: PwlNet, x: np.ndarray, relation: Relation) -> np.ndarray:
    fx, gx = f.logits(x[None]), g.logits(x[None])
    m = fx.shape[1]
    cf, cg = np.zeros((1, m)), np.zeros((1, m))
    if relation.kind == "top1":
        top = int(fx.argmax())
        rival_g = gx.copy()
        rival_g[0, top] = -np.inf
        k = int(rival_g.argmax())
        # raise g's rival over f's class while keeping f's own top: ascend (g_k - g_top) - (f_k - f_top)
        cg[0, k], cg[0, top] = 1.0, -1.0
        cf[0, k], cf[0, top] = -0.5, 0.5
    else:
        diff = (gx - fx)[0]
        allowed = np.arange(m) if relation.outputs is None else np.asarray(relation.outputs)
        i = int(allowed[np.argmax(np.abs(diff[allowed]))])
        sign = 1.0 if diff[i] >= 0 else -1.0
        cg[0, i], cf[0, i] = sign, -sign
    _, grad_f = value_and_grad(f, x[None], cf)
    _, grad_g = value_and_grad(g, x[None], cg)
    return (grad_f + grad_g)[0]


__all__ = ["Candidate", "falsify", "top1_violation"]
