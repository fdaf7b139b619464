"""Rigorous point evaluation of networks: double-double midpoints with outward-rounded radii,
linear layers by exact operand splitting (``proofs/rigorous_eval.md``)."""

from .decide import Decision, decide
from .evaluate import difference, evaluate_enclosure
from .expansion import Enclosure

__all__ = ["Decision", "Enclosure", "decide", "difference", "evaluate_enclosure"]
