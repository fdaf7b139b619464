"""pytest plugin entry point (``pytest11``).  Importing it must stay cheap: heavy
modules are imported only when a test asks for an equivalence check."""

from __future__ import annotations


def pytest_addoption(parser) -> None:
    group = parser.getgroup("nnequiv", "neural network equivalence (nnequiv)")
    group.addoption("--nnequiv-cert-dir", default=".nnequiv/certificates",
                    help="directory for cached equivalence certificates")
