"""Assemble the certificate of a proof and self-check it before it is reported."""

from __future__ import annotations

import platform
import time
from typing import Any

from .. import __version__
from ..checker import verify
from ..ir import Network
from ..onnx_io import canonical_sha256
from ..spec.box import Box
from ..spec.relation import Relation


def bab_certificate(original: Network, reduced: Network, box: Box, relation: Relation, bound: float,
                    tree: dict[str, Any], stats: dict[str, Any],
                    embedding: dict[str, Any] | None = None) -> dict[str, Any]:
    f_hash, g_hash = canonical_sha256(original), canonical_sha256(reduced)
    bound_hex = float(bound if relation.kind == "eps" else 0.0).hex()   # exact / top-1 claims state no bound
    return {
        "schema": "nnequiv/certificate@1",
        "claim": {"verdict": "equivalent", "relation": relation.to_json(), "box": box.to_json(),
                  "bound": bound_hex},
        "models": {"original": {"sha256": f_hash, "name": original.name},
                   "reduced": {"sha256": g_hash, "name": reduced.name}},
        "steps": [{"kind": "bab_tree", "from": f_hash, "to": g_hash,
                   "epsilon": bound_hex if relation.kind == "eps" else (0.0).hex(),
                   "method": "differential-zonotope", "tree": tree,
                   **({"embedding": embedding} if embedding else {})}],
        "metadata": {"tool": f"nnequiv {__version__}", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "host": platform.node(), "python": platform.python_version(), "stats": stats},
    }


def self_check(certificate: dict[str, Any], original: Network, reduced: Network):
    """The checker's report on a freshly built certificate (the engine never reports a rejected proof)."""
    return verify(certificate, original, reduced)
