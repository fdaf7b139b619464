"""``fuse-bn``: fold inference-mode BatchNormalization into the Gemm or Conv right before it.

Refused (left in place, reported): BN after anything but a Gemm/Conv (e.g. across a
non-linearity), a Gemm/Conv output that has another consumer, BN in training mode,
and -- without an input box -- folds whose weights are not exact in real arithmetic
(``gamma / sqrt(var + eps)`` is rational only when ``var + eps`` is a rational square).
"""

from __future__ import annotations

from ..checker import rewrites
from ..ir import Network
from . import register_pass
from .base import PassOptions, PassResult, PassStats, Refusal, choose

FOLDABLE = ("Gemm", "Conv")


@register_pass("fuse-bn")
def fuse_bn(net: Network, options: PassOptions) -> PassResult:
    index = {node.name: i for i, node in enumerate(net.nodes)}
    candidates, refused = [], []
    for i, node in enumerate(net.nodes):
        if node.op != "BatchNormalization":
            continue
        producer = net.producer.get(node.inputs[0])
        if producer is None:
            refused.append(Refusal(node.name, "reads a graph input, nothing to fold into"))
        elif producer.op not in FOLDABLE:
            refused.append(Refusal(node.name, f"follows {producer.op} {producer.name!r}, not a Gemm or Conv "
                                              "(no fold across it)"))
        else:
            candidates.append((node.name, (i, index[producer.name])))
    result, folds, more, epsilon = choose(net, candidates, rewrites.batchnorm_fold, options)
    step = {"kind": "batchnorm_fold", "epsilon": epsilon.hex(),
            "folds": [{"batchnorm": bn, "into": into} for bn, into in folds]}
    return PassResult(result.network, step, PassStats(len(folds), tuple(refused + more), epsilon))
