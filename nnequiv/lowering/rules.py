"""Per-op affine rules for lowering (registry keyed by ONNX op name).

A rule receives the node, its inputs (an :class:`Affine` for variable tensors, a
numpy array for constants) and the per-sample shapes, and returns the output's
:class:`Affine`.  Activations are not rules: the driver turns them into layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Mapping, Union

import numpy as np

from ..checker.rounding import UNIT, up
from ..errors import UnsupportedOpError
from ..ir import Network, Node, TensorSpec
from ..ops.defaults import ONNX_DEFAULT_BN_EPSILON
from ..ops.scatter import check_reduction, scatter_targets
from ..registering import registrar
from .affine import Affine

Value = Union[Affine, np.ndarray]


@dataclass(frozen=True)
class RuleContext:
    net: Network
    shapes: Mapping[str, tuple[int, ...]]

    def shape(self, tensor: str) -> tuple[int, ...]:
        return tuple(self.shapes[tensor])


Rule = Callable[[Node, list, RuleContext], Affine]
RULES: dict[str, Rule] = {}


rule = registrar(RULES, "lowering rule for")


def _variable(args: list, node: Node) -> tuple[int, Affine]:
    found = [(i, a) for i, a in enumerate(args) if isinstance(a, Affine)]
    if len(found) != 1:
        raise UnsupportedOpError(f"{node.op} with {len(found)} variable inputs is not affine",
                                 node=node.name, fix="only one operand may depend on the input")
    return found[0]


@rule("Identity", "Dropout", "Flatten", "Reshape", "Squeeze", "Unsqueeze")
def _same_order(node: Node, args: list, ctx: RuleContext) -> Affine:
    return args[0]  # row-major order of the elements is unchanged


@rule("Transpose")
def _transpose(node: Node, args: list, ctx: RuleContext) -> Affine:
    shape = ctx.shape(node.inputs[0])
    perm = node.attr("perm") or tuple(reversed(range(len(shape))))
    index = np.transpose(np.arange(int(np.prod(shape))).reshape(shape), perm).ravel()
    return args[0].gather(index)


@rule("Concat")
def _concat(node: Node, args: list, ctx: RuleContext) -> Affine:
    width = next(a.weight.shape[1] for a in args if isinstance(a, Affine))
    parts = [a if isinstance(a, Affine) else Affine.constant(a, width) for a in args]
    offsets = np.cumsum([0] + [p.rows for p in parts])
    blocks = [np.arange(o, o + p.rows).reshape(ctx.shape(t)) for o, p, t in zip(offsets, parts, node.inputs)]
    index = np.concatenate(blocks, axis=int(node.attr("axis", 0))).ravel()
    stacked = parts[0]
    for p in parts[1:]:
        stacked = stacked.stack(p)
    return stacked.gather(index)


def _broadcast_index(shape: tuple[int, ...], out: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), out).ravel()


def _broadcast_constant(value: np.ndarray, out: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), out).ravel()


@rule("ScatterElements")
def _scatter(node: Node, args: list, ctx: RuleContext) -> Affine:
    """Data movement: each output entry is a row of ``data`` or of ``updates`` (exact)."""
    check_reduction(node)
    data, indices, updates = args
    if isinstance(indices, Affine):
        raise UnsupportedOpError("ScatterElements with variable indices", node=node.name)
    shape = ctx.shape(node.inputs[0])
    coords = scatter_targets(shape, np.asarray(indices), int(node.attr("axis", 0)))
    width = next(a.weight.shape[1] for a in (data, updates) if isinstance(a, Affine))
    parts = [a if isinstance(a, Affine) else Affine.constant(np.ravel(a), width) for a in (data, updates)]
    size = int(np.prod(shape))
    index = np.arange(size)
    index[np.ravel_multi_index(coords, shape).ravel()] = size + np.arange(int(np.prod(np.shape(indices))))
    return parts[0].stack(parts[1]).gather(index)


@rule("Add", "Sub")
def _add_sub(node: Node, args: list, ctx: RuleContext) -> Affine:
    out = ctx.shape(node.outputs[0])
    sign = -1.0 if node.op == "Sub" else 1.0
    a, b = args
    if isinstance(a, Affine) and isinstance(b, Affine):
        left = a.gather(_broadcast_index(ctx.shape(node.inputs[0]), out))
        right = b.gather(_broadcast_index(ctx.shape(node.inputs[1]), out))
        return left.plus(right, sign)
    if isinstance(a, Affine):
        return a.gather(_broadcast_index(ctx.shape(node.inputs[0]), out)).shift(
            sign * _broadcast_constant(b, out))
    flipped = b.gather(_broadcast_index(ctx.shape(node.inputs[1]), out)).scale(
        np.full(int(np.prod(out)), sign))
    return flipped.shift(_broadcast_constant(a, out))


@rule("Mul", "Div")
def _mul_div(node: Node, args: list, ctx: RuleContext) -> Affine:
    index, var = _variable(args, node)
    if node.op == "Div" and index != 0:
        raise UnsupportedOpError("division by a variable is not piecewise linear", node=node.name)
    out = ctx.shape(node.outputs[0])
    constant = _broadcast_constant(args[1 - index], out)
    var = var.gather(_broadcast_index(ctx.shape(node.inputs[index]), out))
    if node.op == "Mul":
        return var.scale(constant)
    if np.any(constant == 0):
        raise UnsupportedOpError("division by zero", node=node.name, fix="check the constant divisor")
    factor = 1.0 / constant
    return var.scale(factor, _reciprocal_radius(constant, factor))


def _reciprocal_radius(divisor: np.ndarray, reciprocal: np.ndarray) -> np.ndarray:
    """Zero where ``fl(1/c)`` is exact, else ``u |fl(1/c)|`` rounded up (one correctly rounded division)."""
    exact = np.array([Fraction(float(r)) * Fraction(float(c)) == 1 for r, c in zip(reciprocal, divisor)])
    return np.where(exact, 0.0, up(UNIT * np.abs(reciprocal)))


@rule("BatchNormalization")
def _batchnorm(node: Node, args: list, ctx: RuleContext) -> Affine:
    if node.attr("training_mode", 0):
        raise UnsupportedOpError("BatchNormalization in training mode", node=node.name,
                                 fix="export the model in eval mode")
    x, gamma_, beta, mean, var = args
    shape = ctx.shape(node.inputs[0])
    eps = float(node.attr("epsilon", ONNX_DEFAULT_BN_EPSILON))
    scale = gamma_ / np.sqrt(var + eps)
    # v + eps, sqrt and the division each round once: relative error < 3.5u (proofs/batchnorm_fold.md)
    scale_rad = up(4 * UNIT * np.abs(scale))
    shift = beta - mean * scale
    shift_rad = up((np.abs(mean) * scale_rad + 2 * UNIT * (np.abs(mean * scale) + np.abs(shift))) * (1 + 4 * UNIT))
    channel = np.indices(shape)[1].ravel() if len(shape) > 1 else np.zeros(int(np.prod(shape)), int)
    return x.scale(scale[channel], scale_rad[channel]).shift(shift[channel], shift_rad[channel])


@rule("Gemm")
def _gemm(node: Node, args: list, ctx: RuleContext) -> Affine:
    a, b = args[0], args[1]
    if not isinstance(a, Affine) or isinstance(b, Affine):
        raise UnsupportedOpError("Gemm needs a variable A and constant B", node=node.name)
    shape = ctx.shape(node.inputs[0])
    if len(shape) == 1:
        shape = (1,) + shape
    if node.attr("transA", 0):
        a = a.gather(np.arange(int(np.prod(shape))).reshape(shape).T.ravel())
        shape = shape[::-1]
    weight = b.T if node.attr("transB", 0) else b            # (k, n)
    rows = shape[0]
    matrix = np.kron(np.eye(rows), weight.T)                  # (rows*n, rows*k)
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    out = ctx.shape(node.outputs[0])
    offset = np.zeros(int(np.prod(out)))
    if len(args) > 2 and args[2] is not None and not isinstance(args[2], Affine):
        offset = beta * _broadcast_constant(args[2], out)
    offset_rad = np.where(beta in (0.0, 1.0, -1.0), 0.0, up(UNIT * np.abs(offset)))
    matrix_rad = None
    if alpha != 1.0:
        matrix = alpha * matrix
        matrix_rad = np.where(np.frexp(alpha)[0] in (0.5, -0.5), 0.0, up(UNIT * np.abs(matrix)))
    return a.then(matrix, offset, matrix_rad, offset_rad)


@rule("MatMul")
def _matmul(node: Node, args: list, ctx: RuleContext) -> Affine:
    index, var = _variable(args, node)
    const = np.asarray(args[1 - index], dtype=np.float64)
    shape = ctx.shape(node.inputs[index])
    if const.ndim != 2 or len(shape) > 2:
        raise UnsupportedOpError("MatMul with batched (rank > 2) operands", node=node.name)
    if index == 1:      # const @ x
        matrix = const if len(shape) == 1 else np.kron(const, np.eye(shape[1]))
    else:               # x @ const
        matrix = const.T if len(shape) == 1 else np.kron(np.eye(shape[0]), const.T)
    return var.then(matrix, np.zeros(matrix.shape[0]))


@rule("GlobalAveragePool")
def _global_average(node: Node, args: list, ctx: RuleContext) -> Affine:
    shape = ctx.shape(node.inputs[0])
    channels, spatial = int(np.prod(shape[:2])), int(np.prod(shape[2:]))
    factor = 1.0 / spatial
    matrix = np.kron(np.eye(channels), np.full((1, spatial), factor))
    rad = 0.0 if np.frexp(factor)[0] == 0.5 else up(UNIT * factor)
    return args[0].then(matrix, np.zeros(channels), np.where(matrix > 0, rad, 0.0))


@rule("Conv", "AveragePool")
def _by_basis(node: Node, args: list, ctx: RuleContext) -> Affine:
    """Linear ops evaluated on the unit basis: each output of ``e_j`` is one kernel tap times 1
    (exact for Conv) or ``1/k`` rounded once (AveragePool)."""
    from ..interpret import evaluate

    name = node.inputs[0]
    shape = ctx.shape(name)
    size = int(np.prod(shape))
    consts = {t: a for t, a in zip(node.inputs[1:], args[1:]) if t and not isinstance(a, Affine)}
    bias = consts.pop(node.inputs[2], None) if node.op == "Conv" and len(node.inputs) > 2 else None
    linear_node = Node(node.name, node.op, node.inputs[:2] if node.op == "Conv" else node.inputs[:1],
                       node.outputs, dict(node.attrs))
    single = Network.create(inputs=[TensorSpec(name, shape)],
                            outputs=[TensorSpec(node.outputs[0], ctx.shape(node.outputs[0]))],
                            nodes=[linear_node], initializers=consts, source=ctx.net.source)
    columns = evaluate(single, np.eye(size).reshape((size,) + shape)).reshape(size, -1)
    matrix = columns.T
    out = ctx.shape(node.outputs[0])
    offset = np.zeros(matrix.shape[0])
    if bias is not None:
        offset = np.broadcast_to(np.asarray(bias, np.float64).reshape(-1, *([1] * (len(out) - 2))),
                                 out).ravel().copy()
    if node.op == "Conv" and not np.all(np.isin(matrix[matrix != 0], np.asarray(args[1]))):
        raise AssertionError(f"Conv basis evaluation of {node.name} was not exact")  # guard the claim above
    matrix_rad = None if node.op == "Conv" else np.where(matrix != 0, up(UNIT * np.abs(matrix)), 0.0)
    return args[0].then(matrix, offset, matrix_rad)
