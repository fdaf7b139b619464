"""Evidence ``stable_relu``: ReLU neurons stable on the claim's box (trusted).

A step lists, per Relu layer (``activation`` node index of the source network), the neurons
claimed never active (``inactive``), always active (``active``), rank-reduction
``combinations`` (an active neuron whose incoming row and bias are an exact rational
combination of other active neurons' rows, coefficients written ``"p/q"``) and whether the
layer is ``collapse``d; optionally a ``split`` of the box into sub-boxes (JSON parsing and
the registered replay: :mod:`.stable_relu_evidence`).

The checker lowers the source, checks that the split covers the box exactly
(:func:`.cover.uncovered_point`), recomputes sound pre-activation bounds over the
pieces (:func:`.net_bounds.bounds_over`), narrows them by the step's LP ``refinements``
(:mod:`.stable_refine`, S8), and accepts a claimed phase only if the bound
proves it (``hi <= 0`` / ``lo >= 0``) or the layer's ``duals`` carry LP multipliers whose safe
bound on the checker's own triangle relaxation does (S7, :mod:`.lp_dual`), or its ``trees``
split on earlier neurons' phases down to such LP leaves (:mod:`.phase_tree`).  The rewrite (``proofs/stable_relu.md``): inactive
neurons are deleted (S1), each combination's neuron is deleted and its outgoing row added,
times its coefficients, to the terms' rows (S3, exact rationals, then the weights' dtype),
and a collapsed layer (every remaining neuron active) loses its Relu and its two affine maps
are folded (S4 via ``affine_fold``).  Only Relu: a never-active LeakyRelu neuron is linear,
not zero, and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..ir import Network, Node
from ..lowering import to_pwl
from . import dense_layer, rewrites
from .lp_dual import safe_max, triangle_lp
from .cover import uncovered_point
from .net_bounds import MAX_COVER_REGIONS, Bounds, bounds_over
from .phase_tree import PhaseTree, check_tree_sizes, tree_proofs
from .rewrites import RewriteError
from .stable_refine import Refinement, refine_bounds, sparse_multipliers

__all__ = ["Combination", "Dual", "StableLayer", "activation_layers", "stable_relu"]


@dataclass(frozen=True)
class Combination:
    neuron: int
    terms: tuple[tuple[int, Fraction], ...]


@dataclass(frozen=True, eq=False)
class Dual:
    """LP multipliers (sparse: ``rows`` and ``values``) proving one neuron's phase (S7)."""

    neuron: int
    phase: str                # "inactive" | "active"
    rows: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class StableLayer:
    activation: int
    inactive: tuple[int, ...]
    active: tuple[int, ...]
    combinations: tuple[Combination, ...] = ()
    collapse: bool = False
    duals: tuple[Dual, ...] = ()
    trees: tuple[PhaseTree, ...] = ()     # phase split trees with LP leaves (:mod:`.phase_tree`)


def activation_layers(net: Network) -> dict[int, int]:
    """Activation node index -> its layer in ``to_pwl(net)`` (the k-th activation closes layer k)."""
    positions = [i for i, node in enumerate(net.nodes) if node.op in dense_layer.ACTIVATIONS]
    return {node_index: k for k, node_index in enumerate(positions)}


