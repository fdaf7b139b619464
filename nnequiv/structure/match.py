"""Decide a pair structurally: lumping, permutations, then a weight comparison (untrusted search).

1. Normalise both graphs (:func:`nnequiv.checker.graph_align.normalise`: Identity dropped,
   BatchNorm folded into the layer before it).  If they do not align, remove the original's
   dead neurons (zero incoming weights: the ``simplify`` pass, ``bias_propagation`` and
   ``channel_removal`` steps), then remove the neurons sound bounds prove never active on
   the box (the ``stable`` pass, removals only: a ``stable_relu`` step), then fuse consecutive Gemm /
   MatMul layers (the ``fold-affine`` pass: an ``affine_fold`` step), then lump its exactly
   proportional neurons (the ``lump`` pass), trying again after each.  When the simplified original is already the reduced model
   (same canonical hash: Torch-Pruning's output, DenseNet Concat graphs included) the simplify
   steps are the whole certificate.  When nothing aligns, :mod:`.diagnose` names the first
   layer and the live original channels the reduced model lacks.
2. Infer each hidden layer's permutation (:mod:`.permutations`) and apply it with the
   checker's own replay (:func:`nnequiv.checker.permutation.permute`).
3. Bound the remaining weight difference with the checker's analysis
   (:func:`nnequiv.checker.perturbation.perturbation_bound`): 0 and exact when every weight
   is equal, else a proved epsilon (float rounding of a BatchNorm fold done by another tool).

The certificate chains ``bias_propagation`` -> ``channel_removal`` -> ``lumping`` -> ``permutation`` -> ``weight_perturbation`` steps (each
only when needed) and is re-verified by ``nnequiv verify``.  Any failure is reported with
where it happened; the caller then falls back to the numeric engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..hexfloat import parse_hex
from ..certificate.build import certificate as build_certificate
from ..checker.graph_align import AlignError, align, normalise
from ..checker.permutation import permute
from ..checker.perturbation import perturbation_bound
from ..checker.rewrites import RewriteError
from ..checker.rounding import add_up
from ..errors import NnequivError
from ..ir import Network
from ..onnx_io import canonical_sha256
from ..spec.box import Box
from ..spec.relation import Relation
from .diagnose import Mismatch, first_mismatch
from .permutations import infer

__all__ = ["StructuralResult", "match_structure"]


@dataclass(frozen=True)
class StructuralResult:
    certificate: dict[str, Any] | None      # None: not decided structurally
    bound: float | None                      # proved bound on max |f - g| (0.0 when exact)
    exact: bool
    stats: dict[str, Any] = field(default_factory=dict)
    mismatch: Mismatch | None = None         # the first non-dead channels the reduced model lacks


def _applied(run, tolerated: tuple[type[Exception], ...] = ()):
    """A simplifier: the pass ``run(net)`` when it rewrote something, else None (also when it
    returns None or raises one of ``tolerated``: the pass does not apply to this graph)."""
    def simplified(net: Network):
        try:
            result = run(net)
        except tolerated:
            return None
        return result if result is not None and result.stats.applied else None
    return simplified


# the never-active inference lowers the network to dense matrices: beyond this many entries per
# matrix (a 2000 x 2000 convolution) lowering and bounds take tens of seconds, more than the stage is worth
INACTIVE_DENSE_BUDGET = 4e6


def _simplifiers(box: Box, dense_budget: float):
    """What other tools do, replayed on the original by our passes, in the order they are tried."""
    from ..engine.size_guard import dense_estimate
    from ..passes import PassOptions, get_pass
    from ..passes.stable import stable_with
    from ..passes.stable_search import SearchSettings

    def inactive_removed(net: Network):
        """Neurons sound bounds prove never active on the box (no LP/MILP, no rank reduction),
        only for networks the dense lowering can hold."""
        if dense_estimate(net).entries > min(dense_budget, INACTIVE_DENSE_BUDGET):
            return None
        settings = SearchSettings(milp_budget=0.0, tighten=False, ascent_steps=0, removals_only=True)
        return stable_with(net, PassOptions(box=box), settings)

    does_not_apply = (NnequivError, RewriteError)       # e.g. ops the dense lowering does not take
    return (
        # dead neurons/channels (zero incoming weights), their constant propagated downstream
        _applied(lambda net: get_pass("simplify")(net, PassOptions())),
        _applied(inactive_removed, does_not_apply),
        # consecutive Gemm / MatMul layers fused, with a certified epsilon when the product rounds
        _applied(lambda net: get_pass("fold-affine")(net, PassOptions(box=box)), does_not_apply),
        _applied(lambda net: get_pass("lump")(net, PassOptions())),
    )


def _normalised_or_none(net: Network):
    try:
        return normalise(net)
    except AlignError:
        return None        # not comparable stage by stage; the simplify steps alone may still reach it


def _aligned(original: Network, reduced: Network, box: Box, steps: list[dict[str, Any]], stats: dict[str, Any],
             dense_budget: float):
    """The original (dead neurons removed and lumped if needed) and both stage lists, or None with
    ``stats["failure"]`` set; and the first stage where they do not correspond (when found)."""
    target, last = canonical_sha256(reduced), (None, None)
    g = _normalised_or_none(reduced)
    current, failure = original, None
    for simplify in (None,) + _simplifiers(box, dense_budget):
        if simplify is not None:
            simplified = simplify(current)
            if simplified is None:
                continue
            for step, network in simplified.steps:
                steps.append({**step, "from": canonical_sha256(current), "to": canonical_sha256(network)})
                stats.setdefault("simplified", []).append(step["kind"])
                current = network
        if steps and steps[-1]["to"] == target:     # the simplified original IS the reduced model
            return (current, None, None), None
        f = None
        try:
            f = normalise(current)
            if g is None:
                g = normalise(reduced)      # raises the reduced model's own AlignError
            align(f, g)
            return (current, f, g), None
        except AlignError as exc:
            failure = failure or str(exc)
            last = (f, g)
    f, g = last                                   # dead channels are gone: what is left is not removable
    mismatch = first_mismatch(f, g, steps) if f is not None and g is not None and len(f) == len(g) else None
    if mismatch is not None:
        stats["first_mismatch"] = {"node": mismatch.node, "channels": list(mismatch.channels)}
    stats["failure"] = (failure + ("" if not steps else f" (also after {', '.join(s['kind'] for s in steps)})")
                        + (f"; {mismatch.message}" if mismatch else ""))
    return None, mismatch


def match_structure(original: Network, reduced: Network, box: Box, relation: Relation,
                    dense_budget: float | None = None) -> StructuralResult:
    """``dense_budget``: the largest dense matrix (entries) a simplifier that lowers the network may
    build (default: the numeric engine's :data:`~nnequiv.engine.size_guard.DENSE_BUDGET`)."""
    from ..engine.size_guard import DENSE_BUDGET

    dense_budget = DENSE_BUDGET if dense_budget is None else dense_budget
    started = time.monotonic()
    stats: dict[str, Any] = {"matched": False}
    steps: list[dict[str, Any]] = []

    def finish(certificate=None, bound=None, exact=False, mismatch: Mismatch | None = None) -> StructuralResult:
        stats["time_s"] = round(time.monotonic() - started, 4)
        return StructuralResult(certificate, bound, exact, stats, mismatch)

    try:
        aligned, mismatch = _aligned(original, reduced, box, steps, stats, dense_budget)
        if aligned is None:
            return finish(mismatch=mismatch)
        current, f, g = aligned
        if f is None:
            total = _total(steps)
            stats.update(matched=True, steps=[s["kind"] for s in steps], exact=total == 0.0, bound=total)
            return finish(_certificate(original, reduced, box, relation, total, steps), total, total == 0.0)
        stats["stages"] = len(f)
        inference = infer(f, g)
        stats["permuted_layers"] = [{"node": p.node, "moved": int(np.sum(np.array(p.order) != np.arange(len(p.order))))}
                                    for p in inference.layers]
        layers = inference.layers
        if inference.failure is not None:      # still compare the graphs as they are (e.g. pruned weights)
            stats["permutation_failure"] = inference.failure
            layers = ()
        if layers:
            position = {n.name: i for i, n in enumerate(current.nodes)}
            layers = [(position[p.node], np.array(p.order)) for p in layers]
            permuted = permute(current, layers).network
            steps.append({"kind": "permutation", "from": canonical_sha256(current), "to": canonical_sha256(permuted),
                          "epsilon": (0.0).hex(),
                          "layers": [{"node": i, "permutation": [int(v) for v in o]} for i, o in layers]})
            current = permuted
        bound = perturbation_bound(current, reduced, box, relation.outputs)
    except (AlignError, RewriteError, NnequivError) as exc:
        stats["failure"] = str(exc)
        return finish()
    except (ValueError, KeyError, IndexError, TypeError, ArithmeticError) as exc:   # a graph we do not model
        stats["failure"] = f"the graphs could not be compared ({type(exc).__name__}: {exc})"
        return finish()
    stats["bound"] = bound.value
    stats["exact"] = bound.exact
    if not bound.exact and (relation.kind != "eps" or not bound.value <= relation.eps):
        need = "an exact match" if relation.kind != "eps" else f"eps {relation.eps!r}"
        stats["failure"] = (f"the weights differ: deviation proved <= {bound.value!r}, the relation needs {need}"
                            + (f" (no permutation found: {stats['permutation_failure']})"
                               if "permutation_failure" in stats else ""))
        return finish(bound=bound.value)
    epsilon = 0.0 if bound.exact else min(relation.eps, float(np.nextafter(bound.value * (1 + 1e-9), np.inf)))
    reduced_hash = canonical_sha256(reduced)
    if not steps or steps[-1]["to"] != reduced_hash or epsilon:
        steps.append({"kind": "weight_perturbation", "from": canonical_sha256(current), "to": reduced_hash,
                      "epsilon": epsilon.hex()})
    total = _total(steps)
    stats.update(matched=True, steps=[s["kind"] for s in steps])
    return finish(_certificate(original, reduced, box, relation, total, steps), total, bound.exact)


def _total(steps: list[dict[str, Any]]) -> float:
    total = 0.0
    for step in steps:
        total = float(add_up(total, parse_hex(step["epsilon"])))
    return total


def _certificate(original: Network, reduced: Network, box: Box, relation: Relation, bound: float,
                 steps: list[dict[str, Any]]) -> dict[str, Any]:
    return build_certificate(original, reduced, box, relation, bound, steps, {"method": "structural match"})
