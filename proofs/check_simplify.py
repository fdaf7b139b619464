"""Machine check for proofs/simplify.md: the rules the ``bias_propagation`` / ``channel_removal``
replays (nnequiv/checker/simplify_rewrites.py) rely on beyond bias_propagation.md and
channel_removal.md -- constants through per-channel ops, the border-pattern form of the spatial
bias (strides, dilations, asymmetric pads), grouped readers, Flatten blocks, removal through
BatchNorm, and why Concat / one-sided residual removal is refused."""

import itertools

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity, assert_not_identity, entries
from proofs._z3util import Q, act, dot, prove, reals, refute, relu, vec_eq, zmax


# ----------------------------------------------------------------- S1: constants through the chain
def test_per_channel_ops_map_a_constant_to_the_stated_constant():
    """Relu / LeakyRelu (the replay's case split) / max and mean of equal values."""
    a, s = z3.Reals("a s")
    prove(act(a, s) == z3.If(a >= 0, a, s * a), [s >= 0, s <= 1])
    prove(relu(a) == z3.If(a >= 0, a, Q(0)))
    prove(zmax(a, a, a, a) == a)
    prove((a + a + a + a) / 4 == a)


def test_batchnorm_of_a_constant_uses_the_exact_root():
    """BN(a) = g (a - mu) / sqrt(var + eps) + beta; with sqrt(var + eps) = r rational the value is exact."""
    a, g, mu, beta, var, eps, root = z3.Reals("a g mu beta var eps root")
    prove(g * (a - mu) / root + beta == g * (a - mu) / Q(2) + beta, [var + eps == Q(4), root * root == var + eps,
                                                                      root > 0])


def test_wrong_batchnorm_without_square_root_fails():
    a, g, mu, beta, var = z3.Reals("a g mu beta var")
    refute(g * (a - mu) / Q(2) + beta == g * (a - mu) / (var + Q(0)) + beta, [var == Q(4)])


def test_batchnorm_with_zero_gamma_is_beta_for_any_positive_root():
    """S1': with g = 0 and var + eps > 0, BN(a) = beta for every a, mu and every root r > 0 (r may be irrational)."""
    a, g, mu, beta, var, eps, root = z3.Reals("a g mu beta var eps root")
    prove(g * (a - mu) / root + beta == beta, [g == 0, var + eps > 0, root * root == var + eps, root > 0])


def test_wrong_batchnorm_with_zero_gamma_and_zero_root_is_not_beta():
    """Without var + eps > 0 the root may be 0 and the division undefined (z3 leaves x / 0 free): not beta."""
    a, g, mu, beta, var, eps, root = z3.Reals("a g mu beta var eps root")
    refute(g * (a - mu) / root + beta == beta, [g == 0, root * root == var + eps, root >= 0])


def _avg_pool_border(a, count_pad: bool):
    """2x2 window at a corner with padding 1: one tap inside the image."""
    return a / 4 if count_pad else a


def test_average_pool_without_counted_padding_keeps_a_constant():
    a = sp.Symbol("a", real=True)
    assert_identity(_avg_pool_border(a, count_pad=False), a)


def test_wrong_average_pool_counting_padding_is_not_constant():
    a = sp.Symbol("a", real=True)
    assert_not_identity(_avg_pool_border(a, count_pad=True), a, {a: 1})


# ----------------------------------------------------------------- S2: border patterns
def _conv_of_constant(kernel, a, size, pads, stride, dilation):
    """Direct ONNX conv (one input channel equal to ``a`` everywhere, zero padding, no bias)."""
    (kh, kw), (top, left, bottom, right) = kernel.shape, pads
    ext_h, ext_w = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    out_h = (size + top + bottom - ext_h) // stride + 1
    out_w = (size + left + right - ext_w) // stride + 1

    def entry(i, j):
        total = sp.Integer(0)
        for u in range(kh):
            for v in range(kw):
                r, c = i * stride + u * dilation - top, j * stride + v * dilation - left
                if 0 <= r < size and 0 <= c < size:
                    total += kernel[u, v] * a
        return total
    return sp.Matrix(out_h, out_w, entry)


