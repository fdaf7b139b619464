"""Machine check for proofs/batchnorm_fold.md: folding inference-mode BatchNormalization
into the preceding Gemm / Conv."""

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity, assert_not_identity, conv2d, entries
from proofs._z3util import Q, prove, refute, zabs

gamma, beta, mu, bias = sp.symbols("gamma beta mu b", real=True)
var = sp.Symbol("v", nonnegative=True)
eps = sp.Symbol("epsilon", positive=True)
s = sp.Symbol("s", real=True)                     # stands for gamma / sqrt(v + eps)


def bn(t, scale=None):
    """BatchNormalization of one channel: gamma (t - mu) / sqrt(v + eps) + beta."""
    if scale is None:
        return gamma * (t - mu) / sp.sqrt(var + eps) + beta
    return scale * (t - mu) + beta


# ----------------------------------------------------------------- Gemm
def test_gemm_fold_matrix_form_symbolic_sizes():
    """S (W x + b - mu) + beta == (S W) x + (S (b - mu) + beta) for S = diag(s) (any S, in fact)."""
    m, n = sp.symbols("m n", integer=True, positive=True)
    W, x = sp.MatrixSymbol("W", m, n), sp.MatrixSymbol("x", n, 1)
    b, mu_, beta_ = (sp.MatrixSymbol(name, m, 1) for name in ("b", "mu", "beta"))
    S = sp.MatrixSymbol("S", m, m)
    assert_identity(S * (W * x + b - mu_) + beta_, (S * W) * x + (S * (b - mu_) + beta_))


def test_gemm_fold_per_channel_symbolic_width():
    n = sp.Symbol("n", integer=True, positive=True)
    j = sp.Symbol("j", integer=True)
    W, x = sp.IndexedBase("W"), sp.IndexedBase("x")
    t = sp.Sum(W[j] * x[j], (j, 0, n - 1)) + bias
    folded = sp.Sum((s * W[j]) * x[j], (j, 0, n - 1)) + (s * (bias - mu) + beta)
    assert_identity(bn(t, s), folded)


def test_gemm_fold_with_square_root():
    n = 3
    W, x = entries("w", n), entries("x", n)
    t = (W.T * x)[0] + bias
    scale = gamma / sp.sqrt(var + eps)
    folded = ((scale * W).T * x)[0] + gamma * (bias - mu) / sp.sqrt(var + eps) + beta
    assert_identity(bn(t), folded)


# ----------------------------------------------------------------- Conv
@pytest.mark.parametrize("pad,stride", [(0, 1), (1, 1), (1, 2), (2, 1)])
def test_conv_fold_every_pixel_including_borders(pad, stride):
    """BN after Conv: scale the kernel of output channel c by s_c, fold the bias; exact at every
    output position, with or without padding (BN acts after the padded conv)."""
    x = [entries(f"x{d}_", 4, 4) for d in range(2)]
    kernel = [[entries(f"k{c}{d}_", 3, 3) for d in range(2)] for c in range(2)]
    b = sp.symbols("b0 b1", real=True)
    g, bt, m_, sc = (sp.symbols(f"{name}0 {name}1", real=True) for name in ("g", "bt", "m", "sc"))
    out = conv2d(x, kernel, b, pad, stride)
    folded_kernel = [[sc[c] * kernel[c][d] for d in range(2)] for c in range(2)]
    folded_bias = [sc[c] * (b[c] - m_[c]) + bt[c] for c in range(2)]
    folded = conv2d(x, folded_kernel, folded_bias, pad, stride)
    for c in range(2):
        normalised = out[c].applyfunc(lambda t, c=c: sc[c] * (t - m_[c]) + bt[c])
        assert_identity(normalised, folded[c])


# ------------------------------------------------------------ wrong variants
def test_wrong_fold_mean_not_scaled_fails():
    w, x = sp.symbols("w x", real=True)
    assert_not_identity(bn(w * x + bias, s), (s * w) * x + (s * bias - mu + beta),
                        {w: 1, x: 1, bias: 0, mu: 1, beta: 0, s: 2})


def test_wrong_fold_weight_not_scaled_fails():
    w, x = sp.symbols("w x", real=True)
    assert_not_identity(bn(w * x + bias, s), w * x + (s * (bias - mu) + beta),
                        {w: 1, x: 1, bias: 0, mu: 0, beta: 0, s: 2})


