"""Results of a check (immutable, JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

VerdictName = Literal["equivalent", "not_equivalent", "unknown"]
# "rational": exact rational replay; "rigorous": enclosures of the exact outputs prove the
# violation (nnequiv.rigorous, the outputs shown are their midpoints); "float64": float64 and
# float32 evaluations only (not a proof)
ReplayName = Literal["rational", "rigorous", "float64"]


@dataclass(frozen=True)
class Counterexample:
    input: tuple[float, ...]
    original_output: tuple[float, ...]
    reduced_output: tuple[float, ...]
    deviation: float               # exact-arithmetic deviation (max over compared outputs)
    float32_deviation: float | None  # the same input run by onnxruntime in float32
    exact: bool                    # False when an irrational op (sqrt, exp) was approximated
    replay: ReplayName = "rational"  # how the violation was confirmed (see ReplayName)
    deviation_lower: float | None = None  # "rigorous": proved lower bound on the deviation

    def to_json(self) -> dict[str, Any]:
        return {"input": list(self.input), "original_output": list(self.original_output),
                "reduced_output": list(self.reduced_output), "deviation": self.deviation,
                "float32_deviation": self.float32_deviation, "exact_arithmetic": self.exact,
                "replay": self.replay, "deviation_lower": self.deviation_lower}


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictName
    relation: dict[str, Any]
    lower: float | None            # best proved-reachable deviation (from a confirmed input)
    upper: float | None            # proved upper bound on the deviation (None if none)
    counterexample: Counterexample | None
    time_s: float
    stats: dict[str, Any] = field(default_factory=dict)
    certificate: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "relation": self.relation,
                "max_deviation": {"lower": _finite(self.lower), "upper": _finite(self.upper)},
                "counterexample": None if self.counterexample is None else self.counterexample.to_json(),
                "time_s": round(self.time_s, 4), "stats": self.stats}


def _finite(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(value)
