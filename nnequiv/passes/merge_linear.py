"""``merge-linear``: merge neurons whose incoming row and bias are an exact rational
combination of other neurons' (``proofs/linear_merge.md``; evidence ``linear_merge``).

Layer by layer from the input, on the network merged so far:

1. :func:`.linear_dependence.combinations` proposes ``v_k = sum c_i v_i`` (float64) and
   confirms it exactly (Fractions), at most ``MAX_TERMS`` terms;
2. a single positive term (proportional lumping) is merged unconditionally; anything else
   needs the box: the pass bisects it (widest side first, at most ``MAX_LEAVES`` pieces)
   until the checker's own bounds show the involved pre-activations sharing a sign on
   every piece -- the pieces are the certificate's cover;
3. otherwise it looks for a witness: points of the box (centre, corners, seeded samples,
   centres of the pieces it could not settle) where the pre-activations do not share a
   sign, evaluated EXACTLY in the source and in the blindly merged network; a point where
   the outputs differ refutes the merge and is reported (``stats.details["witnesses"]``);
4. the merges are materialised with the checker's replay (:mod:`nnequiv.checker.linear_merge`),
   so the step verifies exactly when the pass succeeded.  A merge whose outgoing weights
   would round is kept only with a box and a finite certified epsilon.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from ..checker import linear_merge as trusted
from ..checker.dense_layer import dense_site
from ..checker.lumping_site import ACTIVATIONS
from ..checker.rewrites import RewriteError
from ..errors import NnequivError
from ..interpret import evaluate_all, evaluate_exact
from ..ir import Network
from ..spec.box import Box
from . import register_pass
from .base import INEXACT_WITHOUT_BOX, PassOptions, PassResult, PassStats, Refusal, certified_epsilon
from .linear_dependence import combinations

MAX_TERMS = 4
MAX_LEAVES = 64
SAMPLES = 256
EXACT_TRIALS = 4


@dataclass(frozen=True)
class Witness:
    """An input of the box where merging ``neuron`` of ``layer`` changes the network's output."""

    layer: str
    neuron: int
    x: tuple[float, ...]
    difference: float        # max |merged(x) - source(x)|, from exact evaluation


def _shares_sign(lo: np.ndarray, hi: np.ndarray, neurons: list[int]) -> np.ndarray:
    return np.all(lo[:, neurons] >= 0, axis=1) | np.all(hi[:, neurons] <= 0, axis=1)


def _prove(net: Network, activation: int, merge: trusted.Merge, box: Box,
           max_leaves: int) -> tuple[tuple[Box, ...] | None, list[Box]]:
    """A cover of ``box`` by pieces on which the sign condition is proved, else the unsettled pieces."""
    neurons = list(trusted.involved(merge))
    leaves: list[Box] = []
    pending = [box]
    while True:
        lo, hi = trusted.pre_activation_bounds(net, activation, np.array([b.lower for b in pending]),
                                               np.array([b.upper for b in pending]))
        settled = _shares_sign(lo, hi, neurons)
        leaves += [b for b, ok in zip(pending, settled) if ok]
        pending = [b for b, ok in zip(pending, settled) if not ok]
        if not pending:
            return tuple(leaves), []
        if len(leaves) + 2 * len(pending) > max_leaves:
            return None, pending
        pending = [half for b in pending for half in b.split(int(np.argmax(b.widths)))]


