"""The nnequiv pytest plugin (registered through the ``pytest11`` entry point).

It provides

* the ``nnequiv_check`` fixture: :func:`nnequiv.testing.assert_equivalent` bound to
  this run's ``--nnequiv-*`` options and to the test (its certificates are named
  after the test's node id);
* the ``@pytest.mark.nnequiv(timeout=..., seed=..., unknown=...)`` marker, which
  sets those values for the fixture in one test;
* certificate reuse: a proof is stored under ``--nnequiv-cert-dir`` and later runs
  re-verify it with the trusted checker instead of proving again (re-proved when a
  model, the box or the relation changes, or with ``--nnequiv-update-certificates``);
* a terminal summary of the checks: proved, re-verified, failed, unknown, with times.

Importing this module is cheap: numpy, onnx and torch are imported only when a
test calls the fixture.  State lives in ``config.stash``; under pytest-xdist each
worker sends its records to the controller through ``workeroutput``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DEFAULT_CERT_DIR = os.path.join(".nnequiv", "certificates")
MARKER_ARGS = ("timeout", "seed", "unknown")
_OUTCOMES = (("proved", "proved"), ("re-verified", "re-verified"), ("not_equivalent", "failed"),
             ("unknown", "unknown"))
_WORKER_KEY = "nnequiv_records"


@dataclass
class NnequivState:
    """This process's settings and the checks it ran (one record dict per check)."""

    cert_dir: Path
    update: bool
    unknown: str
    timeout: float
    report_dir: Path | None
    records: list[dict[str, Any]] = field(default_factory=list)


STATE_KEY = pytest.StashKey[NnequivState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--nnequiv-*`` options."""
    group = parser.getgroup("nnequiv", "neural network equivalence (nnequiv)")
    group.addoption("--nnequiv-cert-dir", dest="nnequiv_cert_dir", default=None, metavar="DIR",
                    help=f"directory for the certificates of proved checks (default: {DEFAULT_CERT_DIR} "
                         "under the rootdir)")
    group.addoption("--nnequiv-update-certificates", dest="nnequiv_update", action="store_true", default=False,
                    help="prove every check again and rewrite its certificate")
    group.addoption("--nnequiv-unknown", dest="nnequiv_unknown", choices=("fail", "skip", "xfail"),
                    default="fail", help="what an undecided check does to its test (default: fail)")
    group.addoption("--nnequiv-timeout", dest="nnequiv_timeout", type=float, default=60.0, metavar="SECONDS",
                    help="time limit per check unless the test's nnequiv marker sets one (default: 60)")
    group.addoption("--nnequiv-report", dest="nnequiv_report", default=None, metavar="DIR",
                    help="write an audit report per check into DIR")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and set up this process's state."""
    config.addinivalue_line(
        "markers", "nnequiv(timeout=None, seed=None, unknown=None): settings for the nnequiv_check fixture "
                   "in this test (unknown: fail, skip or xfail)")
    option = config.option
    invoked = config.invocation_params.dir
    cert_dir = (config.rootpath / DEFAULT_CERT_DIR if option.nnequiv_cert_dir is None
                else invoked / option.nnequiv_cert_dir)
    config.stash[STATE_KEY] = NnequivState(
        cert_dir=cert_dir, update=option.nnequiv_update, unknown=option.nnequiv_unknown,
        timeout=option.nnequiv_timeout,
        report_dir=None if option.nnequiv_report is None else invoked / option.nnequiv_report)


def pytest_report_header(config: pytest.Config) -> str | None:
    """With ``-v``: where certificates go."""
    if config.option.verbose < 1:
        return None
    state = config.stash[STATE_KEY]
    update = ", rewriting them" if state.update else ""
    return f"nnequiv: certificates in {state.cert_dir}{update}"


@pytest.fixture
def nnequiv_check(request: pytest.FixtureRequest):
    """Assert that two models are equivalent on a box (see :func:`nnequiv.testing.assert_equivalent`).

    ``nnequiv_check(original, reduced, box, eps=... | exact=True | top1=True, ...)``
    uses this run's ``--nnequiv-*`` options and the test's ``nnequiv`` marker, keeps
    a certificate per check and re-verifies it on later runs.
    """
    from nnequiv.testing import EquivalenceChecker

    state = request.config.stash[STATE_KEY]
    settings: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("nnequiv"))):  # closest marker wins
        settings.update(marker.kwargs)
    unexpected = sorted(set(settings) - set(MARKER_ARGS))
    if unexpected:
        raise TypeError(f"@pytest.mark.nnequiv got unexpected argument(s) {', '.join(unexpected)} "
                        f"(it takes {', '.join(MARKER_ARGS)})")
    nodeid = request.node.nodeid

    def record(result) -> None:
        state.records.append({
            "node": nodeid, "outcome": result.outcome, "time_s": result.time_s, "detail": result.detail(),
            "certificate": None if result.certificate_path is None else str(result.certificate_path)})

    return EquivalenceChecker(
        name=nodeid, cert_dir=state.cert_dir, update=state.update,
        unknown=settings.get("unknown") or state.unknown,
        timeout=settings["timeout"] if settings.get("timeout") is not None else state.timeout,
        seed=settings.get("seed") or 0, report_dir=state.report_dir, on_result=record)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its records to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_KEY] = list(session.config.stash[STATE_KEY].records)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """(xdist controller) collect a finished worker's records."""
    records = getattr(node, "workeroutput", {}).get(_WORKER_KEY, [])
    node.config.stash[STATE_KEY].records.extend(records)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """List the equivalence checks of this run."""
    if hasattr(config, "workerinput"):
        return
    records = config.stash[STATE_KEY].records
    if not records:
        return
    reporter = terminalreporter
    reporter.write_sep("-", "nnequiv equivalence checks")
    width = max(len(label) for _, label in _OUTCOMES)
    quiet = config.option.verbose < -1  # -qq: only failed and unknown checks
    counts = []
    for outcome, label in _OUTCOMES:
        chosen = sorted((r for r in records if r["outcome"] == outcome), key=lambda r: r["node"])
        counts.append(f"{len(chosen)} {label}")
        if quiet and outcome in ("proved", "re-verified"):
            continue
        for r in chosen:
            line = f"{label:<{width}}  {r['node']}  ({r['time_s']:.2f}s)  {r['detail']}"
            if r["certificate"]:
                line += f"  -> {_relative(r['certificate'], config)}"
            reporter.write_line(line, red=outcome == "not_equivalent", yellow=outcome == "unknown")
    total = sum(r["time_s"] for r in records)
    reporter.write_line(f"nnequiv: {', '.join(counts)} in {total:.2f}s")


def _relative(path: str, config: pytest.Config) -> str:
    try:
        relative = os.path.relpath(path, config.invocation_params.dir)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative
