"""``bab_tree`` evidence: a split tree over the input box whose every leaf is re-analysed.

Coverage holds by construction: an input split at ``lower <= at <= upper`` yields
two boxes whose union is the parent; a phase split yields the regions
``z <= 0`` and ``z >= 0``, whose union is the parent region.  Each leaf must be
closed by :func:`nnequiv.checker.diffzono.analyze` + :func:`nnequiv.checker.leaf.assess`,
and its recomputed value must not exceed the certified one (beyond the last bits; a tighter
recomputation keeps older certificates valid)
(``proofs/differential.md``, ``proofs/top1.md``) -- or, for an ``lp`` leaf, by the safe bound
of its multipliers on the differential LP the checker rebuilds from the region, its splits and
its own analysis (:mod:`.diff_lp`, ``proofs/diff_lp.md``).
"""

from __future__ import annotations

import numpy as np

from ..hexfloat import parse_hex
from ..lowering import to_pwl
from .diff_lp import diff_lp, lp_objectives, lp_supported, zonotope_bounds
from .diffzono import aligned_layers, analyze_batch
from .embedding import embed, parse_embedding
from .leaf import assess
from .registry import Problem, StepContext, evidence

LEAF_BATCH = 32
VALUE_TOLERANCE = 1e-9


def _hex(value, item: str, problems: list[Problem]) -> float | None:
    try:
        return parse_hex(value)
    except (TypeError, ValueError, OverflowError):
        problems.append(Problem(item, f"not a hex float: {str(value)[:40]!r}"))
        return None


@evidence("bab_tree")
def check_bab_tree(ctx: StepContext) -> list[Problem]:
    f, g = to_pwl(ctx.source), to_pwl(ctx.target)
    maps, problems = parse_embedding(ctx.step.get("embedding"), {"f": f, "g": g}, f"{ctx.where}/embedding")
    if problems:
        return problems
    f, g = embed(f, maps["f"]), embed(g, maps["g"])
    if f.input_size != g.input_size or f.output_size != g.output_size:
        return [Problem(ctx.where, "the two models have different input or output sizes")]
    if f.softmax_output != g.softmax_output:
        return [Problem(ctx.where, "only one of the two models ends in Softmax")]
    claimed_eps = _hex(ctx.step.get("epsilon"), f"{ctx.where}/epsilon", problems)
    tree = ctx.step.get("tree")
    if not isinstance(tree, dict) or claimed_eps is None:
        return problems + [Problem(f"{ctx.where}/tree", "missing split tree")]
    relation = ctx.relation
    fl, gl = aligned_layers(f, g)
    stack = [(tree, np.array(ctx.box.lower, float), np.array(ctx.box.upper, float), (), f"{ctx.where}/tree")]
    leaves: list[tuple[dict, np.ndarray, np.ndarray, tuple, str]] = []
    while stack:
        node, lower, upper, splits, item = stack.pop()
        if not isinstance(node, dict):
            problems.append(Problem(item, "a tree node must be an object"))
            continue
        if "leaf" in node:
            leaves.append((node, lower, upper, splits, item))
            continue
        children = node.get("children")
        split = node.get("split")
        if not isinstance(children, list) or len(children) != 2 or not isinstance(split, dict):
            problems.append(Problem(item, "an inner node needs a split and exactly two children"))
            continue
        if "input" in split:
            d = split.get("input")
            at = _hex(split.get("at"), f"{item}/split/at", problems)
            if not isinstance(d, int) or isinstance(d, bool) or not 0 <= d < lower.size:
                problems.append(Problem(f"{item}/split/input", f"no input dimension {d!r}"))
                continue
            if at is None:
                continue
            if not lower[d] <= at <= upper[d]:
                problems.append(Problem(f"{item}/split/at", f"split point {at!r} outside [{lower[d]!r}, {upper[d]!r}]"))
                continue
            left_upper, right_lower = upper.copy(), lower.copy()
            left_upper[d], right_lower[d] = at, at
            stack.append((children[1], right_lower, upper, splits, f"{item}/children/1"))
            stack.append((children[0], lower, left_upper, splits, f"{item}/children/0"))
        elif "relu" in split:
            key = split.get("relu")
            if not _valid_neuron(key, fl, gl):
                problems.append(Problem(f"{item}/split/relu", f"no such activation {key!r}"))
                continue
            neuron = (key[0], int(key[1]), int(key[2]))
            stack.append((children[1], lower, upper, splits + ((neuron, +1),), f"{item}/children/1"))
            stack.append((children[0], lower, upper, splits + ((neuron, -1),), f"{item}/children/0"))
        else:
            problems.append(Problem(f"{item}/split", "unknown split kind"))
    worst = -np.inf
    for start in range(0, len(leaves), LEAF_BATCH):
        values = _check_leaves(leaves[start:start + LEAF_BATCH], f, g, relation, problems, (fl, gl))
        worst = max([worst] + values)
    if not problems and relation.kind == "eps" and worst > claimed_eps:
        problems.append(Problem(f"{ctx.where}/epsilon", f"leaves prove only {worst!r}, not {claimed_eps!r}"))
    if not problems and relation.kind == "exact" and claimed_eps != 0.0:
        problems.append(Problem(f"{ctx.where}/epsilon", "an exact proof must contribute epsilon 0"))
    return problems


