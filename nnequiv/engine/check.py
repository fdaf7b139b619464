"""``nnequiv.check``: decide a relation between two networks on a box.

Stages (each may decide): a structural match of the two graphs (``nnequiv.structure``:
dead, lumped or permuted neurons, BatchNorm folded with rounding; fast, certificate
re-checked); shape checks; falsification (vertices, samples, projected gradient); a
composition through a shared prefix / suffix (:mod:`.compose`: the middle decided on an
enclosure of the prefix's output; first when the whole pair is too large);
branch and bound over the trusted differential analysis;
a MILP search for violations when the budget runs out.  A verdict of
``equivalent`` carries a certificate the checker has already accepted; a
``not_equivalent`` verdict carries a counterexample replayed in exact arithmetic.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ..errors import ShapeError, UnsupportedOpError
from ..ir import Network
from ..lowering import to_pwl
from ..pwl import PwlNet
from ..spec.box import Box
from ..spec.relation import Relation
from .bab import branch_and_bound
from .certify import bab_certificate, self_check
from .embedding_search import embedded, embedding_for
from .confirm import exact_deviation, replay
from .falsify import falsify
from .objective import violates
from .size_guard import DENSE_BUDGET, too_large
from .verdict import Verdict

Progress = Callable[[int, float], None]


def check(original: Network | str, reduced: Network | str, box: Box | tuple | None = None,
          relation: Relation | None = None, timeout: float = 60.0, seed: int = 0,
          progress: Progress | None = None, dense_budget: float = DENSE_BUDGET, compose: bool = True) -> Verdict:
    started = time.monotonic()
    original, reduced = _load(original), _load(reduced)
    relation = relation or Relation.epsilon(0.0)
    box = _as_box(box, original)
    stats: dict[str, Any] = {}

    def done(verdict: str, **fields) -> Verdict:
        return Verdict(verdict=verdict, relation=relation.to_json(), time_s=time.monotonic() - started,
                       stats=stats, **fields)

    decided, mismatch = _structural_stage(original, reduced, box, relation, stats, dense_budget)
    if decided is not None:
        certificate, bound = decided
        # lower: the trivial 0 (no input is replayed: exact evaluation does not scale to these models)
        return done("equivalent", lower=0.0 if relation.kind != "top1" else None,
                    upper=bound if relation.kind != "top1" else None, counterexample=None, certificate=certificate)

    def composed(share: float) -> Verdict | None:
        """The common prefix / suffix cut away and the middle decided on its own (:mod:`.compose`)."""
        if not compose:
            return None
        found = _composition_stage(original, reduced, box, relation, share * timeout, seed, dense_budget, stats)
        if found is None:
            return None
        stats.pop("unknown_reason", None)
        certificate, bound = found
        return done("equivalent", lower=0.0 if relation.kind != "top1" else None,
                    upper=bound if relation.kind != "top1" else None, counterexample=None, certificate=certificate)

    oversized = _oversized(original, reduced, dense_budget, stats)
    if oversized is not None:
        return composed(0.8) or _search_only_verdict(original, reduced, box, relation, seed, stats, done, False, started + timeout,
                                                     mismatch)
    try:
        f, g = _lowered_pair(original, reduced, box, relation)
    except UnsupportedOpError as exc:
        if "structural" not in stats:
            raise
        stats["unknown_reason"] = (f"{exc.args[0] if exc.args else exc}; the structural stage did not decide: "
                                   f"{stats['structural'].get('failure')}")
        return composed(0.8) or _search_only_verdict(original, reduced, box, relation, seed, stats, done, True, started + timeout,
                                                     mismatch)
    lower, upper = np.array(box.lower, float), np.array(box.upper, float)
    stats.update({"original": _shape_stats(f), "reduced": _shape_stats(g)})
    embedding = embedding_for(f, g)        # hidden widths differ: pair neurons, zero-pad the narrower
    f, g = embedded(f, g, embedding)
    if embedding:
        stats["embedding"] = {net: [e["layer"] for e in entries] for net, entries in embedding.items()}
    rng = np.random.default_rng(seed)

    candidate = falsify(f, g, lower, upper, relation, rng)
    stats["falsify_best"] = candidate.value
    if violates(candidate.value, relation):
        found = replay(original, reduced, candidate.x, relation)
        if found is not None:
            stats["stage"] = "falsification"
            return done("not_equivalent", lower=_lower(found.deviation, relation), upper=None,
                        counterexample=found)
    decided_by_composition = composed(0.5)     # after the whole pair's falsification found nothing
    if decided_by_composition is not None:
        return decided_by_composition

    confirmed: dict[str, Any] = {}

    def is_confirmed(x: np.ndarray) -> bool:
        found = replay(original, reduced, x, relation)
        if found is not None:
            confirmed["cex"] = found
        return found is not None

    # branch and bound gets 80 % of the budget, the MILP violation search what is left
    deadline = started + timeout
    outcome = branch_and_bound(f, g, lower, upper, relation, started + 0.8 * timeout,
                               is_confirmed=is_confirmed, progress=progress)
    stats.update({"stage": "branch_and_bound", "regions": outcome.regions, **outcome.stats})
    if outcome.status == "violated":
        cex = confirmed["cex"]
        return done("not_equivalent", lower=_lower(cex.deviation, relation), upper=None, counterexample=cex)
    best_lower = _best_lower(original, reduced, candidate.x, relation)
    if outcome.status == "proved":
        bound = _claimable(float(outcome.upper), relation)
        certificate = bab_certificate(original, reduced, box, relation, bound, outcome.tree, stats, embedding)
        report = self_check(certificate, original, reduced)
        if not report.valid:  # never report a proof the checker rejects
            stats["self_check"] = [str(p) for p in report.problems[:5]]
            return done("unknown", lower=best_lower, upper=None, counterexample=None)
        upper_bound = bound if relation.kind != "top1" else None
        return done("equivalent", lower=best_lower, upper=upper_bound, counterexample=None,
                    certificate=certificate)
    cex = _milp_search(original, reduced, f, g, lower, upper, relation, deadline)
    if cex is not None:
        stats["stage"] = "milp"
        return done("not_equivalent", lower=_lower(cex.deviation, relation), upper=None, counterexample=cex)
    upper_bound = float(outcome.upper) if relation.kind != "top1" else None
    return done("unknown", lower=best_lower, upper=upper_bound, counterexample=None)


def _structural_stage(original: Network, reduced: Network, box: Box, relation: Relation,
                      stats: dict[str, Any], dense_budget: float) -> tuple[tuple[dict[str, Any], float] | None, Any]:
    """Try to decide from a layer correspondence (``nnequiv.structure``): ``(certificate, bound)`` or
    None (the numeric stages follow), and the first stage where the graphs do not correspond (or
    None).  The certificate is self-checked like every other proof."""
    if original.input.size != reduced.input.size or original.output.size != reduced.output.size:
        return None, None
    relation.check_outputs(original.output.size)
    from ..structure import match_structure

    result = match_structure(original, reduced, box, relation, dense_budget)
    stats["structural"] = result.stats
    if result.certificate is None:
        return None, result.mismatch
    report = self_check(result.certificate, original, reduced)
    if not report.valid:
        result.stats["matched"] = False
        result.stats["self_check"] = [str(p) for p in report.problems[:5]]
        return None, result.mismatch
    stats["stage"] = "structural"
    return (result.certificate, float(result.bound)), result.mismatch


def _composition_stage(original, reduced, box, relation, budget, seed, dense_budget, stats):
    """A common prefix / suffix cut away and the middle decided by this engine (:mod:`.compose`)
    within ``budget`` seconds: most of the budget when the whole pair cannot go to the numeric
    engine, half otherwise; what is left goes to the whole pair (whose falsification alone
    decides a violation: the middle's violations need not be reachable)."""
    from .compose import MODEL_ERRORS, compose_stage

    try:
        return compose_stage(original, reduced, box, relation, budget, seed, dense_budget, stats)
    except MODEL_ERRORS as exc:
        stats["composition"] = {**stats.get("composition", {}), "used": False,
                                "reason": f"the composition failed ({type(exc).__name__}: {exc})"}
        return None


def _oversized(original: Network, reduced: Network, budget: float, stats: dict[str, Any]) -> str | None:
    """The size guard (:mod:`.size_guard`): the reason the numeric engine cannot run, or None."""
    if original.input.size != reduced.input.size or original.output.size != reduced.output.size:
        return None                       # _lowered_pair reports the shape error
    reason = too_large(original, reduced, budget)
    if reason is not None:
        failure = stats.get("structural", {}).get("failure", "no structural correspondence was tried")
        stats["unknown_reason"] = f"{reason}; the structural stage did not decide: {failure}"
    return reason


def _search_only_verdict(original, reduced, box, relation, seed, stats, done, exact: bool, deadline: float,
                         mismatch) -> Verdict:
    """Models the numeric engine cannot take (too large, or ops it does not lower): only a
    falsification search runs; its input is replayed exactly when ``exact`` (small models)."""
    from .falsify_large import REPLAY_METHOD, RIGOROUS_METHOD, falsify_large, rigorous_seconds

    stats["stage"] = "search_only"
    lower, upper = np.array(box.lower, float), np.array(box.upper, float)
    need, left = (0.0, 0.0) if exact else (rigorous_seconds(original, reduced), deadline - time.monotonic())
    if need > left:
        stats["rigorous_replay"] = (f"skipped: the enclosures would take ~{need:.0f} s, {max(left, 0.0):.0f} s "
                                    "are left (raise --timeout for a rigorous replay)")
    cex = falsify_large(original, reduced, lower, upper, relation, np.random.default_rng(seed), exact_replay=exact,
                        mismatch=mismatch, rigorous=need <= left)
    if cex is None:
        return done("unknown", lower=None, upper=None, counterexample=None)
    stats["stage"] = "falsification_search"
    if cex.replay == "rigorous":
        stats["counterexample_replay"] = RIGOROUS_METHOD
        proved = None if relation.kind == "top1" else cex.deviation_lower
        return done("not_equivalent", lower=proved, upper=None, counterexample=cex)
    if not exact:
        stats["counterexample_replay"] = REPLAY_METHOD
    return done("not_equivalent", lower=_lower(cex.deviation, relation) if exact else None, upper=None,
                counterexample=cex)


def _claimable(proved: float, relation: Relation) -> float:
    """The bound to certify: the search's bound padded by 1e-8 relative (the checker's batched
    replay may differ in the last bits, ``checker.bab_tree.VALUE_TOLERANCE``), never above eps."""
    if relation.kind != "eps" or proved <= 0.0:
        return proved
    return min(relation.eps, float(np.nextafter(proved * (1 + 1e-8), np.inf)))


def _milp_search(original, reduced, f, g, lower, upper, relation, deadline):
    """Look for a violation with the MILP encoding; every candidate is replayed exactly."""
    from .milp_search import milp_candidates

    for x in milp_candidates(f, g, lower, upper, relation, deadline):
        found = replay(original, reduced, x, relation)
        if found is not None:
            return found
    return None


def _lower(deviation: float, relation: Relation) -> float | None:
    return None if relation.kind == "top1" else float(deviation)


def _best_lower(original, reduced, x, relation) -> float | None:
    if relation.kind == "top1":
        return None
    return float(exact_deviation(original, reduced, x, relation))


def _load(model: Network | str) -> Network:
    if isinstance(model, Network):
        return model
    from ..loading import load

    return load(model)


def _as_box(box, net: Network) -> Box:
    if isinstance(box, Box):
        result = box
    elif box is None:
        raise ShapeError("no input box given", fix="pass --box LO:HI, --box-file or --vnnlib")
    else:
        lo, hi = box  # Box rounds non-float bounds outward (never a smaller domain)
        result = Box.uniform(lo, hi, net.input.size) if np.ndim(lo) == 0 and np.ndim(hi) == 0 else Box.of(lo, hi)
    if result.size == 1 and net.input.size != 1:
        result = result.broadcast_to(net.input.size)
    if result.size != net.input.size:
        raise ShapeError(f"the box has {result.size} bounds but the model takes {net.input.size} inputs",
                         file=net.source, fix="give one interval per input, or a single LO:HI for all")
    return result


def _lowered_pair(original: Network, reduced: Network, box: Box, relation: Relation) -> tuple[PwlNet, PwlNet]:
    if original.input.size != reduced.input.size:
        raise ShapeError(f"inputs differ: {original.input.shape} vs {reduced.input.shape}",
                         file=reduced.source, fix="both models must take the same input")
    if original.output.size != reduced.output.size:
        raise ShapeError(f"outputs differ: {original.output.shape} vs {reduced.output.shape}",
                         file=reduced.source, fix="both models must produce the same outputs")
    relation.check_outputs(original.output.size)
    f, g = to_pwl(original), to_pwl(reduced)
    if f.softmax_output != g.softmax_output:
        raise ShapeError("only one of the models ends in Softmax", file=reduced.source,
                         fix="compare both with or both without the final Softmax")
    return f, g


def _shape_stats(net: PwlNet) -> dict[str, Any]:
    return {"layers": len(net.layers), "widths": list(net.widths), "exact_weights": net.is_exact}
