"""Machine check for proofs/bias_propagation.md: removing a dead (constant) neuron / channel
and propagating its constant output into the next layer's bias."""

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity, assert_not_identity, conv2d, entries
from proofs._z3util import Q, act, dot, prove, real_matrix, reals, refute, vec_eq


# ----------------------------------------------------------------- Gemm
def test_gemm_dead_neuron_symbolic_width():
    """Neuron 0 has zero incoming weights, so y_0 = sigma(b_0) =: a for every input.
    V y + c == V' y' + (c + V[:,0] a) with neuron 0 removed (symbolic layer width m)."""
    m = sp.Symbol("m", integer=True, positive=True)
    i = sp.Symbol("i", integer=True)
    V, y = sp.IndexedBase("V"), sp.IndexedBase("y")
    a, c = sp.symbols("a c", real=True)
    rest = sp.Sum(V[i] * y[i], (i, 1, m - 1))
    assert_identity(V[0] * a + rest + c, rest + (c + V[0] * a))


@pytest.mark.parametrize("n,m,p,k", [(1, 1, 1, 0), (2, 2, 1, 1), (2, 3, 2, 0), (1, 3, 2, 2)])
def test_gemm_dead_neuron_end_to_end(n, m, p, k):
    h, W, b, s = reals("h", n), real_matrix("W", m, n), reals("b", m), reals("s", m)
    V, c = real_matrix("V", p, m), reals("c", p)
    hyps = [W[k][i] == 0 for i in range(n)]
    y = [act(dot(W[r], h) + b[r], s[r]) for r in range(m)]
    original = [dot(V[a], y) + c[a] for a in range(p)]
    new_bias = [c[a] + V[a][k] * act(b[k], s[k]) for a in range(p)]
    reduced = [z3.Sum([V[a][r] * y[r] for r in range(m) if r != k] or [Q(0)]) + new_bias[a]
               for a in range(p)]
    prove(vec_eq(original, reduced), hyps)


def test_gemm_zero_outgoing_weights_removal():
    h, W, b, s = reals("h", 2), real_matrix("W", 2, 2), reals("b", 2), reals("s", 2)
    V, c = real_matrix("V", 2, 2), reals("c", 2)
    y = [act(dot(W[r], h) + b[r], s[r]) for r in range(2)]
    original = [dot(V[a], y) + c[a] for a in range(2)]
    reduced = [V[a][0] * y[0] + c[a] for a in range(2)]
    prove(vec_eq(original, reduced), [V[a][1] == 0 for a in range(2)])


def test_wrong_gemm_dead_neuron_dropped_without_bias_fails():
    h, b, v, c = z3.Reals("h b v c")
    refute(v * act(0 * h + b, 0) + c == c)


def test_wrong_gemm_dead_neuron_bias_not_activated_fails():
    # propagating V b instead of V sigma(b)
    b, v, c = z3.Reals("b v c")
    refute(v * act(b, Q("0.1")) + c == c + v * b)


# ----------------------------------------------------------------- Conv
def _valid_tap_sum(kernel: sp.Matrix, r: int, q: int, height: int, width: int, pad: int, stride: int):
    """sum of the kernel taps that read inside the (unpadded) image at output position (r, q)."""
    kh, kw = kernel.shape
    return sum((kernel[u, v] for u in range(kh) for v in range(kw)
                if 0 <= r * stride + u - pad < height and 0 <= q * stride + v - pad < width),
               sp.Integer(0))


def _constant_channel_setting(pad, stride, ksize=3, size=4):
    """Two input channels: channel 0 a variable image, channel 1 constant a = sigma(b_k)."""
    a, c = sp.symbols("a c", real=True)
    x0 = entries("x", size, size)
    const = sp.Matrix(size, size, lambda *_: a)
    k0, k1 = entries("k", ksize, ksize), entries("kk", ksize, ksize)
    original = conv2d([x0, const], [[k0, k1]], [c], pad, stride)[0]
    without = lambda bias: conv2d([x0], [[k0]], [bias], pad, stride)[0]   # channel 1 removed
    return a, c, x0, k1, original, without


@pytest.mark.parametrize("pad,stride,ksize", [(1, 1, 3), (1, 2, 3), (2, 1, 3), (1, 1, 2), (0, 1, 3), (0, 2, 2)])
def test_conv_constant_channel_spatial_bias_is_exact(pad, stride, ksize):
    a, c, x0, k1, original, without = _constant_channel_setting(pad, stride, ksize)
    size = x0.shape[0]
    spatial = sp.Matrix(*original.shape,
                        lambda r, q: c + a * _valid_tap_sum(k1, r, q, size, size, pad, stride))
    assert_identity(original, without(spatial))


@pytest.mark.parametrize("stride,ksize", [(1, 3), (2, 3), (1, 2), (2, 2)])
def test_conv_constant_channel_scalar_fold_exact_without_padding(stride, ksize):
    a, c, x0, k1, original, without = _constant_channel_setting(0, stride, ksize)
    assert_identity(original, without(c + a * sum(k1)))


def test_conv_dead_channel_is_constant_even_with_padding():
    """Zero kernel for output channel k: the output channel is b_k at every position."""
    x = [entries("x", 4, 4)]
    bk = sp.Symbol("b_k", real=True)
    out = conv2d(x, [[sp.zeros(3, 3)]], [bk], pad=1)[0]
    assert_identity(out, sp.Matrix(*out.shape, lambda *_: bk))


def test_wrong_conv_scalar_bias_fold_with_padding_fails_at_border():
    a, c, x0, k1, original, without = _constant_channel_setting(1, 1, 3)
    naive = without(c + a * sum(k1))
    assert_identity(original[1, 1], naive[1, 1])                 # interior pixel: fine
    witness = {sym: 1 for sym in k1} | {a: 1, c: 0}
    at_corner = assert_not_identity(original[0, 0], naive[0, 0], witness)
    assert at_corner == -5                                       # 4 taps read the image, 9 were folded


def test_wrong_conv_scalar_bias_fold_z3_counterexample():
    """1-D version: kernel (k0, k1, k2), padding 1, constant input a; position 0 only sees k1, k2."""
    k = reals("k", 3)
    a, c = z3.Reals("a c")
    at_border = c + a * (k[1] + k[2])                 # what the padded conv computes at position 0
    refute(at_border == c + a * z3.Sum(k))            # the scalar fold's claim
