"""Composition through a shared prefix and suffix (``nnequiv.engine.compose``, ``checker.composition``,
``proofs/cut_composition.md``): decided pairs verify, bounds hold by sampling, tampering is named."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.checker.cut import crossing, split
from nnequiv.checker.cut_bounds import prefix_enclosure, suffix_lipschitz
from nnequiv.checker.perturbation import perturbation_bound
from nnequiv.engine.check import check
from nnequiv.engine.size_guard import too_large
from nnequiv.hexfloat import parse_hex
from nnequiv.onnx_io import canonical_sha256
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation
from nnequiv.structure.cut import common_cut
from tests.helpers.pairs import mlp, random_layers
from tests.helpers.simplify_nets import resnet, vgg


def _with(net, name, **arrays):
    init = dict(net.initializers)
    init.update({key: np.asarray(value, init[key].dtype) for key, value in arrays.items()})
    return net.replace(initializers=init, name=name)


@pytest.fixture(scope="module")
def conv_exact():
    """A conv trunk too large for the dense engine; the head's neuron 5 never fires (bias -1e6) and the
    reduced model drops its outgoing weights: equal in real arithmetic, weights differ."""
    f = vgg(np.random.default_rng(0), widths=(16, 32), image=(3, 32, 32), dense=True, hidden=16)
    bias = np.array(f.initializers["fc1_b"])
    bias[5] = -1e6
    f = _with(f, "original", fc1_b=bias)
    head = np.array(f.initializers["fc2_w"])
    head[:, 5] = 0.0
    g = _with(f, "reduced", fc2_w=head)
    box = Box.uniform(0.0, 1.0, f.input.size)
    return f, g, box, check(f, g, box, Relation.exact(), timeout=60)


@pytest.fixture(scope="module")
def dense_eps():
    """A wide dense trunk; layer 3 (of 5) perturbed by 1e-3; eps half the structural stage's bound."""
    rng = np.random.default_rng(1)
    layers = random_layers(rng, [10, 128, 128, 128, 16, 4])
    changed = [(w.copy(), b.copy()) for w, b in layers]
    changed[3] = (layers[3][0] + 1e-3 * rng.standard_normal(layers[3][0].shape), layers[3][1])
    f, g = mlp(layers, "original"), mlp(changed, "reduced")
    box = Box.uniform(-1.0, 1.0, 10)
    eps = perturbation_bound(f, g, box).value / 2
    return f, g, box, eps, check(f, g, box, Relation.epsilon(eps), timeout=60)


def _sampled_deviation(f, g, box, count=4000, outputs=None):
    x = np.vstack([box.sample(count, 7), box.corners(64, 7)])
    diff = np.abs(f.evaluate(x) - g.evaluate(x)).reshape(len(x), -1)
    return float(np.max(diff if outputs is None else diff[:, list(outputs)]))


# ------------------------------------------------------------------------------ decided pairs
def test_conv_trunk_exact_head_is_decided_by_composition(conv_exact):
    f, g, box, verdict = conv_exact
    assert too_large(f, g) is not None                    # the whole pair cannot go to the numeric engine
    assert verdict.verdict == "equivalent", verdict.stats
    info = verdict.stats["composition"]
    assert verdict.stats["stage"] == "composition" and info["used"] and verdict.upper == 0.0
    assert info["prefix_nodes"][:3] == ["conv0a", "conv0a_relu", "conv0b"] and info["enclosure"] == "interval"
    assert verify(verdict.certificate, f, g).valid
    x = box.sample(64, 3)
    assert np.array_equal(f.evaluate(x), g.evaluate(x))


def test_top1_is_carried_by_a_top1_middle_without_a_suffix(conv_exact):
    f, g, box, _ = conv_exact
    verdict = check(f, g, box, Relation.top1(), timeout=60)
    assert verdict.verdict == "equivalent" and verdict.stats["stage"] == "composition", verdict.stats
    step = verdict.certificate["steps"][0]
    assert step["suffix_nodes"] == 0 and step["middle"]["claim"]["relation"]["kind"] == "top1"
    assert verify(verdict.certificate, f, g).valid
    x = box.sample(64, 4)
    assert np.array_equal(np.argmax(f.evaluate(x).reshape(64, -1), 1), np.argmax(g.evaluate(x).reshape(64, -1), 1))


def test_prefix_enclosure_contains_sampled_prefix_outputs(conv_exact):
    f, _, box, verdict = conv_exact
    step = verdict.certificate["steps"][0]
    prefix = split(f, step["prefix_nodes"], step["suffix_nodes"]).prefix
    lower = np.array([parse_hex(v) for v in step["prefix_box"]["lower"]])
    upper = np.array([parse_hex(v) for v in step["prefix_box"]["upper"]])
    outputs = prefix.evaluate(np.vstack([box.sample(200, 5), box.corners(16, 5)])).reshape(216, -1)
    assert np.all(outputs >= lower) and np.all(outputs <= upper)


