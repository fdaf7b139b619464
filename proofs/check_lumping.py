"""Machine check for proofs/lumping.md: proportional exact lumping (pair, class, multi-member)."""

import itertools

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity, assert_not_identity
from proofs._z3util import act, dot, prove, real_matrix, reals, refute, relu, value, vec_eq, zmax


# --------------------------------------------------------------- sympy part
def test_pair_preactivations_proportional_symbolic_width():
    """W_k = rho W_j and b_k = rho b_j  =>  z_k = rho z_j, for a symbolic input width n."""
    n = sp.Symbol("n", integer=True, positive=True)
    i = sp.Symbol("i", integer=True)
    W, h = sp.IndexedBase("W"), sp.IndexedBase("h")
    rho, bj = sp.Symbol("rho", positive=True), sp.Symbol("b_j")
    z_j = sp.Sum(W[0, i] * h[i], (i, 0, n - 1)) + bj
    z_k = sp.Sum(rho * W[0, i] * h[i], (i, 0, n - 1)) + rho * bj     # row k := rho * row j
    assert_identity(z_k, rho * z_j)


def test_pair_reduction_preserves_next_layer_symbolic_width():
    """y_k = rho y_j  =>  V y + c  ==  V' y' + c  where k is dropped and V'_{:,j} = V_{:,j} + rho V_{:,k}.
    Neurons are numbered so that j = 0 and k = 1; the other m - 2 neurons are summed symbolically."""
    m = sp.Symbol("m", integer=True, positive=True)
    i = sp.Symbol("i", integer=True)
    V, y = sp.IndexedBase("V"), sp.IndexedBase("y")
    rho, c, yj = sp.Symbol("rho", positive=True), sp.Symbol("c"), sp.Symbol("y_j")
    rest = sp.Sum(V[i] * y[i], (i, 2, m - 1))
    original = rest + V[0] * yj + V[1] * (rho * yj) + c
    reduced = rest + (V[0] + rho * V[1]) * yj + c
    assert_identity(original, reduced)


def test_wrong_reduction_missing_rho_factor_symbolic():
    V0, V1, rho, yj, c = sp.symbols("V0 V1 rho y_j c")
    original = V0 * yj + V1 * (rho * yj) + c
    reduced = (V0 + V1) * yj + c                                      # forgot the factor rho
    assert_not_identity(original, reduced, {V0: 0, V1: 1, rho: 2, yj: 1, c: 0})


# ------------------------------------------------------------------ z3 part
def _pair_network(n, m, p, j, k, *, scale_bias=True, next_factor=True, same_slope=True):
    """Original and reduced next-layer pre-activations for a two-layer fragment."""
    h = reals("h", n)
    W = real_matrix("W", m, n)
    b = reals("b", m)
    s = reals("s", m)
    V = real_matrix("V", p, m)
    c = reals("c", p)
    rho = z3.Real("rho")
    hyps = [W[k][i] == rho * W[j][i] for i in range(n)]
    hyps.append(b[k] == (rho * b[j] if scale_bias else b[j]))
    if same_slope:
        hyps.append(s[k] == s[j])
    z = [dot(W[r], h) + b[r] for r in range(m)]
    y = [act(z[r], s[r]) for r in range(m)]
    original = [dot(V[a], y) + c[a] for a in range(p)]
    factor = rho if next_factor else 1
    reduced = [z3.Sum([(V[a][r] + (factor * V[a][k] if r == j else 0)) * y[r] for r in range(m) if r != k])
               + c[a] for a in range(p)]
    return rho, hyps, original, reduced


PAIR_CASES = [(n, m, p, j, k) for n in (1, 2) for m in (2, 3) for p in (1, 2)
              for j, k in itertools.permutations(range(m), 2) if (j, k) in ((0, 1), (1, 0), (0, m - 1))]


@pytest.mark.parametrize("n,m,p,j,k", PAIR_CASES)
def test_pair_lumping_end_to_end(n, m, p, j, k):
    rho, hyps, original, reduced = _pair_network(n, m, p, j, k)
    prove(vec_eq(original, reduced), rho > 0, hyps)


def test_wrong_pair_lumping_negative_rho_fails():
    rho, hyps, original, reduced = _pair_network(1, 2, 1, 0, 1)
    model = refute(vec_eq(original, reduced), rho < 0, hyps)
    assert value(model, rho) < 0


def test_wrong_pair_lumping_unscaled_bias_fails():
    rho, hyps, original, reduced = _pair_network(1, 2, 1, 0, 1, scale_bias=False)
    refute(vec_eq(original, reduced), rho > 0, hyps)


