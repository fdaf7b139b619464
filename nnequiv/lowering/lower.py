"""Driver: walk the graph in topological order keeping every live tensor as an affine
expression over the current layer's variables; each activation closes a layer.

Tensors still needed after an activation are carried through it by identity
neurons (slope 1), so residual connections and branches stay exact.  A MaxPool closes
``ceil(log2 window)`` ReLU layers (:mod:`.maxpool`).
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from ..ir import Network, Node
from ..ops.defaults import ONNX_DEFAULT_LEAKY_ALPHA
from ..pwl import PwlLayer, PwlNet
from .affine import Affine
from .maxpool import pool_windows, tournament_round
from .rules import RULES, RuleContext

# ONNX attributes are float32: LeakyRelu's default alpha is float32(0.01), not the float64 0.01
ACTIVATIONS = {"Relu": lambda node: 0.0,
               "LeakyRelu": lambda node: float(node.attr("alpha", ONNX_DEFAULT_LEAKY_ALPHA))}
_CONSTANT_SAFE = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Constant"}


def to_pwl(net: Network) -> PwlNet:
    from ..interpret import infer_shapes

    shapes = infer_shapes(net)
    ctx = RuleContext(net, shapes)
    _reject_unsupported(net)
    source, output = net.input, net.output
    nodes = list(net.nodes)
    softmax = bool(nodes) and nodes[-1].op == "Softmax" and nodes[-1].outputs[0] == output.name
    if softmax:
        _check_softmax_axis(nodes[-1], shapes)
        output_tensor = nodes[-1].inputs[0]
        nodes = nodes[:-1]
    else:
        output_tensor = output.name
    last_use = _last_use(nodes, output_tensor)
    # every floating constant in float64: the radii below assume float64 arithmetic (NumPy would
    # otherwise keep float32 initializers in float32)
    env: dict[str, Affine | np.ndarray] = {name: _as_float64(value) for name, value in net.initializers.items()}
    env[source.name] = Affine.identity(source.size)
    layers: list[PwlLayer] = []
    for position, node in enumerate(nodes):
        args = [env.get(name) if name else None for name in node.inputs]
        if all(not isinstance(a, Affine) for a in args):
            env[node.outputs[0]] = _as_float64(_fold_constant(node, net))
            continue
        if node.op in ACTIVATIONS:
            live = _live(env, last_use, position, node.inputs[0])
            layer, env_update = _close_layer(args[0], ACTIVATIONS[node.op](node), [env[t] for t in live], live)
            layers.append(layer)
            env = _after_layer(env, env_update)
            env[node.outputs[0]] = env_update["__activated__"]
            continue
        if node.op == "MaxPool":
            env = _max_pool(node, args[0], ctx, env, _live(env, last_use, position, node.inputs[0]), layers)
            continue
        env[node.outputs[0]] = RULES[node.op](node, args, ctx)
    final = env[output_tensor]
    if not isinstance(final, Affine):
        raise UnsupportedOpError("the output does not depend on the input", file=net.source)
    layers.append(PwlLayer.make(final.weight, final.bias, 1.0, final.weight_rad, final.bias_rad))
    return PwlNet(tuple(layers), source.shape, output.shape, softmax)


def _live(env: dict, last_use: dict[str, int], position: int, read: str) -> list[str]:
    """Variable tensors still needed after the node at ``position`` (which reads ``read``)."""
    live = [t for t, until in last_use.items() if until > position and isinstance(env.get(t), Affine) and t != read]
    if last_use.get(read, -1) > position:
        live.append(read)
    return live


def _after_layer(env: dict, update: dict) -> dict:
    """The constants of ``env`` and the carried tensors of a closed layer (without its own rows)."""
    kept = {k: v for k, v in env.items() if not isinstance(v, Affine)}
    kept.update({k: v for k, v in update.items() if not k.startswith("__")})
    return kept


def _max_pool(node: Node, x: Affine, ctx: RuleContext, env: dict, live: list[str], layers: list[PwlLayer]) -> dict:
    """MaxPool as tournament rounds, each closing a ReLU layer (:mod:`.maxpool`); appends the
    layers and returns the environment with the pooled output."""
    windows = pool_windows(node, ctx.shape(node.inputs[0]))
    pool = x
    while any(len(window) > 1 for window in windows):
        step = tournament_round(pool, windows)
        names = ["__seconds__", "__singles__"] + live
        layer, update = _close_layer(step.differences, 0.0, [step.seconds, step.singles] + [env[t] for t in live],
                                     names)
        layers.append(layer)
        env = _after_layer(env, update)
        pool = update["__activated__"].plus(update["__seconds__"]).stack(update["__singles__"])
        windows = step.windows
    env[node.outputs[0]] = pool.gather(np.asarray([window[0] for window in windows], dtype=np.int64))
    return env


def _as_float64(value: np.ndarray) -> np.ndarray:
    value = np.asarray(value)
    return value.astype(np.float64) if np.issubdtype(value.dtype, np.floating) else value


def _close_layer(pre: Affine, slope: float, carried: list[Affine], names: list[str]):
    """One layer: ``pre`` through the activation, then every carried tensor through identity."""
    rows = [pre] + carried
    weight = np.vstack([r.weight for r in rows])
    bias = np.concatenate([r.bias for r in rows])
    slopes = np.concatenate([np.full(pre.rows, slope)] + [np.ones(r.rows) for r in carried])
    layer = PwlLayer.make(weight, bias, slopes, np.vstack([r.weight_rad for r in rows]),
                          np.concatenate([r.bias_rad for r in rows]))
    width = layer.n_out
    identity = Affine.identity(width)
    offsets = np.cumsum([0] + [r.rows for r in rows])
    update = {"__activated__": identity.gather(np.arange(offsets[0], offsets[1]))}
    for name, start, stop in zip(names, offsets[1:-1], offsets[2:]):
        update[name] = identity.gather(np.arange(start, stop))
    return layer, update


def _last_use(nodes: list[Node], output_tensor: str) -> dict[str, int]:
    last: dict[str, int] = {}
    for position, node in enumerate(nodes):
        for name in node.inputs:
            if name:
                last[name] = position
    last[output_tensor] = len(nodes)
    return last


def _fold_constant(node: Node, net: Network) -> np.ndarray:
    if node.op not in _CONSTANT_SAFE:
        raise UnsupportedOpError(f"arithmetic on constants ({node.op}) is not lowered exactly",
                                 file=net.source, node=node.name, fix="fold constants before verifying")
    from ..interpret import evaluate_constant

    return evaluate_constant(net, node)


def _reject_unsupported(net: Network) -> None:
    known = set(RULES) | set(ACTIVATIONS) | _CONSTANT_SAFE | {"Softmax", "MaxPool"}
    bad = [n for n in net.nodes if n.op not in known]
    inner_softmax = [n for n in net.nodes[:-1] if n.op == "Softmax"]
    if bad or inner_softmax:
        listed = ", ".join(f"{n.op} ({n.name})" for n in bad + inner_softmax)
        raise UnsupportedOpError(f"not supported by the numeric engine: {listed}", file=net.source,
                                 fix="only piecewise-linear ops (and a final Softmax) can be verified numerically")


def _check_softmax_axis(node: Node, shapes) -> None:
    shape = shapes[node.inputs[0]]
    axis = int(node.attr("axis", -1))
    others = [d for i, d in enumerate(shape) if i != axis % len(shape)]
    if int(np.prod(others)) != 1:
        raise UnsupportedOpError("Softmax must act on the whole output vector", node=node.name)