def test_dense_eps_through_a_suffix_is_sound_by_sampling(dense_eps):
    f, g, box, eps, verdict = dense_eps
    assert verdict.verdict == "equivalent", verdict.stats
    info = verdict.stats["composition"]
    assert info["used"] and info["suffix_nodes"] == ["act3", "gemm4"] and info["enclosure"] == "zonotope"
    assert info["prefix_nodes"][-1] == "act2" and info["lipschitz"] >= 1.0
    assert _sampled_deviation(f, g, box) <= verdict.upper <= eps
    assert verify(verdict.certificate, f, g).valid


def test_suffix_lipschitz_bound_holds_by_sampling(dense_eps):
    f, _, _, _, verdict = dense_eps
    step = verdict.certificate["steps"][0]
    suffix = split(f, step["prefix_nodes"], step["suffix_nodes"]).suffix
    bound = suffix_lipschitz(suffix, None)
    assert parse_hex(step["lipschitz"]) >= bound
    rng = np.random.default_rng(2)
    u = rng.normal(0, 3, (500, suffix.input.size))
    v = u + rng.normal(0, 0.1, u.shape) * rng.integers(0, 2, u.shape)
    change = np.max(np.abs(suffix.evaluate(u) - suffix.evaluate(v)).reshape(500, -1), axis=1)
    assert np.all(change <= bound * np.max(np.abs(u - v), axis=1) * (1 + 1e-12))


def test_verify_cli_accepts_the_certificate_and_check_names_the_layers(dense_eps, tmp_path):
    from click.testing import CliRunner

    from nnequiv.certificate import save_certificate
    from nnequiv.cli import main
    from nnequiv.onnx_io import save_onnx

    f, g, _, eps, verdict = dense_eps
    save_onnx(f, tmp_path / "f.onnx")
    save_onnx(g, tmp_path / "g.onnx")
    save_certificate(verdict.certificate, tmp_path / "c.json")
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", str(tmp_path / "c.json"), str(tmp_path / "f.onnx"), str(tmp_path / "g.onnx")],
                       standalone_mode=False)
    assert ok.return_value == 0, ok.output
    shown = runner.invoke(main, ["check", str(tmp_path / "f.onnx"), str(tmp_path / "g.onnx"), "--box", "-1:1",
                                 "--eps", repr(eps)], standalone_mode=False)
    assert shown.return_value == 0, shown.output
    text = " ".join(shown.output.split())                # rich wraps long lines
    assert ("decided by composition: shared prefix 6 nodes (gemm0 .. act2), "
            "shared suffix 2 nodes (act3 .. gemm4)") in text


# ------------------------------------------------------------------------------ violations
def test_middle_violation_is_not_a_counterexample_of_the_pair(conv_exact):
    """Neuron 5 fires in the (loose) prefix box but, with its bias just above the sampled reach, not on the
    samples: the middle is refuted on B' while the whole pair needs a replayed input of its own."""
    f, _, box, _ = conv_exact
    parts = split(f, 11, 0)                             # the 11 trunk nodes: the prefix output feeds fc1
    reach = parts.prefix.evaluate(box.sample(300, 11)).reshape(300, -1)
    w1 = np.asarray(f.initializers["fc1_w"], np.float64)
    bias = np.array(f.initializers["fc1_b"])
    bias[5] = -1.5 * float(np.max(np.abs(reach @ w1[5])))
    f_live = _with(f, "original", fc1_b=bias)
    head = np.array(f.initializers["fc2_w"])
    head[:, 5] = 0.0
    g_live = _with(f_live, "reduced", fc2_w=head)
    verdict = check(f_live, g_live, box, Relation.exact(), timeout=20)
    assert verdict.verdict in ("unknown", "not_equivalent"), verdict.stats
    assert verdict.stats["composition"]["middle_verdict"]["verdict"] == "not_equivalent"
    if verdict.verdict == "not_equivalent":             # only with an input of the whole pair
        x = np.asarray(verdict.counterexample.input)[None]
        assert not np.array_equal(f_live.evaluate(x), g_live.evaluate(x))


