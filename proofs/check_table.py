"""Consistency of proofs/registry.py, the proof files, the machine checks and README.md."""

import ast
from functools import lru_cache
from pathlib import Path

import pytest

from proofs import registry

HERE = Path(__file__).resolve().parent
CLAIM_IDS = [f"{c.proof.removesuffix('.md')}-{i}" for i, c in enumerate(registry.CLAIMS)]


@lru_cache(maxsize=None)
def _test_functions(module: str) -> frozenset[str]:
    tree = ast.parse((HERE / module).read_text())
    return frozenset(node.name for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"))


def _all_named_checks() -> set[str]:
    return {check for claim in registry.CLAIMS for check in claim.checks}


def test_every_evidence_kind_has_an_entry():
    assert set(registry.EVIDENCE_KINDS) == set(registry.PROOF_TABLE)
    for kind, entry in registry.PROOF_TABLE.items():
        assert entry["proofs"], kind
        assert entry["checks"], kind
        assert entry["checker"] == f"check_{kind}"
    assert registry.FOUNDATIONS["proofs"] and registry.FOUNDATIONS["checks"]


def test_every_claim_belongs_to_a_kind_or_the_foundations():
    allowed = set(registry.EVIDENCE_KINDS) | {registry.FOUNDATION}
    for claim in registry.CLAIMS:
        assert claim.kinds and set(claim.kinds) <= allowed, claim.claim


def test_every_proof_file_in_the_table_exists():
    entries = list(registry.PROOF_TABLE.values()) + [registry.FOUNDATIONS]
    for entry in entries:
        for proof in entry["proofs"]:
            assert (HERE / proof).is_file(), proof


def test_every_machine_check_in_the_table_exists():
    for check in _all_named_checks():
        module, name = check.split("::")
        assert (HERE / module).is_file(), check
        assert name in _test_functions(module), check


def test_every_machine_check_is_in_the_table():
    named = _all_named_checks()
    for path in sorted(HERE.glob("check_*.py")):
        if path.name == "check_table.py":
            continue
        for name in _test_functions(path.name):
            assert f"{path.name}::{name}" in named, f"{path.name}::{name} is not in proofs/registry.py"


def test_every_proof_file_is_in_the_table():
    on_disk = {p.name for p in HERE.glob("*.md")} - {"README.md"}
    assert on_disk == set(registry.PROOF_FILES)


@pytest.mark.parametrize("claim", registry.CLAIMS, ids=CLAIM_IDS)
def test_every_claim_has_teeth(claim):
    """At least one check proves the claim and at least one deliberately wrong variant must fail."""
    names = [check.split("::")[1] for check in claim.checks]
    assert any(n.startswith("test_wrong_") for n in names), claim.claim
    assert any(not n.startswith("test_wrong_") for n in names), claim.claim


@pytest.mark.parametrize("claim", registry.CLAIMS, ids=CLAIM_IDS)
def test_proof_file_names_its_machine_checks(claim):
    text = (HERE / claim.proof).read_text()
    for check in claim.checks:
        module, name = check.split("::")
        assert module in text, f"{claim.proof} does not mention {module}"
        assert name in text, f"{claim.proof} does not list {name}"


def test_readme_table_names_every_claim_and_check():
    text = (HERE / "README.md").read_text()
    for claim in registry.CLAIMS:
        assert claim.proof in text, claim.proof
        for check in claim.checks:
            assert check.split("::")[1] in text, f"README.md does not name {check}"
    for kind in registry.EVIDENCE_KINDS:
        assert f"check_{kind}" in text, kind


def test_readme_tables_are_the_registry_tables():
    text = (HERE / "README.md").read_text()
    begin, end = "<!-- registry:begin -->\n", "<!-- registry:end -->"
    assert begin in text and end in text
    block = text.split(begin, 1)[1].split(end, 1)[0]
    assert block == registry.readme_block(), \
        "README.md tables are stale: regenerate with `python -m proofs.registry`"
