"""Solvers: a backend-neutral (MI)LP model, HiGHS and z3 backends, rigorous LP bounds,
and the encoding of piecewise-linear networks.

* :mod:`.model` -- :class:`ModelBuilder` -> frozen :class:`MilpModel`; :class:`SolveResult`.
* :mod:`.highs_backend` -- :func:`solve_highs` (float, fast; LP duals).
* :mod:`.z3_backend` -- :func:`solve_feasibility`, :func:`optimize` (exact rationals, small
  problems).
* :mod:`.safe_bound` -- :func:`safe_upper_bound` / :func:`safe_lower_bound` (rigorous, any
  multipliers).
* :mod:`.encode` -- :func:`encode_pwl`, :func:`encode_equivalence`.
"""

from __future__ import annotations

from .encode import (EncodedNet, EquivalenceQuery, encode_equivalence, encode_product, encode_pwl,
                     interval_pre_bounds)
from .highs_backend import solve_highs
from .model import LpDuals, MilpModel, ModelBuilder, SolveResult
from .safe_bound import (dual_bound_exact, safe_lower_bound, safe_objective_bound,
                         safe_upper_bound)
from .z3_backend import maximize as z3_maximize
from .z3_backend import optimize as z3_optimize
from .z3_backend import solve_feasibility as z3_feasibility

__all__ = [
    "EncodedNet", "EquivalenceQuery", "LpDuals", "MilpModel", "ModelBuilder", "SolveResult",
    "dual_bound_exact", "encode_equivalence", "encode_product", "encode_pwl",
    "interval_pre_bounds", "safe_lower_bound", "safe_objective_bound", "safe_upper_bound",
    "solve_highs", "z3_feasibility", "z3_maximize", "z3_optimize",
]
