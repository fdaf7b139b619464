"""``load(path)``: read a model file by its extension (``.onnx`` or ``.nnet``, any case)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .errors import ModelFormatError
from .ir import Network

__all__ = ["FORMATS", "load", "model_format"]

# extension -> format name; the loaders are imported on demand
FORMATS: dict[str, str] = {".onnx": "onnx", ".nnet": "nnet"}


def model_format(path: str | os.PathLike[str]) -> str:
    """``"onnx"`` or ``"nnet"`` for an existing model file; ModelFormatError otherwise."""
    p = Path(path)
    source = str(path)
    if not p.exists():
        raise ModelFormatError("no such file", file=source, fix="check the path")
    if p.is_dir():
        raise ModelFormatError("is a directory, not a model file", file=source,
                               fix="pass the .onnx or .nnet file inside it")
    suffix = p.suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        known = " or ".join(FORMATS)
        what = f"unknown model file extension {suffix!r}" if suffix else "model file has no extension"
        raise ModelFormatError(what, file=source,
                               fix=f"nnequiv reads {known} files; convert PyTorch models with "
                                   f"nnequiv.from_torch or torch.onnx.export") from None


def load(path: str | os.PathLike[str]) -> Network:
    """Load an ONNX or NNet model as a :class:`Network`."""
    return _loader(model_format(path))(path)


def _loader(fmt: str) -> Callable[[str | os.PathLike[str]], Network]:
    if fmt == "nnet":
        from .nnet_io import load_nnet

        return load_nnet
    from .onnx_io import load_onnx

    return load_onnx