def test_non_equivalent_head_is_refuted_on_the_whole_pair():
    rng = np.random.default_rng(4)
    layers = random_layers(rng, [6, 64, 64, 8, 3])
    changed = [(w.copy(), b.copy()) for w, b in layers]
    changed[-1] = (layers[-1][0] * 1.5, layers[-1][1])
    f, g = mlp(layers, "original"), mlp(changed, "reduced")
    box = Box.uniform(-1.0, 1.0, 6)
    verdict = check(f, g, box, Relation.epsilon(1e-3), timeout=20)
    assert verdict.verdict == "not_equivalent"
    cex = verdict.counterexample
    assert cex is not None and cex.deviation > 1e-3
    x = np.asarray(cex.input)[None]
    assert np.max(np.abs(f.evaluate(x) - g.evaluate(x))) > 1e-3


# ------------------------------------------------------------------------------ the cut search
def test_cuts_avoid_residual_blocks_and_are_single_tensors():
    """Only block 1's inner conv differs: the prefix ends after block 0, the suffix starts at block 1's
    last Relu (inside a block two tensors are live: no single-tensor cut)."""
    f = resnet(np.random.default_rng(5), width=8, blocks=2)
    g = _with(f, "reduced", block1a_w=np.asarray(f.initializers["block1a_w"]) * 0.5)
    cut = common_cut(f, g)
    names = [n.name for n in f.nodes]
    assert cut.prefix_nodes == names.index("add0_relu") + 1
    assert cut.suffix_nodes[0] == len(names) - names.index("add1_relu")
    for net in (f, g):
        assert len(crossing(net, cut.prefix_nodes)) == 1
        assert len(crossing(net, len(net.nodes) - cut.suffix_nodes[0])) == 1
    both_ends = _with(g, "reduced", stem_w=np.asarray(f.initializers["stem_w"]) * 0.5,
                      fc_w=np.asarray(f.initializers["fc_w"]) * 0.5)
    assert not common_cut(f, both_ends).useful and common_cut(f, both_ends).reason


# ------------------------------------------------------------------------------ tamper matrix
def _shrink_box(step):
    step["prefix_box"]["upper"][0] = step["prefix_box"]["lower"][0]


def _lower_lipschitz(step):
    step["lipschitz"] = (parse_hex(step["lipschitz"]) / 2).hex()


def _raise_middle_epsilon(step):
    step["middle_epsilon"] = (parse_hex(step["middle_epsilon"]) * 2).hex()


def _move_cut(step):
    step["prefix_nodes"] -= 2


def _alter_nested(step):
    nested = step["middle"]["steps"][0]
    nested["epsilon"] = (parse_hex(nested["epsilon"]) / 4).hex()


def _nested_top1(step):
    step["middle"]["claim"]["relation"] = Relation.top1().to_json()


def _unknown_enclosure(step):
    step["enclosure"] = "guess"


@pytest.mark.parametrize("tamper, item", [
    (_shrink_box, "steps/0/prefix_box"), (_lower_lipschitz, "steps/0/lipschitz"),
    (_raise_middle_epsilon, "steps/0/middle_epsilon"), (_move_cut, "prefix_nodes"),
    (_alter_nested, "steps/0/middle/"), (_nested_top1, "steps/0/middle/claim/relation"),
    (_unknown_enclosure, "steps/0/enclosure")])
def test_tampered_composition_step_is_rejected(dense_eps, tamper, item):
    f, g, _, _, verdict = dense_eps
    certificate = copy.deepcopy(verdict.certificate)
    tamper(certificate["steps"][0])
    report = verify(certificate, f, g)
    assert not report.valid
    assert any(item in f"{p.item}: {p.reason}" for p in report.problems), report.problems


@pytest.mark.parametrize("layer, item", [("w0", "steps/0/prefix_nodes"), ("w4", "steps/0/suffix_nodes")])
def test_changed_shared_layer_is_rejected_even_with_matching_hashes(dense_eps, layer, item):
    """A prefix / suffix weight changed in the reduced model, the certificate re-pointed at it."""
    f, g, _, _, verdict = dense_eps
    weight = np.array(g.initializers[layer])
    weight[0, 0] += 1e-6
    changed = _with(g, "changed", **{layer: weight})
    certificate = copy.deepcopy(verdict.certificate)
    digest = canonical_sha256(changed)
    certificate["models"]["reduced"]["sha256"] = digest
    certificate["steps"][0]["to"] = digest
    report = verify(certificate, f, changed)
    assert not report.valid
    assert any(p.item == item and "not the same function" in p.reason for p in report.problems), report.problems


def test_enclosure_methods_agree_on_containment(dense_eps):
    f, _, box, _, verdict = dense_eps
    prefix = split(f, verdict.certificate["steps"][0]["prefix_nodes"], 0).prefix
    x = np.vstack([box.sample(500, 9), box.corners(32, 9)])
    reach = prefix.evaluate(x).reshape(len(x), -1)
    for method in ("interval", "zonotope"):
        lower, upper = prefix_enclosure(prefix, box, method)
        assert np.all(reach >= lower) and np.all(reach <= upper), method
