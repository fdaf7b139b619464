"""Tokenizer and S-expression reader for VNN-LIB text, with line/column positions.

Tokens: ``(`` ``)`` ``[`` ``]`` ``,``, numbers (``1``, ``-0.5``, ``.5``,
``1e-3``), double-quoted strings (ONNX node names), and symbols (letters,
digits and ``_ . ~ ! @ $ % ^ & * + - = < > ? / : |``).  ``;`` starts a comment
that runs to the end of the line.  The reader turns the token stream into a tree
of :class:`SList` (parenthesised or bracketed) and :class:`Atom` nodes.  It is
iterative (no recursion), caps the nesting depth, and reports every problem as
a :class:`~nnequiv.errors.SpecError` carrying ``line L, column C``.
"""

from __future__ import annotations

import bisect
import re
from typing import NamedTuple, Union

from ..errors import SpecError

__all__ = ["Atom", "SList", "Node", "read_sexprs", "located", "MAX_DEPTH"]

MAX_DEPTH = 100

# Skip whitespace and comments, then one alternative per token class (words are classified in code).
_TOKEN = re.compile(r"""
    (?:[ \t\r\n\f\v]+|;[^\n]*)*
    (?:
        (?P<open>[(\[])
      | (?P<close>[)\]])
      | (?P<comma>,)
      | (?P<string>"[^"\n]*")
      | (?P<word>[^\s()\[\];,"]+)
      | (?P<other>.)
      | (?P<end>\Z)
    )
""", re.VERBOSE | re.DOTALL)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_LOOKS_NUMERIC = re.compile(r"[+-]?\.?[0-9]")
_NEWLINE = re.compile(r"\n")
_SYMBOL = re.compile(r"[A-Za-z0-9_.~!@$%^&*+\-=<>?/:|]+\Z")
_SYMBOL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                          "_.~!@$%^&*+-=<>?/:|")


class Atom(NamedTuple):
    """A leaf: ``kind`` is ``"symbol"``, ``"number"`` or ``"string"`` (text without quotes)."""

    kind: str
    text: str
    line: int
    col: int

    def __str__(self) -> str:
        return f'"{self.text}"' if self.kind == "string" else self.text


class SList(NamedTuple):
    """A parenthesised ``( ... )`` (or, with ``bracket=True``, ``[ ... ]``) group."""

    items: tuple["Node", ...]
    line: int
    col: int
    bracket: bool = False

    @property
    def head(self) -> str | None:
        """The leading symbol's text, if the first item is a symbol."""
        if self.items:
            first = self.items[0]
            if type(first) is Atom and first.kind == "symbol":
                return first.text
        return None

    def __str__(self) -> str:
        text = " ".join(str(i) for i in self.items)
        if len(text) > 60:
            text = text[:57] + "..."
        return f"[{text}]" if self.bracket else f"({text})"


Node = Union[Atom, SList]


def located(node: Node | None, message: str) -> SpecError:
    """A :class:`SpecError` whose message starts with the node's line and column."""
    if node is None:
        return SpecError(message)
    return SpecError(f"line {node.line}, column {node.col}: {message}")


def _describe_char(ch: str) -> str:
    return repr(ch) if ch.isprintable() else f"U+{ord(ch):04X}"


def _word_error(value: str, line: int, col: int) -> SpecError:
    if _LOOKS_NUMERIC.match(value):
        return SpecError(f"line {line}, column {col}: malformed number {value[:40]!r}")
    k = next(k for k, ch in enumerate(value) if ch not in _SYMBOL_CHARS)
    return SpecError(f"line {line}, column {col + k}: unexpected character {_describe_char(value[k])} "
                     f"in {value[:40]!r}")


def read_sexprs(text: str) -> list[SList]:
    """Parse ``text`` into its top-level parenthesised forms (iteratively, positions kept)."""
    newlines = [m.start() for m in _NEWLINE.finditer(text)]
    where = bisect.bisect_right

    def position(offset: int) -> tuple[int, int]:
        k = where(newlines, offset)  # newlines before offset
        return k + 1, offset - (newlines[k - 1] if k else -1)

    top: list[SList] = []
    stack: list[tuple[str, int, int, list[Node]]] = []  # (opener, line, col, items)
    items: list[Node] | None = None                      # items of the innermost open group
    number, symbol, numeric = _NUMBER.match, _SYMBOL.match, _LOOKS_NUMERIC.match
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "end":
            break
        value = m.group(kind)
        line, col = position(m.start(kind))
        if kind == "word":
            if items is None:
                raise SpecError(f"line {line}, column {col}: expected '(' at top level, got {value[:40]!r}")
            if number(value):
                items.append(Atom("number", value, line, col))
            elif symbol(value) and not numeric(value):
                items.append(Atom("symbol", value, line, col))
            else:
                raise _word_error(value, line, col)
        elif kind == "open":
            if len(stack) >= MAX_DEPTH:
                raise SpecError(f"line {line}, column {col}: nesting deeper than {MAX_DEPTH} levels")
            if items is None and value == "[":
                raise SpecError(f"line {line}, column {col}: unexpected '[' at top level")
            items = []
            stack.append((value, line, col, items))
        elif kind == "close":
            if not stack:
                raise SpecError(f"line {line}, column {col}: unexpected {value!r} (no matching opening)")
            opener, oline, ocol, done = stack.pop()
            if (opener == "(") != (value == ")"):
                expected = ")" if opener == "(" else "]"
                raise SpecError(f"line {line}, column {col}: {value!r} closes the {opener!r} opened at "
                                f"line {oline}, column {ocol} (expected {expected!r})")
            node = SList(tuple(done), oline, ocol, opener == "[")
            if stack:
                items = stack[-1][3]
                items.append(node)
            else:
                items = None
                top.append(node)
        elif kind == "string":
            if items is None:
                raise SpecError(f"line {line}, column {col}: expected '(' at top level, got a string")
            items.append(Atom("string", value[1:-1], line, col))
        elif kind == "comma":
            if not stack or stack[-1][0] != "[":
                raise SpecError(f"line {line}, column {col}: ',' is only allowed inside [...]")
        elif value == '"':
            raise SpecError(f"line {line}, column {col}: unterminated string")
        else:
            raise SpecError(f"line {line}, column {col}: unexpected character {_describe_char(value)}")
    if stack:
        opener, oline, ocol, _ = stack[-1]
        raise SpecError(f"line {oline}, column {ocol}: unbalanced parentheses: {opener!r} is never closed")
    return top
