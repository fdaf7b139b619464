"""Exact linear constraints and boolean formulas read from VNN-LIB assertions.

Terms are linearised exactly (coefficients are :class:`~fractions.Fraction`).
Formulas are built directly in negation normal form: ``not`` is pushed to the
atoms, ``=`` becomes two ``<=`` atoms and ``!=``/``distinct`` two strict ones, so
every atom is ``sum(c_v * v) <= rhs`` or ``sum(c_v * v) < rhs``.  Atoms without
variables are decided on the spot.

Accepted term syntax: numbers; variables (resolved by a callback, which also
gets ``X[i, j]`` / ``(select X i)`` indices); ``(+ a ...)``, ``(- a)``,
``(- a b ...)``, ``(* a ...)`` with at most one non-constant factor, ``(/ a c)``
with a non-zero constant ``c``.  Comparisons: ``<= >= < > = == != distinct``
(chainable where SMT-LIB allows it).  Connectives: ``and or not``, and the
constants ``true``/``false``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Literal, NamedTuple, Sequence, Union

from ..errors import SpecError
from .box import describe_number, parse_decimal
from .vnnlib_lexer import Atom, Node, SList, located

__all__ = ["Var", "LinearConstraint", "And", "Or", "Lit", "Const", "Formula", "Resolver",
           "build_formula", "simple_bound", "to_dnf", "face_empty", "formula_vars", "MAX_DISJUNCTS"]

MAX_DISJUNCTS = 100_000


@dataclass(frozen=True, order=True)
class Var:
    """One scalar variable: an element of a network's input (``"in"``) or output (``"out"``).

    ``network`` is ``""`` for VNN-LIB 1.0; ``index`` is the flat (C order) index.
    ``name`` is only for messages and does not take part in comparisons.
    """

    role: Literal["in", "out"]
    network: str
    index: int
    name: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.name or f"{self.network + '.' if self.network else ''}{self.role}[{self.index}]"


@dataclass(frozen=True)
class LinearConstraint:
    """``sum(coeff * var for var, coeff in terms) <op> rhs`` with ``op`` ``"<="`` or ``"<"``.

    ``terms`` is sorted by variable and has no zero coefficients.  ``line``/``col``
    locate the source comparison (not compared).
    """

    terms: tuple[tuple[Var, Fraction], ...]
    op: Literal["<=", "<"]
    rhs: Fraction
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)

    @property
    def variables(self) -> tuple[Var, ...]:
        return tuple(v for v, _ in self.terms)

    def key(self) -> tuple:
        """Identity up to positive scaling (first coefficient scaled to +-1)."""
        scale = abs(self.terms[0][1]) if self.terms else Fraction(1)
        return (tuple((v, c / scale) for v, c in self.terms), self.op, self.rhs / scale)

    def __str__(self) -> str:
        parts = []
        for v, c in self.terms:
            sign = "-" if c < 0 else "+"
            mag = abs(c)
            coef = "" if mag == 1 else f"{describe_number(mag)}*"
            parts.append(f"{sign} {coef}{v}")
        text = " ".join(parts).lstrip("+ ") if parts else "0"
        return f"{text} {self.op} {describe_number(self.rhs)}"


# --------------------------------------------------------------------------- formulas (NNF)

@dataclass(frozen=True)
class Lit:
    constraint: LinearConstraint


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class And:
    items: tuple["Formula", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["Formula", ...]
    line: int = 0
    col: int = 0


Formula = Union[Lit, Const, And, Or]
Resolver = Callable[[Atom, "tuple[int, ...] | None"], Var]

_Linear = tuple[dict[Var, Fraction], Fraction]  # terms, constant


class _Indexed(NamedTuple):
    """``X[0, 1]``: a variable name followed by its index group."""

    name: Atom
    index: SList


_Arg = Union[Atom, SList, _Indexed]


def _group_args(node: SList, items: Sequence[Node]) -> list[_Arg]:
    """Merge ``symbol [indices]`` pairs (``X[0]``, ``X [0, 1]``) into one argument."""
    out: list[_Arg] = []
    for item in items:
        if isinstance(item, SList) and item.bracket:
            prev = out[-1] if out else None
            if isinstance(prev, Atom) and prev.kind == "symbol":
                out[-1] = _Indexed(prev, item)
                continue
            raise located(item, f"unexpected index {item} (indices follow a variable name)")
        out.append(item)
    return out


def _indices(bracket: SList) -> tuple[int, ...]:
    result = []
    for item in bracket.items:
        if not (isinstance(item, Atom) and item.kind == "number" and item.text.isdigit()):
            raise located(item, f"an index must be a non-negative integer, got {item}")
        if len(item.text) > 12:
            raise located(item, f"index {item.text[:20]} is too large")
        result.append(int(item.text))
    if not result:
        raise located(bracket, "empty index []")
    return tuple(result)


class _Builder:
    def __init__(self, resolve: Resolver) -> None:
        self.resolve = resolve

    # terms -------------------------------------------------------------------

    def term(self, arg: _Arg) -> _Linear:
        if isinstance(arg, _Indexed):
            name, bracket = arg
            return {self.resolve(name, _indices(bracket)): Fraction(1)}, Fraction(0)
        if isinstance(arg, Atom):
            if arg.kind == "number":
                try:
                    return {}, parse_decimal(arg.text)
                except SpecError as exc:
                    raise located(arg, exc.message) from None
            if arg.kind == "string":
                raise located(arg, f"unexpected string \"{arg.text[:40]}\" in an arithmetic term")
            if arg.text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                raise located(arg, f"{arg.text} is not allowed: bounds must be finite numbers")
            return {self.resolve(arg, None): Fraction(1)}, Fraction(0)
        if arg.bracket:
            raise located(arg, f"unexpected {arg}")
        op = arg.head
        args = _group_args(arg, arg.items[1:])
        if op == "select":
            return self.select(arg, args)
        if op == "+":
            return self.combine(arg, args, [1] * len(args), at_least=1)
        if op == "-":
            if len(args) == 1:
                return self.combine(arg, args, [-1], at_least=1)
            return self.combine(arg, args, [1] + [-1] * (len(args) - 1), at_least=2)
        if op == "*":
            return self.product(arg, args)
        if op == "/":
            return self.divide(arg, args)
        if not arg.items:
            raise located(arg, "empty term ()")
        if op is None:
            raise located(arg, f"expected an operator after '(', got {arg.items[0]}")
        raise located(arg, f"unknown arithmetic operator {op!r}")

    def combine(self, node: SList, args: list, signs: list[int], at_least: int) -> _Linear:
        if len(args) < at_least:
            raise located(node, f"{node.head!r} needs at least {at_least} argument(s)")
        terms: dict[Var, Fraction] = {}
        const = Fraction(0)
        for a, s in zip(args, signs):
            t, c = self.term(a)
            for v, k in t.items():
                terms[v] = terms.get(v, Fraction(0)) + s * k
            const += s * c
        return {v: k for v, k in terms.items() if k != 0}, const

    def product(self, node: SList, args: list) -> _Linear:
        if not args:
            raise located(node, "'*' needs at least one argument")
        factor, linear = Fraction(1), None
        for a in args:
            t, c = self.term(a)
            if t:
                if linear is not None:
                    raise located(node, "product of two variables: only linear constraints are supported")
                linear = (t, c)
            else:
                factor *= c
        if linear is None:
            return {}, factor
        t, c = linear
        return {v: k * factor for v, k in t.items() if k * factor != 0}, c * factor

    def divide(self, node: SList, args: list) -> _Linear:
        if len(args) != 2:
            raise located(node, "'/' needs exactly two arguments")
        t, c = self.term(args[0])
        dt, dc = self.term(args[1])
        if dt or dc == 0:
            raise located(node, "division is only supported by a non-zero constant")
        return {v: k / dc for v, k in t.items()}, c / dc

    def select(self, node: SList, args: list) -> _Linear:
        indices: list[int] = []
        base: _Arg = node
        while isinstance(base, SList) and base.head == "select":
            inner = _group_args(base, base.items[1:])
            if len(inner) < 2:
                raise located(base, "'select' needs an array and at least one index")
            idx = []
            for item in inner[1:]:
                if not (isinstance(item, Atom) and item.kind == "number" and item.text.isdigit()
                        and len(item.text) <= 12):
                    raise located(item if isinstance(item, (Atom, SList)) else base,
                                  "a 'select' index must be a non-negative integer")
                idx.append(int(item.text))
            indices = idx + indices
            base = inner[0]
        if not (isinstance(base, Atom) and base.kind == "symbol"):
            raise located(node, "'select' must be applied to a declared variable")
        return {self.resolve(base, tuple(indices)): Fraction(1)}, Fraction(0)

    # formulas ----------------------------------------------------------------

    def formula(self, node: Node, negate: bool = False) -> Formula:
        if isinstance(node, Atom):
            if node.kind == "symbol" and node.text in ("true", "false"):
                return Const((node.text == "true") != negate)
            raise located(node, f"expected a comparison or connective, got {node}")
        if node.bracket:
            raise located(node, f"unexpected {node}")
        op = node.head
        args = node.items[1:]
        if op in ("and", "or"):
            if not args:
                raise located(node, f"{op!r} needs at least one argument")
            children = tuple(self.formula(a, negate) for a in args)
            conj = (op == "and") != negate
            return And(children) if conj else Or(children, node.line, node.col)
        if op == "not":
            if len(args) != 1:
                raise located(node, "'not' takes exactly one argument")
            return self.formula(args[0], not negate)
        if op in ("<=", ">=", "<", ">", "=", "==", "!=", "distinct"):
            return self.comparison(node, op, _group_args(node, args), negate)
        if op is None:
            raise located(node, f"expected an operator, got {node}")
        raise located(node, f"unknown operator {op!r}")

    def comparison(self, node: SList, op: str, args: list, negate: bool) -> Formula:
        if len(args) < 2:
            raise located(node, f"{op!r} needs at least two arguments")
        terms = [self.term(a) for a in args]
        if op in ("!=", "distinct"):
            pairs = [(a, b) for i, a in enumerate(terms) for b in terms[i + 1:]]
            op = "=="
            negate = not negate
        else:
            pairs = list(zip(terms, terms[1:]))
        parts: list[Formula] = []
        for a, b in pairs:
            parts.append(self.compare(node, op, a, b, negate))
        if len(parts) == 1:
            return parts[0]
        # chains are conjunctions; their negation (and "distinct") a disjunction
        return Or(tuple(parts), node.line, node.col) if negate else And(tuple(parts))

    def compare(self, node: SList, op: str, a: _Linear, b: _Linear, negate: bool) -> Formula:
        # a - b <op> 0
        diff = dict(a[0])
        for v, k in b[0].items():
            diff[v] = diff.get(v, Fraction(0)) - k
        terms = {v: k for v, k in diff.items() if k != 0}
        const = a[1] - b[1]
        if op in ("=", "=="):
            le1 = self.atom(node, terms, const, "<=", negate)
            le2 = self.atom(node, {v: -k for v, k in terms.items()}, -const, "<=", negate)
            return Or((le1, le2), node.line, node.col) if negate else _and2(le1, le2)
        if op in (">=", ">"):
            terms, const = {v: -k for v, k in terms.items()}, -const
            op = "<=" if op == ">=" else "<"
        return self.atom(node, terms, const, op, negate)

    def atom(self, node: SList, terms: dict[Var, Fraction], const: Fraction, op: str,
             negate: bool) -> Formula:
        """``terms + const <op> 0``, negated if asked (``not (e <= 0)`` is ``-e < 0``)."""
        if negate:
            terms, const = {v: -k for v, k in terms.items()}, -const
            op = "<" if op == "<=" else "<="
        if not terms:
            return Const(const <= 0 if op == "<=" else const < 0)
        ordered = tuple(sorted(terms.items()))
        return Lit(LinearConstraint(ordered, op, -const, node.line, node.col))  # type: ignore[arg-type]


def _and2(a: Formula, b: Formula) -> Formula:
    return And((a, b))


def simple_bound(node: Node, resolve: Resolver) -> tuple[Var, bool, Fraction] | None:
    """Fast path for the common ``(<= v c)``, ``(>= v c)``, ``(<= c v)``, ``(>= c v)``.

    Returns ``(var, is_upper, c)`` with the same checks (and errors) as
    :func:`build_formula`, or None when ``node`` has any other shape.
    """
    if not (isinstance(node, SList) and len(node.items) == 3 and not node.bracket):
        return None
    op, a, b = node.items
    if not (isinstance(op, Atom) and op.kind == "symbol" and op.text in ("<=", ">=")
            and isinstance(a, Atom) and isinstance(b, Atom)):
        return None
    if a.kind == "symbol" and b.kind == "number":
        var_first = True
    elif a.kind == "number" and b.kind == "symbol":
        var_first = False
    else:
        return None
    builder = _Builder(resolve)
    left, right = builder.term(a), builder.term(b)  # left to right, as build_formula does
    (var, _), = (left if var_first else right)[0].items()
    value = (right if var_first else left)[1]
    return var, (op.text == "<=") == var_first, value


def build_formula(node: Node, resolve: Resolver) -> Formula:
    """The NNF formula of one asserted expression."""
    return _Builder(resolve).formula(node)


def formula_vars(f: Formula) -> set[Var]:
    out: set[Var] = set()
    stack = [f]
    while stack:
        x = stack.pop()
        if isinstance(x, Lit):
            out.update(x.constraint.variables)
        elif isinstance(x, (And, Or)):
            stack.extend(x.items)
    return out


def flatten_and(f: Formula) -> list[Formula]:
    """Top-level conjuncts of ``f`` (nested ``and`` flattened)."""
    out: list[Formula] = []
    stack = [f]
    while stack:
        x = stack.pop()
        if isinstance(x, And):
            stack.extend(reversed(x.items))
        else:
            out.append(x)
    return out


def to_dnf(f: Formula, where: Node | None = None) -> list[tuple[LinearConstraint, ...]]:
    """Disjunctive normal form (list of conjunctions); ``[]`` is false, ``[()]`` true."""
    if isinstance(f, Const):
        return [()] if f.value else []
    if isinstance(f, Lit):
        return [(f.constraint,)]
    if isinstance(f, Or):
        out: list[tuple[LinearConstraint, ...]] = []
        for item in f.items:
            out.extend(to_dnf(item, where))
            if len(out) > MAX_DISJUNCTS:
                raise located(where, f"output constraints expand to more than {MAX_DISJUNCTS} disjuncts")
        return out
    acc: list[tuple[LinearConstraint, ...]] = [()]
    for item in f.items:
        part = to_dnf(item, where)
        if len(acc) * len(part) > MAX_DISJUNCTS:
            raise located(where, f"output constraints expand to more than {MAX_DISJUNCTS} disjuncts")
        acc = [a + p for a in acc for p in part]
    return acc


def face_empty(conj: Sequence[LinearConstraint]) -> bool:
    """True if the conjunction is unsatisfiable on its face: two constraints on the same
    linear form (up to scaling) give a lower bound above the upper bound."""
    bounds: dict[tuple, list] = {}  # form -> [lower, lower_strict, upper, upper_strict]
    for c in conj:
        first = c.terms[0][1]
        scale = abs(first)
        form = tuple((v, k / first) for v, k in c.terms)  # first coefficient +1
        value, strict = c.rhs / scale, c.op == "<"
        b = bounds.setdefault(form, [None, False, None, False])
        if first > 0:   # form <= value
            if b[2] is None or value < b[2] or (value == b[2] and strict):
                b[2], b[3] = value, strict
        else:           # -form <= value  ->  form >= -value
            if b[0] is None or -value > b[0] or (-value == b[0] and strict):
                b[0], b[1] = -value, strict
    for lo, lo_strict, hi, hi_strict in bounds.values():
        if lo is not None and hi is not None and (lo > hi or (lo == hi and (lo_strict or hi_strict))):
            return True
    return False
