"""Lower a network IR to the piecewise-linear normal form (:class:`nnequiv.pwl.PwlNet`)."""

from .lower import to_pwl

__all__ = ["to_pwl"]
