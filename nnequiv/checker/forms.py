"""Affine forms over shared noise symbols, with rigorous float64 error (trusted).

A :class:`Forms` of ``n`` rows denotes, for each row ``i``, the set
``center_i + gens_i . eps + err_i * eta_i`` over ``eps in [-1, 1]^k`` (symbols shared
by every form of one analysis) and a private ``eta_i in [-1, 1]``.  Operations
return forms that contain the exact real result for *every* value of the shared
symbols (``proofs/differential.md``, ``proofs/rounding.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rounding import (ETA, UNIT, add_down, add_up, dot_error, gamma, underflow_floor, up, upper_add,
                       upper_matvec_abs, upper_sum_abs)


@dataclass(frozen=True, eq=False)
class Forms:
    center: np.ndarray   # (n,)
    gens: np.ndarray     # (n, k)
    err: np.ndarray      # (n,) >= 0

    @property
    def rows(self) -> int:
        return self.center.shape[0]

    def radius(self) -> np.ndarray:
        """Upper bound on ``sum |gens_i| + err_i``."""
        return upper_add(upper_sum_abs(self.gens, axis=1), self.err)

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
        extra = total - self.gens.shape[1]
        if extra <= 0:
            return self
        return Forms(self.center, np.hstack([self.gens, np.zeros((self.rows, extra))]), self.err)

    def take(self, index) -> "Forms":
        return Forms(self.center[index], self.gens[index], self.err[index])


def input_forms(lower: np.ndarray, upper: np.ndarray) -> Forms:
    """``x in [lower, upper]`` as ``center + diag(radius) eps`` (a superset of the box)."""
    center = (lower + upper) / 2.0
    radius = up(np.maximum(up(upper - center), up(center - lower)))
    return Forms(center, np.diag(radius), np.zeros_like(center))


def linear(matrix: np.ndarray, forms: Forms, matrix_rad: np.ndarray | None = None) -> Forms:
    """``M h`` for ``M`` within ``matrix +- matrix_rad`` and ``h`` in ``forms``."""
    n_terms = matrix.shape[1]
    center = matrix @ forms.center
    gens = matrix @ forms.gens
    abs_m = np.abs(matrix)
    floor = underflow_floor(matrix, np.concatenate([forms.center, forms.gens.ravel()]), n_terms)
    rounding = upper_add(dot_error(abs_m @ np.abs(forms.center), n_terms, floor),
                         dot_error(abs_m @ upper_sum_abs(forms.gens, axis=1), n_terms, floor * forms.gens.shape[1]))
    err = upper_add(upper_matvec_abs(matrix, forms.err), rounding)
    if matrix_rad is not None and matrix_rad.any():
        err = upper_add(err, upper_matvec_abs(matrix_rad, forms.magnitude()))
    return Forms(center, gens, err)


def add(a: Forms, b: Forms, sign: float = 1.0) -> Forms:
    """``a + sign * b`` with ``sign`` in {+1, -1} (exact scaling)."""
    center = a.center + sign * b.center
    gens = a.gens + sign * b.gens
    rounding = _relative_rounding(center, gens)
    # |fl(x+y) - (x+y)| <= u |fl(x+y)|, summed over the row's entries
    err = upper_add(a.err, b.err, rounding)
    return Forms(center, gens, err)


def add_bias(forms: Forms, bias: np.ndarray, bias_rad: np.ndarray | None = None) -> Forms:
    center = forms.center + bias
    rounding = _relative_rounding(center)
    err = upper_add(forms.err, rounding, bias_rad if bias_rad is not None else np.zeros_like(center))
    return Forms(center, forms.gens, err)


def scale_rows(forms: Forms, factor: np.ndarray) -> Forms:
    """Each row multiplied by its own float factor."""
    center = forms.center * factor
    gens = forms.gens * factor[:, None]
    exact = (factor == 0) | (factor == 1) | (factor == -1)
    rounding = _relative_rounding(center, gens, underflow=underflow_floor(factor, np.concatenate(
        [forms.center, forms.gens.ravel()]), 1) * (1 + gens.shape[1]))
    scaled_err = np.where(forms.err > 0, up(forms.err * np.abs(factor) * (1 + 2 * UNIT) + ETA), 0.0)
    err = upper_add(scaled_err, np.where(exact, 0.0, rounding))
    return Forms(center, gens, err)


def _relative_rounding(center: np.ndarray, gens: np.ndarray | None = None,
                       underflow: float = 0.0) -> np.ndarray:
    """Bound on the error of entries that were each rounded once: ``u |fl(x)|`` summed over the row
    (plus an underflow allowance for products)."""
    total = np.abs(center) if gens is None else np.abs(center) + upper_sum_abs(gens, axis=1)
    return np.where((total > 0) | (underflow > 0),
                    up(total * UNIT * (1.0 + 4 * UNIT) + underflow), 0.0)


def select(mask: np.ndarray, when_true: Forms, when_false: Forms) -> Forms:
    return Forms(np.where(mask, when_true.center, when_false.center),
                 np.where(mask[:, None], when_true.gens, when_false.gens),
                 np.where(mask, when_true.err, when_false.err))


def exact_difference(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fl(a - b)`` and the exact magnitude of its rounding error (TwoSum)."""
    s = a - b
    bb = s - a
    err = (a - (s - bb)) + (-b - bb)
    return s, np.abs(err)
