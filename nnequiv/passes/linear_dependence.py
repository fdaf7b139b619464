"""Exact linear dependences among a layer's neurons (untrusted search for ``merge-linear``).

Rows ``v_r = [W_r | b_r]`` (incoming weights and bias).  Float64 proposes, Fractions decide:

1. a greedy basis in neuron order by Gram-Schmidt (twice, for stability): a row whose
   residual is below ``1e-9`` of its norm is *dependent*; ``O(n d r)`` for ``n`` neurons,
   ``d`` inputs, rank ``r``;
2. one least-squares solve gives every dependent row's coefficients over the basis; the
   support is the coefficients above ``1e-9`` of the largest (at most ``max_terms``);
3. the coefficients are recomputed EXACTLY by Gaussian elimination in rationals on the
   support's rows, and ``v_k = sum c_i v_i`` is checked on every entry;
4. the exact relation ``v_k - sum c_i v_i = 0`` over ``T = S + {k}`` may eliminate any member
   ``t``; a member whose sign in the relation is unique gives a combination with positive
   coefficients (which needs no sign condition on ``z_t``, ``proofs/linear_merge.md`` M2),
   so it is preferred to ``k`` (e.g. ``v_k = 2 v_i - v_j`` becomes ``v_i = (v_k + v_j) / 2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from ..checker.lumping_site import Site
from ..exact import to_fractions
from .base import Refusal

__all__ = ["Combination", "combinations"]

_RELATIVE = 1e-9


@dataclass(frozen=True)
class Combination:
    """``v_neuron = sum c_i v_i`` exactly, over ``terms = ((i, c_i), ...)``."""

    neuron: int
    terms: tuple[tuple[int, Fraction], ...]


def _rows(site: Site) -> np.ndarray:
    bias = np.zeros(site.neurons) if site.bias is None else site.bias.astype(np.float64)
    return np.hstack([site.incoming.astype(np.float64), bias[:, None]])


def _greedy_basis(rows: np.ndarray) -> tuple[list[int], list[int]]:
    basis: list[int] = []
    q = np.zeros((min(rows.shape), rows.shape[1]))        # orthonormal rows; the first len(basis) are used
    dependent: list[int] = []
    for r, v in enumerate(rows):
        norm = np.linalg.norm(v)
        if norm == 0:
            continue
        used = q[:len(basis)]
        resid = v - used.T @ (used @ v)
        resid = resid - used.T @ (used @ resid)
        size = np.linalg.norm(resid)
        if size <= _RELATIVE * norm or len(basis) == q.shape[0]:
            dependent.append(r)
        else:
            q[len(basis)] = resid / size
            basis.append(r)
    return basis, dependent


def _exact_coefficients(exact: Callable[[int], list[Fraction]], support: list[int],
                        target: int) -> list[Fraction] | None:
    """``c`` with ``sum c_i exact(support[i]) == exact(target)`` (every entry), or None."""
    a = [exact(i) for i in support]
    b = exact(target)
    s, cols = len(support), len(b)
    # row-reduce the s x cols system in rationals; pivot columns give an s x s solvable subsystem
    reduced = [row[:] for row in a]
    pivots: list[int] = []
    col = 0
    for r in range(s):
        while col < cols and all(reduced[p][col] == 0 for p in range(r, s)):
            col += 1
        if col == cols:
            return None
        p = next(p for p in range(r, s) if reduced[p][col] != 0)
        reduced[r], reduced[p] = reduced[p], reduced[r]
        for q in range(r + 1, s):
            factor = reduced[q][col] / reduced[r][col]
            if factor:
                reduced[q] = [x - factor * y for x, y in zip(reduced[q], reduced[r])]
        pivots.append(col)
        col += 1
    matrix = [[a[i][c] for i in range(s)] + [b[c]] for c in pivots]     # rows: pivot columns
    for r in range(s):
        p = next((p for p in range(r, s) if matrix[p][r] != 0), None)
        if p is None:
            return None
        matrix[r], matrix[p] = matrix[p], matrix[r]
        for q in range(s):
            if q != r and matrix[q][r] != 0:
                factor = matrix[q][r] / matrix[r][r]
                matrix[q] = [x - factor * y for x, y in zip(matrix[q], matrix[r])]
    c = [matrix[r][s] / matrix[r][r] for r in range(s)]
    if any(v == 0 for v in c):
        return None
    if any(sum(ci * a[i][col] for i, ci in enumerate(c)) != b[col] for col in range(cols)):
        return None
    return c


def _oriented(target: int, support: list[int], c: list[Fraction]) -> list[Combination]:
    """The ways to write one member of ``T`` through the others, positive ones first."""
    relation = {target: Fraction(1), **{i: -ci for i, ci in zip(support, c)}}
    own = Combination(target, tuple(zip(support, c)))
    positive = []
    for t, a_t in relation.items():
        if sum(1 for a in relation.values() if (a > 0) == (a_t > 0)) == 1:
            terms = tuple((s, -a / a_t) for s, a in relation.items() if s != t)
            positive.append(Combination(t, terms))
    return positive + ([] if any(p.neuron == target for p in positive) else [own])


def exact_dependencies(rows: np.ndarray, max_terms: int) -> tuple[list[tuple[int, list[int], list[Fraction]]],
                                                                 list[tuple[int, str]]]:
    """Rows in the span of the independent rows before them, written exactly: ``(target, support,
    coefficients)`` with ``rows[target] == sum c_i rows[support[i]]`` in rationals (every ``c_i != 0``;
    supports are independent rows, never targets).  Also the dependent rows left out, with why."""
    basis, dependent = _greedy_basis(rows)
    if not dependent:
        return [], []
    solved = np.linalg.lstsq(rows[basis].T, rows[dependent].T, rcond=None)[0]      # (|B|, |D|)
    converted: dict[int, list[Fraction]] = {}

    def exact(r: int) -> list[Fraction]:
        if r not in converted:
            converted[r] = list(to_fractions(rows[r]))
        return converted[r]

    found, left_out = [], []
    for column, k in enumerate(dependent):
        c = solved[:, column]
        scale = np.max(np.abs(c)) if c.size else 0.0
        support = [basis[j] for j in np.flatnonzero(np.abs(c) > _RELATIVE * scale)]
        if len(support) > max_terms:
            left_out.append((k, f"a combination of {len(support)} neurons (more than {max_terms})"))
            continue
        coefficients = _exact_coefficients(exact, support, k) if support else None
        if coefficients is None:
            left_out.append((k, "nearly but not exactly a combination of other neurons"))
            continue
        found.append((k, support, coefficients))
    return found, left_out


def combinations(dense: Site, where: str, max_terms: int = 4) -> tuple[list[Combination], list[Refusal]]:
    """Mergeable neurons of one layer: no merged neuron is a term of another combination."""
    rows = _rows(dense)
    if not np.all(np.isfinite(rows)):
        return [], [Refusal(where, "non-finite weights")]
    found, left_out = exact_dependencies(rows, max_terms)
    refused = [Refusal(f"{where} neuron {k}", why) for k, why in left_out]
    chosen: list[Combination] = []
    merged: set[int] = set()
    terms_used: set[int] = set()
    for k, support, coefficients in found:
        for option in _oriented(k, support, coefficients):
            members = {option.neuron, *(i for i, _ in option.terms)}
            if option.neuron not in terms_used and not (members - {option.neuron}) & merged:
                chosen.append(option)
                merged.add(option.neuron)
                terms_used |= members - {option.neuron}
                break
        else:
            refused.append(Refusal(f"{where} neuron {k}", "its terms are merged into other neurons already"))
    return chosen, refused
