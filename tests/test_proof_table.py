"""Every evidence kind the checker accepts has a proof entry naming its checker function."""

import nnequiv.checker.verification  # noqa: F401  (registers the evidence kinds)
from nnequiv.checker.registry import EVIDENCE as SEARCH_EVIDENCE
from nnequiv.checker.structural import REPLAYS
from proofs.registry import IMPLEMENTED_CHECKERS, PROOF_TABLE

EVIDENCE = {**SEARCH_EVIDENCE, **REPLAYS}


def test_every_registered_evidence_kind_has_a_proof_entry():
    missing = set(EVIDENCE) - set(PROOF_TABLE)
    assert not missing, f"evidence kinds without a proofs/ entry: {sorted(missing)}"


def test_implemented_checkers_match_the_registry():
    assert set(EVIDENCE) == IMPLEMENTED_CHECKERS


def test_checker_function_names_match():
    for kind, function in EVIDENCE.items():
        assert PROOF_TABLE[kind]["checker"].endswith(function.__name__), (kind, PROOF_TABLE[kind]["checker"])
