"""Equivalence assertions for test suites.

::

    from nnequiv.testing import assert_equivalent

    def test_pruned_model_matches():
        assert_equivalent("model.onnx", "pruned.onnx", box=(-1.0, 1.0), eps=1e-3)

Models may be ONNX/NNet paths, ``onnx.ModelProto`` objects, :class:`~nnequiv.ir.Network`
objects or eval-mode ``torch.nn.Module`` objects (then pass ``example_input``, one
batch).  The box may be a ``(lo, hi)`` pair of numbers (the same interval for every
input), a ``(lower, upper)`` pair of per-input arrays (any shape, flattened in C
order), a :class:`~nnequiv.spec.box.Box`, a VNN-LIB file (which may also supply the
relation) or a JSON box file (``.json``).  The relation is one of ``eps=E``,
``exact=True``, ``top1=True`` or ``relation=Relation(...)``; without one it is the
VNN-LIB file's, else ``eps=0`` (as for ``nnequiv check``).

A failed assertion raises :class:`NotEquivalentError` (with the counterexample,
both outputs, the deviation against the bound and an ``nnequiv check`` command
reproducing it) or, when the check is undecided, :class:`EquivalenceUnknownError`
with the bounds that were proved (``unknown="skip"`` or ``"xfail"`` skips or xfails
the test instead).  Models that came from memory are written as ONNX files for the
command: under the report directory, else the certificate directory, else a fresh
temporary directory.

With ``cert_dir`` every proof is kept as a certificate and later calls re-verify it
with the trusted checker instead of proving again (see :mod:`nnequiv.testing_cache`).
The pytest plugin's ``nnequiv_check`` fixture is this same assertion with the run's
``--nnequiv-*`` options.

Importing this module is cheap (no numpy, onnx or torch until a check runs).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .engine.verdict import Counterexample, Verdict
    from .ir import Network
    from .spec.box import Box
    from .spec.relation import Relation

__all__ = ["CheckResult", "EquivalenceChecker", "EquivalenceError", "EquivalenceUnknownError",
           "NotEquivalentError", "UNKNOWN_POLICIES", "assert_equivalent"]

UNKNOWN_POLICIES = ("fail", "skip", "xfail")
DEFAULT_TIMEOUT = 60.0
_KEEP = 8  # values shown from a long vector


# ------------------------------------------------------------------------------ errors and results
class EquivalenceError(AssertionError):
    """A failed equivalence assertion.  ``result`` is the :class:`CheckResult`;
    ``command`` is an ``nnequiv check`` command line that reproduces it."""

    def __init__(self, message: str, result: "CheckResult | None" = None, command: str = "") -> None:
        super().__init__(message)  # only the message is pickled
        self.result = result
        self.command = command


class NotEquivalentError(EquivalenceError):
    """The relation is violated: a counterexample was found and replayed in exact arithmetic."""


class EquivalenceUnknownError(EquivalenceError):
    """The check neither proved nor refuted the relation within its time limit."""


@dataclass(frozen=True)
class CheckResult:
    """What one equivalence check found.

    ``outcome``: ``"proved"`` (a fresh proof), ``"re-verified"`` (a stored certificate
    accepted by the checker), ``"not_equivalent"`` or ``"unknown"``.  ``verdict`` is
    None for ``re-verified``.  ``note`` says why a stored certificate was not reused.
    """

    outcome: str
    name: str | None
    relation: "Relation"
    box: "Box"
    time_s: float
    verdict: "Verdict | None" = None
    certificate: dict[str, Any] | None = None
    certificate_path: Path | None = None
    report_path: Path | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome in ("proved", "re-verified")

    def detail(self) -> str:
        """One short line for summaries."""
        relation = _relation_short(self.relation)
        if self.outcome == "proved":
            return relation + (f"; {self.note}" if self.note else "")
        if self.outcome == "re-verified":
            return relation
        verdict = self.verdict
        if self.outcome == "not_equivalent" and verdict is not None and verdict.counterexample is not None:
            return f"not equivalent: {_violation_short(verdict.counterexample, self.relation)}"
        if verdict is not None and self.relation.kind != "top1":
            return f"{relation}; proved <= {_num(verdict.upper)}, reached >= {_num(verdict.lower)}"
        return relation


# ------------------------------------------------------------------------------ public API
def assert_equivalent(original: Any, reduced: Any, box: Any = None, *, eps: Any = None, exact: bool = False,
                      top1: bool = False, outputs: Sequence[int] | None = None,
                      relation: "Relation | None" = None, timeout: float = DEFAULT_TIMEOUT, seed: int = 0,
                      example_input: Any = None, unknown: str = "fail",
                      cert_dir: str | os.PathLike[str] | None = None, update: bool = False,
                      report_dir: str | os.PathLike[str] | None = None, name: str | None = None) -> CheckResult:
    """Assert that ``reduced`` satisfies the relation with ``original`` on ``box``.

    Returns the :class:`CheckResult` of a proof; raises :class:`NotEquivalentError` or
    :class:`EquivalenceUnknownError` (both ``AssertionError``) otherwise.  ``cert_dir``
    keeps certificates (re-verified on later calls; ``update=True`` re-proves);
    ``name`` labels the check there (default: derived from the models, box and relation).
    ``report_dir`` gets an audit report per check.  See the module docstring for the
    accepted models, boxes and relations.
    """
    __tracebackhide__ = True
    checker = EquivalenceChecker(name=name, cert_dir=cert_dir, update=update, unknown=unknown,
                                 timeout=timeout, seed=seed, report_dir=report_dir)
    return checker(original, reduced, box, eps=eps, exact=exact, top1=top1, outputs=outputs,
                   relation=relation, example_input=example_input)


class EquivalenceChecker:
    """:func:`assert_equivalent` with fixed settings (what the ``nnequiv_check`` fixture returns).

    Calls are numbered: the ``n``-th check of one checker has its own certificate file.
    ``on_result`` is called with every :class:`CheckResult` before it is enforced.
    """

    def __init__(self, *, name: str | None = None, cert_dir: str | os.PathLike[str] | None = None,
                 update: bool = False, unknown: str = "fail", timeout: float = DEFAULT_TIMEOUT, seed: int = 0,
                 report_dir: str | os.PathLike[str] | None = None,
                 on_result: Callable[[CheckResult], None] | None = None) -> None:
        _check_policy(unknown)
        self.name = name
        self.cert_dir = None if cert_dir is None else Path(cert_dir)
        self.update = bool(update)
        self.unknown = unknown
        self.timeout = float(timeout)
        self.seed = int(seed)
        self.report_dir = None if report_dir is None else Path(report_dir)
        self.on_result = on_result
        self._calls = 0
        self._scratch: Path | None = None

    def __call__(self, original: Any, reduced: Any, box: Any = None, *, eps: Any = None, exact: bool = False,
                 top1: bool = False, outputs: Sequence[int] | None = None, relation: "Relation | None" = None,
                 timeout: float | None = None, seed: int | None = None, example_input: Any = None,
                 unknown: str | None = None) -> CheckResult:
        __tracebackhide__ = True
        policy = _check_policy(unknown or self.unknown)
        timeout = self.timeout if timeout is None else float(timeout)
        seed = self.seed if seed is None else int(seed)
        index, self._calls = self._calls, self._calls + 1
        pair = _prepare(original, reduced, box, eps=eps, exact=exact, top1=top1, outputs=outputs,
                        relation=relation, example_input=example_input)
        result = self._run(pair, index, timeout, seed)
        if self.on_result is not None:
            self.on_result(result)
        if result.passed:
            return result
        _fail(result, pair, policy, self._command(pair, timeout, seed), timeout)
        return result  # skip/xfail raise; kept for type checkers

    # -- internals
    def _run(self, pair: "_Pair", index: int, timeout: float, seed: int) -> CheckResult:
        from .engine.check import check
        from .testing_cache import certificate_path, matching_certificate, store_certificate

        name = self.name or pair.default_name()
        started = time.monotonic()
        path, note = None, ""
        if self.cert_dir is not None:
            path = certificate_path(self.cert_dir, name, index)
            if self.update:
                note = "certificate updated"
            else:
                found, note = matching_certificate(path, pair.f, pair.g, pair.hashes, pair.box, pair.relation)
                if found is not None:
                    result = CheckResult("re-verified", name, pair.relation, pair.box,
                                         time.monotonic() - started, certificate=found, certificate_path=path)
                    return self._reported(result, pair, index)
                note = "" if note == "no certificate yet" else f"re-proved: {note}"
        verdict = check(pair.f, pair.g, pair.box, pair.relation, timeout=timeout, seed=seed)
        outcome = "proved" if verdict.verdict == "equivalent" else verdict.verdict
        if outcome == "proved" and path is not None:
            store_certificate(path, verdict.certificate, name=name, index=index, labels=pair.labels())
        else:
            path = None
        result = CheckResult(outcome, name, pair.relation, pair.box, time.monotonic() - started, verdict=verdict,
                             certificate=verdict.certificate, certificate_path=path,
                             note=note if outcome == "proved" else "")
        return self._reported(result, pair, index)

    def _reported(self, result: CheckResult, pair: "_Pair", index: int) -> CheckResult:
        if self.report_dir is None:
            return result
        from dataclasses import replace

        from .testing_cache import certificate_path, write_report

        base = certificate_path(self.report_dir, result.name or "check", index, suffix="")
        written = write_report(base, verdict=result.verdict, certificate=result.certificate, original=pair.f,
                               reduced=pair.g, paths=pair.files)
        return replace(result, report_path=written)

    def _artifacts(self) -> Path:
        """Where models and boxes from memory are saved for the reproduce command."""
        if self.report_dir is not None:
            return self.report_dir
        if self.cert_dir is not None:
            return self.cert_dir
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="nnequiv-"))
        return self._scratch

    def _command(self, pair: "_Pair", timeout: float, seed: int) -> str:
        return pair.command(self._artifacts, timeout, seed)


def _check_policy(policy: str) -> str:
    if policy not in UNKNOWN_POLICIES:
        from .errors import UsageError

        raise UsageError(f"unknown= must be one of {', '.join(UNKNOWN_POLICIES)}, got {policy!r}")
    return policy


# ------------------------------------------------------------------------------ the check's inputs
@dataclass(frozen=True)
class _Pair:
    f: "Network"
    g: "Network"
    hashes: tuple[str, str]
    files: tuple[str | None, str | None]  # the files the models were read from, if any
    box: "Box"
    box_source: tuple[str, str] | None     # ("--vnnlib" | "--box-file", path) when read from a file
    relation: "Relation"
    relation_from_spec: bool

    def default_name(self) -> str:
        key = json.dumps([list(self.hashes), self.box.to_json(), self.relation.to_json()], sort_keys=True)
        return f"check-{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def labels(self) -> tuple[str, str]:
        return (self.files[0] or self.f.name, self.files[1] or self.g.name)

    def model_args(self, artifacts: Callable[[], Path]) -> list[str]:
        from .testing_cache import save_model

        args = []
        for net, file, digest in zip((self.f, self.g), self.files, self.hashes):
            path = file or _same_file(net, digest)
            args.append(path if path is not None else _display(save_model(artifacts(), net, digest)))
        return args

    def box_args(self, artifacts: Callable[[], Path]) -> list[str]:
        if self.box_source is not None:
            return list(self.box_source)
        lo, hi = float(self.box.lower.min()), float(self.box.upper.max())
        if (self.box.lower == lo).all() and (self.box.upper == hi).all():
            text = f"{lo!r}:{hi!r}"
            # the CLI rounds LO down and HI up: its box contains this one, so it keeps the counterexample
            if _cli_box_contains(text, self.box):
                return ["--box", text]
        from .testing_cache import save_box

        return ["--box-file", _display(save_box(artifacts(), self.box))]

    def relation_args(self) -> list[str]:
        rel = self.relation
        if self.relation_from_spec:
            return []
        args = ({"eps": ["--eps", repr(rel.eps)], "exact": ["--exact"], "top1": ["--top1"]})[rel.kind]
        if rel.outputs is not None:
            args += ["--outputs", ",".join(map(str, rel.outputs))]
        return args

    def command(self, artifacts: Callable[[], Path], timeout: float, seed: int) -> str:
        args = [*self.model_args(artifacts), *self.box_args(artifacts), *self.relation_args()]
        if timeout != DEFAULT_TIMEOUT:
            args += ["--timeout", f"{timeout:g}"]
        if seed:
            args += ["--seed", str(seed)]
        return "nnequiv check " + " ".join(shlex.quote(a) for a in args)


def _prepare(original: Any, reduced: Any, box: Any, *, eps: Any, exact: bool, top1: bool,
             outputs: Sequence[int] | None, relation: "Relation | None", example_input: Any) -> _Pair:
    from .onnx_io import canonical_sha256

    f, f_file = _as_network(original, "original", example_input)
    g, g_file = _as_network(reduced, "reduced", example_input)
    domain, box_source, spec_relation = _as_box(box, f)
    chosen = _as_relation(eps, exact, top1, outputs, relation, spec_relation)
    return _Pair(f, g, (canonical_sha256(f), canonical_sha256(g)), (f_file, g_file), domain, box_source,
                 chosen if chosen is not None else spec_relation, chosen is None)


def _as_network(model: Any, role: str, example_input: Any) -> tuple["Network", str | None]:
    from .errors import UsageError
    from .ir import Network

    if isinstance(model, (str, os.PathLike)):
        from .loading import load

        return load(model), os.fspath(model)
    if isinstance(model, Network):
        return model, None
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(model, onnx.ModelProto):
        from .onnx_io import from_onnx_model

        return from_onnx_model(model, source=f"<{role} onnx.ModelProto>"), None
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        if example_input is None:
            raise UsageError(f"the {role} model is a torch module: pass example_input=",
                             fix="one batch of inputs, e.g. torch.zeros(1, n_inputs)")
        from .torch_io import from_torch

        return from_torch(model, example_input), None
    raise UsageError(f"the {role} model must be an .onnx/.nnet path, an onnx.ModelProto, an nnequiv Network "
                     f"or a torch.nn.Module, got {type(model).__name__}")


def _as_box(box: Any, net: "Network") -> tuple["Box", tuple[str, str] | None, "Relation | None"]:
    from .errors import ShapeError, UsageError
    from .spec.box import Box

    size = net.input.size
    source, relation = None, None
    if isinstance(box, Box):
        result = box
    elif isinstance(box, (str, os.PathLike)):
        path = os.fspath(box)
        if path.lower().endswith(".json"):
            from .spec.box_file import load_box_json

            result, source = load_box_json(path, size), ("--box-file", path)
        else:
            from .spec.vnnlib import load_vnnlib

            spec = load_vnnlib(path)
            result, source, relation = spec.box, ("--vnnlib", path), spec.relation
    elif isinstance(box, (tuple, list)) and len(box) == 2:
        import numpy as np

        lo, hi = box
        if np.ndim(lo) == 0 and np.ndim(hi) == 0:
            result = Box.uniform(_scalar(lo), _scalar(hi), size)
        else:
            lo_a, hi_a = np.broadcast_arrays(np.asarray(lo), np.asarray(hi))
            result = Box.of(lo_a.ravel(), hi_a.ravel())
    elif box is None:
        raise UsageError("no input box given", fix="pass box=(lo, hi), per-input arrays, a Box or a VNN-LIB file")
    else:
        raise UsageError(f"box must be (lo, hi), a pair of per-input arrays, a Box or a VNN-LIB/JSON file, "
                         f"got {type(box).__name__}")
    if result.size == 1 and size != 1:
        result = result.broadcast_to(size)
    if result.size != size:
        raise ShapeError(f"the box has {result.size} bounds but the model takes {size} inputs",
                         file=net.source, fix="give one interval per input, or a single (lo, hi) for all")
    return result, source, relation


def _scalar(value: Any) -> Any:
    """A 0-d array (numpy or torch scalar) as its Python/numpy scalar; exact numbers pass through."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (int, float)) else value