def test_wrong_pair_lumping_missing_factor_fails():
    rho, hyps, original, reduced = _pair_network(1, 2, 1, 0, 1, next_factor=False)
    refute(vec_eq(original, reduced), rho > 0, hyps)


def test_wrong_pair_lumping_different_activations_fails():
    rho, hyps, original, reduced = _pair_network(1, 2, 1, 0, 1, same_slope=False)
    refute(vec_eq(original, reduced), rho > 0, hyps)


@pytest.mark.parametrize("size", [2, 3])
def test_multi_member_class_end_to_end(size):
    """Class {0, 1, .., size-1} with representative 0 and factors rho_r (rho_0 = 1)."""
    n, m, p = 2, size, 2
    h, W, b = reals("h", n), real_matrix("W", m, n), reals("b", m)
    V, c, rho, s = real_matrix("V", p, m), reals("c", p), reals("rho", m), z3.Real("s")
    hyps = [rho[0] == 1] + [r > 0 for r in rho]
    hyps += [W[r][i] == rho[r] * W[0][i] for r in range(1, m) for i in range(n)]
    hyps += [b[r] == rho[r] * b[0] for r in range(1, m)]
    y = [act(dot(W[r], h) + b[r], s) for r in range(m)]
    original = [dot(V[a], y) + c[a] for a in range(p)]
    reduced = [z3.Sum([rho[r] * V[a][r] for r in range(m)]) * y[0] + c[a] for a in range(p)]
    prove(vec_eq(original, reduced), hyps)


# --------------------------------------------------------------- class version
def _partitions(items):
    items = list(items)
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        yield [[first]] + part
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]


CLASS_CASES = [(n, tuple(map(tuple, part))) for n in (2, 3) for part in _partitions(range(n))
               if any(len(block) > 1 for block in part)]


def _class_setting(n, part, *, weighted=True, ones=False):
    """Previous layer: outputs y with y_h = lam_h * y_{rep(H)} (lam_rep = 1, lam > 0) for each
    class H.  Current layer: neurons j, k with per-class (lam-weighted) incoming sums
    proportional by rho and b_k = rho b_j."""
    y, lam = reals("y", n), reals("lam", n)
    wj, wk = reals("wj", n), reals("wk", n)
    bj, bk, rho, s = z3.Reals("bj bk rho s")
    hyps = [rho > 0, bk == rho * bj]
    for block in part:
        rep = block[0]
        hyps.append(lam[rep] == 1)
        for hh in block:
            hyps.append(lam[hh] > 0 if not ones else lam[hh] == 1)
            hyps.append(y[hh] == lam[hh] * y[rep])
        weight = (lambda hh: lam[hh]) if weighted else (lambda hh: 1)
        hyps.append(z3.Sum([weight(hh) * wk[hh] for hh in block])
                    == rho * z3.Sum([weight(hh) * wj[hh] for hh in block]))
    zj, zk = dot(wj, y) + bj, dot(wk, y) + bk
    return hyps, rho, zj, zk, s


@pytest.mark.parametrize("n,part", CLASS_CASES)
def test_class_lumping_weighted_sums(n, part):
    hyps, rho, zj, zk, s = _class_setting(n, part)
    prove(zk == rho * zj, hyps)
    prove(act(zk, s) == rho * act(zj, s), hyps)


@pytest.mark.parametrize("n,part", CLASS_CASES)
def test_class_lumping_plain_sums_when_previous_classes_are_exact(n, part):
    """The paper's per-class plain sums are right when members of a previous class are equal (lam = 1)."""
    hyps, rho, zj, zk, s = _class_setting(n, part, weighted=False, ones=True)
    prove(act(zk, s) == rho * act(zj, s), hyps)


@pytest.mark.parametrize("n,part", CLASS_CASES)
def test_class_quotient_preserves_preactivations(n, part):
    """Collapsing each previous class H onto its representative with outgoing weight
    sum_{h in H} lam_h W_{:,h} leaves every current pre-activation unchanged."""
    y, lam, w = reals("y", n), reals("lam", n), reals("w", n)
    hyps = []
    quotient = []
    for block in part:
        rep = block[0]
        hyps.append(lam[rep] == 1)
        hyps += [lam[hh] > 0 for hh in block] + [y[hh] == lam[hh] * y[rep] for hh in block]
        quotient.append(z3.Sum([lam[hh] * w[hh] for hh in block]) * y[rep])
    prove(dot(w, y) == z3.Sum(quotient), hyps)


