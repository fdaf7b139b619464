"""Backend-neutral (MI)LP model: build with :class:`ModelBuilder`, freeze to :class:`MilpModel`.

A model is ``opt  c^T x + constant  s.t.  row_lo <= A x <= row_hi,  col_lo <= x <= col_hi``,
``x_j`` integer where ``integer[j]``.  Every coefficient and bound is a float64 taken
as its exact real value (the z3 backend and :mod:`.safe_bound` rely on that).
Infinite row / column bounds mean "no bound".  ``A`` is stored row-wise (CSR:
``indptr``, ``indices``, ``data``); within a row the column indices are sorted and
unique, and no stored coefficient is zero.

:class:`SolveResult` is what every backend returns.  Dual convention
(:class:`LpDuals`), independent of the objective sense: the row multipliers ``y``
and reduced costs ``d`` satisfy ``c = A^T y + d`` (Lagrangian sign; this is also
HiGHS's convention).  For a maximisation the optimal ``y_r`` is >= 0 on rows at
their upper bound, <= 0 on rows at their lower bound; for a minimisation the
other way round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Literal, Mapping, Sequence, Tuple, Union

import numpy as np

from ..ir import readonly

Sense = Literal["max", "min"]
Status = Literal["optimal", "infeasible", "time_limit", "unbounded", "error"]
Coeffs = Union[Mapping[int, float], Tuple[Sequence[int], Sequence[float]]]

INF = math.inf


@dataclass(frozen=True, eq=False)
class MilpModel:
    """A frozen (MI)LP; see the module docstring for the meaning of each array."""

    indptr: np.ndarray        # (n_rows + 1,) int64
    indices: np.ndarray       # (nnz,) int64, column of each coefficient
    data: np.ndarray          # (nnz,) float64, non-zero
    row_lo: np.ndarray        # (n_rows,) may be -inf
    row_hi: np.ndarray        # (n_rows,) may be +inf
    col_lo: np.ndarray        # (n_vars,) may be -inf
    col_hi: np.ndarray        # (n_vars,) may be +inf
    integer: np.ndarray       # (n_vars,) bool
    objective: np.ndarray     # (n_vars,) float64
    constant: float = 0.0
    sense: Sense = "max"
    var_names: tuple[str | None, ...] = field(default=())
    row_names: tuple[str | None, ...] = field(default=())

    def __post_init__(self) -> None:
        n, m = self.col_lo.shape[0], self.row_lo.shape[0]
        if self.sense not in ("max", "min"):
            raise ValueError(f"sense must be 'max' or 'min', not {self.sense!r}")
        if self.indptr.shape != (m + 1,) or self.indices.shape != self.data.shape:
            raise ValueError("malformed CSR arrays")
        for name, arr, size in (("row_hi", self.row_hi, m), ("col_hi", self.col_hi, n),
                                ("integer", self.integer, n), ("objective", self.objective, n)):
            if arr.shape != (size,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({size},)")
        if not math.isfinite(self.constant):
            raise ValueError("objective constant must be finite")
        if not np.all(np.isfinite(self.objective)):
            raise ValueError("objective coefficients must be finite")
        if not self.var_names:
            object.__setattr__(self, "var_names", (None,) * n)
        if not self.row_names:
            object.__setattr__(self, "row_names", (None,) * m)

    # ------------------------------------------------------------------ shape
    @property
    def n_vars(self) -> int:
        return int(self.col_lo.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.row_lo.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.data.shape[0])

    @property
    def is_mip(self) -> bool:
        return bool(self.integer.any())

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and coefficients of row ``r``."""
        a, b = self.indptr[r], self.indptr[r + 1]
        return self.indices[a:b], self.data[a:b]

    def row_of_entry(self) -> np.ndarray:
        """Row index of every stored coefficient (COO row array)."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))

    def to_dense(self) -> np.ndarray:
        a = np.zeros((self.n_rows, self.n_vars))
        a[self.row_of_entry(), self.indices] = self.data
        return a

    def activity(self, x: np.ndarray) -> np.ndarray:
        """``A x`` in float64 (not rigorous; for checks and tests)."""
        x = np.asarray(x, dtype=np.float64)
        out = np.zeros(self.n_rows)
        np.add.at(out, self.row_of_entry(), self.data * x[self.indices])
        return out

    def objective_value(self, x: np.ndarray) -> float:
        return float(self.objective @ np.asarray(x, dtype=np.float64) + self.constant)

    def max_violation(self, x: np.ndarray) -> float:
        """Largest violation of a row, bound or integrality by ``x`` (float64, for checks)."""
        x = np.asarray(x, dtype=np.float64)
        ax = self.activity(x)
        parts = [0.0]
        if self.n_rows:
            parts += [float(np.max(self.row_lo - ax)), float(np.max(ax - self.row_hi))]
        if self.n_vars:
            parts += [float(np.max(self.col_lo - x)), float(np.max(x - self.col_hi))]
            if self.is_mip:
                xi = x[self.integer]
                parts.append(float(np.max(np.abs(xi - np.round(xi)))))
        return max(parts)

    def is_feasible_exact(self, x: Sequence[Fraction]) -> bool:
        """Exact rational check of every row, bound and integrality constraint."""
        x = [Fraction(v) for v in x]
        if len(x) != self.n_vars:
            raise ValueError("wrong number of values")
        for j, v in enumerate(x):
            if v < self.col_lo[j] or v > self.col_hi[j]:
                return False
            if self.integer[j] and v.denominator != 1:
                return False
        for r in range(self.n_rows):
            idx, val = self.row(r)
            s = sum((Fraction(float(a)) * x[j] for j, a in zip(idx.tolist(), val.tolist())),
                    Fraction(0))
            if s < self.row_lo[r] or s > self.row_hi[r]:
                return False
        return True

    # --------------------------------------------------------------- variants
    def with_objective(self, coeffs: Coeffs, constant: float = 0.0,
                       sense: Sense = "max") -> "MilpModel":
        """Same feasible set, new objective."""
        return replace(self, objective=readonly(_dense_coeffs(coeffs, self.n_vars)),
                       constant=float(constant), sense=sense)

    def with_rows(self, rows: Sequence[tuple[Coeffs, float, float]],
                  names: Sequence[str | None] | None = None) -> "MilpModel":
        """The model with extra rows ``lo <= coeffs . x <= hi`` appended."""
        if not rows:
            return self
        b = _RowStore(self.n_vars)
        for coeffs, lo, hi in rows:
            b.add(coeffs, lo, hi)
        idx, val, ptr, lo, hi = b.arrays()
        names = tuple(names) if names is not None else (None,) * len(rows)
        if len(names) != len(rows):
            raise ValueError("one name per row")
        return replace(
            self,
            indptr=readonly(np.concatenate([self.indptr, ptr[1:] + self.indptr[-1]])),
            indices=readonly(np.concatenate([self.indices, idx])),
            data=readonly(np.concatenate([self.data, val])),
            row_lo=readonly(np.concatenate([self.row_lo, lo])),
            row_hi=readonly(np.concatenate([self.row_hi, hi])),
            row_names=self.row_names + names)

    def with_bounds(self, variables: Sequence[int] | np.ndarray, lo, hi) -> "MilpModel":
        """The model with the bounds of ``variables`` replaced by ``lo``/``hi`` (broadcast)."""
        variables = np.asarray(variables, dtype=np.int64)
        col_lo, col_hi = self.col_lo.copy(), self.col_hi.copy()
        col_lo[variables] = np.broadcast_to(np.asarray(lo, np.float64), variables.shape)
        col_hi[variables] = np.broadcast_to(np.asarray(hi, np.float64), variables.shape)
        _check_bounds(col_lo, col_hi, "variable")
        return replace(self, col_lo=readonly(col_lo), col_hi=readonly(col_hi))

    def relaxation(self) -> "MilpModel":
        """The LP relaxation (integrality dropped)."""
        return replace(self, integer=readonly(np.zeros(self.n_vars, dtype=bool)))

    @classmethod
    def from_dense(cls, a, row_lo, row_hi, col_lo, col_hi, objective, constant: float = 0.0,
                   sense: Sense = "max", integer=None) -> "MilpModel":
        """From a dense constraint matrix (its non-zeros become the CSR rows), with the same
        checks as :class:`ModelBuilder`."""
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2:
            raise ValueError("constraint matrix must be 2-D")
        if not np.all(np.isfinite(a)):
            raise ValueError("coefficients must be finite")
        m, n = a.shape
        bounds = [np.array(np.broadcast_to(np.asarray(v, np.float64), (size,)))
                  for v, size in ((row_lo, m), (row_hi, m), (col_lo, n), (col_hi, n))]
        _check_bounds(bounds[0], bounds[1], "row")
        _check_bounds(bounds[2], bounds[3], "variable")
        rows, cols = np.nonzero(a)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m))]).astype(np.int64)
        integer = np.zeros(n, bool) if integer is None else np.array(np.broadcast_to(np.asarray(integer, bool), (n,)))
        return cls(readonly(indptr), readonly(cols.astype(np.int64)), readonly(a[rows, cols]),
                   *(readonly(v) for v in bounds), readonly(integer),
                   readonly(np.array(np.broadcast_to(np.asarray(objective, np.float64), (n,)))),
                   constant=float(constant), sense=sense)

    @classmethod
    def from_relaxation(cls, lp) -> "MilpModel":
        """A continuous model of a linear relaxation (``matrix``, ``row_lo`` / ``row_hi``,
        ``col_lo`` / ``col_hi``: :class:`nnequiv.checker.lp_dual.LinearRelaxation`), objective 0."""
        return cls.from_dense(lp.matrix, lp.row_lo, lp.row_hi, lp.col_lo, lp.col_hi, np.zeros(lp.matrix.shape[1]))


@dataclass(frozen=True, eq=False)
class LpDuals:
    """Row multipliers ``row`` and reduced costs ``reduced`` with ``c = A^T row + reduced``."""

    row: np.ndarray
    reduced: np.ndarray


@dataclass(frozen=True, eq=False)
class SolveResult:
    """Outcome of one solve.

    ``objective`` is the value of the returned ``x`` (incumbent), ``bound`` the
    solver's dual bound (for a max: an upper bound up to the solver's float
    tolerances -- use :mod:`.safe_bound` for a rigorous one).  ``x_exact`` and
    ``objective_exact`` are set by exact backends (z3).
    """

    status: Status
    objective: float | None = None
    bound: float | None = None
    x: np.ndarray | None = None
    duals: LpDuals | None = None
    time_s: float = 0.0
    nodes: int = 0
    x_exact: tuple[Fraction, ...] | None = None
    objective_exact: Fraction | None = None
    message: str = ""


class ModelBuilder:
    """Mutable builder; :meth:`build` freezes it into a :class:`MilpModel`."""

    def __init__(self) -> None:
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._var_names: list[str | None] = []
        self._n = 0
        self._rows = _RowStore(None)
        self._row_names: list[str | None] = []
        self._objective: tuple[Coeffs, float, Sense] = ({}, 0.0, "max")

    @property
    def n_vars(self) -> int:
        return self._n

    @property
    def n_rows(self) -> int:
        return len(self._row_names)

    def add_var(self, lb: float = -INF, ub: float = INF, integer: bool = False,
                name: str | None = None) -> int:
        return int(self.add_vars(1, lb, ub, integer=integer,
                                 names=None if name is None else [name])[0])

    def add_vars(self, count: int, lb=-INF, ub=INF, integer=False,
                 names: Sequence[str | None] | None = None) -> np.ndarray:
        """Add ``count`` variables (bounds/integrality broadcast); returns their indices."""
        lo = np.array(np.broadcast_to(np.asarray(lb, np.float64), (count,)))
        hi = np.array(np.broadcast_to(np.asarray(ub, np.float64), (count,)))
        _check_bounds(lo, hi, "variable")
        self._lo.append(lo)
        self._hi.append(hi)
        self._int.append(np.array(np.broadcast_to(np.asarray(integer, bool), (count,))))
        if names is not None and len(names) != count:
            raise ValueError("one name per variable")
        self._var_names.extend(names if names is not None else [None] * count)
        first = self._n
        self._n += count
        return np.arange(first, self._n, dtype=np.int64)

    def var_bounds(self, variables) -> tuple[np.ndarray, np.ndarray]:
        """Current bounds of the given variable indices."""
        lo = np.concatenate(self._lo or [np.zeros(0)])
        hi = np.concatenate(self._hi or [np.zeros(0)])
        variables = np.asarray(variables, dtype=np.int64)
        return lo[variables], hi[variables]

    def add_constraint(self, coeffs: Coeffs, lo: float = -INF, hi: float = INF,
                       name: str | None = None) -> int:
        """Add ``lo <= coeffs . x <= hi``; duplicate indices are summed.  Returns the row index."""
        self._rows.add(coeffs, lo, hi, n_vars=self._n)
        self._row_names.append(name)
        return len(self._row_names) - 1

    def set_objective(self, coeffs: Coeffs, constant: float = 0.0, sense: Sense = "max") -> None:
        if sense not in ("max", "min"):
            raise ValueError(f"sense must be 'max' or 'min', not {sense!r}")
        self._objective = (coeffs, float(constant), sense)

    def build(self) -> MilpModel:
        idx, val, ptr, lo, hi = self._rows.arrays()
        coeffs, constant, sense = self._objective
        cat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt)  # noqa: E731
        return MilpModel(
            indptr=readonly(ptr), indices=readonly(idx), data=readonly(val),
            row_lo=readonly(lo), row_hi=readonly(hi),
            col_lo=readonly(cat(self._lo, np.float64)), col_hi=readonly(cat(self._hi, np.float64)),
            integer=readonly(cat(self._int, bool)),
            objective=readonly(_dense_coeffs(coeffs, self._n)),
            constant=constant, sense=sense,
            var_names=tuple(self._var_names), row_names=tuple(self._row_names))


class _RowStore:
    """Accumulates sparse rows (canonicalised: sorted, merged duplicates, zeros dropped)."""

    def __init__(self, n_vars: int | None) -> None:
        self._n_vars = n_vars
        self._idx: list[np.ndarray] = []
        self._val: list[np.ndarray] = []
        self._lo: list[float] = []
        self._hi: list[float] = []

    def add(self, coeffs: Coeffs, lo: float, hi: float, n_vars: int | None = None) -> None:
        n_vars = self._n_vars if n_vars is None else n_vars
        lo, hi = float(lo), float(hi)
        if math.isnan(lo) or math.isnan(hi) or lo > hi or lo == INF or hi == -INF:
            raise ValueError(f"invalid row bounds [{lo}, {hi}]")
        idx, val = _sparse_coeffs(coeffs)
        if idx.size and (idx.min() < 0 or idx.max() >= n_vars):
            raise ValueError("constraint refers to an unknown variable")
        self._idx.append(idx)
        self._val.append(val)
        self._lo.append(lo)
        self._hi.append(hi)

    def arrays(self):
        ptr = np.zeros(len(self._idx) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([i.size for i in self._idx]) if self._idx else []
        idx = np.concatenate(self._idx) if self._idx else np.zeros(0, np.int64)
        val = np.concatenate(self._val) if self._val else np.zeros(0)
        return idx, val, ptr, np.array(self._lo, np.float64), np.array(self._hi, np.float64)


def _sparse_coeffs(coeffs: Coeffs) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(coeffs, Mapping):
        idx = np.fromiter((int(k) for k in coeffs.keys()), np.int64, len(coeffs))
        val = np.fromiter((float(v) for v in coeffs.values()), np.float64, len(coeffs))
    else:
        idx_in, val_in = coeffs
        idx = np.asarray(idx_in, dtype=np.int64).reshape(-1)
        val = np.asarray(val_in, dtype=np.float64).reshape(-1)
        if idx.shape != val.shape:
            raise ValueError("index and value arrays differ in length")
    if not np.all(np.isfinite(val)):
        raise ValueError("coefficients must be finite")
    if idx.size > 1:
        order = np.argsort(idx, kind="stable")
        idx, val = idx[order], val[order]
        if np.any(idx[1:] == idx[:-1]):
            # merge duplicates exactly (a sum of floats need not be a float)
            uniq, start = np.unique(idx, return_index=True)
            merged = []
            for a, b in zip(start, list(start[1:]) + [idx.size]):
                total = sum((Fraction(float(v)) for v in val[a:b]), Fraction(0))
                if b - a > 1 and Fraction(float(total)) != total:
                    raise ValueError("duplicate coefficients whose sum is not a float64")
                merged.append(float(total))
            idx, val = uniq, np.array(merged)
    keep = val != 0.0
    return idx[keep], val[keep]


def _dense_coeffs(coeffs: Coeffs, n: int) -> np.ndarray:
    idx, val = _sparse_coeffs(coeffs)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError("objective refers to an unknown variable")
    out = np.zeros(n)
    out[idx] = val
    return out


def _check_bounds(lo: np.ndarray, hi: np.ndarray, what: str) -> None:
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi) \
            or np.any(lo == INF) or np.any(hi == -INF):
        raise ValueError(f"invalid {what} bounds")
