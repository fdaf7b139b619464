"""When does an analysed region satisfy the relation? (trusted; ``proofs/top1.md``, ``proofs/composition.md``)

``assess`` returns a :class:`LeafAssessment`: ``closed`` when the region is proved,
``value`` the proved quantity (an upper bound on the deviation for eps/exact, the
negated worst certified margin for top-1), and ``worst_row`` / ``worst_gens`` for
the search's branching heuristics (untrusted use only).
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
class LeafAssessment:
    closed: bool
    value: float
    worst_gens: np.ndarray


def assess(analysis: DiffAnalysis, kind: str, eps: float, outputs: tuple[int, ...] | None,
           softmax: bool) -> LeafAssessment:
    if analysis.infeasible:
        return LeafAssessment(True, -np.inf, np.zeros(len(analysis.symbols)))
    if kind == "top1":
        return _top1(analysis)
    delta = analysis.delta_out
    rows = np.arange(delta.rows) if outputs is None or softmax else np.asarray(outputs, dtype=int)
    magnitude = delta.magnitude()[rows]
    worst = int(rows[int(np.argmax(magnitude))])
    value = float(magnitude.max()) if magnitude.size else 0.0
    if softmax:
        value = float(up(value * SOFTMAX_LIPSCHITZ))
    closed = value == 0.0 if kind == "exact" else value <= eps
    return LeafAssessment(closed, value, delta.gens[worst])


def _top1(analysis: DiffAnalysis) -> LeafAssessment:
    """Closed iff one class ``i`` beats every other class strictly, in both networks, on the region."""
    f, g = analysis.f_out, analysis.g_out
    g_via_delta = add(f, analysis.delta_out)
    n = f.rows
    best_margin, best_gens = -np.inf, np.zeros(f.gens.shape[1])
    for i in range(n):
        others = np.array([k for k in range(n) if k != i], dtype=int)
        if others.size == 0:
            return LeafAssessment(True, -np.inf, best_gens)
        margins = []
        for forms in (f, g, g_via_delta):
            diff = add(_repeat(forms, i, others.size), forms.take(others), -1.0)
            margins.append(diff)
        lower_f = margins[0].bounds()[0]
        lower_g = np.maximum(margins[1].bounds()[0], margins[2].bounds()[0])
        worst = float(min(lower_f.min(), lower_g.min()))
        if worst > best_margin:
            which = margins[0] if lower_f.min() <= lower_g.min() else margins[1]
            row = int(np.argmin(which.bounds()[0]))
            best_margin, best_gens = worst, which.gens[row]
    return LeafAssessment(best_margin > 0, -best_margin, best_gens)


def _repeat(forms: Forms, row: int, times: int) -> Forms:
    index = np.full(times, row)
    return forms.take(index)
