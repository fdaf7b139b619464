"""Read VNN-LIB 1.0 files and VNN-LIB 2.0 two-network (equivalence) queries.

Everything a user can get wrong raises :class:`~nnequiv.errors.SpecError` with
the file and ``line L, column C``.  Nothing is accepted silently: an input
region that is not a box, an output region that is empty on its face, or an
output assertion that does not map to a :class:`~nnequiv.spec.relation.Relation`
is an error.

Numbers are read exactly and the box is rounded OUTWARD to float64 (see
:mod:`nnequiv.spec.box`); strict input bounds (``<``) are read as their closure.
The verified input domain is therefore a superset of the stated one.

VNN-LIB 1.0 (one network)
-------------------------
``(declare-const X_i Real)`` / ``(declare-const Y_j Real)`` (also
``(declare-fun X_i () Real)``), indices contiguous from 0; ``(assert ...)``;
``;`` comments; ``set-logic``/``set-info``/``set-option``/``check-sat``/
``get-model``/``exit`` are ignored.  Input assertions must be conjunctions of
single-variable bounds (``(<= X_0 0.5)``, ``(>= X_0 -0.5)``, ``(<= 0.5 X_0)``,
``(and ...)``, ``(= X_0 c)``, constant factors such as ``(<= (* 2 X_0) 1)``);
every ``X_i`` needs a lower and an upper bound.  Output assertions (``Y_j``
only) may be any linear formula (``and``/``or``/``not``); they are returned in
disjunctive normal form as :attr:`VnnlibSpec.output_constraints`.  A constraint
that mixes inputs and outputs, couples several inputs, or a disjunction over
inputs is rejected ("the input constraints are not a box").

VNN-LIB 2.0 (draft) two-network queries
---------------------------------------
Example (``tests/data/vnnlib2/eps_query.vnnlib``)::

    (vnnlib-version <2.0>)                       ; optional header
    (declare-network f
        (declare-input  X_f Real [3])
        (declare-output Y_f Real [2]))
    (declare-network g
        (isomorphic-to f)                        ; or (equal-to f); recorded only
        (declare-input  X_g Real [3])
        (declare-output Y_g Real [2]))
    (assert (== X_g[0] X_f[0])) ...              ; tie the inputs, one per element
    (assert (<= -1 X_f[0] 1)) ...                ; the box (on either network's input)
    (assert (or (> (- Y_f[0] Y_g[0]) 0.05) (< (- Y_f[0] Y_g[0]) -0.05)
                (> (- Y_f[1] Y_g[1]) 0.05) (< (- Y_f[1] Y_g[1]) -0.05)))

Accepted surface syntax:

* ``(declare-network NAME clause...)`` with clauses ``(equal-to N)``,
  ``(isomorphic-to N)`` (recorded in :class:`NetworkDecl`, never trusted: the
  draft reads ``equal-to`` as "same weights", which nnequiv does not assume),
  exactly one ``(declare-input V TYPE SHAPE ["onnx-name"])`` and one
  ``(declare-output ...)``; ``declare-hidden`` is rejected.  ``TYPE`` is
  ``Real`` or an ONNX float type; ``SHAPE`` is ``[5]``, ``[1,10]``, ``[1 10]``
  or ``[]`` (scalar).  One network (a plain query: ``relation`` is None) or two
  (``f`` = first declared, ``g`` = second).
* Element references: ``V[i]`` / ``V[i,j]`` / ``V [i]`` (full index),
  ``(select V i)`` / ``(select (select V i) j)``, ``V_k`` (flat C-order index
  ``k``; ``V_i-j`` for a full index), and any of these prefixed by the network,
  ``f.V[0]``.  Naming the variables ``X_f``/``Y_f`` gives ``Y_f[0]`` and ``Y_f_0``.
* Shared input: ``f`` and ``g`` may declare the *same* input name (one shared
  ``x``); otherwise every element must be tied with ``(== X_g[i] X_f[i])``
  (or ``=``) -- untied inputs would ask about ``f(x)`` and ``g(x')``, which is
  not equivalence, and are rejected.  Output names shared by both networks
  must be written with the network prefix.
* Numbers: ``1``, ``-0.5``, ``.5``, ``1e-3``; operators as in
  :mod:`nnequiv.spec.vnnlib_formula`.

The conjunction of the output assertions is the *violation* region.  Its DNF
disjuncts that are contradictory on their face (``a > 0.1`` and ``a < -0.1``)
are dropped; if none remains the region is empty and the file is rejected (in
1.0 too).  The rest defines the relation (``relation`` is None when there is no
output assertion):

* ``eps``: exactly the disjuncts ``f_i - g_i > e`` and ``f_i - g_i < -e`` (any
  linear spelling, e.g. ``(> (- Y_f[i] Y_g[i]) e)``, ``(< Y_g[i] (- Y_f[i] e))``)
  for each chosen ``i``, one common ``e > 0`` -> ``Relation.epsilon(e)`` with
  ``e`` rounded down.  With non-strict ``>=``/``<=`` the property asked is
  ``|f_i - g_i| < e``, mapped to ``Relation.epsilon(e')`` with ``e'`` the largest
  float64 strictly below ``e``.  With ``e = 0`` and strict comparisons (or
  ``(!= Y_f[i] Y_g[i])``) -> ``Relation.exact()``.
* ``top1`` (strict tie rule, see :mod:`nnequiv.spec.relation`): the violation
  ``M_f != M_g`` written exactly as the disjunction over ``i != k`` in the
  chosen outputs of ``(and (>= f_i f_j) ...all j != i... (> g_k g_i))`` and
  ``(and (>= g_i g_j) ...all j != i... (> f_k f_i))``
  (``tests/data/vnnlib2/top1_query.vnnlib``).  Any equivalent *different*
  formula is rejected rather than guessed.

Limits (each a clear error): files up to :data:`MAX_FILE_BYTES`, nesting depth
``vnnlib_lexer.MAX_DEPTH``, ``vnnlib_formula.MAX_DISJUNCTS`` output disjuncts,
number literals of at most 4000 digits and exponents within +-10000.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import SpecError
from .box import Box
from .relation import Relation
from .vnnlib_reader import NetworkDecl, OutputConstraints, read_forms

__all__ = ["VnnlibSpec", "NetworkDecl", "OutputConstraints", "load_vnnlib", "parse_vnnlib",
           "MAX_FILE_BYTES"]

MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class VnnlibSpec:
    """A parsed VNN-LIB file.

    ``box`` is over the flattened input (outward-rounded).  ``output_constraints``
    is the DNF of the output assertions (None when there are none); variables are
    :class:`~nnequiv.spec.vnnlib_formula.Var` with ``network == ""`` for 1.0.
    ``relation`` is derived from a 2.0 two-network query (None otherwise).
    """

    box: Box
    output_constraints: OutputConstraints | None
    n_inputs: int
    n_outputs: int
    source_text: str = field(repr=False)
    path: str | None
    version: str = "1.0"
    relation: Relation | None = None
    networks: tuple[NetworkDecl, ...] = ()


# --------------------------------------------------------------------------- entry points

def load_vnnlib(path: str | os.PathLike[str]) -> VnnlibSpec:
    """Read and parse a VNN-LIB file (at most :data:`MAX_FILE_BYTES`)."""
    where = str(path)
    try:
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(f"file is too large ({size} bytes; the limit is {MAX_FILE_BYTES} bytes)",
                            file=where)
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError("file not found", file=where) from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a VNN-LIB file", file=where) from None
    except OSError as exc:
        raise SpecError(f"cannot read file: {exc.strerror or exc}", file=where) from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"file is too large (the limit is {MAX_FILE_BYTES} bytes)", file=where)
    return parse_vnnlib(_decode(data, where), where)


def _decode(data: bytes, where: str | None) -> str:
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise SpecError(f"not a text file (NUL byte at offset {offset}); is this a binary file?",
                        file=where)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (invalid byte at offset {exc.start}); is this a binary file?",
                        file=where) from None


def parse_vnnlib(text: str | bytes, path: str | os.PathLike[str] | None = None) -> VnnlibSpec:
    """Parse VNN-LIB text (1.0 or 2.0, detected from the declarations)."""
    where = None if path is None else str(path)
    try:
        if isinstance(text, bytes):
            if len(text) > MAX_FILE_BYTES:
                raise SpecError(f"text is too large (the limit is {MAX_FILE_BYTES} bytes)")
            text = _decode(text, where)
        if len(text) > MAX_FILE_BYTES:
            raise SpecError(f"text is too large (the limit is {MAX_FILE_BYTES} characters)")
        if "\x00" in text:
            raise SpecError("not a text file (contains NUL characters)")
        parsed = read_forms(text)
        return VnnlibSpec(parsed.box, parsed.output_constraints, parsed.n_inputs, parsed.n_outputs, text,
                          where, parsed.version, parsed.relation, parsed.networks)
    except SpecError as exc:
        raise exc.located(file=where) from None


