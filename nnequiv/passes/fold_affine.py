"""``fold-affine``: a chain of Gemm / MatMul (+ Add of a constant) with nothing non-linear in
between, each output read only by the next, becomes one Gemm.

Refused: chains whose folded form has more parameters than the chain (e.g. through a
bottleneck), and -- without an input box -- chains whose product is not exact in real
arithmetic (the folded weights are the correctly rounded exact products).
"""

from __future__ import annotations

from ..checker import rewrites
from ..ir import Network, Node
from . import register_pass
from .base import PassOptions, PassResult, PassStats, Refusal, choose

MATRIX_OPS = ("Gemm", "MatMul")
AFFINE_OPS = MATRIX_OPS + ("Add",)


def _successor(net: Network, node: Node) -> Node | None:
    """The only reader of ``node``'s output, if it is an affine op reading it as the variable operand."""
    tensor = node.outputs[0]
    readers = net.consumers.get(tensor, ())
    if len(readers) != 1 or any(o.name == tensor for o in net.outputs) or readers[0].op not in AFFINE_OPS:
        return None
    reader = readers[0]
    operands = [name for name in reader.inputs if name and name not in net.initializers]
    if operands != [tensor] or (reader.op in MATRIX_OPS and reader.inputs[0] != tensor):
        return None
    return reader


def _matrix(net: Network, node: Node):
    """The node's weight in ``x @ A`` form."""
    weight = net.initializers[node.inputs[1]]
    return weight.T if node.op == "Gemm" and int(node.attr("transB", 0)) else weight


def _parameters(net: Network, chain: list[Node]) -> tuple[int, int]:
    """(parameters of the chain, parameters of its folded Gemm)."""
    own = sum(net.initializers[name].size for node in chain for name in node.inputs if name in net.initializers)
    matrices = [_matrix(net, node) for node in chain if node.op in MATRIX_OPS]
    n_in, n_out = matrices[0].shape[0], matrices[-1].shape[-1]
    return own, n_in * n_out + n_out


@register_pass("fold-affine")
def fold_affine(net: Network, options: PassOptions) -> PassResult:
    index = {node.name: i for i, node in enumerate(net.nodes)}
    taken: set[str] = set()
    candidates, refused = [], []
    for node in net.nodes:
        if node.op not in MATRIX_OPS or node.name in taken or any(n not in net.initializers
                                                                   for n in node.inputs[1:2]):
            continue
        chain = [node]
        while (following := _successor(net, chain[-1])) is not None:
            chain.append(following)
        taken |= {n.name for n in chain}
        if sum(n.op in MATRIX_OPS for n in chain) < 2:
            continue
        where = " -> ".join(n.name for n in chain)
        try:
            own, folded = _parameters(net, chain)
        except (IndexError, KeyError):   # not a constant matrix: the replay reports why
            own, folded = 0, 0
        if folded > own:
            refused.append(Refusal(where, f"folding would grow the parameters from {own} to {folded}"))
            continue
        candidates.append((where, [index[n.name] for n in chain]))
    result, chains, more, epsilon = choose(net, candidates, rewrites.affine_fold, options)
    step = {"kind": "affine_fold", "epsilon": epsilon.hex(), "chains": [list(c) for c in chains]}
    return PassResult(result.network, step, PassStats(len(chains), tuple(refused + more), epsilon))
