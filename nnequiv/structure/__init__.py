"""Untrusted structural inference: decide a pair from a correspondence of its layers
(``proofs/structural_match.md``).  Every result is a certificate the trusted checker re-verifies."""

from __future__ import annotations

from .match import StructuralResult, match_structure

__all__ = ["StructuralResult", "match_structure"]
