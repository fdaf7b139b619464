"""Boxes, box files and relations: invariants (hypothesis, seeded) and every error path -> SpecError."""

import json
import math
import re
import sys
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from nnequiv.errors import NnequivError, SpecError
from nnequiv.spec import Box, Relation, load_box_json, parse_box_option
from nnequiv.spec.box import parse_decimal, round_down, round_up

MAX = sys.float_info.max
finite = st.floats(allow_nan=False, allow_infinity=False)
moderate = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def boxes(draw, max_size=6, elements=finite):
    n = draw(st.integers(1, max_size))
    a = draw(st.lists(elements, min_size=n, max_size=n))
    b = draw(st.lists(elements, min_size=n, max_size=n))
    return Box.of(np.minimum(a, b), np.maximum(a, b))


@st.composite
def decimal_texts(draw):
    """Random decimal literals in the forms users write: -0.5, .5, 12., 1e-3, 3.25E+7 ..."""
    sign = draw(st.sampled_from(["", "-", "+"]))
    int_part = draw(st.one_of(st.just(""), st.integers(0, 10 ** 20).map(str)))
    frac_part = draw(st.one_of(st.just(""), st.integers(0, 10 ** 25).map(str)))
    if not int_part and not frac_part:
        int_part = "0"
    body = int_part + ("." + frac_part if frac_part or draw(st.booleans()) else "")
    if body == ".":
        body = "0"
    exp = draw(st.one_of(st.just(""), st.integers(-330, 310).map(lambda e: f"e{e}")))
    return sign + body + exp


def exact(x: float) -> Fraction:
    return Fraction(float(x))


# --------------------------------------------------------------------------- construction

def test_of_normalises_to_readonly_float64():
    box = Box.of([0, -1.5, 2], np.array([1, 0, 3], dtype=np.float32))
    assert box.lower.dtype == np.float64 and box.upper.dtype == np.float64
    assert box.lower.shape == (3,) and box.size == 3 == len(box)
    with pytest.raises(ValueError):
        box.lower[0] = 5.0
    assert Box(box.lower, box.upper) == box and hash(Box(box.lower, box.upper)) == hash(box)


def test_negative_zero_is_normalised_so_eq_and_hash_agree():
    a, b = Box.of([-0.0], [0.0]), Box.of([0.0], [-0.0])
    assert a == b and hash(a) == hash(b) and a.lower.tobytes() == np.zeros(1).tobytes()


def test_of_flattens_matching_shapes_in_c_order():
    lo = np.arange(6.0).reshape(2, 3)
    box = Box.of(lo, lo + 1)
    assert box.lower.tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("lower, upper, needle", [
    ([0, 1], [1], "differ in shape"),
    ([0, float("nan")], [1, 1], "index 1 is NaN"),
    ([0, 0], [1, float("inf")], "index 1 is infinite"),
    ([0, -float("inf")], [1, 1], "index 1 is infinite"),
    ([0, 2.5], [1, 1.5], "lower bound 2.5 > upper bound 1.5 at index 1"),
    ([], [], "at least one dimension"),
    ([[0, 1], [2]], [[1, 2], [3]], "not a rectangular array"),
    (["a"], [1], "lower bound at index 0: not a number"),
    ([None], [1], "lower bound at index 0 must be a number"),
    ([True], [1], "must be a number"),
    ([Fraction(1, 3)], [Fraction(1, 4)], "lower bound 0.33333333333333333... > upper bound 0.25 at index 0"),
    ([Decimal("NaN")], [1], "not finite"),
    ([10 ** 400], [10 ** 401], "outside the float64 range"),
])
def test_of_rejects_with_spec_error_naming_index_and_values(lower, upper, needle):
    with pytest.raises(SpecError) as info:
        Box.of(lower, upper)
    assert needle in str(info.value)


def test_exact_emptiness_is_judged_before_rounding():
    # as floats both round to 0.3, but the stated interval is empty
    with pytest.raises(SpecError, match="empty box"):
        Box.of(["0.3"], ["0.2999999999999999999999"])


