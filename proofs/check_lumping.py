"""Machine check for proofs/lumping.md: proportional exact lumping (pair, class, multi-member)."""

import itertools

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity, assert_not_identity
from proofs._z3util import act, dot, prove, real_matrix, reals, refute, value, vec_eq


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
