"""Read what a report is made from: certificate, verdict and models (paths or objects).

User-caused problems raise :class:`~nnequiv.errors.NnequivError` subclasses (exit 3 in the CLI).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import CertificateError, UsageError
from ..ir import Network

__all__ = ["Inputs", "read_inputs", "file_sha256"]

VERDICTS = ("equivalent", "not_equivalent", "unknown")
MAX_VERDICT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Inputs:
    certificate: dict[str, Any] | None
    certificate_path: str | None
    certificate_sha256: str | None
    certificate_sha256_of: str | None
    verdict: dict[str, Any] | None           # the ``Verdict.to_json()`` form
    verdict_path: str | None
    original: Network | None
    reduced: Network | None
    original_path: str | None
    reduced_path: str | None


def read_inputs(certificate: Any, verdict: Any, original: Any, reduced: Any, *,
                certificate_path: str | None = None, verdict_path: str | None = None,
                original_path: str | None = None, reduced_path: str | None = None) -> Inputs:
    if (original is None) != (reduced is None):
        raise UsageError("give both models (original and reduced) or neither",
                         fix="the checker needs both to re-verify a certificate")
    verdict_doc, verdict_path, carried = _verdict(verdict, verdict_path)
    if certificate is None:
        certificate = carried
    if certificate is None and verdict_doc is None:
        raise UsageError("nothing to report: give a certificate or a verdict")
    cert_doc, certificate_path, digest, digest_of = _certificate(certificate, certificate_path)
    f, original_path = _model(original, original_path)
    g, reduced_path = _model(reduced, reduced_path)
    return Inputs(cert_doc, certificate_path, digest, digest_of, verdict_doc, verdict_path,
                  f, g, original_path, reduced_path)


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _certificate(certificate: Any, path: str | None):
    if certificate is None:
        return None, path, None, None
    if isinstance(certificate, (str, os.PathLike)):
        from ..certificate import load_certificate

        document = load_certificate(certificate)
        return document, str(certificate), file_sha256(certificate), "file bytes"
    if not isinstance(certificate, Mapping):
        raise CertificateError(f"a certificate must be a JSON object, got {type(certificate).__name__}")
    document = json.loads(json.dumps(certificate))  # a private, plain copy
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return document, path, hashlib.sha256(text.encode()).hexdigest(), "sorted compact JSON serialisation"


def _verdict(verdict: Any, path: str | None) -> tuple[dict[str, Any] | None, str | None, Any]:
    if verdict is None:
        return None, path, None
    carried = None
    if isinstance(verdict, (str, os.PathLike)):
        path = str(verdict)
        document = _read_json(Path(verdict))
    elif hasattr(verdict, "to_json") and hasattr(verdict, "verdict"):
        document, carried = verdict.to_json(), getattr(verdict, "certificate", None)
    elif isinstance(verdict, Mapping):
        document = dict(verdict)
    else:
        raise UsageError(f"a verdict must be a Verdict, a dict or a file, got {type(verdict).__name__}")
    if not isinstance(document, dict) or document.get("verdict") not in VERDICTS:
        raise UsageError("not a verdict: expected the JSON object printed by `nnequiv check --json` "
                         f"(with \"verdict\": one of {', '.join(VERDICTS)})")
    return json.loads(json.dumps(document)), path, carried


def _read_json(path: Path) -> Any:
    where = str(path)
    try:
        if path.stat().st_size > MAX_VERDICT_BYTES:
            raise UsageError("verdict file larger than 64 MiB", file=where)
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError("no such file", file=where) from None
    except IsADirectoryError:
        raise UsageError("is a directory, not a verdict file", file=where) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"not a JSON verdict ({exc})", file=where,
                         fix="write one with `nnequiv check ... --json > verdict.json`") from None
    except OSError as exc:
        raise UsageError(f"cannot read ({exc.strerror})", file=where) from None


def _model(model: Any, path: str | None) -> tuple[Network | None, str | None]:
    if model is None:
        return None, path
    if isinstance(model, Network):
        return model, path if path is not None else model.source
    if isinstance(model, (str, os.PathLike)):
        from ..loading import load

        return load(model), str(model)
    raise UsageError(f"a model must be a Network or a file path, got {type(model).__name__}")
