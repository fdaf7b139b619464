"""Specifications: input boxes, relations between two networks, VNN-LIB files.

* :class:`Box` -- exact float64 bounds over the flattened input; user decimals
  are rounded outward, so the verified domain contains the stated one.
* :class:`Relation` -- ``eps`` / ``exact`` / ``top1`` (strict tie rule).
* :func:`load_vnnlib` -- VNN-LIB 1.0 files and VNN-LIB 2.0 two-network queries.
* :func:`parse_box_option`, :func:`load_box_json` -- ``--box LO:HI`` and JSON box files.

Every problem caused by user input raises :class:`nnequiv.errors.SpecError`.
"""

from __future__ import annotations

from .box import Box
from .box_file import load_box_json, parse_box_option
from .relation import Relation
from .vnnlib import NetworkDecl, VnnlibSpec, load_vnnlib, parse_vnnlib

__all__ = ["Box", "Relation", "VnnlibSpec", "NetworkDecl", "load_vnnlib", "parse_vnnlib",
           "parse_box_option", "load_box_json"]
