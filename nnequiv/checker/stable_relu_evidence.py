"""Evidence ``stable_relu`` as JSON: parsing and the registered replay (trusted).

Step fields: ``layers`` -- per Relu layer ``{"activation", "inactive", "active",
"combinations": [{"neuron", "terms": [{"neuron", "coefficient": "p/q"}]}], "collapse",
"duals": [{"neuron", "phase", "rows", "values": [hex]}], "trees": [...]}`` (trees:
:mod:`.phase_tree_evidence`); optional ``split`` -- sub-boxes ``{"lower": [hex], "upper": [hex]}``;
optional ``refinements`` -- LP bound refinements applied in order, ``{"activation", "neuron",
"side": "upper"|"lower", "rows", "values": [hex]}`` (:mod:`.stable_refine`).  The checks
themselves: :mod:`.stable_relu`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import NnequivError
from ..ir import Network
from .net_bounds import Bounds
from .phase_tree_evidence import hex_floats, parse_trees, row_indices
from .registry import Problem
from .rewrites import RewriteError
from .stable_refine import MAX_REFINEMENTS, Refinement
from .stable_relu import Combination, Dual, StableLayer, stable_relu
from .structural import ReplayContext, _fields, _index, _settle_epsilon, replay

__all__ = ["check_stable_relu"]


def _neurons(value: Any, item: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise RewriteError(item, "not a list of neuron indices")
    return tuple(_index(v, f"{item}/{m}") for m, v in enumerate(value))


def _coefficient(text: Any, item: str) -> Fraction:
    if not isinstance(text, str) or len(text) > 2000:
        raise RewriteError(item, "a coefficient is a rational written as a string 'p/q'")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise RewriteError(item, f"not a rational: {text[:40]!r}") from None


def _parse_layer(entry: Any, item: str) -> StableLayer:
    activation, inactive, active = _fields(entry, item, "activation", "inactive", "active")
    combinations = entry.get("combinations", [])
    collapse = entry.get("collapse", False)
    if not isinstance(combinations, list):
        raise RewriteError(f"{item}/combinations", "not a list")
    if not isinstance(collapse, bool):
        raise RewriteError(f"{item}/collapse", "must be true or false")
    parsed = []
    for c, combination in enumerate(combinations):
        at = f"{item}/combinations/{c}"
        neuron, terms = _fields(combination, at, "neuron", "terms")
        if not isinstance(terms, list):
            raise RewriteError(f"{at}/terms", "not a list")
        pairs = []
        for t, term in enumerate(terms):
            i, coefficient = _fields(term, f"{at}/terms/{t}", "neuron", "coefficient")
            pairs.append((_index(i, f"{at}/terms/{t}/neuron"), _coefficient(coefficient, f"{at}/terms/{t}/coefficient")))
        parsed.append(Combination(_index(neuron, f"{at}/neuron"), tuple(pairs)))
    duals = entry.get("duals", [])
    if not isinstance(duals, list):
        raise RewriteError(f"{item}/duals", "not a list")
    return StableLayer(_index(activation, f"{item}/activation"), _neurons(inactive, f"{item}/inactive"),
                       _neurons(active, f"{item}/active"), tuple(parsed), collapse,
                       tuple(_parse_dual(d, f"{item}/duals/{i}") for i, d in enumerate(duals)),
                       parse_trees(entry.get("trees"), f"{item}/trees"))


def _parse_dual(entry: Any, item: str) -> Dual:
    neuron, phase, rows, values = _fields(entry, item, "neuron", "phase", "rows", "values")
    if phase not in ("inactive", "active"):
        raise RewriteError(f"{item}/phase", "must be 'inactive' or 'active'")
    return Dual(_index(neuron, f"{item}/neuron"), phase, row_indices(rows, f"{item}/rows"),
                hex_floats(values, f"{item}/values"))


def _parse_refinements(value: Any) -> list[Refinement]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RewriteError("refinements", "not a list")
    if len(value) > MAX_REFINEMENTS:
        raise RewriteError("refinements", f"{len(value)} refinements: at most {MAX_REFINEMENTS} are checked")
    parsed = []
    for i, entry in enumerate(value):
        item = f"refinements/{i}"
        activation, neuron, side, rows, values = _fields(entry, item, "activation", "neuron", "side", "rows", "values")
        if side not in ("upper", "lower"):
            raise RewriteError(f"{item}/side", "must be 'upper' or 'lower'")
        parsed.append(Refinement(_index(activation, f"{item}/activation"), _index(neuron, f"{item}/neuron"), side,
                                 row_indices(rows, f"{item}/rows"), hex_floats(values, f"{item}/values")))
    return parsed




def _parse_split(value: Any) -> list[Bounds] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise RewriteError("split", "a split is a list of sub-boxes")
    pieces = []
    for i, piece in enumerate(value):
        lower, upper = _fields(piece, f"split/{i}", "lower", "upper")
        pieces.append((hex_floats(lower, f"split/{i}/lower"), hex_floats(upper, f"split/{i}/upper")))
    return pieces


@replay("stable_relu")
def check_stable_relu(ctx: ReplayContext) -> tuple[list[Problem], Network | None]:
    layers = ctx.step.get("layers")
    if not isinstance(layers, list):
        return [Problem(f"{ctx.where}/layers", "missing or not a list")], None
    try:
        parsed = [_parse_layer(entry, f"layers/{p}") for p, entry in enumerate(layers)]
        split = _parse_split(ctx.step.get("split"))
        refinements = _parse_refinements(ctx.step.get("refinements"))
        result = stable_relu(ctx.source, np.asarray(ctx.box.lower, np.float64),
                             np.asarray(ctx.box.upper, np.float64), parsed, split, refinements)
    except RewriteError as exc:
        return [Problem(f"{ctx.where}/{exc.item}".rstrip("/"), exc.reason)], None
    except NnequivError as exc:
        return [Problem(f"{ctx.where}/layers", f"the rewrite cannot be replayed: {exc.message}")], None
    return _settle_epsilon(ctx, result), result.network
