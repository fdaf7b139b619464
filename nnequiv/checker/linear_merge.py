"""Evidence ``linear_merge``: a neuron whose incoming row and bias are an exact rational
combination of kept neurons' is merged into them (trusted; ``proofs/linear_merge.md``).

Per merged neuron ``k`` of a layer ``y = sigma(z)`` (sigma Relu / LeakyRelu): the terms
``(i, c_i)``, ``c_i != 0`` rational, with ``W_k = sum c_i W_i`` and ``b_k = sum c_i b_i``
checked exactly (so ``z_k = sum c_i z_i``, M3), and a list of sub-boxes covering the
claim's box (checked exactly, :mod:`.cover`) on each of which the checker's own sound
bounds (:mod:`.diffzono`, outward rounding) show the involved pre-activations share a
sign: the ``z_i`` -- and ``z_k`` too when some ``c_i < 0`` (M2').  Then
``sigma(z_k) = sum c_i sigma(z_i)`` on the box (M2, M2'), and dropping ``k`` while adding
``c_i V[k]`` to each ``V[i]`` keeps the next pre-activations (M3).  A single term with
``c > 0`` is proportional lumping and needs no sub-boxes.

Merges of one layer are applied together (a merged neuron is no term of another merge);
layers one after the other, each on the network merged so far.  Rounded merged weights
make the step inexact: ``structural._settle_epsilon`` then bounds the deviation.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from ..errors import NnequivError
from ..interpret import infer_shapes
from ..ir import Network, TensorSpec
from ..lowering import to_pwl
from ..spec.box import Box
from .cover import covers
from .diffzono import analyze_batch
from .registry import Problem
from .lumping_rewrite import _write
from .dense_layer import dense_site
from .rewrites import Rewrite, RewriteError, _as_dtype, _fractions
from .structural import ReplayContext, _fields, _index, _run, rational, replay

__all__ = ["Merge", "MergeLayer", "check_linear_merge", "evidence_of", "involved", "linear_merge", "merge_layer",
           "needs_sign_evidence", "pre_activation_bounds"]

_CELLS_PER_BATCH = 2 ** 23     # regions x neurons x symbols analysed at once (memory cap)


@dataclass(frozen=True)
class Merge:
    neuron: int
    terms: tuple[tuple[int, Fraction], ...]      # (kept neuron i, c_i != 0)
    cover: tuple[Box, ...] = ()


@dataclass(frozen=True)
class MergeLayer:
    activation: int                              # node index of the Relu / LeakyRelu
    merges: tuple[Merge, ...]


def needs_sign_evidence(merge: Merge) -> bool:
    return not (len(merge.terms) == 1 and merge.terms[0][1] > 0)


def involved(merge: Merge) -> tuple[int, ...]:
    """Neurons whose pre-activations must share a sign: the terms, plus ``k`` if some ``c_i < 0`` (M2')."""
    terms = tuple(i for i, _ in merge.terms)
    return terms + ((merge.neuron,) if any(c < 0 for _, c in merge.terms) else ())


# ------------------------------------------------------------------------------ the algebra (M3)
def merge_layer(net: Network, layer: MergeLayer, item: str) -> Rewrite:
    """Drop each merged neuron, adding ``c_i`` times its outgoing weights to each term's (no sign check)."""
    site = dense_site(net, layer.activation, f"{item}/activation")
    n = site.neurons
    at_layer = f"{item}/activation"
    column = {}

    def incoming(k: int) -> np.ndarray:
        if k not in column:
            bias = [] if site.bias is None else [site.bias[k]]
            column[k] = _fractions(np.append(site.incoming[k], bias), at_layer)
        return column[k]

    outgoing: dict[int, np.ndarray] = {}
    merged: set[int] = set()
    terms_used: set[int] = set()
    for m, merge in enumerate(layer.merges):
        at = f"{item}/merges/{m}"
        k = merge.neuron
        if not 0 <= k < n:
            raise RewriteError(f"{at}/neuron", f"neuron index {k} out of range 0..{n - 1}")
        if k in merged or k in terms_used:
            raise RewriteError(f"{at}/neuron", f"neuron {k} is already merged or a term of another merge")
        if not merge.terms:
            raise RewriteError(f"{at}/terms", "a merge needs at least one term")
        combination = np.zeros(incoming(k).shape[0], dtype=object)
        for t, (i, c) in enumerate(merge.terms):
            where = f"{at}/terms/{t}"
            if not 0 <= i < n or i == k or i in merged or any(i == j for j, _ in merge.terms[:t]):
                raise RewriteError(f"{where}/neuron", f"neuron {i} cannot be a term (out of range, merged, "
                                                      "repeated or the merged neuron itself)")
            if not isinstance(c, Fraction) or c == 0:
                raise RewriteError(f"{where}/c", f"coefficient must be a non-zero rational, got {c!r}")
            combination = combination + c * incoming(i)
        if np.any(combination != incoming(k)):
            raise RewriteError(at, f"incoming weights and bias of neuron {k} are not exactly the stated "
                                   "combination of its terms")
        out_k = _fractions(site.outgoing[k], at_layer)
        for i, c in merge.terms:
            current = outgoing[i] if i in outgoing else _fractions(site.outgoing[i], at_layer)
            outgoing[i] = current + c * out_k
        merged.add(k)
        terms_used |= {i for i, _ in merge.terms}
    new_out = np.array(site.outgoing, copy=True)
    exact = True
    for i, row in outgoing.items():
        new_out[i], row_exact = _as_dtype(row, site.outgoing.dtype)
        exact &= row_exact
    keep = np.array([r for r in range(n) if r not in merged], dtype=int)
    return Rewrite(_write(net, site, keep, new_out[keep]), exact)


# ------------------------------------------------------------------------------ the sign condition
def pre_activation_bounds(net: Network, activation: int, lowers: np.ndarray,
                          uppers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sound bounds ``(R, neurons)`` of the activation node's input on each box ``[lowers[r], uppers[r]]``."""
    tensor = net.nodes[activation].inputs[0]
    needed: set[str] = set()
    stack = [tensor]
    while stack:
        producer = net.producer.get(stack.pop())
        if producer is not None and producer.name not in needed:
            needed.add(producer.name)
            stack += [name for name in producer.inputs if name]
    nodes = tuple(node for node in net.nodes if node.name in needed)
    used = {name for node in nodes for name in node.inputs}
    spec = TensorSpec(tensor, infer_shapes(net)[tensor], net.output.dtype, net.output.dynamic_axes)
    head = to_pwl(net.replace(nodes=nodes, outputs=(spec,),
                              initializers={k: v for k, v in net.initializers.items() if k in used}))
    symbols = head.input_size + sum(layer.n_out for layer in head.layers)
    per_batch = max(1, _CELLS_PER_BATCH // max(1, symbols * max(layer.n_out for layer in head.layers)))
    lows, highs = [], []
    for start in range(0, len(lowers), per_batch):
        part = slice(start, start + per_batch)
        analysis = analyze_batch(head, head, lowers[part], uppers[part], [{}] * len(lowers[part]))
        lo, hi = analysis.f_out.bounds()
        lows.append(lo)
        highs.append(hi)
    return np.concatenate(lows), np.concatenate(highs)


def _check_sign_condition(net: Network, layer: MergeLayer, box: Box, item: str) -> None:
    pending = []                                            # (merge position, sub-box position, box)
    for m, merge in enumerate(layer.merges):
        at = f"{item}/merges/{m}/cover"
        if not needs_sign_evidence(merge):
            continue
        if not merge.cover:
            raise RewriteError(at, "several terms or a negative coefficient: sub-boxes proving a shared sign "
                                   "are needed (proofs/linear_merge.md M2)")
        for j, sub in enumerate(merge.cover):
            if sub.size != box.size:
                raise RewriteError(f"{at}/{j}", f"sub-box has {sub.size} bounds, the box {box.size}")
        if not covers(box.lower, box.upper, [(sub.lower, sub.upper) for sub in merge.cover]):
            raise RewriteError(at, "the sub-boxes do not cover the claim's box")
        pending += [(m, j, sub) for j, sub in enumerate(merge.cover)]
    if not pending:
        return
    lo, hi = pre_activation_bounds(net, layer.activation, np.array([s.lower for _, _, s in pending]),
                                   np.array([s.upper for _, _, s in pending]))
    for r, (m, j, _) in enumerate(pending):
        neurons = list(involved(layer.merges[m]))
        if not (np.all(lo[r, neurons] >= 0) or np.all(hi[r, neurons] <= 0)):
            raise RewriteError(f"{item}/merges/{m}/cover/{j}",
                               f"on this sub-box the bounds do not show the pre-activations of neurons {neurons} "
                               f"sharing a sign (lower {lo[r, neurons].tolist()}, upper {hi[r, neurons].tolist()})")


def linear_merge(net: Network, layers: Sequence[MergeLayer], box: Box) -> Rewrite:
    exact = True
    for position, layer in enumerate(layers):
        item = f"layers/{position}"
        result = merge_layer(net, layer, item)
        _check_sign_condition(net, layer, box, item)
        net, exact = result.network, exact and result.exact
    return Rewrite(net, exact)


# ------------------------------------------------------------------------------ evidence
def _coefficient(text: Any, item: str) -> Fraction:
    value = rational(text, item, "a coefficient")
    if value == 0:
        raise RewriteError(item, "a coefficient must be non-zero")
    return value


def _sub_box(entry: Any, item: str) -> Box:
    if not isinstance(entry, dict) or set(entry) - {"lower_hex", "upper_hex"}:
        raise RewriteError(item, "a sub-box is {lower_hex: [...], upper_hex: [...]}")
    try:
        return Box.from_json(entry)
    except NnequivError as exc:
        raise RewriteError(item, f"unreadable sub-box: {exc.message}") from None


def _parse_layer(entry: Any, item: str) -> MergeLayer:
    activation, merges = _fields(entry, item, "activation", "merges")
    if not isinstance(merges, list):
        raise RewriteError(f"{item}/merges", "not a list")
    parsed = []
    for m, merge in enumerate(merges):
        at = f"{item}/merges/{m}"
        neuron, terms, cover = _fields(merge, at, "neuron", "terms", "cover")
        if not isinstance(terms, list) or not isinstance(cover, list):
            raise RewriteError(at, "terms and cover must be lists")
        pairs = []
        for t, term in enumerate(terms):
            i, c = _fields(term, f"{at}/terms/{t}", "neuron", "c")
            pairs.append((_index(i, f"{at}/terms/{t}/neuron"), _coefficient(c, f"{at}/terms/{t}/c")))
        boxes = tuple(_sub_box(sub, f"{at}/cover/{j}") for j, sub in enumerate(cover))
        parsed.append(Merge(_index(neuron, f"{at}/neuron"), tuple(pairs), boxes))
    return MergeLayer(_index(activation, f"{item}/activation"), tuple(parsed))


def evidence_of(layer: MergeLayer) -> dict[str, Any]:
    """The JSON form of one layer's merges (what :func:`_parse_layer` reads)."""
    return {"activation": layer.activation, "merges": [
        {"neuron": merge.neuron, "terms": [{"neuron": i, "c": str(c)} for i, c in merge.terms],
         "cover": [{"lower_hex": [float(v).hex() for v in sub.lower],
                    "upper_hex": [float(v).hex() for v in sub.upper]} for sub in merge.cover]}
        for merge in layer.merges]}


@replay("linear_merge")
def check_linear_merge(ctx: ReplayContext) -> tuple[list[Problem], Network | None]:
    return _run(ctx, "layers", _parse_layer, lambda net, layers: linear_merge(net, layers, ctx.box))
