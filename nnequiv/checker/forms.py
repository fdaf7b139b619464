"""Affine forms over shared noise symbols, with rigorous float64 error (trusted).

A :class:`Forms` holds a batch of ``R`` regions with ``n`` rows each and denotes,
for region ``r`` and row ``i``, the set ``center[r,i] + gens[r,i,:] . eps + err[r,i] * eta``
over ``eps in [-1, 1]^k`` (symbols shared by every form of one analysis of that
region) and a private ``eta in [-1, 1]``.  Every operation returns forms that
contain the exact real result for *every* value of the shared symbols
(``proofs/differential.md``, ``proofs/rounding.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rounding import ETA, UNIT, add_down, add_up, gamma, up, upper_add, upper_matvec_abs, upper_sum_abs


@dataclass(frozen=True, eq=False)
class Forms:
    center: np.ndarray   # (R, n)
    gens: np.ndarray     # (R, n, k)
    err: np.ndarray      # (R, n) >= 0

    @property
    def rows(self) -> int:
        return self.center.shape[1]

    @property
    def symbols(self) -> int:
        return self.gens.shape[2]

    def radius(self) -> np.ndarray:
        """Upper bound on ``sum |gens| + err`` per region and row."""
        return upper_add(upper_sum_abs(self.gens, axis=2), self.err)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Rigorous ``[lower, upper]`` of every row over all symbol values."""
        rad = self.radius()
        return add_down(self.center, -rad), add_up(self.center, rad)

    def magnitude(self) -> np.ndarray:
        """Upper bound on ``max |value|`` of each row."""
        lo, hi = self.bounds()
        return np.maximum(-lo, hi)

    def with_columns(self, total: int) -> "Forms":
        """Pad the generator matrix with zero columns up to ``total`` symbols."""
        extra = total - self.symbols
        if extra <= 0:
            return self
        pad = np.zeros(self.gens.shape[:2] + (extra,))
        return Forms(self.center, np.concatenate([self.gens, pad], axis=2), self.err)

    def take(self, index) -> "Forms":
        return Forms(self.center[:, index], self.gens[:, index], self.err[:, index])

    def region(self, r: int) -> "Forms":
        return Forms(self.center[r:r + 1], self.gens[r:r + 1], self.err[r:r + 1])


def input_forms(lower: np.ndarray, upper: np.ndarray) -> Forms:
    """``x in [lower, upper]`` as ``center + diag(radius) eps`` (a superset of each box)."""
    center = (lower + upper) / 2.0
    radius = np.maximum(add_up(upper, -center), add_up(center, -lower))
    regions, n = center.shape
    gens = np.zeros((regions, n, n))
    gens[:, np.arange(n), np.arange(n)] = radius
    return Forms(center, gens, np.zeros_like(center))


def _live(forms: Forms) -> np.ndarray:
    """Rows that are not identically zero (R, n)."""
    return (forms.center != 0) | (forms.err != 0) | forms.gens.any(axis=2)


def linear(matrix: np.ndarray, forms: Forms, matrix_rad: np.ndarray | None = None) -> Forms:
    """``M h`` for ``M`` within ``matrix +- matrix_rad`` and ``h`` in ``forms``.

    Rows that combine only identically-zero inputs are exactly zero; every other row
    gets the dot-product bound plus an underflow allowance (``proofs/rounding.md``).
    """
    n_terms = matrix.shape[1]
    center = forms.center @ matrix.T
    gens = np.matmul(matrix, forms.gens)
    abs_t = np.abs(matrix).T
    live = (_live(forms).astype(np.float64) @ (matrix != 0).T.astype(np.float64)) > 0
    products = np.abs(forms.center) @ abs_t + upper_sum_abs(forms.gens, axis=2) @ abs_t
    floor = (n_terms + 2) * ETA * (forms.symbols + 2)
    rounding = np.where(live, up(products * (2.0 * gamma(n_terms + 2)) + floor), 0.0)
    err = upper_add(upper_matvec_abs(matrix, forms.err), rounding)
    if matrix_rad is not None and matrix_rad.any():
        err = upper_add(err, upper_matvec_abs(matrix_rad, forms.magnitude()))
    return Forms(center, gens, err)


def add(a: Forms, b: Forms, sign: float = 1.0) -> Forms:
    """``a + sign * b`` with ``sign`` in {+1, -1} (exact scaling); one rounding per entry."""
    center = a.center + sign * b.center
    gens = a.gens + sign * b.gens
    err = upper_add(a.err, b.err, _relative_rounding(center, gens))
    return Forms(center, gens, err)


def add_bias(forms: Forms, bias: np.ndarray, bias_rad: np.ndarray | None = None) -> Forms:
    center = forms.center + bias
    terms = [forms.err, _relative_rounding(np.where(bias != 0, center, 0.0))]
    if bias_rad is not None:
        terms.append(np.broadcast_to(bias_rad, center.shape))
    return Forms(center, forms.gens, upper_add(*terms))


def scale_rows(forms: Forms, factor: np.ndarray) -> Forms:
    """Each row multiplied by its own float factor (``factor`` broadcasts against (R, n))."""
    factor = np.broadcast_to(factor, forms.center.shape)
    center = forms.center * factor
    gens = forms.gens * factor[..., None]
    exact = (factor == 0) | (np.abs(factor) == 1)
    underflow = (1 + forms.symbols) * ETA
    rounding = _relative_rounding(center, gens, np.where(_live(forms), underflow, 0.0))
    scaled_err = np.where(forms.err > 0, up(forms.err * np.abs(factor) * (1 + 2 * UNIT) + ETA), 0.0)
    err = upper_add(scaled_err, np.where(exact, 0.0, rounding))
    return Forms(center, gens, err)


def _relative_rounding(center: np.ndarray, gens: np.ndarray | None = None,
                       underflow: np.ndarray | float = 0.0) -> np.ndarray:
    """Bound on the error of entries that were each rounded once: ``u |fl(x)|`` summed over the row
    (plus an underflow allowance for products)."""
    total = np.abs(center) if gens is None else np.abs(center) + upper_sum_abs(gens, axis=2)
    return np.where((total > 0) | (underflow > 0), up(total * UNIT * (1.0 + 4 * UNIT) + underflow), 0.0)


def select(mask: np.ndarray, when_true: Forms, when_false: Forms) -> Forms:
    return Forms(np.where(mask, when_true.center, when_false.center),
                 np.where(mask[..., None], when_true.gens, when_false.gens),
                 np.where(mask, when_true.err, when_false.err))


def exact_difference(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fl(a - b)`` and the exact magnitude of its rounding error (TwoSum)."""
    s = a - b
    bb = s - a
    err = (a - (s - bb)) + (-b - bb)
    return s, np.abs(err)
