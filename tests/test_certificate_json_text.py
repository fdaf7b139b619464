"""The certificate file layout: same document back, scalar lists on one line, NaN refused."""

import json
import math

import numpy as np
import pytest

from nnequiv.certificate.json_text import readable_json

RNG = np.random.default_rng(7)


def _document():
    weights = RNG.normal(size=(4, 6))
    return {"schema": "nnequiv/certificate@1", "empty_list": [], "empty_object": {},
            "steps": [{"kind": "lumping", "weights": weights.tolist(),
                       "hex": [float(w).hex() for w in weights[0]], "flags": [True, False, None],
                       "nested": {"rows": [[0, 1], [], [2]], "ratio": 1e-300, "text": "a \"quoted\" é"}}],
            "ints": list(range(20))}


def test_the_text_parses_back_to_the_same_document_with_every_float_exact():
    document = _document()
    text = readable_json(document)
    back = json.loads(text)
    assert back == document
    assert [float.hex(w) for w in back["steps"][0]["weights"][2]] == \
        [float.hex(w) for w in document["steps"][0]["weights"][2]]


def test_scalar_lists_stay_on_one_line_and_objects_get_one_key_per_line():
    document = _document()
    lines = readable_json(document).splitlines()
    assert any(line.strip().startswith('"ints": [0, 1, 2,') and line.strip().endswith("19]") for line in lines)
    assert sum(line.strip().startswith('"kind": "lumping"') for line in lines) == 1
    multipliers = {"duals": RNG.normal(size=500).tolist()}
    assert len(readable_json(multipliers).splitlines()) == 3
    assert len(readable_json(multipliers)) < len(json.dumps(multipliers, indent=1)) * 0.95


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_like_allow_nan_false(bad):
    with pytest.raises(ValueError):
        readable_json({"steps": [{"eps": [0.0, bad]}]})


def test_non_string_keys_are_refused():
    with pytest.raises(TypeError):
        readable_json({"steps": {1: "x"}})
