"""The one place that turns exceptions into messages and exit codes.

* :class:`~nnequiv.errors.NnequivError` -> ``error: <message>`` (one line) on stderr, exit 3;
* click usage errors (bad option, missing argument) -> click's message, exit 3
  (click's own 2 is reserved for the "unknown" verdict);
* anything else -> ``internal error: ...`` (one line), exit 4; the traceback is
  printed only when the environment sets ``NNEQUIV_DEBUG=1``.

A command may return an ``int``: it becomes the exit code (verdict commands use 0/1/2).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Callable, TextIO

import click

from ..errors import EXIT_INPUT_ERROR, NnequivError

__all__ = ["DEBUG_ENV", "EXIT_INTERNAL_ERROR", "EXIT_INTERRUPTED", "debug_enabled", "report", "run_guarded"]

EXIT_INTERNAL_ERROR = 4
EXIT_INTERRUPTED = 130
DEBUG_ENV = "NNEQUIV_DEBUG"


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def one_line(text: str) -> str:
    """Collapse a message onto one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def report(exc: BaseException, stream: TextIO | None = None) -> int:
    """Write the message for ``exc`` to ``stream`` (stderr) and return its exit code."""
    err = stream if stream is not None else sys.stderr
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if debug_enabled() and not isinstance(exc, click.ClickException):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)
    if isinstance(exc, NnequivError):
        err.write(f"error: {one_line(exc.one_line())}\n")
        return EXIT_INPUT_ERROR
    if isinstance(exc, click.ClickException):  # UsageError, BadParameter, FileError ...
        exc.show(file=err)
        return EXIT_INPUT_ERROR
    if isinstance(exc, (KeyboardInterrupt, click.exceptions.Abort)):
        err.write("error: interrupted\n")
        return EXIT_INTERRUPTED
    detail = one_line(str(exc))
    name = type(exc).__name__
    hint = "" if debug_enabled() else f"; set {DEBUG_ENV}=1 for the traceback"
    err.write(f"internal error: {name}{': ' + detail if detail else ''} "
              f"(a bug in nnequiv: please report it with the command you ran{hint})\n")
    return EXIT_INTERNAL_ERROR


def run_guarded(invoke: Callable[[], Any]) -> int:
    """Run ``invoke`` (click's non-standalone main) and map its outcome to an exit code."""
    try:
        result = invoke()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - this is the top-level handler
        return report(exc)
    if isinstance(result, bool) or not isinstance(result, int):
        return 0
    return result
