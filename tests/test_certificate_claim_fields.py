"""What a claim's number fields may say: strict hex floats, and no bound on exact / top-1 claims."""

from __future__ import annotations

import copy

import pytest

from nnequiv.checker import verify
from nnequiv.engine.check import check
from nnequiv.hexfloat import parse_hex
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation
from tests.test_certificates import golden_pair


@pytest.mark.parametrize("text", ["10", "0.04", "1e-3", "0x", "0x1p", " ", "0x1.8p+1 junk", "", "ox1p0"])
def test_decimal_or_malformed_text_is_not_a_hex_float(text):
    """``float.fromhex('10')`` is 16.0: a decimal written where hex is expected must not be misread."""
    with pytest.raises(ValueError):
        parse_hex(text)


@pytest.mark.parametrize("value", [0.0, -0.0, 0.05, 1e300, 5e-324, float("inf"), -2.5])
def test_what_float_hex_writes_reads_back(value):
    assert parse_hex(value.hex()) == value


@pytest.fixture(scope="module")
def top1_proved():
    f, g = golden_pair()
    verdict = check(f, g, Box.uniform(-0.05, 0.05, 2), Relation.top1(), timeout=60)
    assert verdict.verdict == "equivalent" and verdict.certificate["steps"][0]["kind"] == "bab_tree"
    return f, g, verdict.certificate


def test_a_top1_claim_states_no_bound(top1_proved):
    f, g, certificate = top1_proved
    assert verify(certificate, f, g).valid
    assert parse_hex(certificate["claim"]["bound"]) == 0.0
    for forged in ((-2.0 ** 100).hex(), (0.5).hex()):           # a huge claimed margin, a deviation
        tampered = copy.deepcopy(certificate)
        tampered["claim"]["bound"] = forged
        problems = [str(p) for p in verify(tampered, f, g).problems]
        assert problems and problems[0].startswith("claim/bound"), problems


def test_a_decimal_bound_is_rejected_not_misread(top1_proved):
    f, g, certificate = top1_proved
    tampered = copy.deepcopy(certificate)
    tampered["claim"]["bound"] = "0"                 # hex and decimal agree on 0, but it is not hex text
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert problems and problems[0].startswith("claim"), problems


def test_steps_of_an_exact_claim_contribute_zero():
    from nnequiv.passes.pipeline import compress
    from tests.helpers.pairs import duplicated_scaled, mlp, random_layers
    import numpy as np

    net = mlp(duplicated_scaled(random_layers(np.random.default_rng(4), [3, 5, 2]), 0, 1, 2.0))
    reduced, certificate = compress(net, ["lump"])
    assert certificate["claim"]["relation"]["kind"] == "exact" and verify(certificate, net, reduced).valid
    tampered = copy.deepcopy(certificate)
    tampered["steps"][0]["epsilon"] = float("inf").hex()
    problems = [str(p) for p in verify(tampered, net, reduced).problems]
    assert problems and problems[0].startswith("steps/0/epsilon"), problems
