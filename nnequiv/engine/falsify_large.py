"""Falsification for models too large for the dense form and for rational evaluation.

The search runs both models in onnxruntime (float32): the box centre, random vertices and
samples, then a few steps of a (1+1) random search that keeps the input with the largest
output difference.  The best input is replayed exactly when the model is small enough for rational arithmetic;
otherwise both models are evaluated RIGOROUSLY at it (:mod:`nnequiv.rigorous`: enclosures of the
exact real outputs, ~1e-27 relative on a ResNet-18): the counterexample is reported when the
enclosures prove the violation (``replay`` "rigorous", ``deviation_lower`` the proved lower
bound), and dropped when they prove the relation holds there.  When they cannot decide (or an op
has no enclosure rule) the input is re-evaluated in float64 by the IR interpreter
(:func:`nnequiv.interpret.evaluate`) and reported only when the float64 outputs violate the
relation by far more than float64 rounding (``MARGIN`` relative to the outputs' magnitude); that
replay is not a proof: the counterexample says so (``replay`` "float64", and the check's stats
name the method).
"""

from __future__ import annotations

import numpy as np

from ..errors import NnequivError
from ..interpret import evaluate
from ..ir import Network
from ..rigorous import decide, evaluate_enclosure
from ..spec.relation import Relation
from .confirm import replay
from .verdict import Counterexample

MARGIN = 1e-6          # the float64 violation must exceed this fraction of max |output| (float64 rounding
                       # over a few dozen layers is ~1e-13 relative; float32 noise is only a search signal)
RIGOROUS_SECONDS_PER_FLOP = 3e-9
REPLAY_METHOD = "float64 IR evaluation + float32 onnxruntime (no rational replay: the model is too large)"
RIGOROUS_METHOD = ("rigorous enclosure of the exact outputs (multi-limb float64 midpoints, outward-rounded radii; "
                   "no rational replay: the model is too large) + float32 onnxruntime")


