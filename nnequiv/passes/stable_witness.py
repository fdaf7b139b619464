"""Witness inputs for the ``stable`` pass (untrusted): inputs of the box where a neuron's float
pre-activation is clearly positive or clearly negative rule that phase out of its stable
candidates (stage 2 of :mod:`.stable_search`).

Sources: sampled box points and random corners (:func:`box_samples`), gradient-sign corners
(:func:`gradient_corners`: ReLU networks are piecewise linear, so a few moves to the corner
the local gradient points at usually reach a vertex where the sign shows) and projected
sign-gradient ascent on the pre-activation (:func:`ascent_points`).  :func:`witness` keeps one
input per phase shown, for the checker-side confirmation of instability.
"""

from __future__ import annotations

import numpy as np

from ..pwl import PwlNet

WITNESS_MARGIN = 1e-9      # relative to the layer's largest |pre-activation| on the samples


def box_samples(lower: np.ndarray, upper: np.ndarray, count: int, seed: int) -> np.ndarray:
    """The centre, both extreme corners, random corners and uniform points of the box."""
    rng = np.random.default_rng(seed)
    corners = np.where(rng.random((count // 4, lower.size)) < 0.5, lower, upper)
    uniform = lower + rng.random((count, lower.size)) * (upper - lower)
    return np.vstack([lower, upper, lower / 2.0 + upper / 2.0, corners, uniform])


def gradient_corners(pwl: PwlNet, layer: int, neurons: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     rounds: int = 3) -> np.ndarray:
    """Box corners that push each given neuron up and down: start at the centre, move to the
    corner the local gradient of the pre-activation points at, repeat (ReLU networks are
    piecewise linear, so a few rounds usually reach a vertex where the sign shows)."""
    if neurons.size == 0:
        return np.zeros((0, lower.size))
    sign = np.concatenate([np.ones(neurons.size), -np.ones(neurons.size)])
    targets = np.concatenate([neurons, neurons])
    points = np.repeat((lower / 2.0 + upper / 2.0)[None], targets.size, axis=0)
    found = []
    for _ in range(rounds):
        grad = _gradients(pwl, layer, targets, points) * sign[:, None]
        points = np.where(grad > 0, upper, np.where(grad < 0, lower, points))
        found.append(points)
    return np.vstack(found)


def _gradients(pwl: PwlNet, layer: int, targets: np.ndarray, points: np.ndarray) -> np.ndarray:
    """d z_layer[targets[p]] / d x at ``points[p]`` (one row per point)."""
    pre = pwl.activations(points)
    rows = pwl.layers[layer].weight[targets]
    for k in range(layer - 1, -1, -1):
        slope = pwl.layers[k].slope
        rows = (rows * np.where(pre[k] >= 0, 1.0, slope)) @ pwl.layers[k].weight
    return rows


def witness(phases, z: np.ndarray, points: np.ndarray) -> None:
    """Mark in ``phases`` (a :class:`.stable_search.LayerPhases`) the phases that the
    pre-activations ``z`` (B, n) at the inputs ``points`` (B, d) clearly show, keeping one input
    per newly shown phase."""
    margin = WITNESS_MARGIN * (1.0 + float(np.abs(z).max(initial=0.0)))
    for sign, seen, at in ((1.0, phases.seen_positive, phases.positive_at),
                           (-1.0, phases.seen_negative, phases.negative_at)):
        shown = sign * z > margin
        for j in np.flatnonzero(shown.any(axis=0) & ~seen):
            at[int(j)] = np.array(points[int(np.argmax(sign * z[:, j]))], dtype=np.float64)
        seen |= shown.any(axis=0)


def witness_at(pwl: PwlNet, layer: int, phases, points: np.ndarray) -> None:
    """:func:`witness` on the float pre-activations of ``layer`` at ``points``."""
    if points.size:
        n = phases.seen_positive.size
        witness(phases, pwl.activations(points)[layer][:, :n], points)


def ascent_points(pwl: PwlNet, layer: int, phases, starts: np.ndarray, start_z: np.ndarray,
                  lower: np.ndarray, upper: np.ndarray, steps: int) -> np.ndarray:
    """Projected sign-gradient ascent of ``+z_j`` for every undecided neuron not yet seen positive
    and of ``-z_j`` for those not yet seen negative, each from the start input where that
    value is largest; steps shrink geometrically from half the box width.  Returns every
    iterate (rows), for :func:`witness_at`."""
    open_ = phases.undecided
    pairs = [(j, 1.0) for j in np.flatnonzero(open_ & ~phases.seen_positive)] + \
            [(j, -1.0) for j in np.flatnonzero(open_ & ~phases.seen_negative)]
    if not pairs or steps <= 0:
        return np.zeros((0, lower.size))
    targets = np.array([j for j, _ in pairs])
    sign = np.array([s for _, s in pairs])
    points = starts[np.argmax(sign[None, :] * start_z[:, targets], axis=0)].astype(np.float64)
    width = upper - lower
    found = []
    for t in range(steps):
        step = 0.5 * (0.02 / 0.5) ** (t / max(steps - 1, 1))
        grad = _gradients(pwl, layer, targets, points) * sign[:, None]
        points = np.clip(points + step * width * np.sign(grad), lower, upper)
        found.append(points)
    return np.vstack(found)