def test_wrong_class_lumping_plain_sums_with_proportional_classes_fails():
    hyps, rho, zj, zk, s = _class_setting(2, ((0, 1),), weighted=False)
    refute(act(zk, s) == rho * act(zj, s), hyps)


def test_wrong_class_lumping_split_class_fails():
    # the condition checked on a coarser partition than the previous layer's lumping
    y, lam = reals("y", 2), reals("lam", 2)
    wj, wk = reals("wj", 2), reals("wk", 2)
    rho = z3.Real("rho")
    hyps = [rho > 0, wk[0] + wk[1] == rho * (wj[0] + wj[1])]     # y0, y1 NOT known proportional
    refute(dot(wk, y) == rho * dot(wj, y), hyps)


# ------------------------------------------------------------- Conv channels (L4)
def _conv1d(x, w, bias, pad):
    """A 1-D single-channel-in convolution with zero padding ``pad`` (cross-correlation, stride 1)."""
    padded = [0] * pad + list(x) + [0] * pad
    return [sum(w[u] * padded[p + u] for u in range(len(w))) + bias for p in range(len(padded) - len(w) + 1)]


@pytest.mark.parametrize("length,kernel,pad", [(3, 3, 1), (4, 3, 1), (4, 2, 0), (5, 3, 2)])
def test_conv_channel_proportional_at_every_pixel(length, kernel, pad):
    """Filter and bias of channel k are rho times channel j's => z_k = rho z_j at every pixel,
    the zero-padded borders included (a spatial axis is enough: channels in add terms alike)."""
    x = sp.symbols(f"x0:{length}")
    w = sp.symbols(f"w0:{kernel}")
    rho, b = sp.Symbol("rho", positive=True), sp.Symbol("b")
    zj = _conv1d(x, w, b, pad)
    zk = _conv1d(x, [rho * t for t in w], rho * b, pad)
    assert len(zj) == length + 2 * pad - kernel + 1
    for a, c in zip(zk, zj):
        assert_identity(a, rho * c)


def _pooled_channel_network(window, *, pool="max", rho_sign=1, slope=None):
    """Channel j's pre-activations a (one pooling window), channel k's = rho a; activation, then
    pooling; the next layer reads the two pooled channels with weights v_j, v_k."""
    a = reals("a", window)
    rho, vj, vk, c = z3.Reals("rho vj vk c")
    s = z3.Real("s") if slope is None else slope
    hyps = [rho > 0 if rho_sign > 0 else rho < 0] + ([s >= 0, s <= 1] if slope is None else [])

    def pooled(values):
        acts = [act(t, s) for t in values]
        return zmax(*acts) if pool == "max" else z3.Sum(acts) / window

    original = vj * pooled(a) + vk * pooled([rho * t for t in a]) + c
    reduced = (vj + rho * vk) * pooled(a) + c
    return hyps, original, reduced


@pytest.mark.parametrize("window", [1, 2, 4])
@pytest.mark.parametrize("pool", ["max", "average"])
def test_pooled_channel_lumping_end_to_end(window, pool):
    """Through the activation and MaxPool / AveragePool (either order: both are channel-wise and
    positively homogeneous), the next layer's merged weight v_j + rho v_k is exact."""
    hyps, original, reduced = _pooled_channel_network(window, pool=pool)
    prove(original == reduced, hyps)


def test_pool_before_activation_commutes_with_scaling():
    a, rho, s = reals("a", 3), z3.Real("rho"), z3.Real("s")
    prove(act(zmax(*[rho * t for t in a]), s) == rho * act(zmax(*a), s), [rho > 0, s >= 0, s <= 1])


def test_wrong_maxpool_channel_lumping_negative_rho_fails():
    hyps, original, reduced = _pooled_channel_network(2, pool="max", rho_sign=-1, slope=1)
    model = refute(original == reduced, hyps)       # even without the activation (slope 1)
    assert value(model, z3.Real("rho")) < 0


def test_next_conv_merge_of_input_channels_symbolic():
    """Next Conv: out = sum_c W2[:, c] * y_c; y_k = rho y_j everywhere (pixels, borders: 0 = rho 0)
    => dropping input channel k and using W2[:, j] + rho W2[:, k] gives the same output."""
    length, kernel, pad = 4, 3, 1
    y = sp.symbols(f"y0:{length}")
    wj, wk = sp.symbols(f"wj0:{kernel}"), sp.symbols(f"wk0:{kernel}")
    rho = sp.Symbol("rho", positive=True)
    original = [p + q for p, q in zip(_conv1d(y, wj, 0, pad), _conv1d([rho * t for t in y], wk, 0, pad))]
    reduced = _conv1d(y, [p + rho * q for p, q in zip(wj, wk)], 0, pad)
    for a, b in zip(original, reduced):
        assert_identity(a, b)


