"""Load-time normalisation of ONNX graphs: constant folding of static shape subgraphs."""

from __future__ import annotations

from .fold import Folded, fold_constants, identity_scatters
from .rules import FOLD_RULES, fold_rule

__all__ = ["FOLD_RULES", "Folded", "fold_constants", "fold_rule", "identity_scatters"]
