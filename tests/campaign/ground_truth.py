"""Ground truth for small pairs, independent of nnequiv's engine.

The networks are evaluated from their :class:`~tests.campaign.generator.Spec` layer by layer in
``fractions.Fraction`` (every stored float64 at its exact value); CNN specs
(:class:`~tests.campaign.conv_spec.ConvSpec`) by ``exact_conv.py`` in the same way (Conv as its defining
sum, BatchNormalization with a rational square root checked exactly); nothing of nnequiv's interpreter
(``evaluate_exact`` included), lowering or checker is used.

1-D inputs (exact): along the input interval every pre-activation of both networks is affine between
consecutive *breakpoints*.  Breakpoints are found stage by stage: with the breakpoints of the earlier
stages known, a stage's pre-activations are affine on each piece, so a strict sign change between a
piece's ends locates the unique root by linear interpolation (exact).  Between the union of both
networks' breakpoints ``f - g`` is affine, so ``max |f_i - g_i|`` is attained at a breakpoint or an
endpoint.  For top-1 the crossings of every pair of outputs (of each network) are added on each
piece; between consecutive points no order changes, so checking the points and the midpoints
between them decides the relation exactly (ties included).

2-D inputs (lower bound only): the same exact 1-D analysis along the lines of a grid over the box.
The result is a lower bound on the maximum deviation (and a top-1 violation found on a line is
real; none found proves nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations
from typing import Sequence

import numpy as np

from .generator import Spec

Vec = tuple[Fraction, ...]


class ExactNet:
    """A Spec evaluated in exact rational arithmetic."""

    def __init__(self, spec: Spec) -> None:
        q = lambda a: [Fraction(float(v)) for v in a]  # noqa: E731
        self.layers = [([q(row) for row in np.asarray(w)], q(b)) for w, b in spec.layers]
        self.leaky = spec.activation == "LeakyRelu"
        self.alpha = Fraction(float(spec.alpha)) if self.leaky else Fraction(0)
        self.bump = None if spec.bump is None else (q(spec.bump[0]), Fraction(float(spec.bump[1])),
                                                    Fraction(float(spec.bump[2])))

    def _act(self, z: Fraction) -> Fraction:
        return z if z >= 0 else self.alpha * z

    def forward(self, x: Sequence[Fraction]) -> tuple[list[Fraction], list[list[Fraction]]]:
        """Outputs and the pre-activations of every stage (hidden layers, then the bump's two)."""
        stages: list[list[Fraction]] = []
        h = list(x)
        for k, (w, b) in enumerate(self.layers):
            z = [sum((wi * hi for wi, hi in zip(row, h)), Fraction(0)) + bi for row, bi in zip(w, b)]
            if k == len(self.layers) - 1:
                h = z
            else:
                stages.append(z)
                h = [self._act(v) for v in z]
        return self._with_bump(x, h, stages), stages

    def _with_bump(self, x: Sequence[Fraction], h: list[Fraction], stages: list[list[Fraction]]) -> list[Fraction]:
        """Outputs ``h`` plus the bump (if any); the bump's two pre-activation stages go to ``stages``."""
        if self.bump is None:
            return h
        centre, radius, height = self.bump
        za = [xi - ci for xi, ci in zip(x, centre)] + [ci - xi for xi, ci in zip(x, centre)]
        stages.append(za)
        zb = radius - sum((max(v, Fraction(0)) for v in za), Fraction(0))
        stages.append([zb])
        lift = height * max(zb, Fraction(0))
        return [v + lift for v in h]

    def __call__(self, x: Sequence[Fraction]) -> list[Fraction]:
        return self.forward(x)[0]

    def breakpoints(self, point, t0: Fraction, t1: Fraction) -> list[Fraction]:
        """Sorted parameters ``t`` in ``[t0, t1]`` between which the net is affine along ``point(t)``."""
        ts = [t0, t1] if t1 > t0 else [t0]
        n_stages = len(self.forward(point(t0))[1])
        for s in range(n_stages):
            values = [self.forward(point(t))[1][s] for t in ts]
            new = set(ts)
            for (ta, va), (tb, vb) in zip(zip(ts, values), zip(ts[1:], values[1:])):
                for a, b in zip(va, vb):
                    if (a < 0 < b) or (b < 0 < a):
                        new.add(ta + (tb - ta) * a / (a - b))
            ts = sorted(new)
        return ts


def exact_net(spec) -> ExactNet:
    """The exact evaluator of an MLP :class:`Spec` or a :class:`~tests.campaign.conv_spec.ConvSpec`."""
    from .conv_spec import ConvSpec
    from .exact_conv import ExactConvNet

    return ExactConvNet(spec) if isinstance(spec, ConvSpec) else ExactNet(spec)


@dataclass
class Truth:
    exact: bool                      # True: ``deviation`` is the exact maximum; False: a lower bound
    deviation: Fraction              # max over the box (or over the grid lines) of max_{i in O} |f_i - g_i|
    witness: Vec                     # an input attaining ``deviation``
    top1_violation: bool             # a top-1 violation exists (if not exact: one was found)
    top1_witness: Vec | None

    def to_json(self) -> dict:
        return {"exact": self.exact, "deviation": str(self.deviation), "deviation_float": float(self.deviation),
                "witness": [str(v) for v in self.witness], "top1_violation": self.top1_violation,
                "top1_witness": None if self.top1_witness is None else [str(v) for v in self.top1_witness]}

    @classmethod
    def from_json(cls, data: dict) -> "Truth":
        vec = lambda v: tuple(Fraction(s) for s in v)  # noqa: E731
        return cls(data["exact"], Fraction(data["deviation"]), vec(data["witness"]), data["top1_violation"],
                   None if data["top1_witness"] is None else vec(data["top1_witness"]))


def deviation_at(fy: Sequence[Fraction], gy: Sequence[Fraction], outputs) -> Fraction:
    rows = range(len(fy)) if outputs is None else outputs
    return max(abs(fy[i] - gy[i]) for i in rows)


def top_set(y: Sequence[Fraction], outputs) -> frozenset[int]:
    rows = list(range(len(y))) if outputs is None else list(outputs)
    best = max(y[i] for i in rows)
    return frozenset(i for i in rows if y[i] == best)


def _line(f: ExactNet, g: ExactNet, point, t0: Fraction, t1: Fraction, outputs, want_top1: bool):
    """Exact analysis along ``point(t)``, ``t in [t0, t1]``: (max deviation, its t, top-1 violation t or None)."""
    ts = sorted(set(f.breakpoints(point, t0, t1)) | set(g.breakpoints(point, t0, t1)))
    ys = [(f(point(t)), g(point(t))) for t in ts]
    best, best_t = Fraction(-1), ts[0]
    for t, (fy, gy) in zip(ts, ys):
        d = deviation_at(fy, gy, outputs)
        if d > best:
            best, best_t = d, t
    bad_t = None
    if want_top1:
        rows = list(range(len(ys[0][0]))) if outputs is None else list(outputs)
        points = set(ts)
        for (ta, (fa, ga)), (tb, (fb, gb)) in zip(zip(ts, ys), zip(ts[1:], ys[1:])):
            for ya, yb in ((fa, fb), (ga, gb)):
                for i, j in combinations(rows, 2):
                    a, b = ya[i] - ya[j], yb[i] - yb[j]
                    if (a < 0 < b) or (b < 0 < a):
                        points.add(ta + (tb - ta) * a / (a - b))
        ordered = sorted(points)
        checks = ordered + [(a + b) / 2 for a, b in zip(ordered, ordered[1:])]
        for t in sorted(checks):
            x = point(t)
            if top_set(f(x), outputs) != top_set(g(x), outputs):
                bad_t = t
                break
    return best, best_t, bad_t


def ground_truth(original: Spec, reduced: Spec, lower, upper, outputs=None, grid: int = 7,
                 want_top1: bool = True) -> Truth:
    f, g = exact_net(original), exact_net(reduced)
    lo = [Fraction(float(v)) for v in lower]
    hi = [Fraction(float(v)) for v in upper]
    n = len(lo)
    if n == 1:
        d, t, bad = _line(f, g, lambda t: (t,), lo[0], hi[0], outputs, want_top1)
        return Truth(True, d, (t,), bad is not None, None if bad is None else (bad,))
    if n != 2:
        raise ValueError("ground truth supports input dimension 1 or 2")
    best, witness, bad_x = Fraction(-1), None, None
    for axis in (0, 1):
        other = 1 - axis
        for k in range(grid):
            fixed = lo[other] + (hi[other] - lo[other]) * Fraction(k, grid - 1)

            def point(t, axis=axis, fixed=fixed):
                return (t, fixed) if axis == 0 else (fixed, t)

            d, t, bad = _line(f, g, point, lo[axis], hi[axis], outputs, want_top1 and bad_x is None)
            if d > best:
                best, witness = d, point(t)
            if bad is not None and bad_x is None:
                bad_x = point(bad)
    return Truth(False, best, witness, bad_x is not None, bad_x)


def relation_violated_at(original: Spec, reduced: Spec, x: Sequence[float], relation) -> tuple[bool, Fraction]:
    """Does the relation fail at the float input ``x`` (exact evaluation of the Specs)?"""
    xq = [Fraction(float(v)) for v in np.ravel(x)]
    fy, gy = exact_net(original)(xq), exact_net(reduced)(xq)
    if relation.kind == "top1":
        bad = top_set(fy, relation.outputs) != top_set(gy, relation.outputs)
        return bad, Fraction(int(bad))
    d = deviation_at(fy, gy, relation.outputs)
    if relation.kind == "exact":
        return d != 0, d
    return d > Fraction(relation.eps), d