def _as_relation(eps: Any, exact: bool, top1: bool, outputs: Sequence[int] | None, relation: "Relation | None",
                 spec_relation: "Relation | None") -> "Relation | None":
    """The requested relation; None means "the VNN-LIB file's" (only when it has one)."""
    from .errors import UsageError
    from .spec.relation import Relation

    given = [label for label, on in (("eps", eps is not None), ("exact", exact), ("top1", top1),
                                     ("relation", relation is not None)) if on]
    if len(given) > 1:
        raise UsageError(f"choose one relation, not {' and '.join(given)}")
    if relation is not None:
        if outputs is not None:
            raise UsageError("outputs= goes into the Relation when relation= is given")
        return relation
    if exact:
        return Relation.exact(outputs)
    if top1:
        return Relation.top1(outputs)
    if eps is not None:
        return Relation.epsilon(eps, outputs)
    if spec_relation is not None:
        return None if outputs is None else Relation(spec_relation.kind, spec_relation.eps, tuple(outputs))
    return Relation.epsilon(0.0, outputs)


def _same_file(net: "Network", digest: str) -> str | None:
    """``net.source`` when it names a model file that still holds this network."""
    source = net.source
    if not source or source.startswith("<") or not os.path.isfile(source):
        return None
    try:
        from .loading import load
        from .onnx_io import canonical_sha256

        return source if canonical_sha256(load(source)) == digest else None
    except Exception:  # an unreadable or changed file is just not usable for the command
        return None