def test_large_ints_are_rounded_outward():
    n = 2 ** 60 + 1  # not a float64
    box = Box.of([n], [n])
    assert exact(box.lower[0]) < n < exact(box.upper[0])
    arr = np.array([n], dtype=np.int64)
    box2 = Box.of(arr, arr)
    assert box2 == box


def test_uniform_and_broadcast():
    box = Box.uniform("-0.1", "0.1", 4)
    assert box.size == 4 and exact(box.lower[0]) <= Fraction("-0.1") and exact(box.upper[3]) >= Fraction("0.1")
    one = Box.of([0.0], [1.0])
    assert one.broadcast_to(3) == Box.uniform(0.0, 1.0, 3)
    assert box.broadcast_to(4) is box
    with pytest.raises(SpecError, match="only size-1 boxes broadcast"):
        box.broadcast_to(5)
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(SpecError):
            Box.uniform(0, 1, bad)


# --------------------------------------------------------------------------- outward rounding

@settings(max_examples=300, deadline=None)
@given(text=decimal_texts())
@example(text="0.1")
@example(text="-0.1")
@example(text="1e-400")
@example(text="-1e-400")
@example(text="0.679857769")
def test_decimal_bounds_round_outward_and_tightly(text):
    q = Fraction(text)  # Python's own exact parser as the oracle
    assert parse_decimal(text) == q
    if abs(q) > MAX:
        return
    lo, hi = round_down(q), round_up(q)
    assert exact(lo) <= q <= exact(hi)
    # tight: the next float inward is on the wrong side
    assert exact(math.nextafter(lo, math.inf)) > q or exact(lo) == q
    assert exact(math.nextafter(hi, -math.inf)) < q or exact(hi) == q
    box = Box.of([text], [text])
    assert exact(box.lower[0]) <= q <= exact(box.upper[0])


@settings(max_examples=150, deadline=None)
@given(a=decimal_texts(), b=decimal_texts())
def test_box_option_and_json_files_contain_the_stated_interval(a, b, tmp_path_factory):
    qa, qb = Fraction(a), Fraction(b)
    if max(abs(qa), abs(qb)) > MAX / 2:
        return
    lo_t, hi_t = (a, b) if qa <= qb else (b, a)
    box = parse_box_option(f"{lo_t}:{hi_t}", 3)
    assert all(exact(v) <= Fraction(lo_t) for v in box.lower)
    assert all(exact(v) >= Fraction(hi_t) for v in box.upper)
    path = tmp_path_factory.mktemp("box") / "b.json"
    path.write_text(f'{{"lower": [{_json_num(lo_t)}, 0], "upper": [{_json_num(hi_t)}, 0]}}')
    fbox = load_box_json(path, 2)
    assert exact(fbox.lower[0]) <= Fraction(lo_t) and exact(fbox.upper[0]) >= Fraction(hi_t)
    assert fbox.lower[0] == box.lower[0] and fbox.upper[0] == box.upper[0]


def _json_num(text: str) -> str:
    """The same number in JSON syntax (no '+', no '.5' / '5.', no leading zeros)."""
    s = text.lstrip("+")
    sign = "-" if s.startswith("-") else ""
    mant, _, exp = s.lstrip("-").lower().partition("e")
    int_part, dot, frac_part = mant.partition(".")
    out = sign + (int_part.lstrip("0") or "0") + ("." + frac_part if frac_part else "") + ("e" + exp if exp else "")
    assert Fraction(out) == Fraction(text)
    return out


# --------------------------------------------------------------------------- split / center / radius

