"""What a compression pass is: a pure function ``(network, options) -> PassResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from ..errors import NnequivError, UsageError
from ..ir import Network
from ..spec.box import Box


@dataclass(frozen=True)
class PassOptions:
    """``box``: the input box on which inexact rewrites may be certified with an epsilon
    (None: only rewrites that are exact in real arithmetic are applied).  ``tol``: how far
    from proportional (relative, after normalisation) neurons ``lump`` may still merge;
    0 (the default) lumps exactly proportional neurons only, > 0 needs a box."""

    box: Box | None = None
    tol: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.tol, (int, float)) and 0.0 <= self.tol < 1.0):
            raise UsageError(f"tolerance {self.tol!r} is not in [0, 1)", fix="e.g. --tol 1e-4")


@dataclass(frozen=True)
class Refusal:
    """A candidate the pass left in place, and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class PassStats:
    """``applied``: rewrites made; ``refused``: candidates left in place; ``epsilon``: the
    certified deviation bound of the step (0.0 when exact)."""

    applied: int = 0
    refused: tuple[Refusal, ...] = ()
    epsilon: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "refused", tuple(self.refused))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


@dataclass(frozen=True, eq=False)
class PassResult:
    """The rewritten network, the certificate step describing the rewrite (``kind``, its
    evidence and ``epsilon``; the pipeline adds ``from``/``to``) and statistics.

    ``earlier``: steps of the same pass that come before ``step``, each with the network it
    produces (a pass such as ``simplify`` writes one step per evidence kind)."""

    network: Network
    step: Mapping[str, Any]
    stats: PassStats = PassStats()
    earlier: tuple[tuple[Mapping[str, Any], Network], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", MappingProxyType(dict(self.step)))
        object.__setattr__(self, "earlier", tuple((MappingProxyType(dict(s)), n) for s, n in self.earlier))

    @property
    def steps(self) -> tuple[tuple[Mapping[str, Any], Network], ...]:
        """Every step of the pass in order, each with its target network."""
        return self.earlier + ((self.step, self.network),)


Pass = Callable[[Network, PassOptions], PassResult]


# ------------------------------------------------------------------------------ shared policy
INEXACT_WITHOUT_BOX = ("not exact in real arithmetic (the rewritten weights are rounded); "
                       "give an input box to certify it with an epsilon")


def certified_epsilon(source: Network, target: Network, box: Box) -> float:
    """The checker's bound on the deviation, padded a little (the checker re-derives it and
    accepts any claim at least as large; the pad absorbs BLAS summation-order differences)."""
    from ..checker.structural import deviation_bound

    return padded(deviation_bound(source, target, box))


def padded(bound: float) -> float:
    """A claim a little above the checker's bound (0.0 stays 0.0)."""
    import numpy as np

    return float(np.nextafter(bound * (1.0 + 2.0 ** -30), np.inf)) if bound > 0 else 0.0


def choose(net: Network, candidates: Sequence[tuple[str, Any]], apply: Callable[[Network, list], Any],
           options: PassOptions) -> tuple[Any, list[Any], list[Refusal], float]:
    """Try each candidate rewrite alone; keep the exact ones, and the inexact ones only with a box.

    Returns the combined rewrite of the kept candidates, the kept candidates, the refusals
    and the step's epsilon (0.0 when the combined rewrite is exact).
    """
    from ..checker.rewrites import RewriteError

    kept: list[tuple[Any, bool]] = []
    refused: list[Refusal] = []
    for where, spec in candidates:
        try:
            trial = apply(net, [spec])
        except RewriteError as exc:
            refused.append(Refusal(where, exc.reason))
            continue
        if not trial.exact and options.box is None:
            refused.append(Refusal(where, INEXACT_WITHOUT_BOX))
            continue
        kept.append((spec, trial.exact))
    specs = [spec for spec, _ in kept]
    result = apply(net, specs)
    if result.exact:
        return result, specs, refused, 0.0
    try:
        epsilon, why = certified_epsilon(net, result.network, options.box), "the two networks cannot be related"
    except NnequivError as exc:
        epsilon, why = float("inf"), exc.message
    if not epsilon < float("inf"):   # the bound analysis cannot relate the two: keep exact rewrites only
        refused += [Refusal(where, f"inexact, and its deviation cannot be bounded ({why})")
                    for (where, spec) in candidates if any(s is spec and not e for s, e in kept)]
        specs = [spec for spec, exact in kept if exact]
        return apply(net, specs), specs, refused, 0.0
    return result, specs, refused, epsilon
