"""Peer methods for the ``check`` benchmark, all on the product network ``x -> [f(x); g(x)]``.

* :func:`milp_highs` -- the plain MILP baseline: :func:`nnequiv.solvers.encode_equivalence`
  (big-M from interval bounds, no tightening), every objective solved by HiGHS (one thread,
  ``mip_rel_gap = 0``).  "equivalent" if every optimum is <= the threshold (float64,
  **uncertified**: HiGHS's tolerances decide), "not_equivalent" as soon as one objective
  has a feasible point above it (its input is the counterexample), "unknown" on time-out.
* :func:`z3_exact` -- the same encoding handed to z3 in exact rationals, one feasibility
  query per objective with the row ``objective >= t+`` (``t+`` = the next float above the
  threshold: a stand-in for the strict ``>``, so violations smaller than one ulp above the
  threshold are not looked for).  "equivalent" if every query is unsat.
* :func:`marabou` -- Marabou 2.0 (``maraboupy``) on the product network written as ONNX
  (Gemm/Relu; an extra Gemm ``[I, -I]`` makes the output ``f - g`` for eps queries).  One
  query per output and sign (``(f - g)_i >= t+`` resp. ``<= -t+``), or per ordered pair
  ``i != j`` for top-1 (``f_i >= f_k`` for all ``k``, ``g_j - g_i >= 2^-1074``).

The threshold ``t`` is eps for eps-relations and 0 for top-1.  Top-1 in the MILP and z3
baselines is the encoding's: ``max g_j - g_i`` s.t. ``f_i`` is a top logit; ties in g are not
searched for (nnequiv's strict tie rule counts them as violations).

Every method gets one time budget per instance, shared by all its queries (encoding time
included).  Counterexamples are returned as float64 inputs clipped to the box; the runner
replays them exactly (:func:`nnequiv.engine.confirm.replay`).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnequiv.pwl import PwlNet, stack_product
from nnequiv.solvers import encode_equivalence, solve_highs
from nnequiv.solvers import z3_feasibility
from nnequiv.spec import Box, Relation


@dataclass
class PeerResult:
    verdict: str                       # equivalent | not_equivalent | unknown | error
    time_s: float
    nodes: int | None = None           # B&B nodes / splits, where the tool reports them
    x: np.ndarray | None = None        # candidate counterexample (clipped to the box)
    clipped: float = 0.0               # how far the raw point lay outside the box (max abs)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _threshold(relation: Relation) -> float:
    if relation.kind == "eps":
        return float(relation.eps)
    return 0.0                          # "exact" (|f_i - g_i| > 0) and "top1" (g_j - g_i > 0)


def _strictly_above(t: float) -> float:
    return math.nextafter(t, math.inf)


def _clip(x: np.ndarray, box: Box) -> tuple[np.ndarray, float]:
    lo, hi = np.asarray(box.lower), np.asarray(box.upper)
    outside = float(np.max(np.maximum(lo - x, 0.0) + np.maximum(x - hi, 0.0), initial=0.0))
    return np.clip(x, lo, hi), outside


def _queries(f: PwlNet, g: PwlNet, box: Box, relation: Relation):
    kind = "top1" if relation.kind == "top1" else "epsilon"
    return encode_equivalence(f, g, (box.lower, box.upper), kind, mode="milp",
                              outputs=relation.outputs)


# ------------------------------------------------------------------ HiGHS
def milp_highs(f: PwlNet, g: PwlNet, box: Box, relation: Relation, time_limit: float) -> PeerResult:
    start = time.monotonic()
    deadline = start + time_limit
    t = _threshold(relation)
    try:
        queries = _queries(f, g, box, relation)
    except Exception as exc:  # noqa: BLE001 - report, don't crash the benchmark
        return PeerResult("error", time.monotonic() - start, note=f"encoding failed: {exc}")
    nodes, best = 0, -math.inf
    for q in queries:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return PeerResult("unknown", time.monotonic() - start, nodes, note="time limit",
                              extra={"best": best})
        res = solve_highs(q.model, time_limit=remaining, threads=1)
        nodes += res.nodes
        if res.status == "infeasible":
            continue
        if res.objective is not None and res.x is not None and res.objective > t:
            x, out = _clip(np.asarray(res.x)[q.encoding.inputs], box)
            return PeerResult("not_equivalent", time.monotonic() - start, nodes, x, out,
                              note=f"objective {res.objective:.6g} > {t:g}",
                              extra={"objective": res.objective})
        if res.status == "optimal":
            best = max(best, res.objective)
            continue
        return PeerResult("unknown", time.monotonic() - start, nodes,
                          note=res.status if res.status != "time_limit" else "time limit",
                          extra={"best": best})
    return PeerResult("equivalent", time.monotonic() - start, nodes,
                      note="every optimum <= threshold (float, uncertified)",
                      extra={"best": best if math.isfinite(best) else None})


# ------------------------------------------------------------------ z3
def z3_exact(f: PwlNet, g: PwlNet, box: Box, relation: Relation, time_limit: float) -> PeerResult:
    start = time.monotonic()
    deadline = start + time_limit
    bound = _strictly_above(_threshold(relation))
    try:
        queries = _queries(f, g, box, relation)
    except Exception as exc:  # noqa: BLE001
        return PeerResult("error", time.monotonic() - start, note=f"encoding failed: {exc}")
    for q in queries:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return PeerResult("unknown", time.monotonic() - start, note="time limit")
        if q.model.constant != 0.0:
            return PeerResult("error", time.monotonic() - start, note="objective with a constant")
        obj = q.model.objective
        nz = np.flatnonzero(obj)
        model = q.model.with_rows([((nz.tolist(), obj[nz].tolist()), bound, math.inf)],
                                  ["violation"])
        res = z3_feasibility(model, time_limit=remaining)
        if res.status == "infeasible":
            continue
        if res.status == "optimal" and res.x is not None:
            x, out = _clip(np.asarray(res.x)[q.encoding.inputs], box)
            return PeerResult("not_equivalent", time.monotonic() - start, None, x, out,
                              note="sat (exact rational point rounded to float64)")
        return PeerResult("unknown", time.monotonic() - start,
                          note="time limit" if res.status == "time_limit" else f"{res.status}: {res.message}")
    return PeerResult("equivalent", time.monotonic() - start, note="every query unsat (exact)")


# ------------------------------------------------------------------ Marabou
_MARABOU: dict[str, Any] = {}


def marabou_status() -> str:
    """'' if maraboupy imports, else the reason (cached)."""
    if "status" not in _MARABOU:
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from maraboupy import Marabou  # noqa: F401
            _MARABOU["status"] = ""
        except Exception as exc:  # noqa: BLE001
            _MARABOU["status"] = f"{type(exc).__name__}: {exc}"
    return _MARABOU["status"]


def product_onnx(f: PwlNet, g: PwlNet, relation: Relation, path: str) -> None:
    """Write the product network as an ONNX Gemm/Relu chain (float64 initialisers: the
    lowered weights exactly); output ``f - g`` for eps relations, ``[f; g]`` for top-1."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    p = stack_product(f, g)
    if not p.is_exact:
        raise ValueError("the lowered product has weight radii (inexact lowering); Marabou would "
                         "see rounded weights")
    nodes, init = [], []
    current = "x"
    for k, layer in enumerate(p.layers):
        slope = np.asarray(layer.slope)
        if not (np.all(slope == 0.0) or np.all(slope == 1.0)):
            raise ValueError(f"layer {k} mixes activations (slopes {sorted(set(slope.tolist()))})")
        init += [numpy_helper.from_array(np.asarray(layer.weight, np.float64), f"W{k}"),
                 numpy_helper.from_array(np.asarray(layer.bias, np.float64), f"B{k}")]
        nodes.append(helper.make_node("Gemm", [current, f"W{k}", f"B{k}"], [f"z{k}"], transB=1))
        current = f"z{k}"
        if np.all(slope == 0.0):
            nodes.append(helper.make_node("Relu", [current], [f"h{k}"]))
            current = f"h{k}"
    n = f.output_size
    if relation.kind != "top1":
        diff = np.hstack([np.eye(n), -np.eye(n)])
        init += [numpy_helper.from_array(diff, "Wd"), numpy_helper.from_array(np.zeros(n), "Bd")]
        nodes.append(helper.make_node("Gemm", [current, "Wd", "Bd"], ["d"], transB=1))
        current = "d"
    nodes.append(helper.make_node("Identity", [current], ["y"]))
    out_size = n if relation.kind != "top1" else 2 * n
    graph = helper.make_graph(nodes, "product",
                              [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, p.input_size])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, out_size])],
                              initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.save_model(model, path)


