"""Rigorous float64 error bounds (trusted).  Proofs: ``proofs/rounding.md``.

Every bound below over-approximates the exact real result of an expression
whose operands are the given float64 values, whatever order numpy/BLAS sums in
(with or without FMA): ``|fl(sum a_i b_i) - sum a_i b_i| <= gamma(n) * sum |a_i b_i| + n * ETA``.
The ``n * ETA`` underflow term is dropped only when no product can underflow
(the smallest non-zero magnitudes of both operands multiply to at least 2**-1000).
Exact zeros stay exact zeros, so identical networks get a zero difference bound.
"""

from __future__ import annotations

import numpy as np

UNIT = 2.0 ** -53          # unit roundoff of float64 (round to nearest)
ETA = 2.0 ** -1074         # smallest subnormal: absolute error floor of one product
_SAFE_PRODUCT = 2.0 ** -1000


def gamma(n: int) -> float:
    """``n u / (1 - n u)`` rounded up (n >= 1)."""
    n = max(int(n), 1)
    value = n * UNIT / (1.0 - n * UNIT)
    return float(np.nextafter(value * (1.0 + 4 * UNIT), np.inf))


def up(x):
    """One ulp up: an upper bound for a value whose float result was rounded once."""
    return np.nextafter(x, np.inf)


def down(x):
    return np.nextafter(x, -np.inf)


def add_up(a, b):
    """Upper bound on the real ``a + b`` (TwoSum: steps up only when the sum was rounded down)."""
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    return np.where(err > 0, up(s), s)


def add_down(a, b):
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    return np.where(err < 0, down(s), s)


def _min_nonzero(array: np.ndarray) -> float:
    array = np.atleast_1d(array)
    return float(np.min(np.abs(array), where=array != 0, initial=np.inf))


def underflow_floor(a: np.ndarray, b: np.ndarray, n_terms: int) -> float:
    """Absolute error allowance for products of entries of ``a`` and ``b`` that may underflow."""
    if _min_nonzero(a) * _min_nonzero(b) >= _SAFE_PRODUCT:
        return 0.0
    return (n_terms + 2) * ETA


def upper_sum_abs(matrix: np.ndarray, axis: int = 1) -> np.ndarray:
    """An upper bound on ``sum |matrix|`` along ``axis`` (zero rows stay exactly zero)."""
    m = np.abs(matrix)
    n = m.shape[axis]
    s = m.sum(axis=axis)
    return np.where(s > 0, up(s * (1.0 + 2.0 * gamma(n + 1))), 0.0)


def upper_matvec_abs(matrix: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """An upper bound on ``|matrix| @ |v|`` for each vector ``v`` along the last axis of ``vectors``.

    Terms are nonnegative.  A row none of whose products has two non-zero factors is exactly
    zero; every other row gets the relative bound plus an underflow allowance of ``(n + 2) ETA``.
    """
    s = np.abs(vectors) @ np.abs(matrix).T
    n = matrix.shape[-1]
    touched = ((vectors != 0).astype(np.float64) @ (matrix != 0).T.astype(np.float64)) > 0
    return np.where(touched, up(s * (1.0 + 2.0 * gamma(n + 1)) + (n + 2) * ETA), 0.0)


def upper_add(*terms):
    """An upper bound on the exact sum of ``k`` nonnegative float arrays.

    A float sum of ``k`` nonnegative terms is below the real sum by at most
    ``gamma(k)`` relatively; a sum that is exactly zero had only zero terms.
    """
    total = terms[0] if len(terms) == 1 else sum(terms[1:], np.asarray(terms[0], dtype=np.float64))
    if len(terms) <= 2:
        return add_up(terms[0], terms[1]) if len(terms) == 2 else np.asarray(total, dtype=np.float64)
    return np.where(total > 0, up(total * (1.0 + 2.0 * gamma(len(terms)))), 0.0)
