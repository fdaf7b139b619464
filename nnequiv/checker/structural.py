"""Structural evidence: ``batchnorm_fold``, ``affine_fold``, ``lumping``, ``bias_propagation``,
``channel_removal`` (trusted; ``linear_merge`` registers its replay here from :mod:`.linear_merge`).

A structural step names the rewrite, not the target: the checker replays it on the
step's source network (:mod:`.rewrites`, exact precondition checks), and
``verification.py`` requires the replayed network's canonical hash to equal the
step's ``to`` -- so intermediate models of a chain need not be shipped.

Epsilon.  A replay whose every new weight equals its exact real value is exact: any
claimed ``epsilon >= 0`` is sound (``proofs/composition.md`` K2).  Otherwise the
deviation it causes on the claim's box is bounded by the differential zonotope
analysis of the source against the replayed target (the source's lowering
encloses BatchNorm's irrational scale and folded products with radii,
``proofs/pwl_radius.md``), and the claimed epsilon must be at least that bound.
When the replay gives witness pairs (inexact lumping), the bound is the sum of theirs:
each witness has its partner's widths and the real function of the next network in the
chain (``proofs/lumping.md`` L5).
An inexact step cannot support an ``exact`` or ``top1`` claim.

A replay checker is ``(ReplayContext) -> (problems, target or None)``, registered
with ``@replay(kind)`` in :data:`REPLAYS` (separate from the ``EVIDENCE`` registry,
whose checkers compare two given networks).  ``permutation`` (:mod:`.permutation`) registers
here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from ..errors import NnequivError
from ..ir import Network
from ..lowering import to_pwl
from ..spec.box import Box
from ..spec.relation import Relation
from . import lumping_rewrite, removal, rewrites, simplify_rewrites
from .diffzono import analyze
from .leaf import assess
from .registry import Problem, claimed_epsilon
from .rounding import add_up

__all__ = ["REPLAYS", "ReplayContext", "deviation_bound", "replay", "rewrite_bound"]


@dataclass(frozen=True)
class ReplayContext:
    index: int
    step: dict[str, Any]
    source: Network
    box: Box
    relation: Relation

    @property
    def where(self) -> str:
        return f"steps/{self.index}"


ReplayChecker = Callable[[ReplayContext], "tuple[list[Problem], Network | None]"]
REPLAYS: dict[str, ReplayChecker] = {}


def replay(kind: str):
    def register(function: ReplayChecker) -> ReplayChecker:
        REPLAYS[kind] = function
        return function
    return register


def deviation_bound(source: Network, target: Network, box: Box) -> float:
    """A rigorous upper bound on ``max_i |target(x)_i - source(x)_i|`` over ``x`` in ``box`` (reals)."""
    f, g = to_pwl(source), to_pwl(target)
    if f.input_size != g.input_size or f.output_size != g.output_size or f.softmax_output != g.softmax_output:
        return math.inf
    analysis = analyze(f, g, np.asarray(box.lower, float), np.asarray(box.upper, float))
    return float(assess(analysis, "eps", math.inf, None, f.softmax_output).value[0])


def rewrite_bound(source: Network, result: rewrites.Rewrite, box: Box) -> float:
    """A rigorous bound on ``|result.network - source|`` on the box: the deviation bounds of the
    replay's witness pairs, summed with upward rounding (``proofs/composition.md``)."""
    bound = 0.0
    for before, witness in result.witnesses or ((source, result.network),):
        bound = add_up(bound, deviation_bound(before, witness, box))
    return float(bound)


def _settle_epsilon(ctx: ReplayContext, result: rewrites.Rewrite) -> list[Problem]:
    item = f"{ctx.where}/epsilon"
    claimed, problems = claimed_epsilon(ctx.step, ctx.where)
    if claimed is None:
        return problems
    if result.exact:
        return []
    if ctx.relation.kind != "eps":
        return [Problem(item, f"the rewrite is not exact in real arithmetic (rounded weights); it cannot support "
                              f"a {ctx.relation.kind} claim")]
    try:
        bound = rewrite_bound(ctx.source, result, ctx.box)
    except NnequivError as exc:
        return [Problem(item, f"the rewrite is not exact in real arithmetic and its deviation cannot be "
                              f"bounded: {exc.message}")]
    if not bound <= claimed:
        return [Problem(item, f"the rewrite is not exact in real arithmetic; on the box its deviation is "
                              f"proved only <= {bound!r}, not the claimed {claimed!r}")]
    return []


def _run(ctx: ReplayContext, key: str, parse: Callable[[Any], Any],
         apply: Callable[[Network, Any], rewrites.Rewrite]) -> tuple[list[Problem], Network | None]:
    evidence = ctx.step.get(key)
    if not isinstance(evidence, list):
        return [Problem(f"{ctx.where}/{key}", "missing or not a list")], None
    try:
        result = apply(ctx.source, [parse(entry, f"{key}/{i}") for i, entry in enumerate(evidence)])
    except rewrites.RewriteError as exc:
        return [Problem(f"{ctx.where}/{exc.item}".rstrip("/"), exc.reason)], None
    except NnequivError as exc:     # the rewritten graph is malformed
        return [Problem(f"{ctx.where}/{key}", f"the rewrite gives an invalid network: {exc.message}")], None
    return _settle_epsilon(ctx, result), result.network