def _valid_neuron(key, fl, gl) -> bool:
    if not isinstance(key, list) or len(key) != 3 or key[0] not in ("f", "g"):
        return False
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in key[1:]):
        return False
    layers = fl if key[0] == "f" else gl
    return 0 <= key[1] < len(layers) and 0 <= key[2] < layers[key[1]].n_out


def _check_leaves(leaves, f, g, relation, problems: list[Problem], aligned) -> list[float]:
    """Re-analyse a batch of leaves; each must be closed (or empty, as claimed) and match its value."""
    analysis = analyze_batch(f, g, np.stack([leaf[1] for leaf in leaves]), np.stack([leaf[2] for leaf in leaves]),
                             [dict(leaf[3]) for leaf in leaves])
    result = assess(analysis, relation.kind, relation.eps, relation.outputs, f.softmax_output)
    values = []
    for index, (node, lower, upper, splits, item) in enumerate(leaves):
        claimed = _hex(node.get("value"), f"{item}/value", problems)
        value = float(result.value[index])
        if claimed is None:
            continue
        if node.get("leaf") == "lp":
            value = _lp_leaf_value(node, analysis, index, lower, upper, dict(splits), aligned, relation,
                                   f.softmax_output, item, problems)
            if value is not None and not _covered(value, claimed):
                problems.append(Problem(f"{item}/value", f"recomputed {value!r} is above the certified {claimed!r}"))
            elif value is not None:
                values.append(value)
            continue
        if node.get("leaf") == "empty" and not analysis.infeasible[index]:
            problems.append(Problem(item, "the region is claimed empty but its phase splits are consistent"))
        elif not result.closed[index]:
            problems.append(Problem(item, f"the region is not proved: bound {value!r} "
                                          f"does not meet the relation ({relation.describe()})"))
        elif not _covered(value, claimed):
            problems.append(Problem(f"{item}/value", f"recomputed {value!r} is above the certified {claimed!r}"))
        else:
            values.append(value)
    return values


def _lp_leaf_value(node, analysis, index, lower, upper, splits, aligned, relation, softmax, item,
                   problems: list[Problem]) -> float | None:
    """The leaf's proved bound: per ``(output, sign)`` of :func:`.diff_lp.lp_objectives` the safe
    bound of its multipliers, or (entry ``null``) the zonotope bound of that objective; each must
    be ``<= eps``, the value is the largest."""
    fl, gl = aligned
    reason = "LP leaves prove eps relations without Softmax" if relation.kind != "eps" or softmax else \
        lp_supported(fl, gl)
    if reason:
        problems.append(Problem(item, reason))
        return None
    bounds = [tuple(None if b is None else (b[0][index], b[1][index]) for b in layer)
              for layer in analysis.layer_bounds]
    lp = diff_lp(fl, gl, lower, upper, bounds, splits)
    objectives = lp_objectives(relation.outputs, lp.g_out.size)
    zonotope = zonotope_bounds(analysis, index, relation.outputs)
    given = node.get("multipliers")
    if not isinstance(given, list) or len(given) != len(objectives):
        problems.append(Problem(f"{item}/multipliers", f"needs {len(objectives)} multiplier vectors, one per "
                                                         "(output, sign)"))
        return None
    worst = -np.inf
    for at, (entry, (output, sign)) in enumerate(zip(given, objectives)):
        where = f"{item}/multipliers/{at}"
        if entry is None:
            bound = zonotope[at]
        else:
            multipliers = _multipliers(entry, lp.row_lo.size, where, problems)
            if multipliers is None:
                return None
            bound = lp.safe_bound(output, sign, multipliers)
        if not bound <= relation.eps:
            how = "the zonotope bound" if entry is None else "the safe bound of the multipliers"
            problems.append(Problem(where, f"{how} proves only {'+-'[sign < 0]}(g - f)[{output}] <= "
                                           f"{bound!r}, not <= {relation.eps!r}"))
            return None
        worst = max(worst, bound)
    return float(worst)


def _multipliers(entry, n_rows: int, where: str, problems: list[Problem]) -> np.ndarray | None:
    rows = entry.get("rows") if isinstance(entry, dict) else None
    values = entry.get("values") if isinstance(entry, dict) else None
    if not (isinstance(rows, list) and isinstance(values, list) and len(rows) == len(values)
            and all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r < n_rows for r in rows)
            and len(set(rows)) == len(rows)):
        problems.append(Problem(where, f"needs distinct row indices 0..{n_rows - 1} and one hex value each"))
        return None
    parsed = [_hex(v, f"{where}/values", problems) for v in values]
    if any(v is None or not np.isfinite(v) for v in parsed):
        problems.append(Problem(f"{where}/values", "multipliers must be finite hex floats"))
        return None
    multipliers = np.zeros(n_rows)
    multipliers[np.asarray(rows, dtype=np.int64)] = parsed
    return multipliers


def _covered(recomputed: float, claimed: float) -> bool:
    """The certified leaf value must hold: the recomputed bound may be tighter (a newer checker's
    analysis; the step's epsilon is checked against the recomputed values anyway), or larger only
    in the last bits (batching changes numpy's summation order).  Anything larger means the tree
    or the models are not the ones certified."""
    if recomputed <= claimed:
        return True
    if not (np.isfinite(recomputed) and np.isfinite(claimed)):
        return False
    return recomputed - claimed <= VALUE_TOLERANCE * max(abs(recomputed), abs(claimed))