@settings(max_examples=200, deadline=None)
@given(box=boxes(), data=st.data())
def test_split_halves_cover_the_box_and_stay_inside(box, data):
    dim = data.draw(st.integers(0, box.size - 1))
    left, right = box.split(dim)
    m = left.upper[dim]
    assert m == right.lower[dim]
    assert box.lower[dim] <= m <= box.upper[dim]
    for half in (left, right):
        assert np.all(half.lower >= box.lower) and np.all(half.upper <= box.upper)
    others = np.arange(box.size) != dim
    assert np.array_equal(left.lower, box.lower) and np.array_equal(right.upper, box.upper)
    assert np.array_equal(left.upper[others], box.upper[others])
    assert np.array_equal(right.lower[others], box.lower[others])
    # union covers: every sampled point (and every corner) is in one half
    pts = np.vstack([box.sample(50, rng=1), box.corners(16)])
    assert np.all(box.contains(pts))
    assert np.all(left.contains(pts) | right.contains(pts))


@settings(max_examples=100, deadline=None)
@given(box=boxes(elements=moderate), data=st.data())
def test_split_makes_progress_on_wide_dimensions(box, data):
    dim = data.draw(st.integers(0, box.size - 1))
    lo, hi = box.lower[dim], box.upper[dim]
    left, right = box.split(dim)
    if math.nextafter(lo, math.inf) < hi:  # at least one float strictly inside
        assert left.upper[dim] < hi and right.lower[dim] > lo


@settings(max_examples=200, deadline=None)
@given(box=boxes())
def test_center_radius_widths_are_conservative(box):
    c, r, w = box.center, box.radius, box.widths
    assert box.contains(c)
    for i in range(box.size):
        lo, hi = exact(box.lower[i]), exact(box.upper[i])
        assert exact(r[i]) >= 0
        assert exact(c[i]) - exact(r[i]) <= lo and exact(c[i]) + exact(r[i]) >= hi
        if math.isfinite(w[i]):
            assert exact(w[i]) >= hi - lo


def test_extreme_box_does_not_overflow():
    box = Box.of([-MAX, 0.0], [MAX, 5e-324])
    assert np.all(np.isfinite(box.center)) and box.contains(box.center)
    assert np.all(np.isfinite(box.radius))
    assert box.widths[0] == math.inf
    assert np.all(box.contains(box.sample(20, rng=0)))
    left, right = box.split(0)
    assert left.upper[0] == 0.0 == right.lower[0]


# --------------------------------------------------------------------------- corners / sample / contains

def test_corners_enumerates_all_vertices_when_few():
    box = Box.of([0, 5, -1], [1, 5, 1])  # dimension 1 is flat
    v = box.corners(100)
    assert v.shape == (4, 3)
    assert {tuple(r) for r in v} == {(a, 5.0, b) for a in (0.0, 1.0) for b in (-1.0, 1.0)}


def test_corners_samples_distinct_vertices_when_many():
    box = Box.uniform(-1, 1, 30)
    v = box.corners(50, rng=3)
    assert v.shape == (50, 30)
    assert len({r.tobytes() for r in v}) == 50
    assert np.all(np.isin(v, [-1.0, 1.0]))
    assert np.array_equal(v[0], box.lower) and np.array_equal(v[1], box.upper)
    assert np.array_equal(v, box.corners(50, rng=3))  # seeded
    with pytest.raises(SpecError):
        box.corners(0)


def test_sample_is_seeded_and_inside():
    box = Box.of([0, -3], [1e-300, 7])
    a, b = box.sample(100, rng=42), box.sample(100, rng=np.random.default_rng(42))
    assert a.shape == (100, 2) and np.array_equal(a, b)
    assert np.all(box.contains(a))
    assert box.sample(0, rng=1).shape == (0, 2)
    with pytest.raises(SpecError):
        box.sample(-1)


def test_contains_with_tolerance_batches_and_nan():
    box = Box.of([0, 0], [1, 1])
    assert box.contains([0.5, 1.0]) is True
    assert box.contains(np.array([1.05, 0.5])) is False
    assert box.contains([1.05, 0.5], tol=0.1) is True
    assert box.contains([np.nan, 0.5]) is False
    assert box.contains(np.zeros((3, 2))).tolist() == [True] * 3
    assert box.contains(np.zeros((2, 1, 2))).tolist() == [True, True]
    for bad in ([0.5], np.zeros((2, 3))):
        with pytest.raises(SpecError):
            box.contains(bad)
    with pytest.raises(SpecError):
        box.contains([0.5, 0.5], tol=-1)
    with pytest.raises(SpecError):
        box.split(2)


