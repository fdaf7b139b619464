"""Semantic reading of VNN-LIB forms: declarations, the input box, output constraints.

See :mod:`nnequiv.spec.vnnlib` for the accepted syntax and semantics.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable

from ..errors import SpecError
from .box import Box, describe_number, round_down, round_up
from .relation import Relation
from .vnnlib_formula import (And, Formula, LinearConstraint, Lit, Or, Var, build_formula, face_empty,
                             flatten_and, formula_vars, simple_bound, to_dnf)
from .vnnlib_lexer import Atom, Node, SList, located, read_sexprs
from .vnnlib_relation import relation_from_dnf

__all__ = ["NetworkDecl", "Parsed", "OutputConstraints", "read_forms", "MAX_ELEMENTS"]

MAX_ELEMENTS = 1 << 31

OutputConstraints = tuple[tuple[LinearConstraint, ...], ...]
"""Disjunctive normal form: a tuple of disjuncts, each a conjunction of constraints."""

_FLOAT_TYPES = frozenset({"Real", "real", "float", "float16", "float32", "float64", "double",
                          "bfloat16", "FLOAT", "FLOAT16", "FLOAT64", "DOUBLE"})
_IGNORED_V1 = frozenset({"set-logic", "set-info", "set-option", "check-sat", "get-model",
                         "get-value", "exit"})
_V1_NAME = re.compile(r"([XY])_([0-9]{1,9})\Z")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_FLAT_SUFFIX = re.compile(r"(.+)_([0-9]{1,12}(?:-[0-9]{1,12})*)\Z")


@dataclass(frozen=True)
class NetworkDecl:
    """A VNN-LIB 2.0 ``declare-network``: one input and one output tensor."""

    name: str
    input_name: str
    input_shape: tuple[int, ...]
    output_name: str
    output_shape: tuple[int, ...]
    equal_to: str | None = None
    isomorphic_to: str | None = None
    line: int = 0

    @property
    def n_inputs(self) -> int:
        return _prod(self.input_shape)

    @property
    def n_outputs(self) -> int:
        return _prod(self.output_shape)


@dataclass(frozen=True)
class Parsed:
    """What a reader extracts from the forms (wrapped into a ``VnnlibSpec`` by the caller)."""

    box: Box
    output_constraints: OutputConstraints | None
    n_inputs: int
    n_outputs: int
    version: str
    relation: Relation | None = None
    networks: tuple[NetworkDecl, ...] = ()


def _prod(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def read_forms(text: str) -> Parsed:
    """Parse VNN-LIB text (1.0 or 2.0, detected from the commands used)."""
    forms = read_sexprs(text)
    if not forms:
        raise SpecError("file is empty (no declarations or assertions)")
    heads = {f.head for f in forms}
    v2 = bool(heads & {"declare-network", "vnnlib-version"})
    if v2 and heads & {"declare-const", "declare-fun"}:
        raise SpecError("mixes VNN-LIB 1.0 declare-const with VNN-LIB 2.0 declare-network")
    reader = _V2Reader(forms) if v2 else _V1Reader(forms)
    return reader.read()


# --------------------------------------------------------------------------- shared reading

@dataclass
class _Bound:
    value: Fraction
    node: Node


class _Reader:
    """Assertion handling shared by both versions."""

    def __init__(self, forms: list[SList]) -> None:
        self.forms = forms
        self.lower: dict[Var, _Bound] = {}
        self.upper: dict[Var, _Bound] = {}
        self.half_ties: dict[tuple[Var, Var], set[int]] = {}
        self.tie_nodes: dict[tuple[Var, Var], Node] = {}
        self.outputs: list[tuple[Formula, SList]] = []

    def resolve(self, atom: Atom, indices: tuple[int, ...] | None) -> Var:
        raise NotImplementedError

    def assertion(self, form: SList) -> None:
        if len(form.items) != 2:
            raise located(form, "'assert' takes exactly one expression")
        fast = simple_bound(form.items[1], self.resolve)
        if fast is not None and fast[0].role == "in":
            var, is_upper, value = fast
            self.bound(var, is_upper, value, form.items[1])
            return
        formula = build_formula(form.items[1], self.resolve)
        for part in flatten_and(formula):
            self.classify(part, form)

    def classify(self, part: Formula, form: SList) -> None:
        variables = formula_vars(part)
        roles = {v.role for v in variables}
        if not roles:
            if not to_dnf(part, form):
                raise located(form, "this assertion is always false (the query is empty)")
            return
        if roles == {"in", "out"}:
            raise located(_node_of(part, form), "the input constraints are not a box: a constraint mixes "
                                                "input and output variables")
        if roles == {"out"}:
            self.outputs.append((part, form))
            return
        if isinstance(part, Or):
            raise located(_node_of(part, form), "the input constraints are not a box: a disjunction ('or') "
                                                "over input variables")
        assert isinstance(part, Lit)
        c = part.constraint
        if len(c.terms) == 1:
            (var, coeff), = c.terms
            self.bound(var, coeff > 0, c.rhs / coeff, _pos(c))
        elif self.tie(c):
            pass
        else:
            raise located(_node_of(part, form), f"the input constraints are not a box: {c} couples "
                                                f"several input variables")

    def bound(self, var: Var, is_upper: bool, value: Fraction, node: Node) -> None:
        """Record ``var <= value`` (or ``>=``), keeping the tightest bound."""
        if is_upper:
            old = self.upper.get(var)
            if old is None or value < old.value:
                self.upper[var] = _Bound(value, node)
        else:
            old = self.lower.get(var)
            if old is None or value > old.value:
                self.lower[var] = _Bound(value, node)

    def tie(self, c: LinearConstraint) -> bool:
        """Record half of ``a == b`` between inputs of two different networks."""
        if len(c.terms) != 2:
            return False
        (a, ka), (b, kb) = c.terms
        if a.network == b.network or ka != -kb or c.op != "<=" or c.rhs != 0:
            return False
        self.half_ties.setdefault((a, b), set()).add(1 if ka > 0 else -1)
        self.tie_nodes.setdefault((a, b), _pos(c))
        return True

    def interval(self, var: Var, names: Iterable[Var]) -> tuple[float, float]:
        """Outward-rounded ``[lower, upper]`` for ``var`` from the bounds on all of ``names``."""
        lows = [self.lower[v] for v in names if v in self.lower]
        ups = [self.upper[v] for v in names if v in self.upper]
        if not lows or not ups:
            side = "lower" if not lows else "upper"
            raise SpecError(f"input {var} has no {side} bound (every input needs a lower and an upper "
                            f"bound for the input region to be a box)")
        lo = max(lows, key=lambda b: b.value)
        hi = min(ups, key=lambda b: b.value)
        if lo.value > hi.value:
            raise SpecError(f"the input region is empty: {var} >= {describe_number(lo.value)} (line {lo.node.line}) "
                            f"and {var} <= {describe_number(hi.value)} (line {hi.node.line})")
        flo, fhi = round_down(lo.value), round_up(hi.value)
        for b, f in ((lo, flo), (hi, fhi)):
            if math.isinf(f):
                raise located(b.node, f"bound {describe_number(b.value)} for {var} is outside the float64 range")
        return flo, fhi

    def output_dnf(self) -> OutputConstraints | None:
        if not self.outputs:
            return None
        first = self.outputs[0][1]
        formula: Formula = And(tuple(p for p, _ in self.outputs))
        dnf = to_dnf(formula, first)
        kept = tuple(conj for conj in dnf if not face_empty(conj))
        if not kept:
            raise located(first, "the output constraints are unsatisfiable on their face (the asserted "
                                 "output region is empty), so the query asks for nothing")
        return kept


def _pos(c: LinearConstraint) -> Node:
    return Atom("symbol", "", c.line, c.col)


def _node_of(part: Formula, form: SList) -> Node:
    """Best source position for a formula part (the comparison or the 'or')."""
    if isinstance(part, Lit) and part.constraint.line:
        return _pos(part.constraint)
    if isinstance(part, Or) and part.line:
        return Atom("symbol", "", part.line, part.col)
    return form


def _missing(indices: set[int], n: int) -> int:
    """Smallest index in ``range(n)`` not in ``indices`` (fast when many are present)."""
    for i in range(len(indices) + 1):
        if i not in indices:
            return i
    return n  # pragma: no cover - callers only ask when something is missing


# --------------------------------------------------------------------------- VNN-LIB 1.0

class _V1Reader(_Reader):
    def __init__(self, forms: list[SList]) -> None:
        super().__init__(forms)
        self.vars: dict[str, tuple[Var, SList]] = {}

    def resolve(self, atom: Atom, indices: tuple[int, ...] | None) -> Var:
        if indices is not None:
            raise located(atom, "indexing like X[0] or (select X 0) is VNN-LIB 2.0 syntax; in VNN-LIB 1.0 "
                                "the elements are separate constants X_0, X_1, ...")
        entry = self.vars.get(atom.text)
        if entry is None:
            raise located(atom, f"unknown variable {atom.text[:60]!r} (not declared with declare-const "
                                f"before this point)")
        return entry[0]

    def declare(self, form: SList) -> None:
        items = form.items
        if form.head == "declare-fun":
            if len(items) != 4 or not (isinstance(items[2], SList) and not items[2].items):
                raise located(form, "expected (declare-fun NAME () Real)")
            items = (items[0], items[1], items[3])
        if len(items) != 3 or not all(isinstance(i, Atom) and i.kind == "symbol" for i in items[1:]):
            raise located(form, "expected (declare-const NAME Real)")
        name, sort = items[1], items[2]
        assert isinstance(name, Atom) and isinstance(sort, Atom)
        if sort.text != "Real":
            raise located(sort, f"unsupported sort {sort.text[:40]!r} (VNN-LIB 1.0 variables are Real)")
        m = _V1_NAME.match(name.text)
        if not m:
            raise located(name, f"unexpected variable name {name.text[:60]!r}: VNN-LIB 1.0 names inputs "
                                f"X_0, X_1, ... and outputs Y_0, Y_1, ...")
        if name.text in self.vars:
            first = self.vars[name.text][1]
            raise located(name, f"{name.text} is declared twice (first at line {first.line})")
        index = int(m.group(2))
        if m.group(2) != str(index):
            raise located(name, f"{name.text}: leading zeros in a variable index are not allowed")
        var = Var("in" if m.group(1) == "X" else "out", "", index, name.text)
        self.vars[name.text] = (var, form)

    def read(self) -> Parsed:
        for form in self.forms:
            head = form.head
            if head in ("declare-const", "declare-fun"):
                self.declare(form)
            elif head == "assert":
                self.assertion(form)
            elif head in _IGNORED_V1:
                continue
            else:
                raise located(form, f"unknown command {head or str(form)[:40]!r} (expected declare-const "
                                    f"or assert)")
        n_in = self.count("in", "X")
        n_out = self.count("out", "Y")
        if n_in == 0:
            raise SpecError("declares no input variables (declare-const X_0 Real ...)")
        lo, hi = [], []
        for i in range(n_in):
            v = Var("in", "", i, f"X_{i}")
            a, b = self.interval(v, [v])
            lo.append(a)
            hi.append(b)
        return Parsed(Box.of(lo, hi), self.output_dnf(), n_in, n_out, "1.0")

    def count(self, role: str, letter: str) -> int:
        indices = {v.index for v, _ in self.vars.values() if v.role == role}
        if not indices:
            return 0
        n = max(indices) + 1
        if len(indices) != n:
            gap = _missing(indices, n)
            raise SpecError(f"{letter}_{gap} is not declared, but {letter}_{n - 1} is (variables must be "
                            f"{letter}_0 ... {letter}_{n - 1} without gaps)")
        return n


# --------------------------------------------------------------------------- VNN-LIB 2.0

@dataclass
class _Tensor:
    network: str
    role: str
    name: str
    shape: tuple[int, ...]
    owner: str  # network whose Var is used (differs from ``network`` for a shared input)


class _V2Reader(_Reader):
    def __init__(self, forms: list[SList]) -> None:
        super().__init__(forms)
        self.networks: list[NetworkDecl] = []
        self.tensors: dict[str, list[_Tensor]] = {}

    # declarations -------------------------------------------------------------

    def version_form(self, form: SList, index: int) -> None:
        if index != 0:
            raise located(form, "vnnlib-version must be the first command")
        if len(form.items) != 2 or not isinstance(form.items[1], Atom):
            raise located(form, "expected (vnnlib-version <2.0>)")
        text = form.items[1].text
        if not re.fullmatch(r"<?2(\.[0-9]+)?>?", text):
            raise located(form.items[1], f"unsupported VNN-LIB version {text[:20]!r} (this reader handles "
                                         f"2.x queries and 1.0 files)")

    def network(self, form: SList) -> None:
        items = form.items
        if len(items) < 2 or not (isinstance(items[1], Atom) and items[1].kind == "symbol"):
            raise located(form, "expected (declare-network NAME ...)")
        name = items[1].text
        if not _NAME.fullmatch(name):
            raise located(items[1], f"bad network name {name[:60]!r} (a letter, then letters, digits, _)")
        if any(n.name == name for n in self.networks):
            raise located(items[1], f"network {name!r} is declared twice")
        if name in self.tensors:
            raise located(items[1], f"{name!r} is already a variable name")
        equal_to = isomorphic_to = None
        inputs: list[tuple[str, tuple[int, ...], SList]] = []
        outputs: list[tuple[str, tuple[int, ...], SList]] = []
        for clause in items[2:]:
            if not isinstance(clause, SList) or clause.bracket:
                raise located(clause, f"unexpected {clause} in declare-network")
            head = clause.head
            if head in ("equal-to", "isomorphic-to"):
                other = self.network_ref(clause)
                if equal_to or isomorphic_to:
                    raise located(clause, "a network may have only one equal-to/isomorphic-to clause")
                if head == "equal-to":
                    equal_to = other
                else:
                    isomorphic_to = other
            elif head in ("declare-input", "declare-output"):
                (inputs if head == "declare-input" else outputs).append(self.tensor_decl(clause))
            elif head == "declare-hidden":
                raise located(clause, "declare-hidden is not supported by nnequiv")
            else:
                raise located(clause, f"unknown clause {head or str(clause)[:40]!r} in declare-network")
        if len(inputs) != 1 or len(outputs) != 1:
            raise located(form, f"network {name!r} declares {len(inputs)} input(s) and {len(outputs)} "
                                f"output(s); nnequiv supports exactly one of each")
        (in_name, in_shape, in_node), (out_name, out_shape, out_node) = inputs[0], outputs[0]
        if in_name == out_name:
            raise located(out_node, f"{out_name!r} is both the input and the output of {name!r}")
        owner = name
        for t in self.tensors.get(in_name, []):
            if t.role != "in":
                raise located(in_node, f"{in_name!r} is already declared as an output of {t.network!r}")
            owner = t.owner  # the same input name in two networks: one shared input
            if t.shape != in_shape:
                raise located(in_node, f"shared input {in_name!r} has shape {list(t.shape)} in "
                                       f"{t.network!r} but {list(in_shape)} here")
        for t in self.tensors.get(out_name, []):
            if t.role != "out":
                raise located(out_node, f"{out_name!r} is already declared as an input of {t.network!r}")
        if out_name in {n.name for n in self.networks}:
            raise located(out_node, f"{out_name!r} is already a network name")
        self.tensors.setdefault(in_name, []).append(_Tensor(name, "in", in_name, in_shape, owner))
        self.tensors.setdefault(out_name, []).append(_Tensor(name, "out", out_name, out_shape, name))
        self.networks.append(NetworkDecl(name, in_name, in_shape, out_name, out_shape, equal_to,
                                         isomorphic_to, form.line))

    def network_ref(self, clause: SList) -> str:
        if len(clause.items) != 2 or not isinstance(clause.items[1], Atom):
            raise located(clause, f"expected ({clause.head} NETWORK)")
        other = clause.items[1].text
        if not any(n.name == other for n in self.networks):
            raise located(clause.items[1], f"unknown network {other[:60]!r} (declare it first)")
        return other

    def tensor_decl(self, clause: SList) -> tuple[str, tuple[int, ...], SList]:
        items = clause.items
        if not (4 <= len(items) <= 5):
            raise located(clause, f"expected ({clause.head} NAME TYPE [SHAPE] [\"onnx-name\"])")
        name, dtype, shape = items[1], items[2], items[3]
        if not (isinstance(name, Atom) and name.kind == "symbol" and _NAME.fullmatch(name.text)):
            raise located(name, f"bad variable name {str(name)[:60]!r} (a letter, then letters, digits, _)")
        if not (isinstance(dtype, Atom) and dtype.text in _FLOAT_TYPES):
            raise located(dtype, f"unsupported element type {str(dtype)[:40]!r} (use Real or an ONNX float type)")
        if not (isinstance(shape, SList) and shape.bracket):
            raise located(shape, f"expected a shape like [5] or [1,10], got {str(shape)[:40]}")
        dims = []
        for d in shape.items:
            if not (isinstance(d, Atom) and d.kind == "number" and d.text.isdigit() and len(d.text) <= 10):
                raise located(d, f"a dimension must be a positive integer, got {str(d)[:40]}")
            if int(d.text) == 0:
                raise located(d, "a dimension must be positive, got 0")
            dims.append(int(d.text))
        if _prod(dims) > MAX_ELEMENTS:
            raise located(shape, f"tensor {name.text} is too large ({_prod(dims)} elements)")
        if len(items) == 5 and not (isinstance(items[4], Atom) and items[4].kind == "string"):
            raise located(items[4], "the ONNX name must be a double-quoted string")
        return name.text, tuple(dims), clause

    # references -----------------------------------------------------------------

    def resolve(self, atom: Atom, indices: tuple[int, ...] | None) -> Var:
        text = atom.text
        prefix = None
        if "." in text:
            head, rest = text.split(".", 1)
            if any(n.name == head for n in self.networks):
                prefix, text = head, rest
        flat = False
        candidates = self.lookup(text, prefix)
        if not candidates and indices is None:
            m = _FLAT_SUFFIX.match(text)
            if m:
                candidates = self.lookup(m.group(1), prefix)
                parts = tuple(int(p) for p in m.group(2).split("-"))
                indices, flat = parts, len(parts) == 1
        if not candidates:
            raise located(atom, f"unknown variable {atom.text[:60]!r} (not declared by a network before "
                                f"this point)")
        owners = {t.owner for t in candidates}
        if len(owners) > 1:
            nets = " and ".join(repr(t.network) for t in candidates)
            raise located(atom, f"{candidates[0].name!r} is declared by networks {nets}; write "
                                f"{candidates[0].network}.{candidates[0].name}[...] to say which")
        t = candidates[0]
        index = self.flat_index(atom, t, indices, flat)
        owner = t.owner
        pretty = f"{t.name}[{', '.join(map(str, _unflatten(index, t.shape)))}]" if t.shape else t.name
        if t.role == "out" and len(self.tensors[t.name]) > 1:
            pretty = f"{t.network}.{pretty}"
        return Var(t.role, owner, index, pretty)  # type: ignore[arg-type]

    def lookup(self, name: str, prefix: str | None) -> list[_Tensor]:
        found = self.tensors.get(name, [])
        if prefix is not None:
            found = [t for t in found if t.network == prefix]
        return found

    def flat_index(self, atom: Atom, t: _Tensor, indices: tuple[int, ...] | None, flat: bool) -> int:
        size = _prod(t.shape)
        if indices is None:
            if size != 1:
                raise located(atom, f"{t.name} is a tensor of shape {list(t.shape)}; refer to an element, "
                                    f"e.g. {t.name}[{', '.join('0' for _ in t.shape)}]")
            return 0
        if flat:
            (k,) = indices
            if k >= size:
                raise located(atom, f"index {k} is out of range for {t.name} ({size} elements)")
            return k
        if len(indices) != len(t.shape):
            raise located(atom, f"{t.name} has shape {list(t.shape)}: give {len(t.shape)} index(es), "
                                f"got {len(indices)}")
        k = 0
        for i, d in zip(indices, t.shape):
            if i >= d:
                raise located(atom, f"index {list(indices)} is out of range for {t.name} of shape "
                                    f"{list(t.shape)}")
            k = k * d + i
        return k

    # reading ---------------------------------------------------------------------

    def read(self) -> Parsed:
        for i, form in enumerate(self.forms):
            head = form.head
            if head == "vnnlib-version":
                self.version_form(form, i)
            elif head == "declare-network":
                self.network(form)
            elif head == "assert":
                self.assertion(form)
            elif head in ("check-sat", "get-model", "exit"):
                continue
            else:
                raise located(form, f"unknown command {head or str(form)[:40]!r} (expected declare-network "
                                    f"or assert)")
        if not self.networks:
            raise SpecError("declares no network (declare-network ...)")
        if len(self.networks) > 2:
            raise SpecError(f"declares {len(self.networks)} networks; nnequiv reads queries over one network "
                            f"or an equivalence query over two")
        f = self.networks[0]
        box = self.box()
        dnf = self.output_dnf()
        relation = None
        if len(self.networks) == 2:
            g = self.networks[1]
            if g.n_outputs != f.n_outputs:
                raise SpecError(f"networks {f.name!r} and {g.name!r} have different output sizes "
                                f"({f.n_outputs} vs {g.n_outputs})")
            if dnf is not None:
                relation = relation_from_dnf(dnf, f.name, g.name, f.n_outputs, self.outputs[0][1])
        return Parsed(box, dnf, f.n_inputs, f.n_outputs, "2.0", relation, tuple(self.networks))

    def box(self) -> Box:
        f = self.networks[0]
        n = f.n_inputs
        nets = [f.name]
        if len(self.networks) == 2:
            g = self.networks[1]
            if g.n_inputs != n:
                raise SpecError(f"networks {f.name!r} and {g.name!r} have different input sizes "
                                f"({n} vs {g.n_inputs})")
            if g.input_name != f.input_name:
                self.check_ties(f, g)
                nets.append(g.name)
        elif self.half_ties:
            raise SpecError("a constraint ties inputs of different networks, but only one network is declared")

        def label(i: int) -> str:
            return f"{f.input_name}[{', '.join(map(str, _unflatten(i, f.input_shape)))}]"

        # coverage first: a huge declared shape with few bounds must fail fast, not loop
        for side, bounds in (("lower", self.lower), ("upper", self.upper)):
            covered = {v.index for v in bounds if v.network in nets}
            if len(covered) < n:
                raise SpecError(f"input {label(_missing(covered, n))} has no {side} bound (every input "
                                f"needs a lower and an upper bound for the input region to be a box)")
        lo, hi = [], []
        for i in range(n):
            a, b = self.interval(Var("in", f.name, i, label(i)), [Var("in", net, i) for net in nets])
            lo.append(a)
            hi.append(b)
        return Box.of(lo, hi)

    def check_ties(self, f: NetworkDecl, g: NetworkDecl) -> None:
        tied: set[int] = set()
        for (a, b), signs in self.half_ties.items():
            node = self.tie_nodes[(a, b)]
            if signs != {1, -1}:
                raise located(node, f"the input constraints are not a box: {a} and {b} are related by an "
                                    f"inequality, not tied by an equality (==)")
            if a.index != b.index:
                raise located(node, f"{a} is tied to {b}: nnequiv compares f(x) with g(x), so element i of "
                                    f"one input must be tied to element i of the other")
            tied.add(a.index)
        if len(tied) != f.n_inputs:
            gap = _missing(tied, f.n_inputs)
            raise SpecError(
                f"the inputs of networks {f.name!r} and {g.name!r} are not tied (element {gap} is free): "
                f"nnequiv checks f(x) against g(x) for the same x. Declare the same input name in both "
                f"networks, or assert (== {g.input_name}[i] {f.input_name}[i]) for every element i")


def _unflatten(index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for d in reversed(shape):
        out.append(index % d)
        index //= d
    return tuple(reversed(out))


