"""When does an analysed region satisfy the relation? (trusted; ``proofs/top1.md``, ``proofs/composition.md``)

``assess`` returns, for every region of a batch, whether it is proved (``closed``),
the proved quantity ``value`` (an upper bound on the deviation for eps/exact;
the negated worst certified margin for top-1) and ``worst_gens`` (per-symbol weights of
the rows that decide, used only by the search to choose splits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .diffzono import DiffAnalysis
from .forms import Forms, add
from .rounding import up

# ||softmax(a) - softmax(b)||_inf <= 1/2 ||a - b||_inf (Jacobian rows sum to 2 p_i (1 - p_i) <= 1/2)
SOFTMAX_LIPSCHITZ = 0.5


@dataclass(frozen=True, eq=False)
class Assessment:
    closed: np.ndarray      # (R,) bool
    value: np.ndarray       # (R,) float
    worst_gens: np.ndarray  # (R, k)


def assess(analysis: DiffAnalysis, kind: str, eps: float, outputs: tuple[int, ...] | None,
           softmax: bool) -> Assessment:
    result = _top1(analysis) if kind == "top1" else _deviation(analysis, kind, eps, outputs, softmax)
    empty = analysis.infeasible
    return Assessment(result.closed | empty, np.where(empty, -np.inf, result.value), result.worst_gens)


def _deviation(analysis: DiffAnalysis, kind, eps, outputs, softmax) -> Assessment:
    delta = analysis.delta_out
    rows = np.arange(delta.rows) if outputs is None or softmax else np.asarray(outputs, dtype=int)
    magnitude = delta.magnitude()[:, rows]
    value = magnitude.max(axis=1)
    if softmax:
        value = up(value * SOFTMAX_LIPSCHITZ)
    closed = value == 0.0 if kind == "exact" else value <= eps
    # split guidance: every compared output's symbol weights (fewer regions than the worst row's
    # alone: 1323 vs 2143 on ACAS prop_1)
    return Assessment(closed, value, np.abs(delta.gens[:, rows]).sum(axis=1))


def _top1(analysis: DiffAnalysis) -> Assessment:
    """Closed iff one class ``i`` beats every other class strictly, in both networks, on the region."""
    f, g = analysis.f_out, analysis.g_out
    g_via_delta = add(f, analysis.delta_out)
    regions, n = f.center.shape
    best = np.full(regions, -np.inf)
    best_gens = np.zeros((regions, f.symbols))
    if n == 1:
        return Assessment(np.ones(regions, bool), best, best_gens)
    for i in range(n):
        others = np.array([k for k in range(n) if k != i], dtype=int)
        mine = np.full(others.size, i)
        margin_f = add(f.take(mine), f.take(others), -1.0)
        margin_g = add(g.take(mine), g.take(others), -1.0)
        margin_gd = add(g_via_delta.take(mine), g_via_delta.take(others), -1.0)
        lower_f = margin_f.bounds()[0]
        lower_g = np.maximum(margin_g.bounds()[0], margin_gd.bounds()[0])
        worst_f, worst_g = lower_f.min(axis=1), lower_g.min(axis=1)
        worst = np.minimum(worst_f, worst_g)
        better = worst > best
        use_f = worst_f <= worst_g
        row = np.where(use_f, lower_f.argmin(axis=1), lower_g.argmin(axis=1))
        regions_idx = np.arange(regions)
        gens = np.where(use_f[:, None], margin_f.gens[regions_idx, row], margin_g.gens[regions_idx, row])
        best = np.where(better, worst, best)
        best_gens = np.where(better[:, None], gens, best_gens)
    return Assessment((best > 0) | _pairs_agree(f, g, g_via_delta, analysis.delta_out), -best, best_gens)


def _pairs_agree(f: Forms, g: Forms, g_via_delta: Forms, delta: Forms) -> np.ndarray:
    """Per region: every pair (i, k) has the same strict order in f and g, or ``delta_i - delta_k``
    is identically zero (then ``g_i - g_k = f_i - f_k`` everywhere).  Then ``sign(f_i - f_k) =
    sign(g_i - g_k)`` for all pairs and all inputs, so the sets of maximal classes coincide,
    ties included (``proofs/top1.md``, T3)."""
    n = f.rows
    first, second = np.triu_indices(n, 1)
    margin_f = add(f.take(first), f.take(second), -1.0).bounds()
    margin_g = add(g.take(first), g.take(second), -1.0).bounds()
    margin_gd = add(g_via_delta.take(first), g_via_delta.take(second), -1.0).bounds()
    g_lo, g_hi = np.maximum(margin_g[0], margin_gd[0]), np.minimum(margin_g[1], margin_gd[1])
    d_lo, d_hi = add(delta.take(first), delta.take(second), -1.0).bounds()
    same_order = ((margin_f[0] > 0) & (g_lo > 0)) | ((margin_f[1] < 0) & (g_hi < 0))
    identical = (d_lo == 0) & (d_hi == 0)
    return np.all(same_order | identical, axis=1)