def test_flatten_gemm_merge_of_channel_blocks_symbolic():
    """After Flatten, channel c owns inputs c*P .. c*P + P - 1 of the Gemm; y_k = rho y_j
    pixelwise => the block of j becomes V_j + rho V_k and the block of k is dropped."""
    pixels, channels = 3, 3
    y = [list(sp.symbols(f"y{c}_0:{pixels}")) for c in range(channels)]
    v = [list(sp.symbols(f"v{c}_0:{pixels}")) for c in range(channels)]
    rho = sp.Symbol("rho", positive=True)
    y[2] = [rho * t for t in y[0]]                                 # k = 2, j = 0
    flat_y, flat_v = [t for c in y for t in c], [t for c in v for t in c]
    original = sum(a * b for a, b in zip(flat_v, flat_y))
    merged = [[v[0][p] + rho * v[2][p] for p in range(pixels)], v[1]]
    reduced = sum(a * b for c in range(2) for a, b in zip(merged[c], y[c]))
    assert_identity(original, reduced)


# ------------------------------------------------- the witness of an inexact step (L5)
def _witness_setting(members, *, correction=True, rho_positive=True):
    """Neuron j (pre-activation zj), nearly proportional members k_t (pre-activations zk_t, free),
    one other neuron r.  Target: r and j only, j's outgoing weight m (any value).  Witness: the
    members' pre-activations mixed to rho_t zj, outgoing weights unchanged, plus the corrections
    m y_j - out_j y_j - sum_t out_k_t (rho_t y_j)."""
    zj, zr, s, m, c, oj, orr = z3.Reals("zj zr s m c oj or")
    zk, ok, rho = reals("zk", members), reals("ok", members), reals("rho", members)
    hyps = [s >= 0, s <= 1] + [(r > 0) if rho_positive else (r < 0) for r in rho]
    yj, yr = act(zj, s), act(zr, s)
    mixed = [act(r * zj, s) for r in rho]                          # y'_k = act(rho zj)
    witness = orr * yr + oj * yj + z3.Sum([o * y for o, y in zip(ok, mixed)]) + c
    if correction:
        witness = witness + m * yj - oj * yj - z3.Sum([o * (r * yj) for o, r in zip(ok, rho)])
    target = orr * yr + m * yj + c
    source = orr * yr + oj * yj + z3.Sum([o * act(z, s) for o, z in zip(ok, zk)]) + c
    return hyps, witness, target, source


@pytest.mark.parametrize("members", [1, 2, 3])
def test_witness_computes_the_target_exactly(members):
    """Whatever the members' own pre-activations and the merged row m (rounded or not), the
    witness equals the target for every input: the coefficient of y_j is
    out_j + m - out_j - sum rho_t out_k_t, and each y'_k_t = rho_t y_j contributes rho_t out_k_t."""
    hyps, witness, target, _ = _witness_setting(members)
    prove(witness == target, hyps)


def test_wrong_witness_without_member_corrections_fails():
    hyps, witness, target, _ = _witness_setting(2, correction=False)
    refute(witness == target, hyps)


def test_wrong_witness_with_negative_rho_fails():
    hyps, witness, target, _ = _witness_setting(1, rho_positive=False)
    refute(witness == target, hyps)


def test_witness_agrees_with_the_source_when_members_are_proportional():
    """Sanity of the construction: with zk_t = rho_t zj and m = out_j + sum rho_t out_k_t (exact
    lumping), source, witness and target coincide."""
    hyps, witness, target, source = _witness_setting(2)
    zj, m, oj = z3.Reals("zj m oj")
    zk, ok, rho = reals("zk", 2), reals("ok", 2), reals("rho", 2)
    hyps += [z == r * zj for z, r in zip(zk, rho)] + [m == oj + z3.Sum([r * o for r, o in zip(rho, ok)])]
    prove(z3.And(witness == source, target == source), hyps)


def test_wrong_dropping_a_nearly_proportional_neuron_as_exact_fails():
    """Claiming exactness for a member that is only nearly proportional: refuted (z_k = rho z_j + t, t != 0)."""
    x, wj, bj, rho, t, vj, vk, c = z3.Reals("x wj bj rho t vj vk c")
    zj = wj * x + bj
    zk = rho * zj + t
    original = vj * relu(zj) + vk * relu(zk) + c
    reduced = (vj + rho * vk) * relu(zj) + c
    refute(original == reduced, [rho > 0, t != 0])
