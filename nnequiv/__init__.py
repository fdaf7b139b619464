"""nnequiv: prove that a compressed network computes the same function as the original.

Public API (imported lazily so ``import nnequiv`` stays cheap)::

    net = nnequiv.load("model.onnx")          # ONNX or NNet, by extension
    y = net.evaluate(x)                       # float64 outputs for a batch
    verdict = nnequiv.check(f, g, box, relation)
    reduced, certificate = nnequiv.compress(net, ["fuse-bn", "simplify", "lump"], box=None)
    report = nnequiv.verify(certificate, net, reduced)
    net = nnequiv.from_torch(module, example_input)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load": ("nnequiv.loading", "load"),
    "save": ("nnequiv.onnx_io", "save_onnx"),
    "from_torch": ("nnequiv.torch_io", "from_torch"),
    "check": ("nnequiv.engine.check", "check"),
    "compress": ("nnequiv.passes.pipeline", "compress"),
    "verify": ("nnequiv.checker", "verify"),
    "Network": ("nnequiv.ir", "Network"),
    "Box": ("nnequiv.spec.box", "Box"),
    "Relation": ("nnequiv.spec.relation", "Relation"),
    "NnequivError": ("nnequiv.errors", "NnequivError"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'nnequiv' has no attribute {name!r}") from None
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value