def stable_relu(net: Network, lower: np.ndarray, upper: np.ndarray, layers: Sequence[StableLayer],
                split: Sequence[Bounds] | None = None, refinements: Sequence[Refinement] = ()) -> rewrites.Rewrite:
    """Check every claim against bounds the checker derives itself (narrowed by the
    ``refinements``, S8) and apply the rewrite."""
    pwl = to_pwl(net)
    mapping = activation_layers(net)
    if len(mapping) != len(pwl.layers) - 1:
        raise RewriteError("layers", "the activations of the source do not map one to one onto its lowered layers")
    check_tree_sizes([layer.trees for layer in layers])
    pieces = _pieces(lower, upper, split)
    used = [layer.activation for layer in layers] + [r.activation for r in refinements]
    depth = 1 + max((mapping.get(a, -1) for a in used), default=-1)
    bounds = bounds_over(pwl, pieces, depth) if depth > 0 else []
    if refinements:
        bounds = refine_bounds(pwl, bounds, mapping, lower, upper, refinements)
    exact, collapsed, seen = True, [], set()
    for position, layer in enumerate(layers):
        item = f"layers/{position}"
        if layer.activation in seen:       # later indices would no longer be the source's neurons
            raise RewriteError(f"{item}/activation", f"activation #{layer.activation} is listed twice")
        seen.add(layer.activation)
        dense = dense_layer.dense_layer(net, layer.activation, f"{item}/activation")
        if net.nodes[layer.activation].op != "Relu":
            raise RewriteError(f"{item}/activation", f"{net.nodes[layer.activation].name!r} is not Relu (a never-"
                                                     "active LeakyRelu neuron is linear, not zero: not handled)")
        k = mapping[layer.activation]
        n = dense.incoming.shape[1]
        if np.any(pwl.layers[k].slope[:n] != 0.0):
            raise RewriteError(f"{item}/activation", "the lowered layer does not match the Relu neurons")
        lo, hi = bounds[k][0][:n], bounds[k][1][:n]
        by_dual = _dual_proofs(pwl, bounds, k, n, lower, upper, layer.duals, f"{item}/duals")
        by_dual |= tree_proofs(pwl, bounds, k, n, lower, upper, layer.trees, mapping, f"{item}/trees")
        inactive = _proved(layer.inactive, hi, n, f"{item}/inactive", "inactive",
                           lambda j: hi[j] <= 0.0 or (j, "inactive") in by_dual)
        active = _proved(layer.active, lo, n, f"{item}/active", "active",
                         lambda j: lo[j] >= 0.0 or (j, "active") in by_dual)
        if set(inactive) & set(active):
            raise RewriteError(item, "a neuron is claimed both inactive and active")
        outgoing, removed, layer_exact = _combine(dense, layer.combinations, set(active), f"{item}/combinations")
        exact &= layer_exact
        keep = np.array([j for j in range(n) if j not in set(inactive) | removed], dtype=int)
        if keep.size == 0:
            raise RewriteError(item, "a layer cannot lose all its neurons (keep one)")
        if layer.collapse and not set(keep.tolist()) <= set(active):
            raise RewriteError(f"{item}/collapse", "a layer collapses only when every remaining neuron is active")
        net = dense_layer.write_layer(net, dense, keep, outgoing[keep])
        if layer.collapse:
            collapsed.append(layer.activation)
    if collapsed:
        net, fold_exact = _collapse(net, collapsed)
        exact &= fold_exact
    return rewrites.Rewrite(net, exact)


def _pieces(lower: np.ndarray, upper: np.ndarray, split: Sequence[Bounds] | None) -> list[Bounds]:
    if split is None:
        return [(lower, upper)]
    if not split:
        raise RewriteError("split", "an empty split covers nothing")
    for i, (lo, hi) in enumerate(split):
        if lo.shape != lower.shape or hi.shape != upper.shape:
            raise RewriteError(f"split/{i}", f"a sub-box needs {lower.size} lower and upper bounds")
        if not (np.all(lo <= hi) and np.all(lo >= lower) and np.all(hi <= upper)):
            raise RewriteError(f"split/{i}", "the sub-box is empty or leaves the box")
    try:
        missed = uncovered_point(lower, upper, split, MAX_COVER_REGIONS)
    except ValueError as exc:
        raise RewriteError("split", str(exc)) from None
    if missed is not None:
        where = int(np.argmax((missed > lower) | (missed < upper)))
        raise RewriteError("split", f"the sub-boxes do not cover the box: no sub-box contains the point with "
                                    f"x[{where}] = {float(missed[where])!r} ...")
    return list(split)


def _dual_proofs(pwl, bounds: list[Bounds], k: int, n: int, lower: np.ndarray, upper: np.ndarray,
                 duals: Sequence[Dual], item: str) -> set[tuple[int, str]]:
    """``(neuron, phase)`` pairs whose LP multipliers give a safe bound ``<= 0`` (S7)."""
    if not duals:
        return set()
    try:
        lp = triangle_lp(pwl, bounds, k, lower, upper)
    except ValueError as exc:
        raise RewriteError(item, str(exc)) from None
    proved = set()
    for d, dual in enumerate(duals):
        at = f"{item}/{d}"
        if not 0 <= dual.neuron < n:
            raise RewriteError(f"{at}/neuron", f"neuron {dual.neuron} out of range 0..{n - 1}")
        multipliers = sparse_multipliers(lp, dual.rows, dual.values, at)
        c, c0 = lp.objective(dual.neuron, 1.0 if dual.phase == "inactive" else -1.0)
        try:
            bound = safe_max(lp, c, c0, multipliers)
        except ValueError as exc:
            raise RewriteError(at, str(exc)) from None
        if not bound <= 0.0:
            what = "max z" if dual.phase == "inactive" else "max -z"
            raise RewriteError(at, f"the multipliers prove only {what} <= {bound!r} for neuron {dual.neuron}, "
                                   "not <= 0")
        proved.add((dual.neuron, dual.phase))
    return proved


