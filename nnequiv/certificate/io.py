"""Read and write certificate files, validated against the packaged JSON Schema."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import CertificateError
from .json_text import readable_json

SCHEMA_ID = "nnequiv/certificate@1"
MAX_BYTES = 512 * 1024 * 1024


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("nnequiv").joinpath("schemas/certificate-1.json").read_text()
    return json.loads(text)


def schema_problems(document: Any) -> list[str]:
    """Every schema violation as ``path: message`` (empty when valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        problems.append(f"{where}: {error.message}")
    return problems


def load_certificate(path: str | Path) -> dict[str, Any]:
    """Parse a certificate file; raise :class:`CertificateError` for unreadable JSON (schema is checked later)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise CertificateError("certificate larger than 512 MiB", file=str(path))
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CertificateError("no such file", file=str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CertificateError(f"not a JSON certificate ({exc})", file=str(path),
                               fix="pass the .json file written by --cert") from None
    except OSError as exc:
        raise CertificateError(f"cannot read ({exc.strerror})", file=str(path)) from None
    if not isinstance(document, dict):
        raise CertificateError("a certificate must be a JSON object", file=str(path))
    return document


def save_certificate(document: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(readable_json(document) + "\n", encoding="utf-8")
