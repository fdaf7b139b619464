"""``stable``: remove ReLU neurons that are stable on the input box (Serra, Kumar, Ramalingam,
*Lossless compression of deep neural networks*; ``proofs/stable_relu.md``).

On the box, a neuron proved never active is deleted (S1); among neurons proved always active,
one whose incoming row and bias is an exact rational combination of other active neurons'
rows is folded into the next layer (S3); a layer left with only active neurons loses its Relu
and its two affine maps are folded into one (S4), when that does not grow the parameters.

Stability is searched with :mod:`.stable_search`; only what the checker's own bounds prove
(over the box, or over a bisection split of a low-dimensional box, narrowed by the LP
refinements of :mod:`.stable_chain`), LP duals or phase trees (:mod:`.stable_bab`, certified
LP leaves over the same refined bounds) prove is certified and removed.  Neurons only a MILP
shows stable are left in place and reported.
The rewrite is materialised with the checker's replay (:func:`nnequiv.checker.stable_relu.stable_relu`).
Relu only: LeakyRelu layers are refused (a never-active LeakyRelu neuron is linear, not zero).
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from ..checker import dense_layer, rewrites
from ..checker.net_bounds import Bounds, bounds_over
from ..checker.phase_tree_evidence import tree_to_json
from ..checker.stable_refine import Refinement
from ..checker.stable_relu import Dual, StableLayer, activation_layers, stable_relu
from ..errors import UsageError
from ..ir import Network
from ..lowering import to_pwl
from . import register_pass
from .base import PassOptions, PassResult, PassStats, Refusal, certified_epsilon
from .stable_bab import as_phase_tree
from .stable_rank import dependencies
from .stable_chain import refinement_chain
from .stable_search import Budget, LayerPhases, SearchSettings, solved_phases, witnessed_phases
from .stable_witness import box_samples
from .stable_tighten import MilpBounds

MAX_SPLIT_INPUTS = 4          # a box of at most this many inputs is also tried bisected once per input
MAX_COMBINATION_TERMS = 32


@register_pass("stable")
def stable(net: Network, options: PassOptions) -> PassResult:
    return stable_with(net, options, SearchSettings())


def stable_with(net: Network, options: PassOptions, settings: SearchSettings) -> PassResult:
    if options.box is None:
        raise UsageError("the stable pass needs an input box (stability holds only on a box)",
                         fix="give the input box, e.g. `nnequiv compress --box ...`")
    start = time.perf_counter()
    lower = np.asarray(options.box.lower, np.float64)
    upper = np.asarray(options.box.upper, np.float64)
    pwl = to_pwl(net)
    mapping = activation_layers(net)
    refused: list[Refusal] = []
    dense = _candidate_layers(net, mapping, len(pwl.layers) - 1, refused)
    depth = len(pwl.layers) - 1
    split = None
    bounds = bounds_over(pwl, [(lower, upper)], depth) if depth else []
    if dense and lower.size <= MAX_SPLIT_INPUTS:
        pieces = _bisection(lower, upper)
        finer = bounds_over(pwl, pieces, depth)
        if _proved_count(finer) > _proved_count(bounds):
            split, bounds = pieces, finer
    sample_points = box_samples(lower, upper, settings.samples, settings.seed)
    samples = pwl.activations(sample_points)
    budget = Budget(settings.milp_budget)
    witnessed = {a: witnessed_phases(pwl, mapping[a], layer.incoming.shape[1], lower, upper, bounds, sample_points,
                                     samples[mapping[a]], settings) for a, layer in dense}
    deepest = max((mapping[a] for a, phases in witnessed.items() if phases.undecided.any()), default=0)
    chain = refinement_chain(pwl, {k: a for a, k in mapping.items()}, lower, upper, bounds,
                             deepest - 1 if settings.refine else 0, budget, settings.lp_seconds)
    search_bounds = MilpBounds.over(pwl, lower, upper, list(chain.bounds), budget, settings.lp_seconds,
                                    settings.tighten, chain.tightened)
    layers, details = [], {"milp_queries": 0, "milp_seconds": 0.0, "lp_queries": 0, "lp_seconds": 0.0,
                           "dual_certified": 0, "refined_certified": 0, "tree_certified": 0, "tree_queries": 0,
                           "tree_nodes": 0, "tree_leaves": 0, "tree_seconds": 0.0, "certified_inactive": 0,
                           "certified_active": 0, "milp_only_stable": 0, "unknown": 0, "layers": []}
    activations = sorted(mapping, key=mapping.get)
    for a, layer in dense:
        k = mapping[a]
        n = layer.incoming.shape[1]
        name = net.nodes[a].name
        phases = witnessed[a]
        phases.narrow(chain.bounds[k][0][:n], chain.bounds[k][1][:n])
        details["refined_certified"] += int(np.sum((phases.bound_inactive | phases.bound_active)
                                                   & (bounds[k][1][:n] > 0.0) & (bounds[k][0][:n] < 0.0)))
        solved_phases(pwl, k, n, lower, upper, list(chain.bounds), search_bounds, phases, budget, settings,
                      lp=k not in chain.tightened)
        _report(name, phases, refused, details)
        entry = _layer_evidence(a, name, layer, phases, refused, activations)
        if entry is not None:
            layers.append(entry)
    if settings.removals_only:         # e.g. the structural stage matching another tool's pruning
        layers = [StableLayer(x.activation, x.inactive, x.active, (), False, x.duals, x.trees) for x in layers
                  if x.inactive]
    else:
        layers = _with_collapses(net, layers, refused)
    refinements = chain.upto(_refined_depth(mapping, layers, bounds))
    result, layers = _materialise(net, lower, upper, layers, split, refinements, refused)
    epsilon = 0.0 if result.exact else certified_epsilon(net, result.network, options.box)
    step = {"kind": "stable_relu", "epsilon": epsilon.hex(), "layers": [_to_json(layer) for layer in layers]}
    if split is not None:
        step["split"] = [{"lower": [float(v).hex() for v in lo], "upper": [float(v).hex() for v in hi]}
                         for lo, hi in split]
    if refinements:
        step["refinements"] = [_refinement_json(r) for r in refinements]
    widths = {a: layer.incoming.shape[1] for a, layer in dense}
    removed = sum(widths[x.activation] if x.collapse else len(x.inactive) + len(x.combinations) for x in layers)
    details.update(tighten_lps=search_bounds.lps, seconds=time.perf_counter() - start,
                   split=0 if split is None else len(split),
                   collapsed=sum(layer.collapse for layer in layers), refinements=len(refinements),
                   refinement_lps=chain.lps, refinement_seconds=chain.seconds)
    return PassResult(result.network, step, PassStats(removed, tuple(refused), epsilon, details))



def _refined_depth(mapping: dict[int, int], layers: list[StableLayer], bounds: list[Bounds]) -> int:
    """The deepest layer with a claim the checker's own bounds do not prove (it rests on
    refinements of layers up to it, or on duals over refinements of layers before it)."""
    deepest = 0
    for layer in layers:
        k = mapping[layer.activation]
        lo, hi = bounds[k]
        if any(hi[j] > 0.0 for j in layer.inactive) or any(lo[j] < 0.0 for j in layer.active):
            deepest = max(deepest, k)
    return deepest


def _candidate_layers(net: Network, mapping: dict[int, int], depth: int,
                      refused: list[Refusal]) -> list[tuple[int, dense_layer.DenseLayer]]:
    if len(mapping) != depth:
        refused.append(Refusal(net.name, "activations do not map one to one onto lowered layers"))
        return []
    found = []
    for a in mapping:
        node = net.nodes[a]
        if node.op != "Relu":
            refused.append(Refusal(node.name, f"{node.op} is not handled (a never-active LeakyRelu neuron is "
                                              "linear, not zero)"))
            continue
        try:
            found.append((a, dense_layer.dense_layer(net, a)))
        except rewrites.RewriteError as exc:
            refused.append(Refusal(node.name, f"not a dense Relu layer: {exc.reason}"))
    return found


def _bisection(lower: np.ndarray, upper: np.ndarray) -> list[Bounds]:
    """The box cut once in the middle of every non-degenerate input: up to 2^n pieces."""
    middle = lower / 2.0 + upper / 2.0
    halves = [[(lo, hi)] if lo == hi else [(lo, m), (m, hi)] for lo, m, hi in zip(lower, middle, upper)]
    return [(np.array([p[0] for p in piece]), np.array([p[1] for p in piece])) for piece in itertools.product(*halves)]


def _proved_count(bounds: list[Bounds]) -> int:
    return sum(int(np.sum(hi <= 0.0) + np.sum(lo >= 0.0)) for lo, hi in bounds)


def _report(name: str, phases: LayerPhases, refused: list[Refusal], details: dict) -> None:
    milp_only = np.flatnonzero((phases.milp_inactive | phases.milp_active) & ~phases.certified_inactive
                               & ~phases.certified_active)
    for j in milp_only:
        phase = "never active" if phases.milp_inactive[j] else "always active"
        refused.append(Refusal(f"{name} neuron {j}", f"the MILP shows it {phase} on the box, but the bounds the "
                                                     "certificate can carry do not prove it: left in place"))
    for j in np.flatnonzero(phases.unknown):
        refused.append(Refusal(f"{name} neuron {j}", "stability undecided (MILP time limit): left in place"))
    details["milp_queries"] += phases.milp_queries
    details["milp_seconds"] += phases.milp_seconds
    details["lp_queries"] += phases.lp_queries
    details["lp_seconds"] += phases.lp_seconds
    details["dual_certified"] += len(phases.duals)
    details["tree_certified"] += len(phases.trees)
    details["tree_queries"] += phases.tree_queries
    details["tree_nodes"] += phases.tree_nodes
    details["tree_leaves"] += phases.tree_leaves
    details["tree_seconds"] += phases.tree_seconds
    details["certified_inactive"] += int(phases.certified_inactive.sum())
    details["certified_active"] += int(phases.certified_active.sum())
    details["milp_only_stable"] += int(milp_only.size)
    details["unknown"] += int(phases.unknown.sum())
    details["layers"].append({"name": name, "neurons": int(phases.bound_active.size),
                              "inactive": np.flatnonzero(phases.certified_inactive | phases.milp_inactive).tolist(),
                              "active": np.flatnonzero(phases.certified_active | phases.milp_active).tolist(),
                              "certified_inactive": np.flatnonzero(phases.certified_inactive).tolist(),
                              "certified_active": np.flatnonzero(phases.certified_active).tolist(),
                              # inputs showing both phases of each neuron found unstable (for re-checks)
                              "unstable_witnesses": {j: (phases.positive_at[j], phases.negative_at[j])
                                                     for j in phases.positive_at if j in phases.negative_at}})


def _layer_evidence(a: int, name: str, dense: dense_layer.DenseLayer, phases: LayerPhases,
                    refused: list[Refusal], activations: list[int]) -> StableLayer | None:
    inactive = [int(j) for j in np.flatnonzero(phases.certified_inactive)]
    active = [int(j) for j in np.flatnonzero(phases.certified_active)]
    n = dense.incoming.shape[1]
    if len(inactive) == n:
        refused.append(Refusal(f"{name} neuron {inactive[-1]}", "every neuron is dead: one is kept so that the "
                                                                "layer stays well formed"))
        inactive = inactive[:-1]
    claimed = {(j, "inactive") for j in inactive} | {(j, "active") for j in active}
    duals = tuple(Dual(j, phase, rows, values) for (j, phase), (rows, values) in sorted(phases.duals.items())
                  if (j, phase) in claimed)
    trees = tuple(as_phase_tree(j, phase, node, activations) for (j, phase), node in sorted(phases.trees.items())
                  if (j, phase) in claimed)
    combinations = []
    if len(active) > 1:
        bias = np.zeros(n) if dense.bias is None else dense.bias.astype(np.float64)
        rows = np.hstack([dense.incoming.astype(np.float64).T, bias[:, None]])[active]
        combinations = dependencies(rows, active, MAX_COMBINATION_TERMS)
    if not inactive and not combinations and len(active) < n:
        return None
    return StableLayer(a, tuple(inactive), tuple(active), tuple(combinations), False, duals, trees)


def _with_collapses(net: Network, layers: list[StableLayer], refused: list[Refusal]) -> list[StableLayer]:
    """Collapse a layer whose remaining neurons are all active, unless folding grows the parameters."""
    out = []
    for layer in layers:
        dense = dense_layer.dense_layer(net, layer.activation)
        n_in, n = dense.incoming.shape
        kept = n - len(layer.inactive) - len(layer.combinations)
        all_active = kept == len(layer.active) - len(layer.combinations)
        n_out = dense.outgoing.shape[1]
        if all_active and n_in * n_out + n_out <= kept * (n_in + 1) + kept * n_out:
            layer = StableLayer(layer.activation, layer.inactive, layer.active, layer.combinations, True, layer.duals,
                                layer.trees)
        elif all_active:
            refused.append(Refusal(net.nodes[layer.activation].name, "fully stable, but folding it would grow "
                                                                     "the parameters: Relu kept"))
        out.append(layer)
    return out


def _materialise(net: Network, lower, upper, layers: list[StableLayer], split, refinements: list[Refinement],
                 refused: list[Refusal]) -> tuple[rewrites.Rewrite, list[StableLayer]]:
    """The first variant whose rewrite is exact: everything; without rank reductions; without
    collapses; plain removals.  Rank reductions and collapses whose new weights would be
    rounded are not applied (the deviation bound between structurally different networks is
    too loose to be useful)."""
    def variant(combinations: bool, collapse: bool) -> list[StableLayer]:
        return [StableLayer(x.activation, x.inactive, x.active, x.combinations if combinations else (),
                            x.collapse and collapse, x.duals, x.trees) for x in layers]

    has_combinations = any(x.combinations for x in layers)
    has_collapse = any(x.collapse for x in layers)
    reasons = []
    for combinations, collapse in ((True, True), (False, True), (True, False)):
        if (combinations and not has_combinations) or (collapse and not has_collapse) or \
                not ((combinations and has_combinations) or (collapse and has_collapse)):
            continue
        chosen = variant(combinations, collapse)
        try:
            result = stable_relu(net, lower, upper, chosen, split, refinements)
        except rewrites.RewriteError as exc:
            reasons.append(exc.reason)
            continue
        if result.exact:
            _refuse_dropped(refused, has_combinations and not combinations, has_collapse and not collapse, reasons)
            return result, chosen
        reasons.append("the new weights would be rounded (only exact rewrites are certified)")
    plain = variant(False, False)
    _refuse_dropped(refused, has_combinations, has_collapse, reasons)
    return stable_relu(net, lower, upper, plain, split, refinements), plain


def _refuse_dropped(refused: list[Refusal], combinations: bool, collapse: bool, reasons: list[str]) -> None:
    why = "; ".join(dict.fromkeys(reasons)) or "not exact"
    if combinations:
        refused.append(Refusal("rank reduction", f"not applied: {why}"))
    if collapse:
        refused.append(Refusal("layer collapse", f"not applied: {why}"))


def _refinement_json(refinement: Refinement) -> dict:
    return {"activation": refinement.activation, "neuron": refinement.neuron, "side": refinement.side,
            "rows": [int(r) for r in refinement.rows], "values": [float(v).hex() for v in refinement.values]}


def _to_json(layer: StableLayer) -> dict:
    entry = {"activation": layer.activation, "inactive": list(layer.inactive), "active": list(layer.active)}
    if layer.combinations:
        entry["combinations"] = [{"neuron": c.neuron, "terms": [{"neuron": i, "coefficient": str(q)}
                                                               for i, q in c.terms]} for c in layer.combinations]
    if layer.collapse:
        entry["collapse"] = True
    if layer.duals:
        entry["duals"] = [{"neuron": d.neuron, "phase": d.phase, "rows": [int(r) for r in d.rows],
                           "values": [float(v).hex() for v in d.values]} for d in layer.duals]
    if layer.trees:
        entry["trees"] = [tree_to_json(tree) for tree in layer.trees]
    return entry
