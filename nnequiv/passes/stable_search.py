"""Untrusted search for the ``stable`` pass: which ReLU neurons are stable on a box.

Stages, cheapest first (``proofs/stable_relu.md``):

1. the checker's own bounds (:func:`nnequiv.checker.net_bounds.bounds_over`) -- what they prove
   is certifiable as is;
2. witnesses: sampled box points, random corners, gradient-sign corners
   (:func:`gradient_corners`), projected sign-gradient ascent on the pre-activation
   (:func:`ascent_points`), and the inputs of LP optima and MILP incumbents, whose float
   pre-activation is clearly positive / negative (beyond a relative margin) rule a phase out;
   the input showing each phase is kept (``LayerPhases.positive_at`` / ``negative_at``);
3. the triangle-relaxation LP the checker builds (:func:`nnequiv.checker.lp_dual.triangle_lp`),
   solved by HiGHS; its dual multipliers are kept when the checker's safe bound
   (:func:`nnequiv.checker.lp_dual.safe_max`) proves the phase -- certifiable;
4. phase trees (:mod:`.stable_bab`): branch and bound over earlier neurons' phases with
   certified LP leaves, whose LP optima are also tried as witnesses -- certifiable; short
   ones (``tree_first_seconds``) for every open phase, then long ones (``tree_seconds``) for
   what is still open.  On the MNIST MLPs of ``benchmarks/compress`` they settle every phase
   an LP leaves open, in a fraction of the time a MILP takes only to show it;
5. one MILP (HiGHS, built once per layer, objective swapped per neuron) for each phase
   still undecided, stopped as soon as its sign is settled (dual bound past 0, or an
   incumbent whose input is a witness).  A MILP result is NOT certifiable: such neurons are
   reported, never removed; a time limit leaves the neuron unknown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..checker.lp_dual import safe_max, triangle_lp
from ..checker.net_bounds import Bounds
from ..pwl import PwlNet
from ..solvers import MilpModel, ModelBuilder, encode_pwl, solve_highs
from .stable_bab import open_phases, tree_phases
from .stable_tighten import MilpBounds

WITNESS_MARGIN = 1e-9      # relative to the layer's largest |pre-activation| on the samples


@dataclass(frozen=True)
class SearchSettings:
    samples: int = 512
    lp_seconds: float = 2.0            # per LP query
    milp_seconds: float = 30.0         # per MILP query (stopped earlier once its sign is settled)
    milp_budget: float = 600.0         # all LP / MILP queries of one pass
    ascent_steps: int = 40             # sign-gradient ascent steps per (neuron, phase) still open
    tighten: bool = True               # LP-tightened big-M bounds for the MILPs of later layers
    refine: bool = True                # certified LP refinements of the bounds (the certificate carries them)
    removals_only: bool = False        # only never-active neurons removed (no rank reduction, no collapse)
    tree_first_seconds: float = 2.0    # per (neuron, phase): the short phase-tree search (first round)
    tree_seconds: float = 60.0         # per (neuron, phase): the long one, for what is still open (0: no trees)
    tree_nodes: int = 10_000           # per (neuron, phase) phase-tree search
    seed: int = 0


@dataclass
class LayerPhases:
    """Per neuron of one layer: proved by the bounds, ruled out by witnesses, shown by MILP."""

    bound_inactive: np.ndarray
    bound_active: np.ndarray
    seen_positive: np.ndarray
    seen_negative: np.ndarray
    milp_inactive: np.ndarray
    milp_active: np.ndarray
    unknown: np.ndarray
    dual_inactive: np.ndarray
    dual_active: np.ndarray
    tree_inactive: np.ndarray
    tree_active: np.ndarray
    duals: dict = field(default_factory=dict)      # (neuron, phase) -> (rows, values)
    trees: dict = field(default_factory=dict)      # (neuron, phase) -> stable_bab.SearchNode
    positive_at: dict = field(default_factory=dict)  # neuron -> an input where it is clearly positive
    negative_at: dict = field(default_factory=dict)  # neuron -> an input where it is clearly negative
    milp_queries: int = 0
    milp_seconds: float = 0.0
    lp_queries: int = 0
    lp_seconds: float = 0.0
    tree_queries: int = 0
    tree_seconds: float = 0.0
    tree_nodes: int = 0
    tree_leaves: int = 0

    @classmethod
    def from_bounds(cls, lo: np.ndarray, hi: np.ndarray) -> "LayerPhases":
        none = np.zeros(lo.shape, dtype=bool)
        return cls(hi <= 0.0, lo >= 0.0, *(none.copy() for _ in range(9)))

    def narrow(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Phases the (refined, certified) bounds ``lo``, ``hi`` prove are proved by the bounds."""
        self.bound_inactive |= hi <= 0.0
        self.bound_active |= lo >= 0.0

    @property
    def certified_inactive(self) -> np.ndarray:
        return self.bound_inactive | self.dual_inactive | self.tree_inactive

    @property
    def certified_active(self) -> np.ndarray:
        return self.bound_active | self.dual_active | self.tree_active

    @property
    def undecided(self) -> np.ndarray:
        stable = self.certified_inactive | self.certified_active
        return ~stable & ~(self.seen_positive & self.seen_negative)


