"""``bab_tree`` evidence: a split tree over the input box whose every leaf is re-analysed.

Coverage holds by construction: an input split at ``lower <= at <= upper`` yields
two boxes whose union is the parent; a phase split yields the regions
``z <= 0`` and ``z >= 0``, whose union is the parent region.  Each leaf must be
closed by :func:`nnequiv.checker.diffzono.analyze` + :func:`nnequiv.checker.leaf.assess`,
and its recomputed value must equal the certified one bit for bit
(``proofs/differential.md``, ``proofs/top1.md``).
"""

from __future__ import annotations

import numpy as np

from ..lowering import to_pwl
from .diffzono import aligned_layers, analyze
from .leaf import assess
from .registry import Problem, StepContext, evidence


def _hex(value, item: str, problems: list[Problem]) -> float | None:
    try:
        return float.fromhex(value)
    except (TypeError, ValueError, OverflowError):
        problems.append(Problem(item, f"not a hex float: {str(value)[:40]!r}"))
        return None


@evidence("bab_tree")
def check_bab_tree(ctx: StepContext) -> list[Problem]:
    problems: list[Problem] = []
    f, g = to_pwl(ctx.source), to_pwl(ctx.target)
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
    leaves = 0
    worst = -np.inf
    while stack:
        node, lower, upper, splits, item = stack.pop()
        if not isinstance(node, dict):
            problems.append(Problem(item, "a tree node must be an object"))
            continue
        if "leaf" in node:
            leaves += 1
            value = _check_leaf(node, f, g, lower, upper, splits, relation, item, problems)
            if value is not None:
                worst = max(worst, value)
            continue
        children = node.get("children")
        split = node.get("split")
        if not isinstance(children, list) or len(children) != 2 or not isinstance(split, dict):
            problems.append(Problem(item, "an inner node needs a split and exactly two children"))
            continue
        if "input" in split:
            d = split.get("input")
            at = _hex(split.get("at"), f"{item}/split/at", problems)
            if not isinstance(d, int) or not 0 <= d < lower.size:
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


def _check_leaf(node, f, g, lower, upper, splits, relation, item, problems) -> float | None:
    claimed = _hex(node.get("value"), f"{item}/value", problems)
    if claimed is None:
        return None
    analysis = analyze(f, g, lower, upper, dict(splits))
    result = assess(analysis, relation.kind, relation.eps, relation.outputs, f.softmax_output)
    if node.get("leaf") == "empty" and not analysis.infeasible:
        problems.append(Problem(item, "the region is claimed empty but its phase splits are consistent"))
        return None
    if not result.closed:
        problems.append(Problem(item, f"the region is not proved: bound {result.value!r} "
                                      f"does not meet the relation ({relation.describe()})"))
        return None
    if result.value != claimed:
        problems.append(Problem(f"{item}/value", f"recomputed {float(result.value).hex()} differs from "
                                                 f"the certified {node.get('value')}"))
        return None
    return float(result.value)