def _candidate_points(box: Box, unsettled: list[Box], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = [box.center[None], box.corners(32, rng), box.sample(SAMPLES, rng)]
    points += [b.center[None] for b in unsettled[:SAMPLES]]
    return np.vstack(points)


def _refute(net: Network, blind: Network, activation: int, merge: trusted.Merge, box: Box,
            unsettled: list[Box], layer: str) -> Witness | None:
    points = _candidate_points(box, unsettled, seed=merge.neuron)
    tensor = net.nodes[activation].inputs[0]
    z = evaluate_all(net, points)[tensor].reshape(len(points), -1)[:, list(trusted.involved(merge))]
    # how clearly the signs disagree: the smaller of the largest positive and largest negative value
    disagreement = np.minimum(z.max(axis=1), -z.min(axis=1))
    for r in np.argsort(-disagreement)[:EXACT_TRIALS]:
        if disagreement[r] <= 0:
            break
        x = points[r]
        difference = np.abs(evaluate_exact(blind, x).values - evaluate_exact(net, x).values).max()
        if difference > 0:
            return Witness(layer, merge.neuron, tuple(float(v) for v in x), float(difference))
    return None


def _layer_merges(net: Network, activation: int, name: str, box: Box | None, allow_inexact: bool,
                  witnesses: list[Witness]) -> tuple[list[trusted.Merge], list[Refusal]]:
    dense = dense_site(net, activation)
    found, refused = combinations(dense, name, MAX_TERMS)
    merges = []
    for combination in found:
        where = f"{name} neuron {combination.neuron}"
        merge = trusted.Merge(combination.neuron, combination.terms)
        if box is None and trusted.needs_sign_evidence(merge):
            refused.append(Refusal(where, f"= {_show(combination.terms)}: several terms or a negative "
                                          "coefficient need a box on which their signs agree"))
            continue
        trial = trusted.merge_layer(net, trusted.MergeLayer(activation, (merge,)), "layer")
        if not trial.exact and (box is None or not allow_inexact):
            refused.append(Refusal(where, INEXACT_WITHOUT_BOX if box is None else
                                   "inexact, and its deviation cannot be bounded"))
            continue
        if trusted.needs_sign_evidence(merge):
            # the whole box first; then a witness (cheap); then bisection; then a witness among its pieces
            cover, unsettled = _prove(net, activation, merge, box, max_leaves=1)
            witness = None if cover else _refute(net, trial.network, activation, merge, box, [], name)
            if cover is None and witness is None:
                cover, unsettled = _prove(net, activation, merge, box, MAX_LEAVES)
                witness = None if cover else _refute(net, trial.network, activation, merge, box, unsettled, name)
            if witness is not None:
                witnesses.append(witness)
                shown = f" x = {list(witness.x)}" if len(witness.x) <= 8 else " (stats.details['witnesses'])"
                refused.append(Refusal(where, f"= {_show(combination.terms)} but the signs disagree on the box: "
                                              f"at the witness input{shown} the merged output differs by "
                                              f"{witness.difference:.3g} (exact evaluation)"))
                continue
            if cover is None:
                refused.append(Refusal(where, f"= {_show(combination.terms)}: the shared sign is not proved "
                                              f"within {MAX_LEAVES} sub-boxes and no witness was found"))
                continue
            merge = replace(merge, cover=cover)
        merges.append(merge)
    return merges, refused


def _show(terms: tuple[tuple[int, Fraction], ...]) -> str:
    return " + ".join(f"({c}) z{i}" for i, c in terms)


def _run(net: Network, box: Box | None, allow_inexact: bool) -> tuple[Network, list[dict], PassStats, bool]:
    current, layers, refused, witnesses, applied, exact = net, [], [], [], 0, True
    for a in range(len(net.nodes)):
        if current.nodes[a].op not in ACTIVATIONS:
            continue
        name = current.nodes[a].name
        try:
            merges, more = _layer_merges(current, a, name, box, allow_inexact, witnesses)
        except RewriteError as exc:
            refused.append(Refusal(name, f"not a mergeable layer: {exc.reason}"))
            continue
        refused += more
        if not merges:
            continue
        layer = trusted.MergeLayer(a, tuple(merges))
        try:
            result = (trusted.merge_layer(current, layer, "layers/0") if box is None
                      else trusted.linear_merge(current, [layer], box))
        except RewriteError as exc:      # each merge was checked alone; together they must pass too
            refused += [Refusal(f"{name} neuron {m.neuron}", f"not replayable with the others: {exc}")
                        for m in merges]
            continue
        current, exact = result.network, exact and result.exact
        applied += len(merges)
        layers.append({**trusted.evidence_of(layer), "name": name})
    details = {"layers": len(layers), "witnesses": tuple(witnesses)}
    return current, layers, PassStats(applied, tuple(refused), 0.0, details), exact


@register_pass("merge-linear")
def merge_linear(net: Network, options: PassOptions) -> PassResult:
    box = options.box
    current, layers, stats, exact = _run(net, box, allow_inexact=True)
    epsilon = 0.0
    if not exact:
        try:
            epsilon = certified_epsilon(net, current, box)
        except NnequivError:
            epsilon = float("inf")
        if not epsilon < float("inf"):
            current, layers, stats, _ = _run(net, box, allow_inexact=False)
            epsilon = 0.0
    stats = replace(stats, epsilon=epsilon)
    return PassResult(current, {"kind": "linear_merge", "epsilon": epsilon.hex(), "layers": layers}, stats)