def _pattern_bias(kernel, a, size, pads, stride, dilation, out_shape):
    """The replay's form: per axis, the set of kernel rows (columns) inside the image; the
    contribution is a times the kernel sum over (row set) x (column set)."""
    (kh, kw), (top, left) = kernel.shape, pads[:2]
    rows = [frozenset(u for u in range(kh) if 0 <= i * stride + u * dilation - top < size)
            for i in range(out_shape[0])]
    cols = [frozenset(v for v in range(kw) if 0 <= j * stride + v * dilation - left < size)
            for j in range(out_shape[1])]
    return sp.Matrix(*out_shape, lambda i, j: a * sum((kernel[u, v] for u in rows[i] for v in cols[j]),
                                                      sp.Integer(0)))


@pytest.mark.parametrize("pads,stride,dilation,ksize", [
    ((1, 1, 1, 1), 1, 1, 3), ((1, 1, 1, 1), 2, 1, 3), ((2, 2, 2, 2), 1, 2, 3), ((1, 0, 2, 1), 1, 1, 3),
    ((0, 0, 0, 0), 1, 1, 2), ((1, 2, 0, 1), 2, 2, 2)])
def test_spatial_bias_by_border_patterns_equals_the_conv_of_the_constant(pads, stride, dilation, ksize):
    a = sp.Symbol("a", real=True)
    kernel = entries("k", ksize, ksize)
    direct = _conv_of_constant(kernel, a, 5, pads, stride, dilation)
    assert_identity(direct, _pattern_bias(kernel, a, 5, pads, stride, dilation, direct.shape))


def test_wrong_uniform_bias_after_padded_conv_is_detected():
    """S2': the scalar fold a * sum(kernel) at every position is wrong at the border."""
    a = sp.Symbol("a", real=True)
    kernel = entries("k", 3, 3)
    direct = _conv_of_constant(kernel, a, 5, (1, 1, 1, 1), 1, 1)
    uniform = sp.Matrix(*direct.shape, lambda *_: a * sum(kernel))
    assert_identity(direct[2, 2], uniform[2, 2])
    witness = {k: 1 for k in kernel} | {a: 1}
    assert assert_not_identity(direct[0, 0], uniform[0, 0], witness) == -5


def test_wrong_pattern_ignoring_dilation_is_detected():
    """Border sets computed with dilation 1 for a dilated kernel miss taps."""
    a = sp.Symbol("a", real=True)
    kernel = entries("k", 3, 3)
    direct = _conv_of_constant(kernel, a, 5, (2, 2, 2, 2), 1, 2)
    wrong = _pattern_bias(kernel, a, 5, (2, 2, 2, 2), 1, 1, direct.shape)
    witness = {k: 1 for k in kernel} | {a: 1}
    assert_not_identity(direct, wrong, witness)


