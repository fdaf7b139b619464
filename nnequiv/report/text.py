"""Fixed wording of a report: semantics, evidence kinds, limits and the glossary.

Kept in one place so the HTML, Markdown and JSON forms say exactly the same thing.
The statements follow ``proofs/README.md`` (semantics), ``nnequiv/spec/box.py``
(outward rounding) and ``nnequiv/spec/relation.py`` (relations).
"""

from __future__ import annotations

__all__ = ["SEMANTICS", "FLOAT32_CAVEAT", "EVIDENCE", "LIMITS", "GLOSSARY", "RELATION_STATEMENT", "evidence_text"]

_REPLAYED = ("The checker replays the rewrite on the step's source network with exact precondition checks and "
             "requires the result's canonical SHA-256 to equal the step's target (intermediate models are "
             "recomputed, never shipped). If a rewritten weight is not exactly its real value, the deviation "
             "this causes on the box is bounded by the differential zonotope analysis and must not exceed the "
             "step's epsilon")

SEMANTICS: tuple[str, ...] = (
    "Both networks are read as mathematical functions over the real numbers. Every stored number "
    "(weights, biases, attributes, whether stored as float32, float16 or float64) is taken at its "
    "exact value: a floating-point number is an exact dyadic rational. Each operator is its "
    "mathematical definition (Gemm is W x + b over the reals, Relu is max(z, 0)); nothing is rounded.",
    "Where that definition needs a number that is not a float (1/c of a division, a BatchNorm scale "
    "gamma / sqrt(var + eps)), the checker encloses the real value by a float and a radius.",
    "The checker computes in float64 but rounds every bound outward, so each bound it accepts "
    "over-approximates the exact real quantity (proofs/rounding.md).",
    "The statement covers every real input x in the box, not only sampled points. The box bounds are "
    "float64 numbers taken exactly; decimal bounds were rounded outward when the box was stated, so "
    "the box that was verified contains the stated one.",
)

FLOAT32_CAVEAT = (
    "A proof over the reals does NOT cover the rounding of deployed execution. Running either network "
    "in float32 (onnxruntime, GPU kernels, fused or reordered operations) rounds intermediate results, "
    "so its outputs differ from the real-valued outputs the proof speaks about, and the deviation "
    "observed in deployment can exceed the proved bound by the float32 rounding errors of both "
    "networks. This report does not bound those errors."
)

RELATION_STATEMENT = {
    "eps": "For every input x in the box and every compared output i: |f_i(x) - g_i(x)| <= epsilon "
           "(L-infinity norm; f is the original, g the reduced network).",
    "exact": "For every input x in the box and every compared output i: f_i(x) = g_i(x) exactly, "
             "in real arithmetic.",
    "top1": "For every input x in the box, the set of compared outputs at which f attains its maximum "
            "equals the set at which g attains its maximum (a tie counts as a violation unless both "
            "networks have the same set of maximal outputs).",
}

EVIDENCE: dict[str, str] = {
    "bab_tree": "Branch-and-bound split tree over the input box. The checker rebuilds every region from "
                "the recorded splits (input bisections and activation-phase splits cover their parent), "
                "re-analyses each leaf with the differential zonotope analysis over the two networks, "
                "and requires each leaf to meet the relation and reproduce its certified value "
                "(proofs/bab_tree.md, proofs/differential.md, proofs/top1.md).",
    "batchnorm_fold": "Structural rewrite: BatchNormalization folded into the preceding Gemm or Conv "
                      "(W' = diag(s) W, b' = s (b - mean) + beta, s = gamma / sqrt(var + eps)). " + _REPLAYED +
                      " (proofs/batchnorm_fold.md, proofs/pwl_radius.md).",
    "affine_fold": "Structural rewrite: consecutive affine layers with no activation between them merged into "
                   "one (W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2)). " + _REPLAYED + " (proofs/affine_fold.md).",
    "lumping": "Structural rewrite: a neuron whose incoming weights and bias are rho > 0 times another neuron's "
               "(same activation, same layer) is removed and its outgoing weights, times rho, are added to that "
               "neuron's (positive homogeneity of ReLU / LeakyReLU). " + _REPLAYED +
               " (proofs/lumping.md, proofs/homogeneity.md).",
    "linear_merge": "Structural rewrite: a neuron whose incoming weights and bias are an exact rational "
                    "combination sum c_i (W_i, b_i) of kept neurons' is removed and c_i times its outgoing "
                    "weights are added to each neuron i's. This holds only where the combined pre-activations "
                    "share a sign (with a negative c_i, the removed neuron's too): the checker verifies that "
                    "the recorded sub-boxes cover the box and re-derives, on each, bounds showing the shared "
                    "sign. " + _REPLAYED + " (proofs/linear_merge.md).",
}

