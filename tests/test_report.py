"""`nnequiv report`: the facts a report shows come from the certificate, the checker and the models.

Certificates are produced by real checks on tiny seeded networks; the HTML is parsed with the
stdlib parser and each section's facts are compared with values computed independently here.
"""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from xml.etree import ElementTree

import numpy as np
import pytest
from click.testing import CliRunner

from nnequiv.checker import verify
from nnequiv.cli import main
from nnequiv.engine.check import check
from nnequiv.ir import Node
from nnequiv.onnx_io import canonical_sha256, save_onnx
from nnequiv.report import build_report, render, write_report
from nnequiv.report.charts import COLOURS, Series, deviation_bars, grouped_bars
from nnequiv.report.tree import tree_facts
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation
from tests.helpers.models import random_mlp

EPS = 0.0055           # between the deviation reached (~0.0049) and the root bound (~0.009): the tree splits
TIGHT_EPS = 1e-5       # below the deviation reached: a counterexample
EVIL = "<script>alert(1)</script>"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# ----------------------------------------------------------------------------- helpers
class Page(HTMLParser):
    """Collects the text of every ``data-fact`` element, section ids and tag balance."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.facts: dict[str, list[str]] = {}
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.stack: list[tuple[str, str | None]] = []
        self.unbalanced: list[str] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag in VOID:
            return
        fact = attrs.get("data-fact")
        if fact:
            self.facts.setdefault(fact, []).append("")
        self.stack.append((tag, fact))

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.unbalanced.append(tag)
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        for _, fact in self.stack:
            if fact:
                self.facts[fact][-1] += data

    def fact(self, name: str) -> str:
        values = self.facts.get(name)
        assert values, f"no data-fact {name!r}"
        return " ".join(values[0].split())

    @property
    def plain(self) -> str:
        return " ".join("".join(self.text).split())


def own_tree_counts(tree) -> dict[str, int]:
    """Independent walk of a bab_tree (recursive on purpose: the module under test is iterative)."""
    def walk(node, depth):
        if "leaf" in node:
            return {"leaves": 1, "regions": 1, "depth": depth, "input": 0, "relu": 0}
        a, b = (walk(child, depth + 1) for child in node["children"])
        return {"leaves": a["leaves"] + b["leaves"], "regions": 1 + a["regions"] + b["regions"],
                "depth": max(a["depth"], b["depth"]), "input": a["input"] + b["input"] + ("input" in node["split"]),
                "relu": a["relu"] + b["relu"] + ("relu" in node["split"])}
    return walk(tree, 0)


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    f = random_mlp(rng, [3, 8, 8, 2], name="orig")
    weights = dict(f.initializers)
    g = f.replace(initializers={**weights, "w2": (weights["w2"] + np.float32(1e-3)).astype(np.float32)},
                  name="red")
    return f, g


@pytest.fixture(scope="module")
def files(pair, tmp_path_factory):
    """Model files, a certificate (from a proof) and a verdict JSON (from a refutation)."""
    f, g = pair
    root = tmp_path_factory.mktemp("report")
    save_onnx(f, root / "f.onnx")
    save_onnx(g, root / "g.onnx")
    proof = check(f, g, Box.uniform(-1, 1, 3), Relation.epsilon(EPS), timeout=20)
    assert proof.verdict == "equivalent", proof.stats
    (root / "cert.json").write_text(json.dumps(proof.certificate))
    refutation = check(f, g, Box.uniform(-1, 1, 3), Relation.epsilon(TIGHT_EPS), timeout=20)
    assert refutation.verdict == "not_equivalent", refutation.stats
    (root / "verdict.json").write_text(json.dumps(refutation.to_json()))
    return root


@pytest.fixture(scope="module")
def certificate(files):
    return json.loads((files / "cert.json").read_text())


@pytest.fixture(scope="module")
def checked_html(files):
    return render(build_report(certificate=files / "cert.json", original=files / "f.onnx",
                               reduced=files / "g.onnx"), "html")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# ----------------------------------------------------------------------------- HTML facts
def test_html_sections_state_the_certificate_facts(files, certificate, checked_html, pair):
    page = Page(checked_html)
    f, g = pair
    claim, step = certificate["claim"], certificate["steps"][0]
    assert {"models", "domain", "relation", "semantics", "verdict", "evidence", "checker", "reproduce",
            "limits", "glossary"} <= page.ids
    # identity: the hashes the certificate binds, and the ones recomputed from the files
    assert page.fact("original-certified-sha256") == certificate["models"]["original"]["sha256"]
    assert page.fact("reduced-certified-sha256") == certificate["models"]["reduced"]["sha256"]
    assert page.fact("original-sha256") == canonical_sha256(f)
    assert page.fact("reduced-sha256") == canonical_sha256(g)
    assert page.fact("original-hash-matches") == page.fact("reduced-hash-matches") == "yes"
    assert page.fact("original-file") == str(files / "f.onnx")
    assert page.fact("original-parameters") == f"{sum(a.size for a in f.initializers.values()):,}"
    # domain and relation
    assert page.fact("box-size").startswith("3")
    assert page.fact("epsilon") == repr(EPS)
    assert page.fact("epsilon-hex") == EPS.hex() == claim["relation"]["eps_hex"]
    # verdict and evidence
    assert page.fact("headline").startswith("EQUIVALENT")
    assert page.fact("outcome") == "equivalent"
    assert page.fact("bound-hex") == claim["bound"]
    assert float(page.fact("bound")) == float.fromhex(claim["bound"])
    assert float(page.fact("step-epsilon")) == float.fromhex(step["epsilon"])
    assert page.fact("step-method") == step["method"]
    counts = own_tree_counts(step["tree"])
    assert counts["leaves"] > 1  # the proof needed splits
    assert page.fact("leaves") == f"{counts['leaves']:,}"
    assert page.fact("regions") == f"{counts['regions']:,}"
    assert page.fact("depth") == str(counts["depth"])
    assert page.fact("input-splits") == str(counts["input"])
    assert page.fact("activation-splits") == str(counts["relu"])
    # the checker ran now and accepts it
    assert page.fact("checker-result") == "VALID"
    assert page.fact("step-status") == "accepted"
    assert "nnequiv verify" in page.fact("command") and "cert.json" in page.fact("command")


def test_html_is_self_contained_printable_and_well_formed(checked_html):
    page = Page(checked_html)
    assert not page.unbalanced and not page.stack
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", checked_html)
    assert "url(" not in checked_html and "@import" not in checked_html
    assert "@media print" in checked_html and "break-inside: avoid" in checked_html
    assert page.tags.count("svg") == 2  # neurons and parameters per layer


def test_layer_chart_has_one_bar_per_layer_and_model(checked_html, pair):
    f, _ = pair
    figure = re.search(r'<figure id="layer-chart">(.*?)</figure>', checked_html, re.S).group(1)
    charts = re.findall(r"<svg.*?</svg>", figure, re.S)
    layers = sum(1 for node in f.nodes if node.op == "Gemm")
    for svg in charts:
        root = ElementTree.fromstring(svg)
        bars = [r for r in root.iter("rect") if r.get("fill") in COLOURS[:2] and r.find("title") is not None]
        assert len(bars) == 2 * layers


# ----------------------------------------------------------------------------- escaping
def test_names_from_models_and_certificates_are_escaped(pair):
    f, g = pair
    nodes = tuple(Node(EVIL if n.name == "gemm1" else n.name, n.op, n.inputs, n.outputs, n.attrs) for n in f.nodes)
    evil = f.replace(nodes=nodes, name=EVIL)
    assert canonical_sha256(evil) == canonical_sha256(f)  # names are not part of the function
    verdict = check(evil, g, Box.uniform(-1, 1, 3), Relation.epsilon(0.02), timeout=20)
    cert = json.loads(json.dumps(verdict.certificate))
    cert["models"]["original"]["name"] = EVIL
    cert["metadata"]["host"] = EVIL
    data = build_report(certificate=cert, original=evil, reduced=g, original_path=EVIL)
    html = render(data, "html")
    assert "<script" not in html.lower()
    page = Page(html)
    assert EVIL in page.plain                      # shown as text, in the model and layer tables
    assert page.fact("original-file") == EVIL
    assert page.fact("checker-result") == "VALID"
    markdown = render(data, "md")
    outside_code = re.sub(r"^(`{3,})sh\n.*?\n\1$", "", markdown, flags=re.S | re.M)
    assert "<script" not in outside_code.lower() and "&lt;script&gt;" in outside_code
    assert f"nnequiv verify CERT.json '{EVIL}' REDUCED.onnx" in markdown  # literal inside a code fence
    assert json.loads(render(data, "json"))["models"][0]["certified_name"] == EVIL


def test_charts_escape_labels_and_are_well_formed_svg():
    svg = grouped_bars("a <b> & c", ["<i>", "2"], [Series("x<y", [1.0, None], COLOURS[0]),
                                                  Series("z", [3.0, -2.0], COLOURS[1])], tooltips=[EVIL, "t"])
    root = ElementTree.fromstring(svg)  # well-formed XML
    texts = " ".join(t for t in root.itertext())
    assert EVIL in texts and "<i>" in texts and "x<y" in texts and "<script" not in svg
    bars = [r for r in root.iter("rect") if r.find("title") is not None]
    assert len(bars) == 3  # None is not drawn
    svg = deviation_bars("d", [0.5, 0.0, 2.0], compared=[0, 2], eps=1.0)
    root = ElementTree.fromstring(svg)
    fills = [r.get("fill") for r in root.iter("rect") if r.find("title") is not None]
    assert fills == [COLOURS[0], COLOURS[2], COLOURS[0]]
    assert any(line.get("stroke-dasharray") for line in root.iter("line"))  # the epsilon line


# ----------------------------------------------------------------------------- rejected and unchecked
def test_tampered_certificate_with_models_is_reported_invalid(files, certificate, pair):
    f, g = pair
    tampered = json.loads(json.dumps(certificate))
    tampered["claim"]["bound"] = tampered["steps"][0]["epsilon"] = (1e-4).hex()
    expected = verify(tampered, f, g)
    assert not expected.valid
    data = build_report(certificate=tampered, original=f, reduced=g)
    assert data.outcome == "invalid" and data.check.status == "invalid"
    page = Page(render(data, "html"))
    assert page.fact("headline").startswith("INVALID")
    assert page.fact("checker-result") == "INVALID"
    shown = set(" ".join(v.split()) for v in page.facts["problem"])
    assert {p.reason for p in expected.problems} <= shown
    assert page.fact("step-status") == "rejected"
    assert page.fact("proof-status") == "rejected"
    assert "Bound on the deviation" not in page.plain  # the rejected bound is not on the first page
    assert "What the rejected certificate claims (NOT established)" in page.plain
    assert "INVALID" in render(data, "md")


def test_certificate_for_other_models_is_invalid(certificate, pair):
    f, g = pair
    data = build_report(certificate=certificate, original=g, reduced=f)  # swapped
    assert data.outcome == "invalid"
    page = Page(render(data, "html"))
    assert page.fact("original-hash-matches").startswith("NO")
    assert any("models/original/sha256" in p.item for p in data.check.problems)
    assert page.fact("step-status").startswith("not reached")


def test_report_without_models_says_not_rechecked(files, certificate):
    data = build_report(certificate=files / "cert.json")
    assert data.outcome == "not_rechecked" and not data.check.ran
    page = Page(render(data, "html"))
    assert page.fact("headline").startswith("NOT RE-CHECKED")
    assert page.fact("checker-result") == "NOT RE-CHECKED"
    assert page.fact("proof-status") == "claimed, not re-checked"
    assert page.fact("original-sha256").startswith("not computed")
    assert page.fact("original-certified-sha256") == certificate["models"]["original"]["sha256"]
    assert "VALID" not in page.fact("checker-result").replace("NOT RE-CHECKED", "")
    assert "Model files not given" in page.plain
    assert "svg" not in page.tags  # no per-layer chart without the models
    assert page.fact("leaves") == f"{own_tree_counts(certificate['steps'][0]['tree'])['leaves']:,}"
    assert data.sources.certificate_sha256 == hashlib.sha256((files / "cert.json").read_bytes()).hexdigest()


def test_schema_problems_are_listed_even_without_models(certificate):
    broken = json.loads(json.dumps(certificate))
    del broken["steps"]
    data = build_report(certificate=broken)
    assert data.outcome == "not_rechecked"
    assert any("steps" in p.reason for p in data.check.problems)
    assert Page(render(data, "html")).facts["problem"]


MUTATIONS = {
    "claim removed": lambda c: c.pop("claim"),
    "box not an object": lambda c: c["claim"].__setitem__("box", "everywhere"),
    "relation a number": lambda c: c["claim"].__setitem__("relation", 5),
    "bound not hex": lambda c: c["claim"].__setitem__("bound", "small"),
    "steps not objects": lambda c: c.__setitem__("steps", [1, None]),
    "tree a string": lambda c: c["steps"][0].__setitem__("tree", "trust me"),
    "unknown evidence": lambda c: c["steps"][0].__setitem__("kind", "<b>magic</b>"),
    "models a list": lambda c: c.__setitem__("models", []),
    "metadata a string": lambda c: c.__setitem__("metadata", "x"),
    "leaf value changed": lambda c: _first_leaf(c["steps"][0]["tree"]).__setitem__("value", (1e-9).hex()),
}


def _first_leaf(node):
    while "leaf" not in node:
        node = node["children"][0]
    return node


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_malformed_certificates_are_reported_never_accepted(certificate, pair, mutation):
    f, g = pair
    broken = json.loads(json.dumps(certificate))
    MUTATIONS[mutation](broken)
    checked = build_report(certificate=broken, original=f, reduced=g)
    assert checked.outcome == "invalid" and checked.check.problems
    unchecked = build_report(certificate=broken)
    assert unchecked.outcome == "not_rechecked"
    for data in (checked, unchecked):
        html = render(data, "html")
        page = Page(html)
        assert not page.unbalanced and "<b>magic" not in html
        assert page.fact("headline").startswith(("INVALID", "NOT RE-CHECKED"))
        json.loads(render(data, "json"))
        render(data, "md")


def test_chain_of_steps_is_reported_step_by_step(certificate, pair):
    f, g = pair
    chain = json.loads(json.dumps(certificate))
    f_hash = chain["models"]["original"]["sha256"]
    no_op = {"kind": "bab_tree", "from": f_hash, "to": f_hash, "epsilon": (0.0).hex(),
             "method": "differential-zonotope", "tree": {"leaf": "bound", "value": (0.0).hex()},
             "note": ["first", "step"]}
    chain["steps"].insert(0, no_op)
    assert verify(chain, f, g).valid
    data = build_report(certificate=chain, original=f, reduced=g)
    assert data.outcome == "equivalent" and [s.status for s in data.steps] == ["accepted", "accepted"]
    first, second = data.steps
    assert first.change.startswith("No change") and ("note", '2 entries: ["first", "step"]') in first.details
    assert second.change.startswith("From original to reduced")
    assert data.proof.steps_total == float.fromhex(certificate["steps"][0]["epsilon"])
    page = Page(render(data, "html"))
    assert [" ".join(v.split()) for v in page.facts["step-status"]] == ["accepted", "accepted"]
    assert all("no rule" not in s.evidence for s in data.steps)
    # the second step's tree is tampered with: the first step's evidence still held
    _first_leaf(chain["steps"][1]["tree"])["value"] = (1e-12).hex()
    statuses = [s.status for s in build_report(certificate=chain, original=f, reduced=g).steps]
    assert statuses[0].startswith("evidence accepted") and statuses[1] == "rejected"
    # a chain broken at the first step: the checker never reaches the second
    chain["steps"][0]["to"] = "0" * 64
    statuses = [s.status for s in build_report(certificate=chain, original=f, reduced=g).steps]
    assert statuses[0] == "rejected" and statuses[1].startswith("not reached")


# ----------------------------------------------------------------------------- counterexamples
def test_counterexample_is_replayed_and_plotted(files, pair):
    verdict = json.loads((files / "verdict.json").read_text())
    data = build_report(verdict=files / "verdict.json", original=files / "f.onnx", reduced=files / "g.onnx")
    cex = data.counterexample
    assert data.outcome == "not_equivalent" and cex.recheck == "confirmed"
    recorded = verdict["counterexample"]
    assert cex.input == tuple(recorded["input"])
    assert cex.deviation == pytest.approx(recorded["deviation"], rel=1e-12)
    assert max(cex.deviations[i] for i in cex.compared) == pytest.approx(recorded["deviation"], rel=1e-9)
    html = render(data, "html")
    page = Page(html)
    assert "counterexample" in page.ids and "checker" not in page.ids
    assert page.fact("cex-recheck") == "confirmed"
    assert float(page.fact("cex-float32")) == pytest.approx(recorded["float32_deviation"], rel=1e-6)
    deviation_svg = re.findall(r"<svg.*?</svg>", html, re.S)[-1]
    root = ElementTree.fromstring(deviation_svg)
    assert len([r for r in root.iter("rect") if r.find("title") is not None]) == len(recorded["original_output"])
    assert "NOT EQUIVALENT" in page.fact("headline")


def test_counterexample_without_models_is_not_rechecked_and_wrong_models_do_not_confirm(files, pair):
    f, _ = pair
    data = build_report(verdict=files / "verdict.json")
    assert data.counterexample.recheck == "not re-checked"
    assert data.domain.known is False  # a verdict file records no box
    same = build_report(verdict=files / "verdict.json", original=f, reduced=f)
    assert same.counterexample.recheck == "not confirmed" and same.outcome == "unconfirmed"
    assert "UNCONFIRMED" in Page(render(same, "html")).fact("headline")


def test_unknown_and_unproved_verdicts_claim_nothing():
    relation = Relation.epsilon(0.01).to_json()
    unknown = {"verdict": "unknown", "relation": relation, "max_deviation": {"lower": 0.004, "upper": 0.02},
               "counterexample": None, "time_s": 60.0, "stats": {"regions": 1234, "stage": "branch_and_bound"}}
    data = build_report(verdict=unknown)
    assert data.outcome == "unknown" and data.proof is None and data.counterexample is None
    page = Page(render(data, "html"))
    assert page.fact("headline").startswith("UNKNOWN")
    assert "(not certified)" in page.plain and "1,234 regions" in page.plain
    unproved = build_report(verdict={**unknown, "verdict": "equivalent"})
    assert unproved.outcome == "unproved" and "UNPROVED" in unproved.headline.title


def test_malformed_verdict_files_do_not_crash(pair):
    f, g = pair
    relation = Relation.epsilon(0.01).to_json()
    odd = {"verdict": "not_equivalent", "relation": relation, "max_deviation": [1, 2], "time_s": True,
           "stats": "none", "counterexample": {"input": ["a", None, 1], "original_output": "x",
                                               "reduced_output": [1.0], "deviation": "big"}}
    for models in ((None, None), (f, g)):
        data = build_report(verdict=odd, original=models[0], reduced=models[1])
        assert data.outcome in ("not_equivalent", "unconfirmed")
        assert data.counterexample.recheck in ("not re-checked", "error")
        for fmt in ("html", "md", "json"):
            render(data, fmt)


# ----------------------------------------------------------------------------- md and json
def test_markdown_report(files, certificate):
    text = render(build_report(certificate=files / "cert.json", original=files / "f.onnx",
                               reduced=files / "g.onnx"), "md")
    for heading in ("## Models", "## Input domain", "## Relation and ε", "## Semantics", "## Verdict",
                    "## Evidence, step by step", "## Checker result", "## Reproduce", "## Glossary"):
        assert heading in text
    assert certificate["models"]["original"]["sha256"] in text
    assert certificate["claim"]["bound"] in text
    assert "**VALID**" in text
    for line in text.splitlines():  # every table row has as many cells as its header
        if line.startswith("|"):
            cells = len(re.findall(r"(?<!\\)\|", line))
            assert cells in {3, 4, 6, 8}, line


def test_json_report_is_the_report_data(files, certificate):
    data = build_report(certificate=files / "cert.json", original=files / "f.onnx", reduced=files / "g.onnx",
                        generated_at="2000-01-01T00:00:00Z")
    document = json.loads(render(data, "json"))
    assert document == data.to_json()
    assert document["schema"] == "nnequiv/report@1" and document["generated_at"] == "2000-01-01T00:00:00Z"
    assert document["outcome"] == "equivalent" and document["check"]["status"] == "valid"
    assert document["proof"]["bound_hex"] == certificate["claim"]["bound"]
    assert document["relation"]["eps_hex"] == EPS.hex()
    step = document["steps"][0]
    assert step["tree"]["leaves"] == own_tree_counts(certificate["steps"][0]["tree"])["leaves"]
    assert [m["sha256"] for m in document["models"]] == [certificate["models"][r]["sha256"]
                                                         for r in ("original", "reduced")]


def test_write_report_picks_the_format_from_the_name(files, tmp_path):
    for name, probe in (("r.html", "<!DOCTYPE html>"), ("r.md", "# nnequiv"), ("r.json", '"schema"')):
        write_report(tmp_path / name, certificate=files / "cert.json")
        assert probe in (tmp_path / name).read_text()


# ----------------------------------------------------------------------------- domain and tree
def test_large_box_is_summarised_and_collapsed():
    rng = np.random.default_rng(7)
    f = random_mlp(rng, [40, 6, 2], name="wide")
    lower = np.linspace(-1, 0, 40)
    upper = lower + 0.5
    upper[20:] = 1.0
    verdict = check(f, f, Box.of(lower, upper), Relation.exact(), timeout=20)
    data = build_report(verdict=verdict, original=f, reduced=f)
    d = data.domain
    assert data.outcome == "equivalent" and d.large and d.size == 40
    assert (d.min_lower, d.max_lower, d.max_upper) == (-1.0, 0.0, 1.0)
    assert d.min_width == float(np.min(upper - lower)) and d.max_width == float(np.max(upper - lower))
    html = render(data, "html")
    page = Page(html)
    details = re.search(r"<details>.*?</details>", html, re.S).group(0)
    assert details.count('<td class="n">') >= 40 and "Full table: 40 of 40 dimensions" in page.plain


def test_tree_facts_count_splits_leaves_and_malformed_nodes():
    leaf = {"leaf": "bound", "value": (0.25).hex()}
    tree = {"split": {"input": 1, "at": "0x0p+0"}, "children": [
        {"split": {"relu": ["f", 0, 3]}, "children": [leaf, {"leaf": "empty", "value": "-inf"}]},
        {"split": {"relu": ["g", 1, 0]}, "children": [{"leaf": "bound", "value": (0.5).hex()}, "junk"]}]}
    facts = tree_facts(tree)
    assert (facts.regions, facts.leaves, facts.bound_leaves, facts.empty_leaves) == (7, 3, 2, 1)
    assert (facts.input_splits, facts.activation_splits) == (1, 2)
    assert (facts.activation_splits_original, facts.activation_splits_reduced) == (1, 1)
    assert facts.depth == 2 and facts.malformed == 1 and facts.max_leaf_value == 0.5
    assert facts.split_dimensions == ((1, 1),)


def test_vnnlib_source_named_in_metadata_is_shown(certificate):
    named = json.loads(json.dumps(certificate))
    named["metadata"]["vnnlib"] = "specs/prop_1.vnnlib"
    page = Page(render(build_report(certificate=named), "html"))
    assert page.fact("domain-source") == "specs/prop_1.vnnlib"


# ----------------------------------------------------------------------------- CLI
def test_cli_report_formats_and_exit_codes(files, tmp_path):
    cert, f, g = files / "cert.json", files / "f.onnx", files / "g.onnx"
    for name in ("r.html", "r.md", "r.json"):
        result = invoke("report", cert, "--original", f, "--reduced", g, "-o", tmp_path / name)
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).stat().st_size > 1000
    assert json.loads((tmp_path / "r.json").read_text())["outcome"] == "equivalent"
    result = invoke("report", cert, "-o", "-", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["outcome"] == "not_rechecked"
    result = invoke("report", "--verdict", files / "verdict.json", "-o", tmp_path / "v.md")
    assert result.exit_code == 0 and "Counterexample" in (tmp_path / "v.md").read_text()
    bad = [("report", tmp_path / "missing.json", "-o", tmp_path / "x.html"),
           ("report", cert, "--original", f, "-o", tmp_path / "x.html"),
           ("report", cert, "--original", tmp_path / "nope.onnx", "--reduced", g, "-o", tmp_path / "x.html"),
           ("report", "-o", tmp_path / "x.html"),
           ("report", "--verdict", cert, "-o", tmp_path / "x.html"),
           ("report", cert, "-o", tmp_path / "x.html", "--format", "pdf"),
           ("report", cert)]
    for args in bad:
        result = invoke(*args)
        assert result.exit_code == 3, (args, result.output)
    assert not (tmp_path / "x.html").exists()


def test_check_writes_a_report(files, tmp_path):
    f, g = files / "f.onnx", files / "g.onnx"
    cert, report = tmp_path / "c.json", tmp_path / "r.html"
    result = invoke("check", f, g, "--box", "-1:1", "--eps", "0.02", "--cert", cert, "--report", report)
    assert result.exit_code == 0, result.output
    page = Page(report.read_text())
    assert page.fact("checker-result") == "VALID"
    assert page.fact("original-file") == str(f)
    assert f"nnequiv verify {cert} {f} {g}" in page.fact("command")
    report = tmp_path / "r.md"
    result = invoke("check", f, g, "--box", "-1:1", "--eps", "1e-5", "--report", report)
    assert result.exit_code == 1
    text = report.read_text()
    assert "NOT EQUIVALENT" in text and "| dimensions | 3 |" in text
    assert "--box -1.0:1.0" in text  # the box is known to `check --report`
