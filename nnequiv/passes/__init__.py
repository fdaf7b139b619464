"""Compression passes, keyed by pass id (``@register_pass("fuse-bn")``).

A pass is a pure function ``(network, PassOptions) -> PassResult``.  Passes find
rewrites (the untrusted search: pattern matching, lumping classes, refusal policy)
and materialise them with the trusted replay code (:mod:`nnequiv.checker.rewrites`),
just as the engine closes regions with the checker's own bound analysis: a
certificate step then verifies exactly when the pass's rewrite succeeded.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import UsageError
from .base import Pass, PassOptions, PassResult, PassStats, Refusal

__all__ = ["EVIDENCE_OF_PASS", "PASSES", "Pass", "PassOptions", "PassResult", "PassStats", "Refusal", "get_pass", "register_pass"]

PASSES: dict[str, Pass] = {}
_MODULES = ("fuse_bn", "fold_affine", "lump", "merge_linear", "simplify", "stable")
# the evidence kind each pass writes (each has an entry in proofs/registry.py); ``simplify`` writes a
# ``bias_propagation`` step before its ``channel_removal`` step (PassResult.steps)
EVIDENCE_OF_PASS: dict[str, str] = {"fuse-bn": "batchnorm_fold", "fold-affine": "affine_fold", "lump": "lumping",
                                    "merge-linear": "linear_merge", "simplify": "channel_removal",
                                    "stable": "stable_relu"}


def register_pass(pass_id: str):
    def register(function: Pass) -> Pass:
        if pass_id in PASSES:
            raise ValueError(f"pass {pass_id} is registered twice")
        PASSES[pass_id] = function
        return function
    return register


def _load() -> None:
    for module in _MODULES:
        import_module(f"{__name__}.{module}")


def get_pass(pass_id: str) -> Pass:
    _load()
    if pass_id not in PASSES:
        raise UsageError(f"unknown pass {pass_id!r}", fix=f"choose from {', '.join(sorted(PASSES))}")
    return PASSES[pass_id]