LIMITS: tuple[str, ...] = (
    "Inputs outside the box: nothing is claimed for them.",
    "Float32 (or other finite-precision) execution of the deployed networks: see the semantics section.",
    "Other model files: the proof is bound to the two canonical SHA-256 hashes shown; any change to "
    "the weights, operators or wiring makes the certificate inapplicable.",
    "Pre- and post-processing outside the ONNX graphs (input normalisation done by application code, "
    "decoding of outputs) is not part of the compared functions.",
    "Certificate metadata (tool, host, creation time, statistics) is recorded by the tool that made "
    "the certificate and is never used to decide validity.",
)

GLOSSARY: tuple[tuple[str, str], ...] = (
    ("original / reduced", "f, the reference network, and g, the compressed network that should compute "
                           "the same function."),
    ("box", "The input domain: every input x with lower[i] <= x[i] <= upper[i] for each flattened input "
            "dimension i."),
    ("ε-equivalence (eps)", "|f_i(x) - g_i(x)| <= epsilon for every x in the box and every compared output i."),
    ("exact equivalence", "f(x) = g(x) for every x in the box, in real arithmetic."),
    ("top-1", "Both networks pick the same largest output (class) for every x in the box; ties count "
              "as violations unless both networks tie on the same outputs."),
    ("proved bound", "An upper bound on the deviation max |f_i(x) - g_i(x)| over the box, established by "
                     "the evidence (for top-1: the negated smallest certified margin, negative when proved)."),
    ("certificate", "A JSON file binding two networks (by canonical SHA-256), a box, a relation and the "
                    "evidence; the trusted checker re-verifies it without any solver or search."),
    ("checker", "nnequiv's small trusted verifier (nnequiv.checker.verify); it decides validity and "
                "ignores the metadata."),
    ("canonical SHA-256", "A hash of what a network computes: operators, wiring, attributes and exact "
                          "weight bytes, not names or file layout. Differs from the SHA-256 of the file."),
    ("step", "One link of the certificate's chain from the original to the reduced network; the "
             "epsilons of the steps add up (triangle inequality)."),
    ("evidence kind", "The kind of argument a step carries (e.g. bab_tree); each kind has one checker "
                      "function and a written proof under proofs/."),
    ("region", "A part of the box examined by branch and bound: a sub-box, possibly with activation "
               "phases fixed. Every node of the split tree is a region."),
    ("leaf", "A region that was closed: proved to satisfy the relation (bound leaf) or shown empty "
             "(empty leaf: the fixed activation phases cannot occur together)."),
    ("input split", "Bisection of a region along one input dimension; the two halves cover it."),
    ("activation split", "Splitting a region by the sign of one neuron's pre-activation (z <= 0 or "
                         "z >= 0); in each half that neuron is linear."),
    ("differential zonotope", "The bound analysis the checker runs on each region: it tracks f, g and "
                              "their difference g - f with shared symbols, so common parts cancel."),
    ("outward rounding", "Rounding a lower bound down and an upper bound up, so a rounded interval "
                         "always contains the exact one."),
    ("hex float", "The exact text form of a float64 (Python float.hex), e.g. 0x1.999999999999ap-5; "
                  "the decimal shown beside it is the shortest decimal that identifies the same float."),
    ("counterexample", "An input in the box where the relation fails, confirmed by replaying both "
                       "networks in exact rational arithmetic."),
    ("float32 deviation", "The deviation at the same input when both networks are run by onnxruntime "
                          "in float32: what deployment would observe there."),
    ("not re-checked", "The report was made without the model files, so the checker could not run: "
                       "the certificate's claims are shown as claims only."),
)


def evidence_text(kind: str, registered: bool) -> str:
    """What a step of ``kind`` proves and how; ``registered``: the checker has a rule for the kind."""
    if not registered:
        return (f"Evidence kind {kind!r} has no rule in this version's checker: a certificate using it "
                f"cannot be accepted.")
    return EVIDENCE.get(kind, f"Checked by the trusted checker's {kind!r} rule (proofs/README.md lists "
                              f"the proof of each rule).")
