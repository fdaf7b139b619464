"""Exact linear dependencies among always-active neurons (untrusted search for ``stable``).

Rows are ``[incoming column | bias]`` of the active neurons; the dependencies are found by
:func:`.linear_dependence.exact_dependencies` (float Gram-Schmidt and least squares propose,
exact rational elimination decides).  Only exact combinations are returned (the checker
re-checks them, ``proofs/stable_relu.md`` S3).
"""

from __future__ import annotations

import numpy as np

from ..checker.stable_relu import Combination
from .linear_dependence import exact_dependencies


def dependencies(rows: np.ndarray, neurons: list[int], max_terms: int) -> list[Combination]:
    """Combinations ``row_k = sum c_i row_i`` (exact) over the given active ``neurons``."""
    found, _ = exact_dependencies(np.asarray(rows, dtype=np.float64), max_terms)
    return [Combination(neurons[k], tuple((neurons[i], c) for i, c in zip(support, coefficients)))
            for k, support, coefficients in found]
