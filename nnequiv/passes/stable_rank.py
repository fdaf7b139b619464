"""Exact linear dependencies among always-active neurons (untrusted search for ``stable``).

Rows are ``[incoming column | bias]`` of the active neurons.  A float Gram-Schmidt pass
finds rows (numerically) in the span of the rows before them; for each, float least
squares gives the support of a combination, and the coefficients are then solved
EXACTLY in rationals on pivot columns of the support and checked on every column.  Only
exact combinations are returned (the checker re-checks them, ``proofs/stable_relu.md`` S3).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..checker.stable_relu import Combination
from ..exact import to_fractions

RELATIVE_RESIDUAL = 1e-9


def dependencies(rows: np.ndarray, neurons: list[int], max_terms: int) -> list[Combination]:
    """Combinations ``row_k = sum c_i row_i`` (exact) over the given active ``neurons``."""
    basis: list[int] = []
    orthonormal: list[np.ndarray] = []
    found: list[Combination] = []
    for position, k in enumerate(neurons):
        row = rows[position]
        norm = float(np.linalg.norm(row))
        residual = row - sum((q @ row) * q for q in orthonormal) if orthonormal else row
        if norm == 0.0 or float(np.linalg.norm(residual)) > RELATIVE_RESIDUAL * norm or not basis:
            if norm > 0.0 and float(np.linalg.norm(residual)) > 0.0:
                basis.append(position)
                orthonormal.append(residual / np.linalg.norm(residual))
            continue
        combination = _exact_combination(rows, basis, position, max_terms)
        if combination is None:
            continue
        found.append(Combination(k, tuple((neurons[i], c) for i, c in combination)))
    return found


def _exact_combination(rows: np.ndarray, basis: list[int], target: int,
                       max_terms: int) -> list[tuple[int, Fraction]] | None:
    matrix = rows[basis].T
    coefficients, *_ = np.linalg.lstsq(matrix, rows[target], rcond=None)
    scale = np.abs(coefficients).max(initial=0.0)
    support = [basis[i] for i in np.flatnonzero(np.abs(coefficients) > 1e-12 * max(scale, 1.0))]
    if not support or len(support) > max_terms:
        return None
    pivots = _pivot_columns(rows[support])
    if pivots is None:
        return None
    exact = to_fractions(rows[support][:, pivots])               # (s, s)
    rhs = to_fractions(rows[target][pivots])
    solved = _solve(exact.T, rhs)
    if solved is None:
        return None
    full = to_fractions(rows[support])
    if any(sum((c * full[i, col] for i, c in enumerate(solved)), Fraction(0)) != Fraction(float(rows[target][col]))
           for col in range(rows.shape[1])):
        return None
    return [(i, c) for i, c in zip(support, solved) if c != 0]


def _pivot_columns(block: np.ndarray) -> list[int] | None:
    """Columns on which the (s, n) ``block`` is non-singular (float elimination, complete pivoting)."""
    work = np.array(block, dtype=np.float64)
    pivots: list[int] = []
    for r in range(work.shape[0]):
        column = int(np.argmax(np.abs(work[r])))
        if work[r, column] == 0.0:
            return None
        pivots.append(column)
        below = work[r + 1:, column] / work[r, column]
        work[r + 1:] -= below[:, None] * work[r]
    return pivots


def _solve(matrix: np.ndarray, rhs: np.ndarray) -> list[Fraction] | None:
    """Exact Gaussian elimination for a square rational system; None if singular."""
    n = len(rhs)
    a = [list(matrix[i]) + [rhs[i]] for i in range(n)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if a[r][col] != 0), None)
        if pivot is None:
            return None
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(n):
            if r != col and a[r][col] != 0:
                factor = a[r][col] / a[col][col]
                a[r] = [x - factor * y for x, y in zip(a[r], a[col])]
    return [a[i][n] / a[i][i] for i in range(n)]
