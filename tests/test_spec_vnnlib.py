"""VNN-LIB 1.0 files and VNN-LIB 2.0 two-network queries: boxes, relations and every error path."""

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from nnequiv.errors import SpecError
from nnequiv.spec import Relation, load_vnnlib, parse_vnnlib
from nnequiv.spec import vnnlib as vnnlib_module
from nnequiv.spec.box import round_down, round_up
from nnequiv.spec.vnnlib_formula import Var

DATA = Path(__file__).resolve().parent / "data" / "vnnlib2"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VERYDIFF = SHARED / "verydiff-examples"
needs_shared = pytest.mark.skipif(not VERYDIFF.is_dir(),
                                  reason=f"shared data not found at {VERYDIFF} (../shared/data is absent)")


def exact(x: float) -> Fraction:
    return Fraction(float(x))


def v1(n_in: int, n_out: int, body: str) -> str:
    decls = [f"(declare-const X_{i} Real)" for i in range(n_in)] + [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    return "\n".join(decls) + "\n" + body


def error_of(text: str, path: str = "q.vnnlib") -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_vnnlib(text, path)
    return info.value


# --------------------------------------------------------------------------- VNN-LIB 1.0

def test_v1_bounds_in_all_spellings():
    text = v1(5, 2, """
; comment ( with ) parens
(assert (<= X_0 0.5))
(assert (>= X_0 -0.5))            ; trailing comment
(assert (<= -0.25 X_1))
(assert (>= 1e-3 X_1))
(assert (and (<= X_2 .5) (>= X_2 -.5)))
(assert (= X_3 2))
(assert (and (<= (* 2 X_4) 1) (<= (- X_4) 0)))
(assert (<= X_4 10))
""")
    spec = parse_vnnlib(text, "mem.vnnlib")
    assert spec.version == "1.0" and spec.relation is None and spec.path == "mem.vnnlib"
    assert (spec.n_inputs, spec.n_outputs) == (5, 2)
    stated = [("-0.5", "0.5"), ("-0.25", "1e-3"), ("-.5", ".5"), ("2", "2"), ("0", "0.5")]
    for i, (lo, hi) in enumerate(stated):
        assert spec.box.lower[i] == round_down(Fraction(lo)) and spec.box.upper[i] == round_up(Fraction(hi))
    assert spec.output_constraints is None
    e = error_of(text.replace("(<= -0.25 X_1)", "(<= 0.25 X_1)"))
    assert "the input region is empty: X_1 >= 0.25 (line 12) and X_1 <= 0.001 (line 13)" in str(e)


def test_v1_bound_outside_float_range():
    e = error_of("(declare-const X_0 Real)\n(assert (<= X_0 1e400))(assert (>= X_0 0))")
    assert "line 2, column 9: bound 1E+400 for X_0 is outside the float64 range" in str(e)


def test_v1_output_constraints_are_structured_dnf():
    text = v1(1, 3, """
(assert (<= -1 X_0 1))
(assert (or (and (<= Y_0 Y_1) (>= Y_2 0.5))
            (<= Y_1 -0.5)))
(assert (>= Y_0 -100))
""")
    spec = parse_vnnlib(text)
    dnf = spec.output_constraints
    assert dnf is not None and len(dnf) == 2
    first = {str(c) for c in dnf[0]}
    assert first == {"Y_0 - Y_1 <= 0", "- Y_2 <= -0.5", "- Y_0 <= 100"}
    assert {str(c) for c in dnf[1]} == {"Y_1 <= -0.5", "- Y_0 <= 100"}
    c = next(c for c in dnf[1] if c.terms[0][0].index == 1)
    assert c.terms == ((Var("out", "", 1), Fraction(1)),) and c.op == "<=" and c.rhs == Fraction(-1, 2)
    assert c.line == 8


def test_v1_strict_input_bounds_are_closed_and_ignored_commands():
    text = "(set-logic QF_LRA)\n" + v1(1, 1, "(assert (< X_0 1))(assert (> X_0 0))\n(check-sat)\n(get-model)(exit)")
    spec = parse_vnnlib(text)
    assert spec.box.lower.tolist() == [0.0] and spec.box.upper.tolist() == [1.0]


def test_v1_declare_fun_and_not():
    text = "(declare-fun X_0 () Real)(declare-fun Y_0 () Real)(assert (not (> X_0 1)))(assert (not (< X_0 0)))" \
           "(assert (not (and (<= Y_0 0) (>= Y_0 -1))))"
    spec = parse_vnnlib(text)
    assert spec.box.upper.tolist() == [1.0] and spec.box.lower.tolist() == [0.0]
    assert sorted(str(d[0]) for d in spec.output_constraints) == ["- Y_0 < 0", "Y_0 < -1"]


@pytest.mark.parametrize("body, needle, line", [
    ("(assert (<= (+ X_0 X_1) 1))", "the input constraints are not a box", 3),
    ("(assert (or (<= X_0 1) (>= X_0 2)))", "the input constraints are not a box: a disjunction", 3),
    ("(assert (<= X_0 Y_0))", "mixes input and output variables", 3),
    ("(assert (or (<= Y_0 1) (<= X_0 2)))", "mixes input and output variables", 3),
    ("(assert (<= (* X_0 X_1) 1))", "product of two variables", 3),
    ("(assert (<= X_0 X_9))", "unknown variable 'X_9'", 3),
    ("(assert (<= X_0 abc))", "unknown variable 'abc'", 3),
    ("(assert (<= X_0 0.5.1))", "malformed number '0.5.1'", 3),
    ("(assert (<= X_0 1e))", "malformed number", 3),
    ("(assert (<= X_0 NaN))", "NaN is not allowed", 3),
    ("(assert (<= X_0 inf))", "inf is not allowed", 3),
    ("(assert (<= X_0 -inf))", "-inf is not allowed", 3),
    ("(assert (<= X_0 \"1\"))", "unexpected string", 3),
    ("(assert (<= X_0))", "needs at least two arguments", 3),
    ("(assert (<=> X_0 1))", "unknown operator '<=>'", 3),
    ("(assert (<= (foo X_0) 1))", "unknown arithmetic operator 'foo'", 3),
    ("(assert (<= (/ X_0 0) 1))", "non-zero constant", 3),
    ("(assert (<= X_0 1) (>= X_0 0))", "exactly one expression", 3),
    ("(assert X_0)", "expected a comparison", 3),
    ("(assert (<= X_0[0] 1))", "VNN-LIB 2.0 syntax", 3),
    ("(assert (<= 2 1))", "always false", 3),
    ("(frobnicate)", "unknown command 'frobnicate'", 3),
])
def test_v1_errors_with_line_and_column(body, needle, line):
    text = "(declare-const X_0 Real)(declare-const X_1 Real)\n(declare-const Y_0 Real)\n" + body + \
        "\n(assert (<= -1 X_0 1))(assert (<= -1 X_1 1))"
    e = error_of(text)
    assert needle in str(e)
    assert f"line {line}, column" in str(e) and e.file == "q.vnnlib"
    assert str(e).startswith("q.vnnlib: line")


def test_v1_error_columns_point_at_the_token():
    e = error_of("(declare-const X_0 Real)\n(assert (<= X_0 zz))")
    assert "line 2, column 17" in str(e)
    e = error_of("(declare-const X_0 Real)\n  (assert (<= (+ X_0 X_0 X_0) (* 3 X_0)))\n(assert (or (<= X_0 1)\n (>= X_0 2)))")
    assert "line 3, column 9" in str(e)  # the (or ...) form


@pytest.mark.parametrize("text, needle", [
    ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= X_1 1))",
     "input X_1 has no lower bound"),
    ("(declare-const X_0 Real)(declare-const X_2 Real)", "X_1 is not declared, but X_2 is"),
    ("(declare-const X_0 Real)(declare-const Y_1 Real)(assert (<= 0 X_0 1))", "Y_0 is not declared"),
    ("(declare-const X_0 Real)\n(declare-const X_0 Real)", "declared twice (first at line 1)"),
    ("(declare-const X_00 Real)", "leading zeros"),
    ("(declare-const Z_0 Real)", "unexpected variable name 'Z_0'"),
    ("(declare-const X_0 Int)", "unsupported sort 'Int'"),
    ("(declare-const X_0)", "expected (declare-const NAME Real)"),
    ("(declare-const Y_0 Real)(assert (<= Y_0 1))", "declares no input variables"),
    ("(declare-const X_0 Real)\n(assert (<= X_0 1)", "unbalanced parentheses: '(' is never closed"),
    ("(declare-const X_0 Real))", "unexpected ')' (no matching opening)"),
    ("(declare-const X_0 Real]", "']' closes the '('"),
    ("[1]", "unexpected '[' at top level"),
    ("X_0", "expected '(' at top level"),
    ("(declare-const X_0, Real)", "',' is only allowed inside [...]"),
    ("(declare-const X_0 Real)(assert (<= X_0 \"1))", "unterminated string"),
    ("", "file is empty"),
    ("   ; only a comment\n\n", "file is empty"),
    ("(declare-const X_0 R\x01eal)", "unexpected character U+0001"),
    ("(declare-const X_0 Réal)", "unexpected character 'é'"),
    ("(declare-const X_0 Real)\n(assert (<= X_0 {1}))", "unexpected character '{'"),
    ("(assert " + "(" * 150 + ")" * 151, "nesting deeper than"),
    ("(declare-const X_0 Real)(declare-network f)", "mixes VNN-LIB 1.0"),
    ("()", "unknown command"),
])
def test_v1_structural_errors(text, needle):
    e = error_of(text)
    assert needle in str(e), str(e)


