"""Files kept by :mod:`nnequiv.testing`: certificates, saved models, box files, audit reports.

Certificates
    One file per check: ``<cert_dir>/<test file>/<test name>[.<n>].json`` where ``n``
    numbers the second, third ... check of the same test.  The file is an ordinary
    certificate (``nnequiv verify`` reads it); what it is *for* -- the two models'
    canonical SHA-256, the box and the relation -- is read back from the
    certificate itself, never from its metadata, so a stale or edited file can only
    cause a re-proof.  A matching file is re-verified by the trusted checker
    (:func:`nnequiv.checker.verify`) instead of proving again.

Writes
    Every file is written to a unique temporary name in the same directory and
    moved into place with :func:`os.replace`, so concurrent pytest-xdist workers
    never read a partially written file (two workers writing the same
    content-addressed model file both produce the same bytes).

Nothing here imports numpy, onnx or torch at module level.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .certificate.json_text import readable_json

if TYPE_CHECKING:  # pragma: no cover
    from .ir import Network
    from .spec.box import Box
    from .spec.relation import Relation

__all__ = ["certificate_path", "matching_certificate", "save_box", "save_model", "store_certificate",
           "write_atomic", "write_report"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-\[\]=+,@]")
_MAX_PART = 100


# ------------------------------------------------------------------------------ writing
def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # honours the umask
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(payload)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return path


# ------------------------------------------------------------------------------ naming
def _safe(part: str) -> str:
    """A file-name-safe rendering of ``part``; a digest keeps distinct names distinct."""
    safe = _UNSAFE.sub("_", part).lstrip(".") or "_"
    if safe != part or len(safe) > _MAX_PART:
        safe = f"{safe[:_MAX_PART - 13]}-{hashlib.sha1(part.encode()).hexdigest()[:12]}"
    return safe


def certificate_path(root: str | os.PathLike[str], name: str, index: int = 0, suffix: str = ".json") -> Path:
    """Where the ``index``-th check (0-based) of the test ``name`` keeps its certificate.

    ``name`` is a pytest node id (``tests/test_a.py::TestB::test_c[x]``: one folder
    per test file, the rest as the file name) or any label.
    """
    file_part, sep, rest = name.partition("::")
    if sep:
        folders = [_safe(p) for p in PurePosixPath(file_part.replace("\\", "/")).parts
                   if p not in ("", ".", "..", "/")]
        stem = _safe(rest.replace("::", "."))
    else:
        folders, stem = [], _safe(name)
    if index:
        stem += f".{index + 1}"
    return Path(root).joinpath(*folders, stem + suffix)


# ------------------------------------------------------------------------------ certificates
def matching_certificate(path: Path, original: "Network", reduced: "Network", hashes: tuple[str, str],
                         box: "Box", relation: "Relation") -> tuple[dict[str, Any] | None, str]:
    """``(certificate, "")`` if ``path`` holds a certificate for exactly this check that the
    trusted checker accepts; otherwise ``(None, why it cannot be reused)``."""
    from .certificate import load_certificate
    from .checker import verify
    from .errors import NnequivError
    from .spec.box import Box
    from .spec.relation import Relation

    if not path.is_file():
        return None, "no certificate yet"
    try:
        document = load_certificate(path)
        models, claim = document["models"], document["claim"]
        changed = [role for role, digest in zip(("original", "reduced"), hashes)
                   if models[role]["sha256"] != digest]
        if changed:
            return None, f"{' and '.join(changed)} model changed"
        if Box.from_json(claim["box"]) != box:
            return None, "box changed"
        if Relation.from_json(claim["relation"]) != relation:
            return None, "relation changed"
    except (NnequivError, KeyError, TypeError, ValueError) as exc:
        return None, f"unreadable certificate ({type(exc).__name__})"
    report = verify(document, original, reduced)
    if not report.valid:
        first = report.problems[0]
        return None, f"certificate rejected by the checker ({first.item}: {first.reason})"
    return document, ""


def store_certificate(path: Path, certificate: dict[str, Any], *, name: str, index: int,
                      labels: tuple[str, str]) -> Path:
    """Write a fresh certificate atomically, naming the test it belongs to in its (untrusted) metadata."""
    document = dict(certificate)
    metadata = dict(document.get("metadata") or {})
    metadata["pytest"] = {"node": name, "check": index + 1}
    document["metadata"] = metadata
    models = {role: dict(entry) for role, entry in document["models"].items()}
    for role, label in zip(("original", "reduced"), labels):
        models[role]["name"] = label
    document["models"] = models
    return write_atomic(path, readable_json(document) + "\n")


# ------------------------------------------------------------------------------ reproduction files
def save_model(directory: str | os.PathLike[str], net: "Network", digest: str) -> Path:
    """``net`` as ``<directory>/models/<name>-<sha256 prefix>.onnx`` (content-addressed; kept if present)."""
    from .onnx_io import to_onnx_model

    path = Path(directory) / "models" / f"{_safe(net.name)[:40]}-{digest[:12]}.onnx"
    if not path.is_file():
        write_atomic(path, to_onnx_model(net).SerializeToString())
    return path


def save_box(directory: str | os.PathLike[str], box: "Box") -> Path:
    """``box`` as an exact JSON box file (hex bounds) for ``nnequiv check --box-file``."""
    text = json.dumps(box.to_json(), indent=1) + "\n"
    path = Path(directory) / "boxes" / f"box-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
    if not path.is_file():
        write_atomic(path, text)
    return path


# ------------------------------------------------------------------------------ audit reports
def write_report(base: Path, *, verdict: Any, certificate: dict[str, Any] | None, original: "Network",
                 reduced: "Network", paths: tuple[str | None, str | None]) -> Path:
    """An audit report for one check at ``base`` + a suffix chosen here; returns the file written.

    With :mod:`nnequiv.report` available this is its HTML report (which re-runs the
    checker).  Without it, the verdict and the certificate are written as JSON
    (``.verdict.json`` / ``.certificate.json``) so nothing is lost.
    """
    try:
        from .report import write_report as render
    except ImportError:
        render = None
    if render is not None:
        target = base.with_name(base.name + ".html")
        target.parent.mkdir(parents=True, exist_ok=True)
        render(target, certificate=certificate, verdict=verdict, original=original, reduced=reduced,
               original_path=paths[0], reduced_path=paths[1])
        return target
    # fallback (no nnequiv.report): the raw JSON documents
    target = base.with_name(base.name + ".verdict.json")
    document = verdict.to_json() if verdict is not None else {"verdict": "equivalent", "re_verified": True}
    write_atomic(target, json.dumps(document, indent=1, allow_nan=False) + "\n")
    if certificate is not None:
        write_atomic(base.with_name(base.name + ".certificate.json"),
                     readable_json(certificate) + "\n")
    return target
