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


def test_every_pass_writes_a_proved_evidence_kind(tmp_path):
    import numpy as np

    from nnequiv.passes import EVIDENCE_OF_PASS, PASSES, get_pass
    from nnequiv.passes.base import PassOptions
    from nnequiv.spec.box import Box
    from tests.helpers.pairs import mlp, random_layers

    for pass_id in EVIDENCE_OF_PASS:
        get_pass(pass_id)
    assert set(PASSES) == set(EVIDENCE_OF_PASS)
    net = mlp(random_layers(np.random.default_rng(0), [3, 4, 2]))
    for pass_id, kind in EVIDENCE_OF_PASS.items():
        assert kind in PROOF_TABLE and kind in EVIDENCE
        assert PASSES[pass_id](net, PassOptions(Box.uniform(-1.0, 1.0, 3))).step["kind"] == kind   # stable needs a box