def test_wrong_fold_variance_without_square_root_fails():
    w, x = sp.symbols("w x", real=True)
    scale = gamma / (var + eps)
    assert_not_identity(bn(w * x + bias), scale * w * x + scale * (bias - mu) + beta,
                        {w: 1, x: 1, bias: 0, mu: 0, beta: 0, gamma: 1, var: 3, eps: 1})


def test_wrong_fold_epsilon_outside_square_root_fails():
    w, x = sp.symbols("w x", real=True)
    scale = gamma / (sp.sqrt(var) + eps)
    assert_not_identity(bn(w * x + bias), scale * w * x + scale * (bias - mu) + beta,
                        {w: 1, x: 1, bias: 0, mu: 0, beta: 0, gamma: 1, var: 4, eps: 1})


def test_wrong_fold_bn_before_padded_conv_fails():
    """BN *before* a zero-padded conv cannot be folded into the conv's kernel and scalar bias:
    the padded zeros are not normalised.  Exact without padding, wrong at a border pixel."""
    x = [entries("x", 3, 3)]
    k = [[entries("k", 3, 3)]]
    sc, bt, m_ = sp.symbols("sc bt m", real=True)
    normalised = [x[0].applyfunc(lambda t: sc * (t - m_) + bt)]
    folded_bias = [(bt - sc * m_) * sum(k[0][0])]            # scalar fold of the shift
    for pad, exact in ((0, True), (1, False)):
        original = conv2d(normalised, k, [0], pad)[0]
        folded = conv2d(x, [[sc * k[0][0]]], folded_bias, pad)[0]
        if exact:
            assert_identity(original, folded)
        else:
            witness = {sym: 1 for sym in k[0][0]} | {sym: 0 for sym in x[0]} | {sc: 1, bt: 1, m_: 0}
            at_corner = assert_not_identity(original[0, 0], folded[0, 0], witness)
            assert at_corner == -5        # 4 of 9 taps read the image at a corner: 4 - 9


# ------------------------------------------------------- radius of the stored scale / shift
def test_stored_scale_within_three_and_a_half_u():
    """s_fl = fl(gamma / fl(sqrt(fl(v + eps)))) = s (1 + d3) / (t (1 + d2)) with t = sqrt(1 + d1):
    |s / s_fl - 1| = |t (1 + d2) / (1 + d3) - 1| <= 3.5 u, so |s - s_fl| <= 3.5 u |s_fl| < 4 u |s_fl|
    (the radius lowering stores).  u symbolic, u <= 2^-20."""
    t, d1, d2, d3, u = z3.Reals("t d1 d2 d3 u")
    hyps = [t >= 0, t * t == 1 + d1, zabs(d1) <= u, zabs(d2) <= u, zabs(d3) <= u, u > 0, u <= Q(2) ** -20]
    prove(zabs(t * (1 + d2) - (1 + d3)) <= Q("3.5") * u * (1 + d3), hyps)


def test_stored_shift_radius():
    """shift = fl(beta - fl(mu * s_fl)); each of the two roundings is within u of its (normal) result:
    |(beta - mu s) - shift| <= |mu| R + u (|fl(mu s_fl)| + |shift|) when |s - s_fl| <= R."""
    mu, R, s, s_fl, m, sh, b, u = z3.Reals("mu R s s_fl m sh beta u")
    hyps = [zabs(s - s_fl) <= R, zabs(m - mu * s_fl) <= u * zabs(m), zabs(sh - (b - m)) <= u * zabs(sh), u > 0]
    prove(zabs((b - mu * s) - sh) <= zabs(mu) * R + u * (zabs(m) + zabs(sh)), hyps)


def test_wrong_stored_scale_radius_two_u_fails():
    t, d1, d2, d3, u = z3.Reals("t d1 d2 d3 u")
    hyps = [t >= 0, t * t == 1 + d1, zabs(d1) <= u, zabs(d2) <= u, zabs(d3) <= u, u > 0, u <= Q(2) ** -20]
    refute(zabs(t * (1 + d2) - (1 + d3)) <= 2 * u * (1 + d3), hyps)
