"""Neutral model: builder, freezing, canonical CSR, variants, validation."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.solvers.model import MilpModel, ModelBuilder


def _small() -> tuple[ModelBuilder, list[int]]:
    b = ModelBuilder()
    x = b.add_var(0, 10, name="x")
    y = b.add_var(-1, 1)
    z = b.add_var(0, 1, integer=True, name="z")
    b.add_constraint({x: 1.0, y: 2.0}, -math.inf, 4.0, name="r0")
    b.add_constraint(([z, x, z], [1.0, -1.0, 2.0]), 0.0, 0.0)
    b.set_objective({x: 1.0, z: -3.0}, constant=0.5, sense="min")
    return b, [x, y, z]


def test_build_freezes_canonical_csr():
    b, (x, y, z) = _small()
    m = b.build()
    assert (m.n_vars, m.n_rows, m.nnz) == (3, 2, 4)
    assert m.is_mip and m.integer.tolist() == [False, False, True]
    idx, val = m.row(1)
    assert idx.tolist() == [x, z] and val.tolist() == [-1.0, 3.0]   # sorted, duplicates merged
    assert m.sense == "min" and m.constant == 0.5
    assert m.objective.tolist() == [1.0, 0.0, -3.0]
    assert m.var_names == ("x", None, "z") and m.row_names == ("r0", None)
    for arr in (m.indptr, m.indices, m.data, m.row_lo, m.col_hi, m.integer, m.objective):
        assert not arr.flags.writeable
    np.testing.assert_array_equal(m.to_dense(), [[1, 2, 0], [-1, 0, 3]])
    with pytest.raises(Exception):
        m.sense = "max"


def test_zero_coefficients_dropped_and_empty_rows_allowed():
    b = ModelBuilder()
    v = b.add_vars(3, 0, 1)
    b.add_constraint({int(v[0]): 0.0, int(v[1]): 1.0}, 0, 1)
    b.add_constraint({}, -1, 1)
    m = b.build()
    assert m.row(0)[0].tolist() == [1] and m.row(1)[0].size == 0


def test_duplicate_merge_must_be_exact():
    b = ModelBuilder()
    v = b.add_var()
    b.add_constraint(([v, v], [0.5, 0.25]), 0, 1)        # 0.75 exact
    with pytest.raises(ValueError):
        b.add_constraint(([v, v], [1.0, 2.0 ** -60]), 0, 1)   # 1 + 2^-60 is not a float


@pytest.mark.parametrize("bad", [
    lambda b: b.add_var(1.0, 0.0),
    lambda b: b.add_var(math.nan, 1.0),
    lambda b: b.add_var(math.inf, math.inf),
    lambda b: b.add_constraint({0: 1.0}, 2.0, 1.0),
    lambda b: b.add_constraint({5: 1.0}, 0.0, 1.0),
    lambda b: b.add_constraint({0: math.inf}, 0.0, 1.0),
    lambda b: b.add_constraint({0: 1.0}, math.nan, 1.0),
    lambda b: b.set_objective({0: 1.0}, sense="maximize"),
])
def test_validation(bad):
    b = ModelBuilder()
    b.add_var(0, 1)
    with pytest.raises(ValueError):
        bad(b)


def test_variants_share_nothing_mutable():
    b, (x, y, z) = _small()
    m = b.build()
    m2 = m.with_rows([({y: 1.0}, 0.5, math.inf)], names=["extra"])
    assert m.n_rows == 2 and m2.n_rows == 3 and m2.row_names[-1] == "extra"
    assert m2.row(2)[0].tolist() == [y] and m2.row_lo[2] == 0.5
    np.testing.assert_array_equal(m2.to_dense()[:2], m.to_dense())
    m3 = m.with_objective({y: 2.0}, 1.0, "max")
    assert m3.objective.tolist() == [0.0, 2.0, 0.0] and m3.sense == "max" and m.sense == "min"
    m4 = m.with_bounds([x, y], [1.0, 0.0], 2.0)
    assert m4.col_lo.tolist() == [1.0, 0.0, 0.0] and m4.col_hi.tolist() == [2.0, 2.0, 1.0]
    assert m.col_lo.tolist() == [0.0, -1.0, 0.0]
    assert not m.relaxation().is_mip and m.is_mip
    with pytest.raises(ValueError):
        m.with_bounds([x], 3.0, 2.0)


def test_from_dense_and_checks():
    a = np.array([[1.0, 1.0], [1.0, -1.0]])
    m = MilpModel.from_dense(a, [-np.inf, -2], [4, np.inf], [0, 0], [10, 10], [1, 2], 0.5)
    np.testing.assert_array_equal(m.to_dense(), a)
    assert m.objective_value([1.0, 3.0]) == 7.5
    assert m.max_violation([1.0, 3.0]) <= 0
    assert m.max_violation([3.0, 3.0]) == pytest.approx(2.0)
    assert m.is_feasible_exact([Fraction(1), Fraction(3)])
    assert not m.is_feasible_exact([Fraction(5, 2), Fraction(3, 2) + Fraction(1, 10 ** 30)])
    mi = MilpModel.from_dense(a, -np.inf, 4, 0, 10, [1, 1], integer=[True, False])
    assert not mi.is_feasible_exact([Fraction(1, 2), Fraction(0)])
    assert mi.max_violation([0.5, 0.0]) == pytest.approx(0.5)


def test_empty_model_builds():
    m = ModelBuilder().build()
    assert (m.n_vars, m.n_rows, m.nnz) == (0, 0, 0) and m.indptr.tolist() == [0]
