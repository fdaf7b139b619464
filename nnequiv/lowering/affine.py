"""Affine expressions over a layer's variables, composed with rigorous radii (``proofs/pwl_radius.md``).

An :class:`Affine` of ``n`` rows over ``m`` variables denotes every map
``h -> W' h + b'`` with ``|W' - weight| <= weight_rad`` and ``|b' - bias| <= bias_rad``
elementwise; the exact real map of the original network is one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checker.rounding import UNIT, gamma, underflow_floor, up, upper_add


@dataclass(frozen=True, eq=False)
class Affine:
    weight: np.ndarray      # (n, m)
    bias: np.ndarray        # (n,)
    weight_rad: np.ndarray  # (n, m)
    bias_rad: np.ndarray    # (n,)

    @classmethod
    def exact(cls, weight: np.ndarray, bias: np.ndarray) -> "Affine":
        weight = np.asarray(weight, dtype=np.float64)
        bias = np.asarray(bias, dtype=np.float64)
        return cls(weight, bias, np.zeros_like(weight), np.zeros_like(bias))

    @classmethod
    def identity(cls, n: int) -> "Affine":
        return cls.exact(np.eye(n), np.zeros(n))

    @classmethod
    def constant(cls, values: np.ndarray, m: int) -> "Affine":
        values = np.asarray(values, dtype=np.float64).ravel()
        return cls.exact(np.zeros((values.size, m)), values)

    @property
    def rows(self) -> int:
        return self.weight.shape[0]

    def gather(self, index: np.ndarray) -> "Affine":
        """Rows ``index`` (exact: a selection)."""
        return Affine(self.weight[index], self.bias[index], self.weight_rad[index], self.bias_rad[index])

    def then(self, matrix: np.ndarray, offset: np.ndarray, matrix_rad: np.ndarray | None = None,
             offset_rad: np.ndarray | None = None) -> "Affine":
        """``M (self) + c`` for ``M`` within ``matrix +- matrix_rad``, ``c`` within ``offset +- offset_rad``."""
        matrix = np.asarray(matrix, dtype=np.float64)
        offset = np.asarray(offset, dtype=np.float64)
        matrix_rad = np.zeros_like(matrix) if matrix_rad is None else matrix_rad
        offset_rad = np.zeros_like(offset) if offset_rad is None else offset_rad
        k = matrix.shape[1]
        abs_m = np.abs(matrix)
        weight = matrix @ self.weight
        bias = matrix @ self.bias + offset
        g = 2.0 * gamma(k + 2)
        # products with a 0/+-1 factor are exact, so a sum with at most one non-zero term is exact;
        # otherwise every entry carries the dot-product bound gamma_k |M| |W| (proofs/rounding.md)
        exact_w = _is_unit(matrix) or _is_unit(self.weight)
        exact_b = _is_unit(matrix) or _is_unit(self.bias)
        inexact_w = ~exact_w | (_terms_per_entry(abs_m, self.weight) > 1)
        inexact_b = ~exact_b | (_terms_per_entry(abs_m, self.bias[:, None])[:, 0] + (offset != 0) > 1)
        floor = underflow_floor(matrix, self.weight, k)
        weight_rad = upper_add(
            _nonzero_up(abs_m @ np.abs(self.weight) * g + floor, inexact_w),
            _nonzero_up(abs_m @ self.weight_rad * (1 + g)),
            _nonzero_up(matrix_rad @ (np.abs(self.weight) + self.weight_rad) * (1 + g)))
        bias_terms = abs_m @ np.abs(self.bias) + np.abs(offset)
        bias_rad = upper_add(
            _nonzero_up(bias_terms * g + underflow_floor(matrix, self.bias, k + 1), inexact_b),
            _nonzero_up(abs_m @ self.bias_rad * (1 + g)),
            _nonzero_up(matrix_rad @ (np.abs(self.bias) + self.bias_rad) * (1 + g)),
            offset_rad)
        return Affine(weight, bias, weight_rad, bias_rad)

    def plus(self, other: "Affine", sign: float = 1.0) -> "Affine":
        """``self + sign * other`` (sign in {+1, -1}); one rounding per entry."""
        weight = self.weight + sign * other.weight
        bias = self.bias + sign * other.bias
        inexact_w = (self.weight != 0) & (other.weight != 0)
        inexact_b = (self.bias != 0) & (other.bias != 0)
        weight_rad = upper_add(self.weight_rad, other.weight_rad,
                               np.where(inexact_w, up(UNIT * np.abs(weight)), 0.0))
        bias_rad = upper_add(self.bias_rad, other.bias_rad,
                             np.where(inexact_b, up(UNIT * np.abs(bias)), 0.0))
        return Affine(weight, bias, weight_rad, bias_rad)

    def scale(self, factor: np.ndarray, factor_rad: np.ndarray | None = None) -> "Affine":
        """Row ``i`` times a factor within ``factor[i] +- factor_rad[i]``."""
        factor = np.asarray(factor, dtype=np.float64)
        factor_rad = np.zeros_like(factor) if factor_rad is None else factor_rad
        weight = self.weight * factor[:, None]
        bias = self.bias * factor
        exact = _is_power_of_two_or_zero(factor)
        weight_rad = upper_add(
            np.where(exact[:, None], 0.0, _nonzero_up(UNIT * np.abs(weight))),
            _nonzero_up(self.weight_rad * np.abs(factor)[:, None] * (1 + 2 * UNIT)),
            _nonzero_up(factor_rad[:, None] * (np.abs(self.weight) + self.weight_rad) * (1 + 2 * UNIT)))
        bias_rad = upper_add(
            np.where(exact, 0.0, _nonzero_up(UNIT * np.abs(bias))),
            _nonzero_up(self.bias_rad * np.abs(factor) * (1 + 2 * UNIT)),
            _nonzero_up(factor_rad * (np.abs(self.bias) + self.bias_rad) * (1 + 2 * UNIT)))
        return Affine(weight, bias, weight_rad, bias_rad)

    def shift(self, offset: np.ndarray, offset_rad: np.ndarray | None = None) -> "Affine":
        """``self + offset`` (one rounding per bias entry where both are non-zero)."""
        offset = np.asarray(offset, dtype=np.float64)
        bias = self.bias + offset
        inexact = (self.bias != 0) & (offset != 0)
        bias_rad = upper_add(self.bias_rad, np.where(inexact, _nonzero_up(UNIT * np.abs(bias)), 0.0),
                             np.zeros_like(bias) if offset_rad is None else offset_rad)
        return Affine(self.weight, bias, self.weight_rad, bias_rad)

    def stack(self, other: "Affine") -> "Affine":
        return Affine(np.vstack([self.weight, other.weight]), np.concatenate([self.bias, other.bias]),
                      np.vstack([self.weight_rad, other.weight_rad]),
                      np.concatenate([self.bias_rad, other.bias_rad]))


def _terms_per_entry(abs_left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """How many non-zero products each entry of ``left @ right`` sums (1 => the sum adds only zeros)."""
    return (abs_left > 0).astype(np.float64) @ (right != 0).astype(np.float64)


def _is_unit(values: np.ndarray) -> bool:
    return bool(np.all((values == 0) | (np.abs(values) == 1)))


def _is_power_of_two_or_zero(values: np.ndarray) -> np.ndarray:
    mantissa, _ = np.frexp(values)
    return (values == 0) | (np.abs(mantissa) == 0.5)


def _nonzero_up(values: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    mask = values > 0 if where is None else (values > 0) & where
    return np.where(mask, up(values), 0.0)