def test_v1_empty_output_region_is_rejected():
    e = error_of(v1(1, 1, "(assert (<= 0 X_0 1))\n(assert (> Y_0 1))\n(assert (< Y_0 0))"))
    assert "unsatisfiable on their face" in str(e)


def test_dnf_cap():
    ors = " ".join(f"(or (<= Y_0 {i}) (>= Y_0 {i + 100}))" for i in range(20))  # 2^20 disjuncts
    e = error_of(v1(1, 1, f"(assert (<= 0 X_0 1))(assert (and {ors}))"))
    assert "more than 100000 disjuncts" in str(e)


# --------------------------------------------------------------------------- files

def test_load_file_errors(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_vnnlib(tmp_path / "nope.vnnlib")
    with pytest.raises(SpecError, match="directory"):
        load_vnnlib(tmp_path)
    binary = tmp_path / "model.onnx"
    binary.write_bytes(b"\x08\x07\x12\x00\xff\xfe garbage")
    e = pytest.raises(SpecError, load_vnnlib, binary).value
    assert "NUL byte" in str(e) and str(binary) in str(e)
    latin = tmp_path / "latin.vnnlib"
    latin.write_bytes(b"(declare-const X_0 R\xe9al)")
    assert "not UTF-8" in str(pytest.raises(SpecError, load_vnnlib, latin).value)
    big = tmp_path / "big.vnnlib"
    with open(big, "wb") as fh:
        fh.truncate(vnnlib_module.MAX_FILE_BYTES + 1)  # sparse: no disk use
    assert "too large" in str(pytest.raises(SpecError, load_vnnlib, big).value)
    empty = tmp_path / "empty.vnnlib"
    empty.write_text("")
    e = pytest.raises(SpecError, load_vnnlib, empty).value
    assert "file is empty" in str(e) and e.file == str(empty)


def test_parse_accepts_bytes_with_bom():
    spec = parse_vnnlib("\ufeff(declare-const X_0 Real)(assert (<= 0 X_0 1))".encode())
    assert spec.box.size == 1


@needs_shared
@pytest.mark.shared_data
@pytest.mark.parametrize("name, n_in, n_out", [
    ("prop_1.vnnlib", 5, 5), ("sigma_0.1.vnnlib", 16, 5),
    ("mnist_0_local_15.vnnlib", 784, 0), ("mnist_7_local_15.vnnlib", 784, 0),
])
def test_real_verydiff_files(name, n_in, n_out):
    path = VERYDIFF / name
    spec = load_vnnlib(path)
    assert (spec.n_inputs, spec.n_outputs, spec.version) == (n_in, n_out, "1.0")
    assert spec.box.size == n_in and spec.path == str(path)
    assert spec.source_text == path.read_text()
    # every stated bound is contained (outward rounding), checked against the file's own numbers
    lows: dict[int, Fraction] = {}
    highs: dict[int, Fraction] = {}
    for line in spec.source_text.splitlines():
        line = line.strip()
        if not line.startswith("(assert"):
            continue
        op, a, b = line.replace("(assert (", "").rstrip(")").split()
        var, num, is_upper = (a, b, op == "<=") if a.startswith("X_") else (b, a, op == ">=")
        i = int(var[2:])
        (highs if is_upper else lows)[i] = Fraction(num)
    for i in range(n_in):
        assert exact(spec.box.lower[i]) <= lows[i] and exact(spec.box.upper[i]) >= highs[i]
        assert spec.box.lower[i] == round_down(lows[i]) and spec.box.upper[i] == round_up(highs[i])
    if name == "prop_1.vnnlib":
        assert spec.box.upper[0] == round_up(Fraction("0.679857769"))
        assert spec.box.lower[3] == math.nextafter(0.45, -math.inf)  # float 0.45 is above 0.45
    if name.startswith("mnist"):
        assert np.all(spec.box.lower >= 0) and np.all(spec.box.upper <= 1)


# --------------------------------------------------------------------------- VNN-LIB 2.0 example files

def test_v2_eps_example():
    spec = load_vnnlib(DATA / "eps_query.vnnlib")
    assert spec.version == "2.0" and (spec.n_inputs, spec.n_outputs) == (3, 2)
    assert spec.relation == Relation.epsilon(round_down(Fraction("0.05")))
    assert exact(spec.relation.eps) <= Fraction("0.05")
    assert spec.box.lower.tolist() == [-1.0, -0.5, 0.0] and spec.box.upper.tolist() == [1.0, 0.5, 0.25]
    f, g = spec.networks
    assert (f.name, f.input_name, f.input_shape, f.output_name) == ("f", "X_f", (3,), "Y_f")
    assert (g.name, g.isomorphic_to, g.equal_to) == ("g", "f", None)
    assert len(spec.output_constraints) == 4


def test_v2_top1_example():
    spec = load_vnnlib(DATA / "top1_query.vnnlib")
    assert spec.relation == Relation.top1()
    assert spec.n_inputs == 2 and spec.networks[0].input_shape == (1, 2)
    assert spec.box.lower.tolist() == [-1.0, -1.0]


def test_v2_empty_output_example():
    e = pytest.raises(SpecError, load_vnnlib, DATA / "empty_output.vnnlib").value
    assert "output constraints are unsatisfiable on their face" in str(e)
    assert "line 9, column 1" in str(e) and e.file.endswith("empty_output.vnnlib")


def test_v2_nonbox_example():
    e = pytest.raises(SpecError, load_vnnlib, DATA / "nonbox_input.vnnlib").value
    assert "the input constraints are not a box" in str(e) and "line 7, column 9" in str(e)


# --------------------------------------------------------------------------- VNN-LIB 2.0 inline

NETS = """(vnnlib-version <2.0>)
(declare-network f (declare-input X Real [2]) (declare-output Y_f Real [3]))
(declare-network g (equal-to f) (declare-input X Real [2]) (declare-output Y_g Real [3]))
(assert (<= -1 X[0] 1))
(assert (<= 0 X_1 2))
"""


def violation(eps: str, outputs=range(3), strict=True, f="Y_f", g="Y_g") -> str:
    gt, lt = (">", "<") if strict else (">=", "<=")
    parts = []
    for i in outputs:
        parts.append(f"({gt} (- {f}[{i}] {g}[{i}]) {eps})")
        parts.append(f"({lt} (- {f}[{i}] {g}[{i}]) (- {eps}))")
    return "(assert (or " + " ".join(parts) + "))"


def test_v2_eps_strict_subset_and_spellings():
    spec = parse_vnnlib(NETS + violation("0.1", outputs=[0, 2]))
    assert spec.relation == Relation.epsilon(round_down(Fraction("0.1")), outputs=[0, 2])
    assert spec.box.lower.tolist() == [-1.0, 0.0] and spec.box.upper.tolist() == [1.0, 2.0]
    other = NETS + "(assert (or (< Y_g_0 (- Y_f_0 0.5)) (> Y_g[0] (+ Y_f[0] 0.5)) " \
                   "(> (* 2 (- Y_g[1] Y_f[1])) 1) (< (select Y_g 1) (- Y_f[1] 0.5))" \
                   "(> (- Y_f[2] Y_g[2]) 0.5) (< (- Y_f[2] Y_g[2]) -0.5)))"
    assert parse_vnnlib(other).relation == Relation.epsilon(0.5)


def test_v2_non_strict_eps_maps_to_the_float_strictly_below():
    spec = parse_vnnlib(NETS + violation("0.5", strict=False))
    assert spec.relation == Relation.epsilon(math.nextafter(0.5, 0))  # |d| < 0.5 asked
    spec = parse_vnnlib(NETS + violation("0.1", strict=False))
    assert exact(spec.relation.eps) < Fraction("0.1")
    e = error_of(NETS + violation("0", strict=False))
    assert "covers every output" in str(e)


def test_v2_exact_relation():
    assert parse_vnnlib(NETS + violation("0")).relation == Relation.exact()
    neq = NETS + "(assert (or (!= Y_f[0] Y_g[0]) (distinct Y_f[1] Y_g[1]) (not (= Y_f[2] Y_g[2]))))"
    assert parse_vnnlib(neq).relation == Relation.exact()


@pytest.mark.parametrize("assertion, needle", [
    (violation("0.1", outputs=[0]).replace("(< (- Y_f[0] Y_g[0]) (- 0.1))", ""), "only one side"),
    ("(assert (or (> (- Y_f[0] Y_g[0]) 0.1) (< (- Y_f[0] Y_g[0]) -0.2)))", "tolerances differ"),
    ("(assert (or (> (- Y_f[0] Y_g[0]) 0.1) (<= (- Y_f[0] Y_g[0]) -0.1)))", "mixes strict"),
    ("(assert (or (> (- Y_f[0] Y_g[0]) -0.1) (< (- Y_f[0] Y_g[0]) 0.1)))", "negative tolerance"),
    ("(assert (> Y_f[0] 3))", "cannot map the output assertion"),
    ("(assert (or (> (- Y_f[0] Y_g[1]) 0.1) (< (- Y_f[0] Y_g[1]) -0.1)))", "cannot map"),
    ("(assert (> (- Y_f[0] Y_g[0]) 0.1))(assert (< (- Y_f[0] Y_g[0]) -0.1))", "unsatisfiable on their face"),
    ("(assert (and (> (- Y_f[0] Y_g[0]) 0.1) (< (- Y_f[0] Y_g[0]) -0.1)))", "unsatisfiable on their face"),
    ("(assert (and (>= Y_f[0] 1) (<= Y_f[0] 1) (< Y_f[0] 1)))", "unsatisfiable on their face"),
])
def test_v2_unmappable_or_empty_outputs(assertion, needle):
    e = error_of(NETS + assertion)
    assert needle in str(e), str(e)
    assert "line 6" in str(e)


def test_v2_face_empty_disjuncts_are_dropped_before_mapping():
    contradictory = "(and (> Y_f[0] 1) (< Y_f[0] 0))"
    text = NETS + violation("0.1").replace("(assert (or ", f"(assert (or {contradictory} ")
    assert parse_vnnlib(text).relation == Relation.epsilon(round_down(Fraction("0.1")))


def _top1_text(S, order_flip=False):
    parts = []
    for a, b in (("Y_f", "Y_g"), ("Y_g", "Y_f")):
        for i in S:
            for k in S:
                if k != i:
                    atoms = [f"(>= {a}[{i}] {a}[{j}])" if not order_flip else f"(<= {a}[{j}] {a}[{i}])"
                             for j in S if j != i]
                    parts.append("(and " + " ".join(atoms + [f"(> {b}[{k}] {b}[{i}])"]) + ")")
    return "(assert (or " + " ".join(reversed(parts) if order_flip else parts) + "))"


def test_v2_top1_spellings_and_subsets():
    assert parse_vnnlib(NETS + _top1_text([0, 1, 2], order_flip=True)).relation == Relation.top1()
    assert parse_vnnlib(NETS + _top1_text([0, 2])).relation == Relation.top1([0, 2])
    # one disjunct missing: a different (weaker) property -> rejected, not guessed
    text = _top1_text([0, 1, 2])
    first_and = text.index("(and")
    broken = text[:first_and] + text[text.index("(and", first_and + 1):]
    assert "cannot map" in str(error_of(NETS + broken))


def test_v2_ties_select_prefix_and_flat_names():
    text = """
(declare-network f (declare-input X Real [1,2]) (declare-output Y Real [2]))
(declare-network g (declare-input Xg Real [1,2]) (declare-output Y Real [2]))
(assert (== (select (select Xg 0) 0) X[0,0]))
(assert (= X_0-1 Xg_1))
(assert (<= -1 f.X[0,0] 1))
(assert (<= 3 g.Xg [0, 1] 4))
(assert (or (> (- f.Y[0] g.Y[0]) 2) (< (- f.Y[0] g.Y[0]) -2) (> (- f.Y_1 g.Y_1) 2) (< (- f.Y_1 g.Y_1) -2)))
"""
    spec = parse_vnnlib(text)
    assert spec.version == "2.0"
    assert spec.box.lower.tolist() == [-1.0, 3.0] and spec.box.upper.tolist() == [1.0, 4.0]
    assert spec.relation == Relation.epsilon(2.0)


@pytest.mark.parametrize("text, needle", [
    # inputs not tied at all
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(declare-network g (declare-input B Real [2]) (declare-output Z Real [1]))"
     "(assert (<= 0 A[0] 1))(assert (<= 0 A[1] 1))(assert (<= 0 B[0] 1))(assert (<= 0 B[1] 1))",
     "are not tied (element 0 is free)"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(declare-network g (declare-input B Real [2]) (declare-output Z Real [1]))"
     "(assert (== A[0] B[1]))(assert (== A[1] B[0]))(assert (<= 0 A[0] 1))(assert (<= 0 A[1] 1))",
     "element i of one input must be tied to element i"),
    ("(declare-network f (declare-input A Real [1]) (declare-output Y Real [1]))"
     "(declare-network g (declare-input B Real [1]) (declare-output Z Real [1]))"
     "(assert (<= A[0] B[0]))(assert (<= 0 A[0] 1))",
     "not tied by an equality"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (== A[0] A[1]))",
     "couples several input variables"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(declare-network g (declare-input B Real [2]) (declare-output Z Real [1]))"
     "(assert (== (+ A[0] A[1]) B[0]))", "couples several input variables"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(declare-network g (declare-input B Real [3]) (declare-output Z Real [1]))",
     "different input sizes (2 vs 3)"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(declare-network g (declare-input A Real [2]) (declare-output Z Real [2]))(assert (<= 0 A[0] 1))"
     "(assert (<= 0 A[1] 1))",
     "different output sizes (1 vs 2)"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(declare-network g (declare-input A Real [3]) (declare-output Z Real [1]))",
     "shared input 'A' has shape [2]"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(declare-network g (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(assert (<= 0 A[0] 1))(assert (<= 0 A[1] 1))(assert (> Y[0] 1))",
     "write f.Y[...] to say which"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(declare-network g (declare-input A Real [2]) (declare-output Z Real [1]))"
     "(declare-network h (declare-input A Real [2]) (declare-output W Real [1]))",
     "declares 3 networks"),
    ("(declare-network f (declare-input A Real [2]) (declare-hidden H Real [4] \"h\") "
     "(declare-output Y Real [1]))", "declare-hidden is not supported"),
    ("(declare-network f (declare-input A Real [2]) (declare-input B Real [2]) (declare-output Y Real [1]))",
     "declares 2 input(s) and 1 output(s)"),
    ("(declare-network f (declare-input A int8 [2]) (declare-output Y Real [1]))", "unsupported element type"),
    ("(declare-network f (declare-input A Real [0]) (declare-output Y Real [1]))", "must be positive"),
    ("(declare-network f (declare-input A Real [2.5]) (declare-output Y Real [1]))", "positive integer"),
    ("(declare-network f (declare-input A Real 2) (declare-output Y Real [1]))", "expected a shape"),
    ("(declare-network f (declare-input 1A Real [2]) (declare-output Y Real [1]))", "malformed number"),
    ("(declare-network f (declare-input A Real [2]) (declare-output A Real [1]))",
     "both the input and the output"),
    ("(declare-network f (isomorphic-to q) (declare-input A Real [2]) (declare-output Y Real [1]))",
     "unknown network 'q'"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))"
     "(declare-network f (declare-input B Real [2]) (declare-output Z Real [1]))", "declared twice"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (<= 0 A 1))",
     "refer to an element"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (<= 0 A[2] 1))",
     "out of range"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (<= 0 A[0, 0] 1))",
     "give 1 index(es), got 2"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (<= 0 A_7 1))",
     "index 7 is out of range"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (<= 0 B[0] 1))",
     "unknown variable 'B'"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (<= 0 [0] 1))",
     "unexpected index"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (<= 0 A[x] 1))",
     "index must be a non-negative integer"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (<= 0 (select A) 1))",
     "'select' needs an array"),
    ("(declare-network f (declare-input A Real [2]) (declare-output Y Real [1]))(assert (<= 0 A[0] 1))",
     "input A[1] has no lower bound"),
    ("(declare-network f (declare-input A Real [2000000000]) (declare-output Y Real [1]))"
     "(assert (<= 0 A[0] 1))(assert (<= A_5 1))", "input A[1] has no lower bound"),
    ("(declare-network f.g (declare-input A Real [2]) (declare-output Y Real [1]))", "bad network name"),
    ("(vnnlib-version <3.0>)(declare-network f (declare-input A Real [1]) (declare-output Y Real [1]))",
     "unsupported VNN-LIB version"),
    ("(declare-network f (declare-input A Real [1]) (declare-output Y Real [1]))(vnnlib-version <2.0>)",
     "must be the first command"),
    ("(vnnlib-version <2.0>)", "declares no network"),
    ("(vnnlib-version <2.0>)(declare-network f (declare-input A Real [1]) (declare-output Y Real [1]))"
     "(declare-const X_0 Real)", "mixes VNN-LIB 1.0"),
    ("(declare-network f (declare-input A Real [1]) (declare-output Y Real [1]) (bogus))",
     "unknown clause 'bogus'"),
])
def test_v2_declaration_and_reference_errors(text, needle):
    e = error_of(text)
    assert needle in str(e), str(e)


