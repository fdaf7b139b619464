"""Command-line interface: ``nnequiv`` (console script ``nnequiv.cli:main``)."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
