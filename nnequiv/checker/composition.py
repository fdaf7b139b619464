"""``composition`` evidence: the two networks share a prefix and a suffix; a nested certificate
proves the middles on an enclosure of the prefix's output (trusted; ``proofs/cut_composition.md``).

The checker re-extracts the parts itself (:func:`.cut.split` at the step's ``prefix_nodes`` /
``suffix_nodes``) and checks, naming the item of every failure:

* the prefixes and the suffixes are the same function node by node (C1);
* its own enclosure of the prefix's output over the claim's box lies in ``prefix_box`` (C2);
* the nested certificate is for the re-extracted middles, on a box containing ``prefix_box``,
  with a relation that carries the claim through the suffix (C4), and ``nnequiv verify``
  accepts it against them;
* for an ``eps`` claim: ``lipschitz`` is at least its own bound of the suffix (C3), the nested
  bound is at most ``middle_epsilon``, and ``lipschitz * middle_epsilon <= epsilon`` in exact
  rational arithmetic (C5).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import NnequivError
from ..hexfloat import parse_hex
from ..onnx_io import canonical_sha256
from ..spec.box import Box
from ..spec.relation import Relation
from .cut import CutError, cut_tensor, first_difference, split
from .cut_bounds import ENCLOSURES, prefix_enclosure, suffix_lipschitz
from .graph_align import AlignError
from .registry import Problem, StepContext, claimed_epsilon, evidence

__all__ = ["check_composition", "middle_relation_problem"]

_MODEL_ERRORS = (AlignError, CutError, NnequivError, ValueError, KeyError, IndexError, TypeError, ArithmeticError)


def middle_relation_problem(claim: Relation, middle: Relation, suffix_empty: bool) -> str | None:
    """None when ``middle`` on the middles gives ``claim`` on the whole pair (C4), else why not."""
    if not (middle.outputs is None or (suffix_empty and middle.outputs == claim.outputs)):
        return "the middle relation must compare every middle output (or, without a suffix, the claim's outputs)"
    if middle.kind == "exact" or (suffix_empty and middle.kind == claim.kind) or \
            (claim.kind == "eps" and middle.kind == "eps"):
        return None
    through = "" if suffix_empty else " through a suffix"
    return f"a {middle.kind} relation on the middle does not give a {claim.kind} claim{through}"


def _hexes(values: Any, item: str, problems: list[Problem]) -> np.ndarray | None:
    try:
        array = np.array([parse_hex(v) for v in values], np.float64)
    except (TypeError, ValueError, OverflowError):
        problems.append(Problem(item, "must be a list of hex floats"))
        return None
    return array


def _hex(value: Any, item: str, problems: list[Problem]) -> float | None:
    try:
        result = parse_hex(value)
    except (TypeError, ValueError, OverflowError):
        problems.append(Problem(item, f"not a hex float: {str(value)[:40]!r}"))
        return None
    if not (np.isfinite(result) and result >= 0):
        problems.append(Problem(item, f"{result!r} is not a finite non-negative number"))
        return None
    return result


def _parts(ctx: StepContext, problems: list[Problem]):
    k, m = ctx.step.get("prefix_nodes"), ctx.step.get("suffix_nodes")
    for net in (ctx.source, ctx.target):
        for position, item in ((k, "prefix_nodes"), (None if not isinstance(m, int) else len(net.nodes) - m,
                                                      "suffix_nodes")):
            try:
                if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= len(net.nodes):
                    raise CutError(f"no node position {ctx.step.get(item)!r} in a network of {len(net.nodes)} nodes")
                cut_tensor(net, position)
            except _MODEL_ERRORS as exc:
                problems.append(Problem(f"{ctx.where}/{item}", str(exc)))
                return None
    try:
        return split(ctx.source, k, m), split(ctx.target, k, m)
    except _MODEL_ERRORS as exc:
        problems.append(Problem(f"{ctx.where}/prefix_nodes", str(exc)))
        return None


@evidence("composition")
def check_composition(ctx: StepContext) -> list[Problem]:
    where, step, problems = ctx.where, ctx.step, []
    step_epsilon, problems = claimed_epsilon(step, where)
    parts = _parts(ctx, problems)
    if parts is None or step_epsilon is None:
        return problems
    f, g = parts
    for label, a, b in (("prefix", f.prefix, g.prefix), ("suffix", f.suffix, g.suffix)):
        difference = None if a is None else first_difference(a, b)
        if difference is not None:
            problems.append(Problem(f"{where}/{label}_nodes", f"the {label}es are not the same function: {difference}"))
    nested = step.get("middle")
    if not isinstance(nested, dict) or not isinstance(nested.get("models"), dict):
        return problems + [Problem(f"{where}/middle", "missing nested certificate")]
    hashes = (canonical_sha256(f.middle), canonical_sha256(g.middle))
    named = tuple((nested["models"].get(role) or {}).get("sha256") for role in ("original", "reduced"))
    if named != hashes:
        problems.append(Problem(f"{where}/middle/models", f"the middles cut at prefix_nodes={step['prefix_nodes']}, "
                                                          f"suffix_nodes={step['suffix_nodes']} hash to "
                                                          f"{hashes[0][:12]}… / {hashes[1][:12]}…, not to the "
                                                          "nested certificate's models"))
    box = _prefix_box(ctx, f, problems)
    lipschitz = _hex(step.get("lipschitz"), f"{where}/lipschitz", problems)
    middle_eps = _hex(step.get("middle_epsilon"), f"{where}/middle_epsilon", problems)
    try:
        claim = nested["claim"]
        middle_relation, middle_box = Relation.from_json(claim["relation"]), Box.from_json(claim["box"])
        middle_bound = parse_hex(claim["bound"])
    except (NnequivError, KeyError, TypeError, ValueError, OverflowError) as exc:
        return problems + [Problem(f"{where}/middle/claim", f"unreadable claim: {exc}")]
    reason = middle_relation_problem(ctx.relation, middle_relation, f.suffix is None)
    if reason:
        problems.append(Problem(f"{where}/middle/claim/relation", reason))
    if box is not None and not (middle_box.size == box.size and np.all(middle_box.lower <= box.lower)
                                and np.all(box.upper <= middle_box.upper)):
        problems.append(Problem(f"{where}/middle/claim/box",
                                "the nested certificate's box does not contain prefix_box"))
    if middle_eps is not None and not middle_bound <= middle_eps:
        problems.append(Problem(f"{where}/middle_epsilon", f"the nested certificate proves {middle_bound!r}, "
                                                           f"more than middle_epsilon {middle_eps!r}"))
    if ctx.relation.kind == "eps" and lipschitz is not None and middle_eps is not None:
        problems += _lipschitz_problems(ctx, f.suffix, lipschitz, middle_eps, step_epsilon)
    if problems:
        return problems
    from .verification import verify   # the nested certificate is a whole certificate for the middles

    report = verify(nested, f.middle, g.middle)
    return [Problem(f"{where}/middle/{p.item}", p.reason) for p in report.problems]


def _prefix_box(ctx: StepContext, parts, problems: list[Problem]) -> Box | None:
    where, stated = ctx.where, ctx.step.get("prefix_box")
    method = ctx.step.get("enclosure")
    if method not in ENCLOSURES:
        problems.append(Problem(f"{where}/enclosure", f"unknown enclosure {method!r} (one of {', '.join(ENCLOSURES)})"))
        return None
    if not isinstance(stated, dict):
        problems.append(Problem(f"{where}/prefix_box", "missing (lower, upper hex lists)"))
        return None
    lower = _hexes(stated.get("lower"), f"{where}/prefix_box/lower", problems)
    upper = _hexes(stated.get("upper"), f"{where}/prefix_box/upper", problems)
    if lower is None or upper is None:
        return None
    size = parts.middle.input.size
    if lower.shape != (size,) or upper.shape != (size,):
        problems.append(Problem(f"{where}/prefix_box", f"needs {size} bounds (the cut tensor's size)"))
        return None
    try:
        own_lower, own_upper = prefix_enclosure(parts.prefix, ctx.box, method)
    except _MODEL_ERRORS as exc:
        problems.append(Problem(f"{where}/enclosure", f"the {method} enclosure of the prefix failed: {exc}"))
        return None
    outside = np.flatnonzero(~((lower <= own_lower) & (own_upper <= upper)))
    if outside.size:
        i = int(outside[0])
        problems.append(Problem(f"{where}/prefix_box",
                                f"does not contain the prefix's output: at {i} the checker's enclosure is "
                                f"[{float(own_lower[i])!r}, {float(own_upper[i])!r}], the box "
                                f"[{float(lower[i])!r}, {float(upper[i])!r}] ({outside.size} entries)"))
        return None
    try:
        return Box.of(lower, upper)
    except NnequivError as exc:
        problems.append(Problem(f"{where}/prefix_box", str(exc)))
        return None


def _lipschitz_problems(ctx: StepContext, suffix, lipschitz: float, middle_eps: float,
                        step_epsilon: float) -> list[Problem]:
    where = ctx.where
    try:
        own = suffix_lipschitz(suffix, ctx.relation.outputs)
    except _MODEL_ERRORS as exc:
        return [Problem(f"{where}/lipschitz", f"no Lipschitz bound of the suffix: {exc}")]
    if not lipschitz >= own:
        return [Problem(f"{where}/lipschitz", f"{lipschitz!r} is below the checker's bound {own!r} on the suffix")]
    if Fraction(lipschitz) * Fraction(middle_eps) > Fraction(step_epsilon):
        return [Problem(f"{where}/middle_epsilon", f"lipschitz * middle_epsilon = {lipschitz!r} * {middle_eps!r} "
                                                   f"exceeds the step's epsilon {step_epsilon!r}")]
    return []
