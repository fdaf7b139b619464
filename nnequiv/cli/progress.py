"""A transient status line on stderr (rich; hidden when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import Any


class TransientStatus:
    """``with TransientStatus(enabled, after=1.0) as status: status.update(text)`` shows ``text`` with a
    spinner and the elapsed time once the run is longer than ``after`` seconds; the line is removed
    at the end."""

    def __init__(self, enabled: bool, after: float = 1.0) -> None:
        self.enabled = enabled and sys.stderr.isatty()   # rich would still print a blank line on a pipe
        self.after = after
        self._bar: Any = None
        self._task: Any = None
        self._started = 0.0

    def __enter__(self) -> "TransientStatus":
        self._started = time.monotonic()
        return self

    def update(self, text: str) -> None:
        if not self.enabled or time.monotonic() - self._started < self.after:
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(text)
        self._bar.update(self._task, description=text)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
