"""Assemble the certificate of a proof and self-check it before it is reported."""

from __future__ import annotations

from typing import Any

from ..certificate.build import certificate as build_certificate
from ..checker import verify
from ..ir import Network
from ..onnx_io import canonical_sha256
from ..spec.box import Box
from ..spec.relation import Relation


def bab_certificate(original: Network, reduced: Network, box: Box, relation: Relation, bound: float,
                    tree: dict[str, Any], stats: dict[str, Any],
                    embedding: dict[str, Any] | None = None) -> dict[str, Any]:
    f_hash, g_hash = canonical_sha256(original), canonical_sha256(reduced)
    claimed = float(bound if relation.kind == "eps" else 0.0)    # exact / top-1 claims state no bound
    step = {"kind": "bab_tree", "from": f_hash, "to": g_hash, "epsilon": claimed.hex(),
            "method": "differential-zonotope", "tree": tree, **({"embedding": embedding} if embedding else {})}
    return build_certificate(original, reduced, box, relation, claimed, [step], {"stats": stats}, (f_hash, g_hash))


def self_check(certificate: dict[str, Any], original: Network, reduced: Network):
    """The checker's report on a freshly built certificate (the engine never reports a rejected proof)."""
    return verify(certificate, original, reduced)