@dataclass
class Budget:
    seconds: float
    spent: float = field(default=0.0)
    tree_leaves: int = 0               # phase-tree leaves of the step so far (capped by the checker)

    @property
    def left(self) -> float:
        return self.seconds - self.spent


def box_samples(lower: np.ndarray, upper: np.ndarray, count: int, seed: int) -> np.ndarray:
    """The centre, both extreme corners, random corners and uniform points of the box."""
    rng = np.random.default_rng(seed)
    corners = np.where(rng.random((count // 4, lower.size)) < 0.5, lower, upper)
    uniform = lower + rng.random((count, lower.size)) * (upper - lower)
    return np.vstack([lower, upper, lower / 2.0 + upper / 2.0, corners, uniform])


def gradient_corners(pwl: PwlNet, layer: int, neurons: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     rounds: int = 3) -> np.ndarray:
    """Box corners that push each given neuron up and down: start at the centre, move to the
    corner the local gradient of the pre-activation points at, repeat (ReLU networks are
    piecewise linear, so a few rounds usually reach a vertex where the sign shows)."""
    if neurons.size == 0:
        return np.zeros((0, lower.size))
    sign = np.concatenate([np.ones(neurons.size), -np.ones(neurons.size)])
    targets = np.concatenate([neurons, neurons])
    points = np.repeat((lower / 2.0 + upper / 2.0)[None], targets.size, axis=0)
    found = []
    for _ in range(rounds):
        grad = _gradients(pwl, layer, targets, points) * sign[:, None]
        points = np.where(grad > 0, upper, np.where(grad < 0, lower, points))
        found.append(points)
    return np.vstack(found)


def _gradients(pwl: PwlNet, layer: int, targets: np.ndarray, points: np.ndarray) -> np.ndarray:
    """d z_layer[targets[p]] / d x at ``points[p]`` (one row per point)."""
    pre = pwl.activations(points)
    rows = pwl.layers[layer].weight[targets]
    for k in range(layer - 1, -1, -1):
        slope = pwl.layers[k].slope
        rows = (rows * np.where(pre[k] >= 0, 1.0, slope)) @ pwl.layers[k].weight
    return rows


def layer_phases(pwl: PwlNet, layer: int, neurons: int, lower: np.ndarray, upper: np.ndarray,
                 bounds: list[Bounds], search_bounds: MilpBounds, sample_points: np.ndarray,
                 sample_z: np.ndarray, budget: "Budget", settings: SearchSettings) -> LayerPhases:
    """Every stage for the first ``neurons`` neurons of ``layer``: the checker's ``bounds``,
    witnesses (samples ``sample_points`` with their pre-activations ``sample_z``, gradient
    corners, ascent), LP duals over ``bounds``, MILPs with big-M from ``search_bounds`` (which
    then records the stable phases found)."""
    phases = witnessed_phases(pwl, layer, neurons, lower, upper, bounds, sample_points, sample_z, settings)
    solved_phases(pwl, layer, neurons, lower, upper, bounds, search_bounds, phases, budget, settings)
    return phases


def witnessed_phases(pwl: PwlNet, layer: int, neurons: int, lower: np.ndarray, upper: np.ndarray,
                     bounds: list[Bounds], sample_points: np.ndarray, sample_z: np.ndarray,
                     settings: SearchSettings) -> LayerPhases:
    """The cheap stages of :func:`layer_phases`: the checker's ``bounds`` and the witnesses."""
    phases = LayerPhases.from_bounds(bounds[layer][0][:neurons], bounds[layer][1][:neurons])
    witness(phases, sample_z[:, :neurons], sample_points)
    witness_at(pwl, layer, phases, gradient_corners(pwl, layer, np.flatnonzero(phases.undecided), lower, upper))
    witness_at(pwl, layer, phases, ascent_points(pwl, layer, phases, sample_points, sample_z[:, :neurons],
                                                 lower, upper, settings.ascent_steps))
    return phases


def solved_phases(pwl: PwlNet, layer: int, neurons: int, lower: np.ndarray, upper: np.ndarray,
                  bounds: list[Bounds], search_bounds: MilpBounds, phases: LayerPhases, budget: "Budget",
                  settings: SearchSettings, lp: bool = True) -> None:
    """The solver stages of :func:`layer_phases`: LP duals over ``bounds`` (unless ``lp`` is
    false), MILPs over ``search_bounds``, which then records the stable phases found."""
    def show(points: np.ndarray) -> None:
        witness_at(pwl, layer, phases, points)

    if lp:
        lp_phases(pwl, layer, neurons, lower, upper, bounds, phases, budget, settings)
    # trees before MILPs: they certify, where a MILP only shows; short ones first, so that a
    # few hard neurons cannot spend the budget before the easy ones are tried
    for seconds in (min(settings.tree_first_seconds, settings.tree_seconds), settings.tree_seconds):
        tree_phases(pwl, layer, open_phases(phases, neurons), lower, upper, bounds, phases, budget, seconds,
                    settings, show)
    milp_phases(pwl, layer, neurons, lower, upper, search_bounds, phases, budget, settings)
    search_bounds.record(layer, phases.certified_inactive | phases.milp_inactive,
                         phases.certified_active | phases.milp_active)


def witness(phases: LayerPhases, z: np.ndarray, points: np.ndarray) -> None:
    """Mark the phases that the pre-activations ``z`` (B, n) at the inputs ``points`` (B, d)
    clearly show, keeping one input per newly shown phase."""
    margin = WITNESS_MARGIN * (1.0 + float(np.abs(z).max(initial=0.0)))
    for sign, seen, at in ((1.0, phases.seen_positive, phases.positive_at),
                           (-1.0, phases.seen_negative, phases.negative_at)):
        shown = sign * z > margin
        for j in np.flatnonzero(shown.any(axis=0) & ~seen):
            at[int(j)] = np.array(points[int(np.argmax(sign * z[:, j]))], dtype=np.float64)
        seen |= shown.any(axis=0)


def witness_at(pwl: PwlNet, layer: int, phases: LayerPhases, points: np.ndarray) -> None:
    """:func:`witness` on the float pre-activations of ``layer`` at ``points``."""
    if points.size:
        n = phases.seen_positive.size
        witness(phases, pwl.activations(points)[layer][:, :n], points)


def ascent_points(pwl: PwlNet, layer: int, phases: LayerPhases, starts: np.ndarray, start_z: np.ndarray,
                  lower: np.ndarray, upper: np.ndarray, steps: int) -> np.ndarray:
    """Projected sign-gradient ascent of ``+z_j`` for every undecided neuron not yet seen positive
    and of ``-z_j`` for those not yet seen negative, each from the start input where that
    value is largest; steps shrink geometrically from half the box width.  Returns every
    iterate (rows), for :func:`witness_at`."""
    open_ = phases.undecided
    pairs = [(j, 1.0) for j in np.flatnonzero(open_ & ~phases.seen_positive)] + \
            [(j, -1.0) for j in np.flatnonzero(open_ & ~phases.seen_negative)]
    if not pairs or steps <= 0:
        return np.zeros((0, lower.size))
    targets = np.array([j for j, _ in pairs])
    sign = np.array([s for _, s in pairs])
    points = starts[np.argmax(sign[None, :] * start_z[:, targets], axis=0)].astype(np.float64)
    width = upper - lower
    found = []
    for t in range(steps):
        step = 0.5 * (0.02 / 0.5) ** (t / max(steps - 1, 1))
        grad = _gradients(pwl, layer, targets, points) * sign[:, None]
        points = np.clip(points + step * width * np.sign(grad), lower, upper)
        found.append(points)
    return np.vstack(found)


def lp_phases(pwl: PwlNet, layer: int, neurons: int, lower: np.ndarray, upper: np.ndarray,
              bounds: list[Bounds], phases: LayerPhases, budget: Budget, settings: SearchSettings) -> None:
    """Certify undecided neurons of ``layer >= 1`` with LP duals the checker re-evaluates (S7)."""
    todo = np.flatnonzero(phases.undecided[:neurons])
    if todo.size == 0 or layer == 0 or budget.left <= 0:
        return
    try:
        lp = triangle_lp(pwl, bounds, layer, lower, upper)
    except ValueError:
        return
    base = MilpModel.from_relaxation(lp)
    for j in todo:
        for sign, phase, seen, proved in ((1.0, "inactive", phases.seen_positive, phases.dual_inactive),
                                          (-1.0, "active", phases.seen_negative, phases.dual_active)):
            if seen[j] or budget.left <= 0:
                continue
            c, c0 = lp.objective(int(j), sign)
            result, elapsed = _timed(base.with_objective((np.arange(c.size), c), c0, "max"), settings.lp_seconds,
                                     budget)
            phases.lp_queries += 1
            phases.lp_seconds += elapsed
            if result.x is not None:
                witness_at(pwl, layer, phases, np.clip(result.x[None, :lower.size], lower, upper))
            if result.duals is None:
                continue
            multipliers = np.asarray(result.duals.row, np.float64)
            if safe_max(lp, c, c0, multipliers) <= 0.0:
                rows = np.flatnonzero(multipliers)
                proved[j] = True
                phases.duals[(int(j), phase)] = (rows, multipliers[rows])


def _timed(model, seconds: float, budget: "Budget", **options):
    """One HiGHS solve within ``seconds`` and what is left of ``budget`` (charged with the time)."""
    start = time.perf_counter()
    result = solve_highs(model, time_limit=min(seconds, budget.left), threads=1, **options)
    elapsed = time.perf_counter() - start
    budget.spent += elapsed
    return result, elapsed


def prefix_milp(pwl: PwlNet, layer: int, lower: np.ndarray, upper: np.ndarray,
                bounds: list[Bounds]) -> tuple[MilpModel, np.ndarray]:
    """The exact MILP of the layers before ``layer`` (big-M with the given sound bounds) and the
    variables ``layer`` reads: its pre-activation ``j`` is ``W[j] . v + b[j]``."""
    builder = ModelBuilder()
    x = builder.add_vars(pwl.input_size, lower, upper)
    if layer == 0:
        return builder.build(), x
    prefix = PwlNet(pwl.layers[:layer], pwl.input_shape, (pwl.layers[layer - 1].n_out,))
    encoded = encode_pwl(builder, prefix, x, pre_bounds=list(bounds[:layer]), mode="milp")
    return builder.build(), encoded.output


def neuron_objective(model: MilpModel, pwl: PwlNet, layer: int, reads: np.ndarray, neuron: int,
                     sense: str) -> MilpModel:
    weights = pwl.layers[layer].weight[neuron]
    keep = weights != 0
    return model.with_objective((reads[keep], weights[keep]), float(pwl.layers[layer].bias[neuron]), sense)


def milp_phases(pwl: PwlNet, layer: int, neurons: int, lower: np.ndarray, upper: np.ndarray,
                search_bounds: MilpBounds, phases: LayerPhases, budget: Budget, settings: SearchSettings) -> None:
    """Decide the undecided neurons of ``layer >= 1`` with exact MILPs of the network prefix
    (layer 0 is affine in the input: its bounds over the box are exact up to rounding)."""
    todo = np.flatnonzero(phases.undecided[:neurons])
    if todo.size == 0 or layer == 0:
        return
    if budget.left <= 0:
        phases.unknown[todo] = True
        return
    base, reads = prefix_milp(pwl, layer, lower, upper, search_bounds.upto(layer))
    for j in todo:
        for sense, seen, proved in (("max", phases.seen_positive, phases.milp_inactive),
                                    ("min", phases.seen_negative, phases.milp_active)):
            if seen[j] or budget.left <= 0:
                continue
            result, elapsed = _timed(neuron_objective(base, pwl, layer, reads, int(j), sense), settings.milp_seconds,
                                     budget, settle_sign=True)
            phases.milp_queries += 1
            phases.milp_seconds += elapsed
            if result.x is not None:
                # an incumbent shows the other phase only if its input does, in the network itself
                witness_at(pwl, layer, phases, np.clip(result.x[None, :lower.size], lower, upper))
            if _decided(result, sense) is True:
                proved[j] = True
        if not (phases.milp_inactive[j] or phases.milp_active[j]
                or (phases.seen_positive[j] and phases.seen_negative[j])):
            phases.unknown[j] = True


def _decided(result, sense: str) -> bool | None:
    """True: the phase holds (max <= 0 / min >= 0); False: an incumbent shows the other sign."""
    sign = 1.0 if sense == "max" else -1.0
    if result.status == "infeasible":
        return True
    if result.objective is not None and sign * result.objective > 0:
        return False
    if result.bound is not None and sign * result.bound <= 0:
        return True
    return None