@contextlib.contextmanager
def _quiet_fd():
    """Silence C++ output on fd 1/2 (Marabou prints even with verbosity 0)."""
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [devnull]:
            os.close(fd)


def marabou(f: PwlNet, g: PwlNet, box: Box, relation: Relation, time_limit: float) -> PeerResult:
    start = time.monotonic()
    deadline = start + time_limit
    reason = marabou_status()
    if reason:
        return PeerResult("error", 0.0, note=f"not importable: {reason}")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from maraboupy import Marabou, MarabouCore
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "product.onnx")
        try:
            product_onnx(f, g, relation, path)
        except Exception as exc:  # noqa: BLE001
            return PeerResult("error", time.monotonic() - start, note=f"product ONNX: {exc}")
        n = f.output_size
        rows = list(range(n)) if relation.outputs is None else list(relation.outputs)
        bound = _strictly_above(_threshold(relation))
        if relation.kind == "top1":
            queries = [("top1", i, j) for i in rows for j in rows if i != j]
        else:
            queries = [("eps", i, s) for i in rows for s in (1, -1)]
        splits = 0
        for kind, a, b in queries:
            remaining = deadline - time.monotonic()
            if remaining < 1.0:     # Marabou takes whole seconds
                return PeerResult("unknown", time.monotonic() - start, splits, note="time limit")
            with _quiet_fd():
                net = Marabou.read_onnx(path)
            xs = np.asarray(net.inputVars[0]).ravel()
            ys = np.asarray(net.outputVars[0]).ravel()
            for v, lo, hi in zip(xs, box.lower, box.upper):
                net.setLowerBound(int(v), float(lo))
                net.setUpperBound(int(v), float(hi))
            if kind == "eps":
                if b > 0:
                    net.setLowerBound(int(ys[a]), bound)
                else:
                    net.setUpperBound(int(ys[a]), -bound)
            else:
                fi, gi, gj = int(ys[a]), int(ys[n + a]), int(ys[n + b])
                for k in rows:
                    if k != a:
                        net.addInequality([int(ys[k]), fi], [1.0, -1.0], 0.0)   # f_k - f_i <= 0
                net.addInequality([gi, gj], [1.0, -1.0], -5e-324)             # g_j - g_i >= tiny
            options = Marabou.createOptions(timeoutInSeconds=max(int(remaining), 1), verbosity=0)
            try:
                with _quiet_fd():
                    code, vals, stats = net.solve(options=options, verbose=False)
            except Exception as exc:  # noqa: BLE001
                return PeerResult("error", time.monotonic() - start, splits, note=f"solve raised {exc}")
            try:
                splits += int(stats.getUnsignedAttribute(
                    MarabouCore.StatisticsUnsignedAttribute.NUM_SPLITS))
            except Exception:  # noqa: BLE001 - statistics are informative only
                pass
            if code == "unsat":
                continue
            if code == "sat":
                raw = np.array([vals[int(v)] for v in xs], dtype=np.float64)
                x, out = _clip(raw, box)
                return PeerResult("not_equivalent", time.monotonic() - start, splits, x, out,
                                  note=f"sat on query {kind} {a} {b}")
            verdict = "unknown"
            note = "time limit" if code == "TIMEOUT" else f"exit code {code}"
            if code == "ERROR":
                verdict = "error"
            return PeerResult(verdict, time.monotonic() - start, splits, note=note)
    return PeerResult("equivalent", time.monotonic() - start, splits, note="every query unsat")