# --------------------------------------------------------------------------- JSON

special = st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, MAX, -MAX, 0.1, 1 / 3])


@settings(max_examples=200, deadline=None)
@given(box=boxes(elements=st.one_of(finite, special)))
def test_json_round_trip_is_exact(box):
    data = box.to_json()
    for back in (Box.from_json(data), Box.from_json(json.dumps(data)), Box.from_json(json.loads(json.dumps(data)))):
        assert back.lower.tobytes() == box.lower.tobytes()
        assert back.upper.tobytes() == box.upper.tobytes()


def test_json_shape_and_hex_decimal_agreement():
    box = Box.of([0.1, -2.0], [0.2, 3.0])
    data = box.to_json()
    assert data["lower_hex"][0] == (0.1).hex() and data["lower"][0] == 0.1 and data["size"] == 2
    edited = dict(data, lower=[0.15, -2.0])  # decimal edited, hex not
    with pytest.raises(SpecError, match="disagrees with lower_hex"):
        Box.from_json(edited)
    no_decimals = {k: v for k, v in data.items() if k not in ("lower", "upper")}
    assert Box.from_json(no_decimals) == box
    for bad, needle in [
        (dict(data, extra=1), "unknown key"),
        (dict(data, format="other"), "format"),
        (dict(data, version=2), "version"),
        (dict(data, size=3), "size"),
        (dict(data, lower_hex=["zz", "0x0p+0"]), "not a hex float"),
        (dict(data, lower_hex=[1, 2]), "must be a string"),
        (dict(data, lower_hex="0x1p0"), "list"),
        ({"upper": [1]}, "missing 'lower'"),
        ([1, 2], "JSON object"),
        ("{nope", "malformed JSON at line 1"),
        ("[" * 100000 + "]" * 100000, "malformed JSON"),
    ]:
        with pytest.raises(SpecError, match=needle):
            Box.from_json(bad)


def test_json_decimals_without_hex_round_outward():
    box = Box.from_json('{"lower": [0.1], "upper": [0.1]}')
    assert exact(box.lower[0]) < Fraction("0.1") < exact(box.upper[0])


# --------------------------------------------------------------------------- --box option

@pytest.mark.parametrize("text, lo, hi", [
    ("-1:1", -1.0, 1.0),
    ("--box=0.5:2", 0.5, 2.0),
    ("--box -2:-1", -2.0, -1.0),
    (" -1e-3 : 1e-3 ", -1e-3, 1e-3),
    ("0:0", 0.0, 0.0),
    (".5:5.", 0.5, 5.0),
])
def test_box_option_accepts(text, lo, hi):
    box = parse_box_option(text, 4)
    assert box.size == 4
    lo_text, hi_text = text.replace("--box", "").strip(" =").split(":")
    assert box.lower.tolist() == [round_down(Fraction(lo_text.strip()))] * 4
    assert box.upper.tolist() == [round_up(Fraction(hi_text.strip()))] * 4
    assert exact(box.lower[0]) <= Fraction(lo) and exact(box.upper[0]) >= Fraction(hi)


@pytest.mark.parametrize("text, needle", [
    ("1:", "upper bound is missing"),
    (":1", "lower bound is missing"),
    ("a:b", "not a number: 'a'"),
    ("2:1", "lower bound 2 is greater than upper bound 1"),
    ("1", "one colon"),
    ("1:2:3", "one colon"),
    ("nan:1", "not a number"),
    ("0:inf", "not a number"),
    ("0x1p0:2", "not a number"),
    ("1/3:1", "not a number"),
    ("1e99999999:2", "exponent out of range"),
    ("0:1e400", "1E+400 is outside the float64 range"),
    ("", "one colon"),
])
def test_box_option_errors(text, needle):
    with pytest.raises(SpecError, match=re.escape(needle)):
        parse_box_option(text, 3)


