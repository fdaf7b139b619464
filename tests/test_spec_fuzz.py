"""Seeded fuzzing of every spec reader: mutated VNN-LIB / JSON / --box text must either parse or
raise SpecError -- never another exception, and never hang."""

import contextlib
import json
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnequiv.errors import SpecError
from nnequiv.spec import Box, Relation, load_box_json, parse_box_option, parse_vnnlib
from nnequiv.spec.box import loads_exact
from nnequiv.spec.box_file import box_from_data

DATA = Path(__file__).resolve().parent / "data" / "vnnlib2"
CASE_SECONDS = 10.0  # generous; a case normally takes milliseconds

V1_TEXT = """; ACAS-like property
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const X_2 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (<= X_0 0.679857769))
(assert (>= X_0 0.6))
(assert (and (<= X_1 0.5) (>= X_1 -0.5)))
(assert (<= -1e-3 X_2 .5))
(assert (or (and (<= Y_0 Y_1) (>= Y_0 3.99)) (<= (+ Y_1 (* -2 Y_0)) -0.5)))
"""

VNNLIB_SEEDS = [V1_TEXT] + [p.read_text() for p in sorted(DATA.glob("*.vnnlib"))]

JSON_SEEDS = [
    '{"lower": [0, -1.5, 2e-3], "upper": [1, 1, 3]}',
    '{"lower": -1, "upper": 1}',
    '{"center": [0.5, 0.5, 0.5], "radius": 0.1}',
    json.dumps(Box.of([0.1, -2.0, 0.0], [0.2, 3.0, 1e-300]).to_json()),
]
RELATION_SEEDS = [json.dumps(Relation.epsilon(0.05, [0, 2]).to_json()), json.dumps(Relation.top1().to_json())]

NOISE = list("()[];,\"\n \t-+.eE0123456789XY_abcfg<=>!:|{}\\") + \
    ["\x00", "\x01", "é", "\ufeff", "\u00a0", "nan", "inf", "1e999", "1e-400", "-0", "99999999999999999999",
     "(and", "(or", "(assert", "(declare-const X_9 Real)", "[0]", "[1,2]", "(select", "NaN", "Infinity",
     "true", "null", '"', "{", "}", "[", "]", "e+", "X_0", "Y_0", "f.", "_1", "(- ", "(* X_0 X_1)",
     "0.1e4500", "1e9999", "-1e9999", "7" * 4400]


def mutate(text: str, rng: np.random.Generator, max_ops: int = 4) -> str:
    for _ in range(int(rng.integers(1, max_ops + 1))):
        n = len(text)
        op = int(rng.integers(0, 6))
        i = int(rng.integers(0, n + 1))
        if op == 0 and n:                                   # delete a span
            text = text[:i] + text[i + int(rng.integers(1, 20)):]
        elif op == 1:                                       # insert noise
            text = text[:i] + str(rng.choice(NOISE)) + text[i:]
        elif op == 2:                                       # truncate
            text = text[:i]
        elif op == 3 and n:                                 # duplicate a span elsewhere
            j = int(rng.integers(0, n))
            text = text[:i] + text[j:j + int(rng.integers(1, 40))] + text[i:]
        elif op == 4 and n > 1:                             # swap two characters
            j = int(rng.integers(0, n))
            i = min(i, n - 1)
            chars = list(text)
            chars[i], chars[j] = chars[j], chars[i]
            text = "".join(chars)
        else:                                               # replace a digit run with a weird number
            digits = [k for k, c in enumerate(text) if c.isdigit()]
            if digits:
                k = digits[int(rng.integers(0, len(digits)))]
                text = text[:k] + str(rng.choice(["nan", "1e999", "1e-400", "0.0000", "-", ".", "9" * 30,
                                                  "1e9999", "0.5e-9999", "3" * 4400])) + \
                    text[k + 1:]
    return text


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail (instead of hanging) if the block runs longer than ``seconds`` (main thread only)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"spec reader did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def only_spec_errors(fn, text: str) -> str:
    """Run ``fn(text)``: return "ok" or "error"; any other exception fails the test with the input."""
    start = time.perf_counter()
    try:
        with deadline(CASE_SECONDS):
            fn(text)
        outcome = "ok"
    except SpecError as exc:
        assert str(exc), "a SpecError must carry a message"
        outcome = "error"
    except Exception as exc:  # noqa: BLE001 - this is exactly what the test looks for
        pytest.fail(f"{type(exc).__name__}: {exc}\ninput: {text!r}")
    assert time.perf_counter() - start < CASE_SECONDS
    return outcome


