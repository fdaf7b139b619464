"""Untrusted search for the ``stable`` pass: which ReLU neurons are stable on a box.

Stages, cheapest first (``proofs/stable_relu.md``):

1. the checker's own bounds (:func:`nnequiv.checker.net_bounds.bounds_over`) -- what they prove
   is certifiable as is;
2. witnesses (:mod:`.stable_witness`): sampled box points, random corners, gradient-sign
   corners, projected sign-gradient ascent on the pre-activation, and the inputs of LP optima and MILP incumbents, whose float
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
from .stable_witness import ascent_points, gradient_corners, witness, witness_at

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
    tree_seconds: float = 180.0        # per (neuron, phase): the long one, for what is still open (0: no trees)
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
