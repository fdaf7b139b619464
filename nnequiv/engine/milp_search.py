"""Violation search with the MILP encoding of both networks (HiGHS).

The MILP is used only to *find* inputs: its optimum is floating-point and never
decides ``equivalent``.  Each candidate it yields is replayed exactly by the caller.
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from ..pwl import PwlNet
from ..spec.relation import Relation


def milp_candidates(f: PwlNet, g: PwlNet, lower: np.ndarray, upper: np.ndarray, relation: Relation,
                    deadline: float) -> Iterator[np.ndarray]:
    from ..solvers.encode import encode_equivalence
    from ..solvers.highs_backend import solve_highs

    if relation.kind != "top1" and (f.softmax_output or g.softmax_output):
        return  # softmax deviations are not piecewise linear
    kind = "top1" if relation.kind == "top1" else "epsilon"
    threshold = relation.eps if relation.kind == "eps" else 0.0
    queries = encode_equivalence(f, g, (lower, upper), kind, outputs=relation.outputs)
    for query in queries:
        remaining = deadline - time.monotonic()
        if remaining <= 0.5:
            return
        result = solve_highs(query.model, time_limit=remaining)
        if result.x is None or result.objective is None:
            continue
        if result.objective > threshold or (kind == "top1" and result.objective >= 0):
            x = np.clip(np.asarray(result.x[: f.input_size], dtype=np.float64), lower, upper)
            yield x
