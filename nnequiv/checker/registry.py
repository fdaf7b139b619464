"""Evidence kinds -> checker functions (one function per kind; ``proofs/README.md`` maps each to its proof)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..hexfloat import parse_hex
from ..ir import Network
from ..spec.box import Box
from ..spec.relation import Relation


@dataclass(frozen=True)
class Problem:
    """One reason a certificate is invalid: the item (a JSON path) and what is wrong with it."""

    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.item}: {self.reason}"


@dataclass(frozen=True)
class StepContext:
    index: int
    step: dict[str, Any]
    source: Network
    target: Network
    box: Box
    relation: Relation

    @property
    def where(self) -> str:
        return f"steps/{self.index}"


StepChecker = Callable[[StepContext], list[Problem]]
EVIDENCE: dict[str, StepChecker] = {}


def evidence(kind: str):
    def register(function: StepChecker) -> StepChecker:
        EVIDENCE[kind] = function
        return function
    return register


def claimed_epsilon(step: dict[str, Any], where: str) -> tuple[float | None, list[Problem]]:
    """The step's claimed epsilon (a non-negative hex float), or None with the problem."""
    item = f"{where}/epsilon"
    try:
        claimed = parse_hex(step["epsilon"])
    except (TypeError, ValueError, OverflowError):
        return None, [Problem(item, "not a hex float")]
    if not claimed >= 0.0:
        return None, [Problem(item, "epsilon must be >= 0")]
    return claimed, []

