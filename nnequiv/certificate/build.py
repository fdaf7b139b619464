"""Assemble a certificate document (untrusted: the checker re-verifies everything but the metadata)."""

from __future__ import annotations

import platform
import time
from typing import Any, Sequence

from ..ir import Network
from ..onnx_io import canonical_sha256
from ..spec.box import Box
from ..spec.relation import Relation
from .io import SCHEMA_ID


def certificate(original: Network, reduced: Network, box: Box, relation: Relation, bound: float,
                steps: Sequence[dict[str, Any]], metadata: dict[str, Any],
                hashes: tuple[str, str] | None = None) -> dict[str, Any]:
    """The ``nnequiv/certificate@1`` document claiming ``bound`` (hex) for ``relation`` on ``box``;
    ``metadata`` is added to the tool, time and host entries."""
    from .. import __version__

    original_hash, reduced_hash = hashes or (canonical_sha256(original), canonical_sha256(reduced))
    return {
        "schema": SCHEMA_ID,
        "claim": {"verdict": "equivalent", "relation": relation.to_json(), "box": box.to_json(),
                  "bound": float(bound).hex()},
        "models": {"original": {"sha256": original_hash, "name": original.name},
                   "reduced": {"sha256": reduced_hash, "name": reduced.name}},
        "steps": list(steps),
        "metadata": {"tool": f"nnequiv {__version__}", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "host": platform.node(), "python": platform.python_version(), **metadata},
    }