def _cli_box_contains(text: str, box: "Box") -> bool:
    from .errors import SpecError
    from .spec.box_file import parse_box_option

    try:
        cli = parse_box_option(text, box.size)
    except SpecError:
        return False
    return bool((cli.lower <= box.lower).all() and (cli.upper >= box.upper).all())


def _display(path: Path | str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative


# ------------------------------------------------------------------------------ failure messages
def _fail(result: CheckResult, pair: _Pair, policy: str, command: str, timeout: float) -> None:
    __tracebackhide__ = True
    if result.outcome == "not_equivalent":
        raise NotEquivalentError(_not_equivalent_message(result, pair, command), result, command)
    message = _unknown_message(result, pair, command, timeout)
    if policy == "fail":
        raise EquivalenceUnknownError(message, result, command)
    import pytest

    reason = f"nnequiv: equivalence unknown ({result.detail()}); reproduce: {command}"
    if policy == "skip":
        pytest.skip(reason)
    pytest.xfail(reason)


def _not_equivalent_message(result: CheckResult, pair: _Pair, command: str) -> str:
    verdict = result.verdict
    assert verdict is not None and verdict.counterexample is not None
    cex = verdict.counterexample
    how = "exact arithmetic" if cex.exact else "exact arithmetic, irrational ops approximated"
    lines = [f"NOT EQUIVALENT: {pair.relation.describe()}",
             f"  box        {_box_text(pair.box)}",
             f"counterexample (replayed in {how}):",
             f"  input      {_vector(cex.input, pair.f.input.shape)}",
             f"  original   {_vector(cex.original_output, pair.f.output.shape)}",
             f"  reduced    {_vector(cex.reduced_output, pair.g.output.shape)}",
             *_violation_lines(cex, pair.relation, pair.f.output.shape),
             "reproduce:",
             f"  {command}"]
    return "\n".join(lines)


def _unknown_message(result: CheckResult, pair: _Pair, command: str, timeout: float) -> str:
    verdict = result.verdict
    assert verdict is not None
    rel = pair.relation
    lines = [f"EQUIVALENCE UNKNOWN: {rel.describe()}",
             f"  box        {_box_text(pair.box)}",
             f"  undecided after {verdict.time_s:.2f} s (timeout {timeout:g} s)"]
    if rel.kind != "top1":
        needed = "0 (exact)" if rel.kind == "exact" else repr(rel.eps)
        lines.append(f"  max deviation: proved <= {_num(verdict.upper)}, reached >= {_num(verdict.lower)}, "
                     f"needed <= {needed}")
    if verdict.stats.get("self_check"):
        lines.append("  a proof was found but the checker rejected its certificate: "
                     f"{verdict.stats['self_check'][0]}")
    lines += ["  try a longer timeout (timeout=, @pytest.mark.nnequiv(timeout=...) or --nnequiv-timeout), "
              "a smaller box or a looser relation",
              "reproduce:", f"  {command}"]
    return "\n".join(lines)


def _compared(relation: "Relation", n: int) -> list[int]:
    return list(range(n)) if relation.outputs is None else [i for i in relation.outputs if i < n]


def _violation_lines(cex: "Counterexample", relation: "Relation", shape: tuple[int, ...]) -> list[str]:
    f, g = cex.original_output, cex.reduced_output
    rows = _compared(relation, len(f))
    if relation.kind == "top1":
        top_f, top_g = _top(f, rows), _top(g, rows)
        return [f"  top-1      original picks {_indices(top_f, shape)} ({_num(f[top_f[0]])}), "
                f"reduced picks {_indices(top_g, shape)} ({_num(g[top_g[0]])})"]
    worst = max(rows, key=lambda i: abs(g[i] - f[i]))
    bound = "0 (exact equality)" if relation.kind == "exact" else f"eps {relation.eps!r}"
    lines = [f"  deviation  {_num(cex.deviation)} > {bound}, largest at {_where(worst, shape)}: "
             f"original {_num(f[worst])}, reduced {_num(g[worst])}"]
    if cex.float32_deviation is not None:
        lines.append(f"  float32    deviation {_num(cex.float32_deviation)} when both run in onnxruntime")
    return lines


def _violation_short(cex: "Counterexample", relation: "Relation") -> str:
    if relation.kind == "top1":
        rows = _compared(relation, len(cex.original_output))
        return f"top-1 {_top(cex.original_output, rows)} vs {_top(cex.reduced_output, rows)}"
    bound = "0" if relation.kind == "exact" else f"eps {relation.eps!r}"
    return f"deviation {_num(cex.deviation)} > {bound}"


def _top(values: Sequence[float], rows: list[int]) -> list[int]:
    best = max(values[i] for i in rows)
    return [i for i in rows if values[i] == best]


def _indices(indices: list[int], shape: tuple[int, ...]) -> str:
    text = ", ".join(_where(i, shape) for i in indices[:_KEEP])
    return text if len(indices) == 1 else f"{{{text}{', ...' if len(indices) > _KEEP else ''}}} (tie)"


def _where(index: int, shape: tuple[int, ...]) -> str:
    """``output 7``, or ``output 7 (index (0, 1, 3) in shape (1, 2, 4))`` for multi-axis outputs."""
    if sum(1 for d in shape if d > 1) <= 1:
        return f"output {index}"
    position, rest = [], index
    for dim in reversed(shape):
        position.append(rest % dim)
        rest //= dim
    return f"output {index} (index {tuple(reversed(position))} in shape {tuple(shape)})"


def _vector(values: Sequence[float], shape: tuple[int, ...]) -> str:
    shown = ", ".join(_num(v) for v in values[:_KEEP])
    if len(values) <= _KEEP:
        return f"[{shown}]"
    return (f"[{shown}, ...] ({len(values)} values, shape {tuple(shape)}, "
            f"min {_num(min(values))}, max {_num(max(values))})")


def _box_text(box: "Box") -> str:
    lo, hi = float(box.lower.min()), float(box.upper.max())
    if (box.lower == lo).all() and (box.upper == hi).all():
        return f"[{_num(lo)}, {_num(hi)}] for each of {box.size} input{'s' if box.size != 1 else ''}"
    return (f"lower {_vector([float(v) for v in box.lower], (box.size,))}, "
            f"upper {_vector([float(v) for v in box.upper], (box.size,))}")


def _relation_short(relation: "Relation") -> str:
    text = {"eps": f"eps {relation.eps!r}", "exact": "exact", "top1": "top-1"}[relation.kind]
    if relation.outputs is not None:
        text += f" on outputs {','.join(map(str, relation.outputs[:_KEEP]))}"
        text += ",..." if len(relation.outputs) > _KEEP else ""
    return text


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"
