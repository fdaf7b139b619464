"""Replay a candidate counterexample on both networks before anyone sees it.

Exact replay evaluates the IR (not the lowered form) in rational arithmetic; the
candidate is a counterexample only if the exact deviation violates the relation.
The float32 replay through onnxruntime is reported beside it (execution effects).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..interpret import evaluate_exact
from ..ir import Network
from ..spec.relation import Relation
from .verdict import Counterexample


def replay(original: Network, reduced: Network, x: np.ndarray, relation: Relation) -> Counterexample | None:
    """A confirmed :class:`Counterexample` at ``x``, or None if the exact semantics satisfies the relation."""
    x = np.asarray(x, dtype=np.float64).reshape(original.input.shape)
    fa, ga = evaluate_exact(original, x), evaluate_exact(reduced, x)
    fy, gy = np.ravel(fa.values), np.ravel(ga.values)
    exact = fa.exact and ga.exact
    violated, deviation = _violated(fy, gy, relation)
    if not violated:
        return None
    return Counterexample(
        input=tuple(float(v) for v in x.ravel()),
        original_output=tuple(float(v) for v in fy), reduced_output=tuple(float(v) for v in gy),
        deviation=float(deviation), float32_deviation=_float32_deviation(original, reduced, x, relation),
        exact=exact)


def exact_deviation(original: Network, reduced: Network, x: np.ndarray, relation: Relation) -> Fraction:
    """The exact deviation at ``x`` (a sound lower bound on the maximum deviation)."""
    x = np.asarray(x, dtype=np.float64).reshape(original.input.shape)
    fy = np.ravel(evaluate_exact(original, x).values)
    gy = np.ravel(evaluate_exact(reduced, x).values)
    return _deviation(fy, gy, relation)


def _deviation(fy, gy, relation: Relation) -> Fraction:
    rows = range(len(fy)) if relation.outputs is None else relation.outputs
    return max(abs(Fraction(gy[i]) - Fraction(fy[i])) for i in rows)


def _violated(fy, gy, relation: Relation) -> tuple[bool, Fraction]:
    if relation.kind == "top1":
        rows = list(range(len(fy))) if relation.outputs is None else list(relation.outputs)
        best_f = max(fy[i] for i in rows)
        best_g = max(gy[i] for i in rows)
        top_f = {i for i in rows if fy[i] == best_f}
        top_g = {i for i in rows if gy[i] == best_g}
        return top_f != top_g, Fraction(int(top_f != top_g))
    deviation = _deviation(fy, gy, relation)
    if relation.kind == "exact":
        return deviation != 0, deviation
    return deviation > Fraction(relation.eps), deviation


def _float32_deviation(original: Network, reduced: Network, x: np.ndarray, relation: Relation) -> float | None:
    try:
        fy, gy = run_float32(original, x), run_float32(reduced, x)
    except Exception:  # noqa: BLE001 - float32 replay is informative only
        return None
    if relation.kind == "top1":
        violated, _ = _violated(fy, gy, relation)
        return float(violated)
    rows = slice(None) if relation.outputs is None else list(relation.outputs)
    return float(np.max(np.abs(gy[rows] - fy[rows])))


def run_float32(net: Network, x: np.ndarray) -> np.ndarray:
    """One sample through onnxruntime (float32), flattened output."""
    import onnxruntime

    from ..onnx_io import to_onnx_model

    model = to_onnx_model(net)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    feed = np.asarray(x, dtype=np.float32).reshape(net.input.shape)
    name = session.get_inputs()[0].name
    out = session.run(None, {name: feed})[0]
    return np.asarray(out, dtype=np.float64).ravel()