def test_v2_single_network_is_a_plain_query():
    text = """(declare-network net (declare-input X Real [2]) (declare-output Y Real [2]))
(assert (<= 0 X[0] 1))(assert (<= 0 X[1] 1))
(assert (or (>= Y[0] Y[1]) (<= Y[1] 0)))"""
    spec = parse_vnnlib(text)
    assert spec.relation is None and len(spec.output_constraints) == 2
    assert spec.networks[0].name == "net"


def test_v2_no_output_assertion_means_no_relation():
    spec = parse_vnnlib(NETS)
    assert spec.relation is None and spec.output_constraints is None


# --------------------------------------------------------------------------- mapped relations mean what the file says

def _violated(dnf, fy, gy) -> bool:
    """Exact evaluation of the file's violation region (DNF) at concrete outputs."""
    for conj in dnf:
        if all((lambda val: val <= c.rhs if c.op == "<=" else val < c.rhs)(
                sum(k * Fraction((fy if v.network == "f" else gy)[v.index]) for v, k in c.terms)) for c in conj):
            return True
    return False


def test_accepted_relations_are_exactly_the_complement_of_the_violation_region():
    """For every query a relation is derived from, 'relation violated' == 'point in the file's violation
    region' on a grid of outputs that includes ties and the eps boundaries (seeded)."""
    head = NETS.replace("Y_f Real [3]", "Yf Real [3]").replace("Y_g Real [3]", "Yg Real [3]")
    rng = np.random.default_rng(7)
    grid = np.array([0, 0.5, 1, 2])
    accepted = 0
    for case in range(200):
        S = sorted(rng.choice(3, int(rng.integers(2, 4)), replace=False).tolist())
        eps = str(rng.choice(["0", "0.1", "0.5", "1"]))
        strict = bool(rng.random() < 0.5) or eps == "0"  # |d| >= 0 everywhere is rejected (tested above)
        if case % 2:
            text = head + violation(eps, S, strict, "Yf", "Yg")
        else:
            text = head + _top1_text(S).replace("Y_f", "Yf").replace("Y_g", "Yg")
        spec = parse_vnnlib(text)
        accepted += 1
        fy, gy = rng.choice(grid, (30, 3)), rng.choice(grid, (30, 3))
        holds = spec.relation.holds_at(fy, gy)
        for k in range(30):
            assert _violated(spec.output_constraints, fy[k], gy[k]) == (not holds[k]), (text, fy[k], gy[k])
    assert accepted == 200