def test_box_option_bad_size_and_type():
    with pytest.raises(SpecError):
        parse_box_option("0:1", 0)
    with pytest.raises(SpecError):
        parse_box_option(None, 2)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- JSON box files

def _write(tmp_path, text, name="box.json"):
    p = tmp_path / name
    p.write_text(text) if isinstance(text, str) else p.write_bytes(text)
    return p


@pytest.mark.parametrize("text, size, lower, upper", [
    ('{"lower": [0, -1, 2], "upper": [1, 1, 3]}', 3, [0, -1, 2], [1, 1, 3]),
    ('{"lower": -1, "upper": 1}', 3, [-1] * 3, [1] * 3),
    ('{"lower": [[0, 1], [2, 3]], "upper": 5}', 4, [0, 1, 2, 3], [5] * 4),
    ('{"center": [0, 1], "radius": 0.5}', 2, [-0.5, 0.5], [0.5, 1.5]),
    ('{"center": 1, "radius": [1, 2]}', 2, [0, -1], [2, 3]),
    ('{"lower": [0, 0], "upper": [1, 2]}', None, [0, 0], [1, 2]),
])
def test_load_box_json_forms(tmp_path, text, size, lower, upper):
    box = load_box_json(_write(tmp_path, text), size)
    assert box.lower.tolist() == lower and box.upper.tolist() == upper


def test_load_box_json_center_radius_is_exact_then_outward(tmp_path):
    box = load_box_json(_write(tmp_path, '{"center": 0.1, "radius": 0.2}'), 1)
    assert exact(box.lower[0]) <= Fraction("-0.1") and exact(box.upper[0]) >= Fraction("0.3")
    assert box.lower[0] == round_down(Fraction("-0.1")) and box.upper[0] == round_up(Fraction("0.3"))


def test_load_box_json_reads_to_json_output(tmp_path):
    box = Box.of([0.1, 0.2], [0.3, 0.4])
    assert load_box_json(_write(tmp_path, json.dumps(box.to_json())), 2) == box
    assert load_box_json(_write(tmp_path, json.dumps(Box.of([0.1], [0.3]).to_json())), 2) == \
        Box.of([0.1, 0.1], [0.3, 0.3])
    with pytest.raises(SpecError, match="expected 3"):
        load_box_json(_write(tmp_path, json.dumps(box.to_json())), 3)