def _index(value: Any, item: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise rewrites.RewriteError(item, f"not a node or neuron index: {value!r}")
    return value


def _fields(entry: Any, item: str, *names: str) -> list[Any]:
    if not isinstance(entry, dict) or any(name not in entry for name in names):
        raise rewrites.RewriteError(item, f"needs the fields {', '.join(names)}")
    return [entry[name] for name in names]


# ------------------------------------------------------------------------------ kinds
@replay("batchnorm_fold")
def check_batchnorm_fold(ctx: ReplayContext) -> tuple[list[Problem], Network | None]:
    def parse(entry: Any, item: str) -> tuple[int, int]:
        bn, into = _fields(entry, item, "batchnorm", "into")
        return _index(bn, f"{item}/batchnorm"), _index(into, f"{item}/into")
    return _run(ctx, "folds", parse, rewrites.batchnorm_fold)


@replay("affine_fold")
def check_affine_fold(ctx: ReplayContext) -> tuple[list[Problem], Network | None]:
    def parse(entry: Any, item: str) -> list[int]:
        if not isinstance(entry, list):
            raise rewrites.RewriteError(item, "a chain is a list of node indices")
        return [_index(v, f"{item}/{k}") for k, v in enumerate(entry)]
    return _run(ctx, "chains", parse, rewrites.affine_fold)


def rational(text: Any, item: str, what: str) -> Fraction:
    """A rational written as a string ``'p/q'`` (length-capped: the checker must not be made to
    parse huge numbers)."""
    if not isinstance(text, str) or len(text) > 2000:
        raise rewrites.RewriteError(item, f"{what} must be a rational written as a string 'p/q'")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise rewrites.RewriteError(item, f"not a rational: {text[:40]!r}") from None


def _rho(text: Any, item: str) -> Fraction:
    value = rational(text, item, "rho")
    if value <= 0:
        raise rewrites.RewriteError(item, f"rho must be > 0 (negative proportionality does not lump through "
                                          f"ReLU), got {text!r}")
    return value


@replay("lumping")
def check_lumping(ctx: ReplayContext) -> tuple[list[Problem], Network | None]:
    def parse(entry: Any, item: str) -> lumping_rewrite.LumpLayer:
        activation, classes = _fields(entry, item, "activation", "classes")
        if not isinstance(classes, list):
            raise rewrites.RewriteError(f"{item}/classes", "not a list")
        parsed = []
        for c, cls in enumerate(classes):
            where = f"{item}/classes/{c}"
            rep, members = _fields(cls, where, "representative", "members")
            exact = cls.get("exact", True)
            if not isinstance(exact, bool):
                raise rewrites.RewriteError(f"{where}/exact", "must be true or false")
            if not isinstance(members, list) or not members:
                raise rewrites.RewriteError(f"{where}/members", "a class needs at least one member")
            pairs = []
            for m, member in enumerate(members):
                neuron, rho = _fields(member, f"{where}/members/{m}", "neuron", "rho")
                pairs.append((_index(neuron, f"{where}/members/{m}/neuron"), _rho(rho, f"{where}/members/{m}/rho")))
            parsed.append(lumping_rewrite.LumpClass(_index(rep, f"{where}/representative"), tuple(pairs), exact))
        return lumping_rewrite.LumpLayer(_index(activation, f"{item}/activation"), tuple(parsed))
    return _run(ctx, "layers", parse, lumping_rewrite.lumping)


def _name(value: Any, item: str) -> str:
    if not isinstance(value, str) or not value:
        raise rewrites.RewriteError(item, f"not a node name: {value!r}")
    return value


@replay("bias_propagation")
def check_bias_propagation(ctx: ReplayContext) -> tuple[list[Problem], Network | None]:
    def parse(entry: Any, item: str) -> simplify_rewrites.Propagation:
        node, channel = _fields(entry, item, "node", "channel")
        return simplify_rewrites.Propagation(_name(node, f"{item}/node"), _index(channel, f"{item}/channel"))
    return _run(ctx, "propagations", parse, simplify_rewrites.bias_propagation)


@replay("channel_removal")
def check_channel_removal(ctx: ReplayContext) -> tuple[list[Problem], Network | None]:
    def parse(entry: Any, item: str) -> removal.Removal:
        node, channels = _fields(entry, item, "node", "channels")
        if not isinstance(channels, list):
            raise rewrites.RewriteError(f"{item}/channels", "not a list")
        return removal.Removal(_name(node, f"{item}/node"),
                               tuple(_index(k, f"{item}/channels/{i}") for i, k in enumerate(channels)))
    return _run(ctx, "removals", parse, removal.channel_removal)
