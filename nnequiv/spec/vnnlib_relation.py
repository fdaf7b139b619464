"""Map the violation region of a two-network VNN-LIB 2.0 query to a :class:`Relation`.

The accepted forms (``eps``, ``exact``, strict ``top1``) are documented in
:mod:`nnequiv.spec.vnnlib`; anything else is a :class:`SpecError`.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .box import describe_number, round_down
from .relation import Relation
from .vnnlib_formula import LinearConstraint, Var
from .vnnlib_lexer import Node, located

__all__ = ["relation_from_dnf"]

DNF = tuple[tuple[LinearConstraint, ...], ...]


# --------------------------------------------------------------------------- relations

def _lc(terms: dict[Var, Fraction], op: str, rhs: Fraction) -> LinearConstraint:
    return LinearConstraint(tuple(sorted(terms.items())), op, rhs)  # type: ignore[arg-type]


def relation_from_dnf(dnf: DNF, f: str, g: str, n_outputs: int, where: Node) -> Relation:
    """The relation whose violation region is ``dnf`` (over outputs of networks ``f`` and ``g``).

    Raises :class:`SpecError` (located at ``where``) if it is none of the accepted forms.
    """
    mentioned = {v.index for conj in dnf for c in conj for v, _ in c.terms}
    outputs = None if mentioned == set(range(n_outputs)) else tuple(sorted(mentioned))
    pairs = _eps_pairs(dnf, f, g)
    if pairs is not None:
        return _eps_relation(pairs, outputs, where)
    if len(mentioned) >= 2 and _top1_keys(sorted(mentioned), f, g) == \
            {frozenset(c.key() for c in conj) for conj in dnf}:
        return Relation.top1(outputs)
    raise located(where, "cannot map the output assertion to an eps, exact or top-1 relation between the two "
                         "networks (see the accepted forms in nnequiv.spec.vnnlib and tests/data/vnnlib2/)")


def _eps_pairs(dnf: DNF, f: str, g: str) -> dict[int, dict[int, set]] | None:
    """``{i: {sign: {(e, op)}}}`` if every disjunct is one atom ``sign*(f_i - g_i) op -e``."""
    pairs: dict[int, dict[int, set]] = {}
    for conj in dnf:
        if len(conj) != 1 or len(conj[0].terms) != 2:
            return None
        c = conj[0]
        (a, ka), (b, kb) = c.terms
        if ka != -kb or a.index != b.index or {a.network, b.network} != {f, g}:
            return None
        kf = ka if a.network == f else kb
        sign = 1 if kf > 0 else -1
        pairs.setdefault(a.index, {}).setdefault(sign, set()).add((-c.rhs / abs(ka), c.op, c.line))
    return pairs


def _eps_relation(pairs: dict[int, dict[int, set]], outputs: tuple[int, ...] | None, where: Node) -> Relation:
    values: set[tuple[Fraction, str]] = set()
    for i, sides in sorted(pairs.items()):
        if set(sides) != {1, -1}:
            raise located(where, f"output {i}: only one side of |f_{i} - g_{i}| is bounded; an eps relation needs "
                                 f"both (f_i - g_i > e) and (f_i - g_i < -e)")
        for s in sides.values():
            values |= {(e, op) for e, op, _ in s}
    if len({op for _, op in values}) > 1:
        raise located(where, "the output assertion mixes strict (<, >) and non-strict (<=, >=) comparisons")
    eps_values = {e for e, _ in values}
    if len(eps_values) > 1:
        shown = ", ".join(sorted(describe_number(e) for e in eps_values)[:4])
        raise located(where, f"the tolerances differ between outputs ({shown}); nnequiv supports one eps")
    (eps, op), = values
    if eps < 0:
        raise located(where, f"negative tolerance {describe_number(eps)}: the violation region covers every output, "
                             f"so no pair of networks can satisfy the relation")
    if op == "<":        # violation |d| > eps  ->  relation |d| <= eps
        if eps == 0:
            return Relation.exact(outputs)
        return Relation.epsilon(round_down(eps), outputs)
    # violation |d| >= eps  ->  relation |d| < eps; use the largest float strictly below eps
    e = round_down(eps)
    if Fraction(e) == eps:
        e = math.nextafter(e, -math.inf)
    if e < 0:
        raise located(where, "the violation region |f_i - g_i| >= 0 covers every output, so no pair of "
                             "networks can satisfy the relation")
    return Relation.epsilon(e, outputs)


def _top1_keys(S: list[int], f: str, g: str) -> set[frozenset]:
    """Keys of the canonical violation DNF of the strict top-1 relation over outputs ``S``."""
    def y(net: str, i: int) -> Var:
        return Var("out", net, i)

    one = Fraction(1)
    result: set[frozenset] = set()
    for i in S:
        for k in S:
            if k == i:
                continue
            for a, b in ((f, g), (g, f)):
                conj = [_lc({y(a, j): one, y(a, i): -one}, "<=", Fraction(0)) for j in S if j != i]
                conj.append(_lc({y(b, i): one, y(b, k): -one}, "<", Fraction(0)))
                result.add(frozenset(c.key() for c in conj))
    return result