@pytest.mark.parametrize("text, needle", [
    ('{"lower": [0, 1], "upper": [1', "malformed JSON at line 1, column"),
    ('{"lower": [0, 1],\n "upper": [1, 2],}', "malformed JSON at line 2"),
    ('{"lower": [0, 1], "upper": [1, 2, 3]}', "expected 2 values (the network's flattened input size), got 3"),
    ('{"lower": [0], "upper": [1]}', "expected 2 values"),
    ('{"lower": [0, NaN], "upper": [1, 2]}', "lower[1] is NaN"),
    ('{"lower": [0, -Infinity], "upper": [1, 2]}', "lower[1] is infinite"),
    ('{"lower": [0, 3], "upper": [1, 2]}', "lower bound 3 > upper bound 2 at index 1"),
    ('{"lower": [0, "x"], "upper": [1, 2]}', "lower[1]: not a number"),
    ('{"lower": [0, null], "upper": [1, 2]}', "lower[1] must be a number"),
    ('{"lower": [0, [1]], "upper": [1, 2]}', "not a rectangular array"),
    ('{"lower": [0, 1]}', "expected either lower"),
    ('{"lower": [0, 1], "upper": [1, 2], "extra": 1}', "unknown key"),
    ('{"center": [0, 1], "radius": -1}', "radius[0] is negative"),
    ('{"center": [0, 1], "radius": [1]}', "expected 2 values"),
    ('[0, 1]', "expected a JSON object"),
    ('"box"', "expected a JSON object"),
    ('', "file is empty"),
    ('{"lower": 1e99999, "upper": 2}', "exponent out of range"),
    ('{"lower": [], "upper": []}', "expected 2 values"),
])
def test_load_box_json_errors_name_the_file(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_box_json(path, 2)
    assert needle in str(info.value)
    assert info.value.file == str(path) and str(path) in str(info.value)


def test_load_box_json_file_problems(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_box_json(tmp_path / "missing.json", 2)
    with pytest.raises(SpecError, match="directory"):
        load_box_json(tmp_path, 2)
    with pytest.raises(SpecError, match="not UTF-8"):
        load_box_json(_write(tmp_path, b"\xff\xfe\x00garbage"), 2)
    with pytest.raises(SpecError, match="scalar bounds need the input size"):
        load_box_json(_write(tmp_path, '{"lower": 0, "upper": 1}'), None)
    with pytest.raises(SpecError, match="input size"):
        load_box_json(_write(tmp_path, '{"lower": 0, "upper": 1}'), 0)
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(60 * 1024 * 1024)  # sparse
    with pytest.raises(SpecError, match="too large"):
        load_box_json(big, 2)


# --------------------------------------------------------------------------- relations

def test_relation_constructors_and_describe():
    r = Relation.epsilon(0.05, outputs=range(5))
    assert (r.kind, r.eps, r.outputs, r.norm) == ("eps", 0.05, (0, 1, 2, 3, 4), "linf")
    assert r.describe().startswith("max_i |f_i(x) - g_i(x)| <= 0.05 over outputs 0..4")
    assert "all outputs" in Relation.epsilon(1).describe()
    assert "outputs 0, 2, 7" in Relation.exact([7, 0, 2]).describe()
    assert Relation.exact([7, 0, 2]).outputs == (0, 2, 7)
    assert "output 3" in Relation.top1([3]).describe()
    t = Relation.top1().describe()
    assert "argmax" in t and "tie" in t and "same set of maximal outputs" in t
    assert "exactly" in Relation.exact().describe()
    assert "(12 outputs)" in Relation.exact(range(0, 24, 2)).describe()
    assert Relation.epsilon(0.0).eps == 0.0 and math.copysign(1, Relation.epsilon(-0.0).eps) == 1


def test_relation_eps_from_text_rounds_down():
    r = Relation.epsilon("0.05")
    assert exact(r.eps) <= Fraction("0.05") and r.eps == round_down(Fraction("0.05"))
    assert Relation.epsilon(Fraction(1, 3)).eps == round_down(Fraction(1, 3))
    assert Relation.epsilon(Decimal("0.5")).eps == 0.5


@pytest.mark.parametrize("make, needle", [
    (lambda: Relation.epsilon(-0.1), "eps must be >= 0"),
    (lambda: Relation.epsilon(float("nan")), "NaN"),
    (lambda: Relation.epsilon(float("inf")), "infinite"),
    (lambda: Relation.epsilon("-1"), ">= 0"),
    (lambda: Relation.epsilon("abc"), "not a number"),
    (lambda: Relation.epsilon(True), "must be a number"),
    (lambda: Relation.epsilon(0.1, outputs=[0, 0]), "more than once"),
    (lambda: Relation.epsilon(0.1, outputs=[-1]), ">= 0"),
    (lambda: Relation.epsilon(0.1, outputs=[]), "at least one output"),
    (lambda: Relation.epsilon(0.1, outputs=[1.5]), "integer"),
    (lambda: Relation.epsilon(0.1, outputs=[True]), "integer"),
    (lambda: Relation("eps", 0.1, "01"), "list of output indices"),  # type: ignore[arg-type]
    (lambda: Relation("bogus"), "unknown relation kind"),  # type: ignore[arg-type]
    (lambda: Relation("exact", 0.5), "takes no eps"),
    (lambda: Relation("eps", 0.5, None, "l2"), "unsupported norm"),  # type: ignore[arg-type]
])
def test_relation_validation(make, needle):
    with pytest.raises(SpecError, match=needle):
        make()


def test_check_outputs():
    assert Relation.top1().check_outputs(3) == (0, 1, 2)
    assert Relation.epsilon(1, [0, 4]).check_outputs(5) == (0, 4)
    with pytest.raises(SpecError, match="output index 5 is out of range: the networks have 5 output"):
        Relation.epsilon(1, [0, 5]).check_outputs(5)
    with pytest.raises(SpecError):
        Relation.exact().check_outputs(0)


@settings(max_examples=200, deadline=None)
@given(eps=st.one_of(st.floats(min_value=0, allow_nan=False, allow_infinity=False), special.map(abs)),
       kind=st.sampled_from(["eps", "exact", "top1"]),
       outputs=st.one_of(st.none(), st.sets(st.integers(0, 50), min_size=1).map(sorted)))
def test_relation_json_round_trip_is_exact(eps, kind, outputs):
    r = Relation(kind, eps if kind == "eps" else 0.0, outputs)
    for back in (Relation.from_json(r.to_json()), Relation.from_json(json.dumps(r.to_json()))):
        assert back == r and back.eps.hex() == r.eps.hex()


def test_relation_json_errors():
    good = Relation.epsilon(0.1).to_json()
    for bad, needle in [
        (dict(good, eps=0.2), "disagrees with eps_hex"),
        (dict(good, eps_hex="zz"), "not a hex float"),
        (dict(good, eps_hex=3), "must be a string"),
        (dict(good, extra=1), "unknown key"),
        ({"eps": 0.1}, "missing 'kind'"),
        (dict(good, kind="nope"), "unknown relation kind"),
        (dict(good, outputs=[0, 0]), "more than once"),
        (dict(good, outputs=[0.5]), "integer"),
        ([1], "JSON object"),
        ("{", "malformed JSON"),
    ]:
        with pytest.raises(SpecError, match=needle):
            Relation.from_json(bad)
    assert Relation.from_json('{"kind": "eps", "eps": 0.1}').eps == round_down(Fraction("0.1"))


def test_holds_at_tie_rule():
    top1 = Relation.top1()
    f = np.array([[3, 1, 0], [2, 2, 0], [2, 2, 0], [1, 1, 1], [0, 5, 1]])
    g = np.array([[4, 0, 0], [1, 1, 0], [2, 1, 0], [0, 0, 0], [5, 0, 1]])
    # same unique max | same tie set | tie in f only | all tied in both | different max
    assert top1.holds_at(f, g).tolist() == [True, True, False, True, False]
    assert Relation.top1([0, 2]).holds_at(f, g).tolist() == [True, True, True, True, False]
    eps = Relation.epsilon(1.0)
    assert eps.holds_at([0, 0], [1, -1]).tolist() == [True]
    assert eps.holds_at([0, 0], [1.5, 0]).tolist() == [False]
    assert eps.holds_at([0, np.nan], [0, np.nan]).tolist() == [False]
    assert Relation.exact().holds_at([[1, 2]], [[1, 2]]).tolist() == [True]
    with pytest.raises(SpecError):
        eps.holds_at(np.zeros((2, 3)), np.zeros((2, 2)))


def test_errors_are_nnequiv_errors():
    with pytest.raises(NnequivError):
        Box.of([1], [0])


@pytest.mark.parametrize("typed, shown", [("0.05", "0.05 (as the float below it, 0.049999999999999996)"),
                                          ("0.1", "0.1 (as the float below it, 0.09999999999999999)"),
                                          (0.5, "0.5 over"), (0.0, "0.0 over"), (1e300, "1e+300 over")])
def test_relation_describe_shows_the_decimal_typed_and_the_float_used(typed, shown):
    """A decimal eps that is not a float is rounded down; the description names both, and an exact
    float is shown as itself."""
    text = Relation.epsilon(typed).describe()
    assert f"<= {shown}" in text
    assert float.fromhex(Relation.epsilon(typed).to_json()["eps_hex"]) <= float(typed)