def _proved(claimed: Sequence[int], bound: np.ndarray, n: int, item: str, phase: str, holds) -> tuple[int, ...]:
    if len(set(claimed)) != len(claimed):
        raise RewriteError(item, "a neuron is listed twice")
    for m, j in enumerate(claimed):
        if not 0 <= j < n:
            raise RewriteError(f"{item}/{m}", f"neuron {j} out of range 0..{n - 1}")
        if not holds(j):
            side = "upper bound" if phase == "inactive" else "lower bound"
            raise RewriteError(f"{item}/{m}", f"neuron {j} is not proved {phase} on the box: its {side} is "
                                              f"{float(bound[j])!r}")
    return tuple(claimed)


def _combine(dense: dense_layer.DenseLayer, combinations: Sequence[Combination], active: set[int],
             item: str) -> tuple[np.ndarray, set[int], bool]:
    """Outgoing rows after the rank reductions (S3); the removed neurons; exactness."""
    outgoing = np.array(dense.outgoing, copy=True)
    if not combinations:
        return outgoing, set(), True
    targets = [c.neuron for c in combinations]
    if len(set(targets)) != len(targets):
        raise RewriteError(item, "a neuron is reduced twice")
    where_w = f"{item}"
    column = lambda j: rewrites._fractions(dense.incoming[:, j], where_w)          # noqa: E731
    bias = lambda j: Fraction(0) if dense.bias is None else Fraction(float(dense.bias[j]))  # noqa: E731
    merged: dict[int, np.ndarray] = {}
    for c, combination in enumerate(combinations):
        at = f"{item}/{c}"
        k = combination.neuron
        if k not in active:
            raise RewriteError(f"{at}/neuron", f"neuron {k} is not among the proved active neurons")
        if not combination.terms:
            raise RewriteError(f"{at}/terms", "a combination needs at least one term")
        row, row_bias = np.array([Fraction(0)] * dense.incoming.shape[0], dtype=object), Fraction(0)
        for t, (i, coefficient) in enumerate(combination.terms):
            if i not in active or i in targets or i == k:
                raise RewriteError(f"{at}/terms/{t}", f"neuron {i} is not a proved active neuron that is kept")
            row = row + coefficient * column(i)
            row_bias += coefficient * bias(i)
        if np.any(row != column(k)) or row_bias != bias(k):
            raise RewriteError(at, f"the incoming weights and bias of neuron {k} are not exactly the stated "
                                   "combination")
        out_k = rewrites._fractions(dense.outgoing[k], where_w)
        for i, coefficient in combination.terms:
            base = merged.get(i)
            merged[i] = (rewrites._fractions(dense.outgoing[i], where_w) if base is None else base) + \
                coefficient * out_k
    exact = True
    for i, values in merged.items():
        outgoing[i], row_exact = rewrites._as_dtype(values, dense.outgoing.dtype)
        exact &= row_exact
    return outgoing, set(targets), exact


def _collapse(net: Network, activations: Sequence[int]) -> tuple[Network, bool]:
    """Drop each collapsed Relu (its reader takes its input) and fold the affine chain around it (S4)."""
    ordered = sorted(activations)
    names = {net.nodes[a].name for a in ordered}
    pres = [net.nodes[a].inputs[0] for a in ordered]
    renamed = {net.nodes[a].outputs[0]: net.nodes[a].inputs[0] for a in ordered}
    nodes = [Node(n.name, n.op, tuple(renamed.get(t, t) for t in n.inputs), n.outputs, dict(n.attrs))
             for n in net.nodes if n.name not in names]
    net = net.replace(nodes=tuple(nodes))
    chains: list[list[int]] = []
    for tensor in pres:
        chain = _chain_around(net, tensor)
        if chains and chains[-1][-1] == chain[0]:
            chains[-1] += chain[1:]
        else:
            chains.append(chain)
    result = rewrites.affine_fold(net, chains)
    return result.network, result.exact


def _chain_around(net: Network, tensor: str) -> list[int]:
    """Node indices of ``head (, Add), reader`` around a collapsed layer's pre-activation ``tensor``."""
    index = {node.name: i for i, node in enumerate(net.nodes)}
    producer = net.producer[tensor]
    before = [producer]
    if producer.op == "Add":
        variable = next(t for t in producer.inputs if t not in net.initializers)
        before.insert(0, net.producer[variable])
    return [index[node.name] for node in before + [net.consumers[tensor][0]]]