def test_seeds_parse_except_the_deliberate_error_examples():
    outcomes = {text[:60]: only_spec_errors(parse_vnnlib, text) for text in VNNLIB_SEEDS}
    assert list(outcomes.values()).count("ok") == 3  # V1_TEXT, eps_query, top1_query
    assert list(outcomes.values()).count("error") == 2  # empty_output, nonbox_input
    for text in JSON_SEEDS:
        assert box_from_data(loads_exact(text), 3).size == 3
    for text in RELATION_SEEDS:
        Relation.from_json(text)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_vnnlib_gives_spec_error_or_success(seed):
    rng = np.random.default_rng(1000 + seed)
    outcomes = []
    for _ in range(100):
        text = mutate(VNNLIB_SEEDS[int(rng.integers(0, len(VNNLIB_SEEDS)))], rng)
        outcomes.append(only_spec_errors(parse_vnnlib, text))
        if rng.random() < 0.2:  # the bytes path (decoding, BOM, NUL) as well
            data = text.encode("utf-8", "surrogatepass")
            if rng.random() < 0.5:
                k = int(rng.integers(0, len(data) + 1))
                data = data[:k] + bytes(rng.integers(0, 256, 3).tolist()) + data[k:]
            outcomes.append(only_spec_errors(parse_vnnlib, data))
    assert "error" in outcomes  # the mutations do reach the error paths


@pytest.mark.parametrize("seed", range(2))
def test_mutated_json_box_files_give_spec_error_or_success(seed, tmp_path):
    rng = np.random.default_rng(2000 + seed)
    path = tmp_path / "box.json"

    def load(text: str) -> None:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        load_box_json(path, 3)

    outcomes = []
    for _ in range(100):
        text = mutate(JSON_SEEDS[int(rng.integers(0, len(JSON_SEEDS)))], rng, max_ops=1)
        outcomes.append(only_spec_errors(load, text))
        outcomes.append(only_spec_errors(Box.from_json, text))
    assert "ok" in outcomes and "error" in outcomes


def test_mutated_relation_json_gives_spec_error_or_success():
    rng = np.random.default_rng(3000)
    for _ in range(150):
        only_spec_errors(Relation.from_json, mutate(RELATION_SEEDS[int(rng.integers(0, 2))], rng))


def test_mutated_box_option_gives_spec_error_or_success():
    rng = np.random.default_rng(4000)
    for _ in range(300):
        text = mutate(str(rng.choice(["-1:1", "--box=0.1:0.2", "-2.5e-3:.5", "0:0"])), rng)
        only_spec_errors(lambda t: parse_box_option(t, 4), text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(NOISE), max_size=60).map("".join))
def test_random_token_soup(text):
    only_spec_errors(parse_vnnlib, text)
    only_spec_errors(lambda t: parse_box_option(t, 2), text)
    only_spec_errors(Box.from_json, text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_random_unicode_text(text):
    only_spec_errors(parse_vnnlib, text)
    only_spec_errors(Relation.from_json, text)


def test_pathological_inputs_finish_quickly():
    cases = [
        "(" * 100_000,
        ")" * 100_000,
        "(assert " + "(and " * 90 + "(<= X_0 1)" + ")" * 91,
        "(declare-const X_0 Real)(assert (<= X_0 " + "9" * 5000 + "))",
        "(declare-const X_0 Real)(assert (<= X_0 1e-99999999))",
        "(declare-const X_0 Real)(assert (<= X_0 0." + "0" * 3000 + "1))(assert (>= X_0 0))",
        "(declare-const X_999999999 Real)",
        "(declare-network f (declare-input A Real [99999,99999,99999]) (declare-output Y Real [1]))"
        "(assert (<= 0 A[0,0,0] 1))",
        "(declare-network f (declare-input A Real [2000000000]) (declare-output Y Real [1]))"
        "(assert (<= 0 A[0] 1))(assert (<= 0 A_1999999999 1))",
        "(declare-const Y_0 Real)(declare-const X_0 Real)(assert (<= 0 X_0 1))(assert (and "
        + " ".join(f"(or (<= Y_0 {i}) (>= Y_0 {i + 1}))" for i in range(40)) + "))",
        ";" * 1_000_000,
        "\n" * 1_000_000,
    ]
    for text in cases:
        only_spec_errors(parse_vnnlib, text)