def _session(net: Network):
    import onnxruntime

    from ..onnx_io import to_onnx_model

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(to_onnx_model(net).SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: np.asarray(session.run(None, {name: x.astype(np.float32).reshape(net.input.shape)})[0],
                                np.float64).ravel()


def _gap(fy: np.ndarray, gy: np.ndarray, relation: Relation) -> float:
    """How far the pair is from satisfying the relation at one input (> 0: violated)."""
    rows = slice(None) if relation.outputs is None else list(relation.outputs)
    if relation.kind == "top1":
        return 1.0 if int(np.argmax(fy[rows])) != int(np.argmax(gy[rows])) else -1.0
    deviation = float(np.max(np.abs(fy[rows] - gy[rows])))
    scale = max(float(np.max(np.abs(fy[rows]))), float(np.max(np.abs(gy[rows]))), 1e-300)
    return deviation - (relation.eps if relation.kind == "eps" else 0.0) - MARGIN * scale


def falsify_large(original: Network, reduced: Network, lower: np.ndarray, upper: np.ndarray,
                  relation: Relation, rng: np.random.Generator, steps: int = 12,
                  exact_replay: bool = False, mismatch=None, rigorous: bool = True) -> Counterexample | None:
    """The best input found, confirmed: in rational arithmetic (:func:`.confirm.replay`) when
    ``exact_replay`` (small models), else by rigorous enclosures when ``rigorous`` (the caller's
    time budget allows them, :func:`rigorous_seconds`), else by the float64 interpreter (see the
    module doc)."""
    f, g = _session(original), _session(reduced)
    width = upper - lower
    candidates = [(lower + upper) / 2]
    candidates += [np.where(rng.random(lower.size) < 0.5, lower, upper) for _ in range(4)]
    candidates += [lower + rng.random(lower.size) * width for _ in range(4)]
    candidates += _channel_maximisers(original, lower, upper, mismatch)
    scored = [(float(np.max(np.abs(f(x) - g(x)))), x) for x in candidates]
    best_value, best = max(scored, key=lambda item: item[0])
    for step in range(steps):            # (1+1) random search with a shrinking step
        size = 0.5 * 0.8 ** step
        trial = np.clip(best + size * width * rng.standard_normal(lower.size), lower, upper)
        value = float(np.max(np.abs(f(trial) - g(trial))))
        if value > best_value:
            best_value, best = value, trial
    fy32, gy32 = f(best), g(best)
    if exact_replay:
        return replay(original, reduced, best, relation)
    rows = slice(None) if relation.outputs is None else list(relation.outputs)
    float32_deviation = float(np.max(np.abs(fy32[rows] - gy32[rows])))
    proved = rigorous_replay(original, reduced, best, relation, float32_deviation) if rigorous else None
    if proved is not None:
        return proved or None
    x64 = np.asarray(best, np.float64).reshape(1, original.input.size)
    fy, gy = np.ravel(evaluate(original, x64)), np.ravel(evaluate(reduced, x64))
    if _gap(fy, gy, relation) <= 0:
        return None
    return Counterexample(input=tuple(float(v) for v in np.ravel(best)),
                          original_output=tuple(float(v) for v in fy), reduced_output=tuple(float(v) for v in gy),
                          deviation=float(np.max(np.abs(fy[rows] - gy[rows]))),
                          float32_deviation=float32_deviation, exact=False, replay="float64")


def rigorous_seconds(original: Network, reduced: Network) -> float:
    """Estimated time of the two enclosures: :data:`RIGOROUS_SECONDS_PER_FLOP` times the models'
    FLOPs (measured: ResNet-18 at 224x224, 3.6 GFLOPs, 9 s on one core of this machine)."""
    from ..summary import summarize

    return RIGOROUS_SECONDS_PER_FLOP * (summarize(original).flops + summarize(reduced).flops)


def rigorous_replay(original: Network, reduced: Network, x: np.ndarray, relation: Relation,
                    float32_deviation: float | None = None) -> Counterexample | bool | None:
    """A Counterexample when enclosures of the exact outputs at ``x`` prove the relation violated;
    False when they prove it holds there; None when they cannot decide or an op has no rule
    (the caller then falls back to the float64 replay)."""
    try:
        fe = evaluate_enclosure(original, x)
        ge = evaluate_enclosure(reduced, x)
    except NnequivError:                 # an op (or op variant) without an enclosure rule
        return None
    decision = decide(fe.map(np.ravel), ge.map(np.ravel), relation)
    if decision.satisfied:
        return False
    if not decision.violated:
        return None
    fy, gy = fe.approx().ravel(), ge.approx().ravel()
    return Counterexample(input=tuple(float(v) for v in np.ravel(x)), original_output=tuple(float(v) for v in fy),
                          reduced_output=tuple(float(v) for v in gy), deviation=decision.deviation,
                          float32_deviation=float32_deviation, exact=False, replay="rigorous",
                          deviation_lower=decision.deviation_lower)


def _channel_maximisers(net: Network, lower: np.ndarray, upper: np.ndarray, mismatch) -> list[np.ndarray]:
    """Inputs that drive a dropped first-layer conv channel hard: its kernel's sign pattern tiled
    over the image (upper bound where the weight is positive, lower where negative), at every
    offset of the tiling.  Deeper mismatches get none (they would need gradients)."""
    if mismatch is None or not mismatch.reads_input or not mismatch.kernels or mismatch.kernels[0].ndim != 3:
        return []
    kernel = mismatch.kernels[0]
    shape = tuple(net.input.shape[1:])
    if len(shape) != 3 or kernel.shape[0] != shape[0]:
        return []
    kh, kw = kernel.shape[1:]
    found = []
    for di in range(kh):
        for dj in range(kw):
            rows = (np.arange(shape[1])[:, None] + di) % kh
            cols = (np.arange(shape[2])[None, :] + dj) % kw
            positive = kernel[:, rows, cols] > 0
            found.append(np.where(positive.ravel(), upper, lower))
    return found