# ----------------------------------------------------------------- S3: grouped readers, Flatten blocks
def test_grouped_reader_constant_reaches_only_its_group():
    """Group g reads input channels g*C/G .. ; channel k enters outputs of group k // (C/G) through
    kernel slot k mod (C/G).  4 inputs, 2 groups, 1x1 kernels, constant on channel 2."""
    x = reals("x", 4)
    w = [reals(f"w{o}_", 2) for o in range(4)]          # (outputs, inputs per group)
    a, k = z3.Real("a"), 2
    inputs = [x[0], x[1], a, x[3]]
    out = [dot(w[o], inputs[(o // 2) * 2:(o // 2) * 2 + 2]) for o in range(4)]
    bias = [0, 0, a * w[2][k % 2], a * w[3][k % 2]]
    zeroed = [[wi if not (o // 2 == k // 2 and j == k % 2) else Q(0) for j, wi in enumerate(w[o])]
              for o in range(4)]
    reduced = [dot(zeroed[o], inputs[(o // 2) * 2:(o // 2) * 2 + 2]) + bias[o] for o in range(4)]
    prove(vec_eq(out, reduced))


def test_wrong_grouped_reader_constant_into_every_output_fails():
    x = reals("x", 4)
    w = [reals(f"w{o}_", 2) for o in range(4)]
    a = z3.Real("a")
    inputs = [x[0], x[1], a, x[3]]
    out0 = dot(w[0], inputs[0:2])
    refute(out0 == out0 + a * w[0][0])


def test_flatten_block_contribution():
    """Flatten of (C, H, W): channel k is the columns k*H*W .. (k+1)*H*W - 1."""
    h, w, c, k = 2, 2, 3, 1
    x = reals("x", c * h * w)
    v = reals("v", c * h * w)
    a = z3.Real("a")
    block = range(k * h * w, (k + 1) * h * w)
    inputs = [a if i in block else x[i] for i in range(c * h * w)]
    original = dot(v, inputs)
    reduced = z3.Sum([v[i] * x[i] for i in range(c * h * w) if i not in block]) + a * z3.Sum([v[i] for i in block])
    prove(original == reduced)


# ----------------------------------------------------------------- S4: removal
def test_removal_through_batchnorm_drops_its_parameters():
    """BN is per channel: deleting channel k from the producer, BN parameters and reader is exact
    when the reader weighs channel k with zero."""
    z = reals("z", 3)
    g, mu, beta, r = reals("g", 3), reals("mu", 3), reals("beta", 3), reals("r", 3)
    v = reals("v", 3)
    y = [relu(g[i] * (z[i] - mu[i]) / r[i] + beta[i]) for i in range(3)]
    kept = [i for i in range(3) if i != 1]
    prove(dot(v, y) == z3.Sum([v[i] * y[i] for i in kept]), [v[1] == 0] + [ri > 0 for ri in r])


@pytest.mark.parametrize("activate", [False, True])
def test_unread_channel_of_a_residual_space_is_removed_from_every_branch(activate):
    """S6: u = act(t1 + t2) (per channel), every reader weighs channel k of u, t1 and t2 with zero:
    deleting channel k from both branches, the Add and the readers is exact (no value needed)."""
    s = z3.Real("s")
    t1, t2, v, w = reals("t1_", 3), reals("t2_", 3), reals("v", 3), reals("w", 3)
    u = [act(a + b, s) if activate else a + b for a, b in zip(t1, t2)]
    original = dot(v, u) + dot(w, t1)                  # readers of the Add's output and of a branch
    kept = [i for i in range(3) if i != 1]
    reduced = z3.Sum([v[i] * u[i] for i in kept]) + z3.Sum([w[i] * t1[i] for i in kept])
    prove(original == reduced, [v[1] == 0, w[1] == 0])


def test_wrong_residual_removal_with_a_branch_reader_fails():
    """A reader of one branch (before the Add) still weighs channel k: not removable."""
    t1, t2, v, w = z3.Reals("t1 t2 v w")
    refute(v * (t1 + t2) + w * t1 == 0, [v == 0])


def test_wrong_concat_of_itself_removal_with_one_copy_read_fails():
    """Concat(h, h): channel k appears twice; zero weights on one copy do not make it removable."""
    h, v1, v2 = z3.Reals("h v1 v2")
    refute(v1 * h + v2 * h == 0, [v1 == 0])


def test_wrong_removal_on_one_residual_branch_fails():
    """u = t1 + t2 read with weight v: t1's channel zero does not make the Add channel removable."""
    t1, t2, v = z3.Reals("t1 t2 v")
    refute(v * (t1 + t2) == 0, [t1 == 0])


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_propagations_in_any_order_give_the_same_bias(order):
    """Each propagation adds V[:, k] a_k to the bias and zeroes V[:, k]: the result does not depend on
    the order of independent propagations (the replay accumulates them and rounds once)."""
    c = z3.Real("c")
    v, a = reals("v", 3), reals("a", 3)
    total = c
    for k in order:
        total = total + v[k] * a[k]
    prove(total == c + dot(v, a))
