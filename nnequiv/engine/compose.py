"""Decide a pair through its middle: a common prefix and suffix cut away (``proofs/cut_composition.md``).

When the structural match fails, :func:`nnequiv.structure.cut.common_cut` looks for the longest
common prefix and suffix ending at single tensors.  The prefix's output over the box is enclosed
in a box ``B'`` (the checker's own enclosure code); the numeric engine (:func:`.check.check`,
without this stage) decides the middle pair on ``B'`` under a relation that carries the claim
through the suffix (``eps' = eps / L`` rounded down, ``L`` the suffix's Lipschitz bound).  Only a
proof is used: a violation in the middle need not be reachable, so the caller's whole-pair
falsification decides ``not_equivalent``.  The certificate is one ``composition`` step holding
the middle's certificate; it is self-checked before it is reported.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import numpy as np

from ..certificate.build import certificate as build_certificate
from ..checker.cut import CutError, first_difference, split
from ..checker.cut_bounds import prefix_enclosure, suffix_lipschitz
from ..checker.graph_align import AlignError
from ..errors import NnequivError
from ..hexfloat import parse_hex
from ..ir import Network
from ..onnx_io import canonical_sha256
from ..spec.box import Box, round_down, round_up
from ..spec.relation import Relation
from ..structure.cut import common_cut
from .certify import self_check
from .size_guard import dense_estimate, too_large

MAX_SUFFIX_LIPSCHITZ = 100.0    # a larger L leaves eps / L for the middle: prove the suffix with it instead
ZONOTOPE_BUDGET = 2e7           # dense entries of the lowered prefix for the (tighter) zonotope enclosure
MODEL_ERRORS = (AlignError, CutError, NnequivError, ValueError, KeyError, IndexError, TypeError, ArithmeticError)


def _choose_suffix(cut, f: Network, relation: Relation) -> tuple[int, float]:
    """The suffix length and its Lipschitz bound: the longest for exact, none for top-1 (the
    middle must then be exact), for eps the longest whose bound is known and at most
    :data:`MAX_SUFFIX_LIPSCHITZ`."""
    if relation.kind == "exact":
        return cut.suffix_nodes[0], 1.0
    if relation.kind == "top1":
        return 0, 1.0
    for m in cut.suffix_nodes:
        try:
            lipschitz = suffix_lipschitz(split(f, cut.prefix_nodes, m).suffix, relation.outputs)
        except MODEL_ERRORS:        # a suffix the bound does not model: try a shorter one
            continue
        if lipschitz <= MAX_SUFFIX_LIPSCHITZ:
            return m, lipschitz
    return 0, 1.0


def _enclosure(prefix: Network | None, box: Box) -> tuple[str, np.ndarray, np.ndarray]:
    order = ("zonotope", "interval")
    if prefix is not None and dense_estimate(prefix).entries > ZONOTOPE_BUDGET:
        order = ("interval",)
    failures = []
    for method in order:
        try:
            return (method,) + prefix_enclosure(prefix, box, method)
        except MODEL_ERRORS as exc:        # the next method, or the stats reason
            failures.append(f"{method}: {exc}")
    raise ValueError("; ".join(failures))


def _middle_relation(relation: Relation, lipschitz: float, suffix_empty: bool) -> Relation:
    outputs = relation.outputs if suffix_empty else None
    if relation.kind == "eps":
        return Relation.epsilon(round_down(Fraction(relation.eps) / Fraction(lipschitz)), outputs)
    return Relation.exact(outputs) if relation.kind == "exact" else Relation.top1(outputs)


def compose_stage(original: Network, reduced: Network, box: Box, relation: Relation, timeout: float, seed: int,
                  dense_budget: float, stats: dict[str, Any]) -> tuple[dict[str, Any], float] | None:
    """``(certificate, bound)`` when the middle is proved, else None (``stats["composition"]`` says why)."""
    from .check import check

    started = time.monotonic()
    cut = common_cut(original, reduced)
    if not cut.useful:
        stats["composition"] = {"used": False, "reason": cut.reason}
        return None
    m, lipschitz = _choose_suffix(cut, original, relation)
    k = cut.prefix_nodes
    if k == 0 and m == 0:
        stats["composition"] = {"used": False, "reason": "only a suffix is shared and its Lipschitz bound is "
                                                         f"unknown or above {MAX_SUFFIX_LIPSCHITZ:g}"}
        return None
    f, g = split(original, k, m), split(reduced, k, m)
    info: dict[str, Any] = {"used": False, "prefix_nodes": list(f.prefix_names), "suffix_nodes": list(f.suffix_names),
                            "middle": f"{len(f.middle.nodes)} nodes of the original ({_span(f.middle)}) against "
                                      f"{len(g.middle.nodes)} of the reduced ({_span(g.middle)})"}
    stats["composition"] = info
    for label, a, b in (("prefix", f.prefix, g.prefix), ("suffix", f.suffix, g.suffix)):
        difference = None if a is None else first_difference(a, b)
        if difference is not None:
            info["reason"] = f"the {label}es differ: {difference}"
            return None
    oversized = too_large(f.middle, g.middle, dense_budget)
    if oversized is not None:          # the middle holds the mismatch the structural stage already failed on
        info["reason"] = oversized.replace("model is too large", "middle is too large", 1)
        return None
    try:
        method, lower, upper = _enclosure(f.prefix, box)
        middle_box = Box.of(lower, upper)
    except MODEL_ERRORS as exc:            # ops the enclosures do not model
        info["reason"] = f"no enclosure of the prefix's output: {exc}"
        return None
    middle_relation = _middle_relation(relation, lipschitz, f.suffix is None)
    info.update(enclosure=method, lipschitz=lipschitz, middle_relation=middle_relation.describe())
    nested = check(f.middle, g.middle, middle_box, middle_relation, timeout=timeout, seed=seed,
                   dense_budget=dense_budget, compose=False)
    info["middle_verdict"] = {"verdict": nested.verdict, "stage": nested.stats.get("stage"),
                              "regions": nested.stats.get("regions", 0), "time_s": round(nested.time_s, 4)}
    if nested.verdict != "equivalent" or nested.certificate is None:
        info["reason"] = (f"the middle is {nested.verdict} on the prefix's enclosure"
                          + (" (not necessarily reachable: the whole pair is searched next)"
                             if nested.verdict == "not_equivalent" else ""))
        return None
    middle_bound = parse_hex(nested.certificate["claim"]["bound"])
    epsilon = round_up(Fraction(lipschitz) * Fraction(middle_bound)) if relation.kind == "eps" else 0.0
    certificate = build_certificate(original, reduced, box, relation, epsilon, [{
        "kind": "composition", "from": canonical_sha256(original), "to": canonical_sha256(reduced),
        "epsilon": float(epsilon).hex(), "prefix_nodes": k, "suffix_nodes": m, "enclosure": method,
        "prefix_box": {"lower": [float(v).hex() for v in lower], "upper": [float(v).hex() for v in upper]},
        "lipschitz": float(lipschitz).hex(), "middle_epsilon": float(middle_bound).hex(),
        "middle": {key: value for key, value in nested.certificate.items() if key != "metadata"}}],
        {"method": "composition"})
    report = self_check(certificate, original, reduced)
    info["time_s"] = round(time.monotonic() - started, 4)
    if not report.valid:
        info["reason"] = "the checker rejected the composition: " + "; ".join(str(p) for p in report.problems[:3])
        return None
    info.update(used=True, bound=epsilon)
    info.pop("reason", None)
    stats["stage"] = "composition"
    return certificate, epsilon


def _span(net: Network) -> str:
    names = [node.name for node in net.nodes]
    return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"
