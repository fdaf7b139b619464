"""One exception hierarchy for every failure a user can cause.

The CLI maps any ``NnequivError`` to a single line ``error: <message>`` and exit
code :data:`EXIT_INPUT_ERROR`; nothing derived from user input may escape as a
traceback.
"""

from __future__ import annotations

EXIT_EQUIVALENT = 0
EXIT_NOT_EQUIVALENT = 1
EXIT_UNKNOWN = 2
EXIT_INPUT_ERROR = 3


class NnequivError(Exception):
    """Base class: a problem with the user's input or request.

    ``file`` and ``node`` locate the problem, ``fix`` tells the user what to do.
    """

    def __init__(self, message: str, *, file: str | None = None, node: str | None = None,
                 fix: str | None = None) -> None:
        self.message = message
        self.file = file
        self.node = node
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.node:
            where.append(f"node {self.node!r}")
        text = (": ".join(where) + ": " if where else "") + self.message
        if self.fix:
            text += f" ({self.fix})"
        return text

    def located(self, *, file: str | None = None) -> "NnequivError":
        """Return this error with ``file`` filled in if it was unknown."""
        if file and not self.file:
            self.file = file
            self.args = (self.one_line(),)
        return self


class ModelFormatError(NnequivError):
    """The file is not a readable model (missing, truncated, not ONNX/NNet, bad protobuf)."""


class UnsupportedOpError(NnequivError):
    """The model uses operators (or attributes) nnequiv does not support."""


class GraphError(NnequivError):
    """The graph is malformed: cycle, undefined tensor, duplicate name."""


class ShapeError(NnequivError):
    """Tensor shapes do not fit together (inside a model, or between two models)."""


class SpecError(NnequivError):
    """A box, relation or VNN-LIB specification is invalid."""


class CertificateError(NnequivError):
    """A certificate file cannot be read or does not match its schema."""


class UsageError(NnequivError):
    """The request itself is inconsistent (bad option combination, bad value)."""
