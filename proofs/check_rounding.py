"""Machine check for proofs/rounding.md: the float64 error model of a dot product (any
summation order, with or without FMA, with underflow), the implementation in
``nnequiv/checker/rounding.py`` on random float data in exact arithmetic, and outward
rounding of decimal box bounds."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
import z3

from proofs._z3util import prove, reals, refute, zabs

U = Fraction(1, 2 ** 53)                 # unit roundoff of float64, round to nearest
ETA_HALF = Fraction(1, 2 ** 1075)        # |underflow error of one product| <= half the smallest subnormal


def gamma_exact(n: int) -> Fraction:
    return n * U / (1 - n * U)


def g(k, u):
    return k * u / (1 - k * u)


# ----------------------------------------------------- Higham's theta lemma
def test_theta_lemma_induction_step():
    """|theta_k| <= gamma_k, |d| <= u  =>  (1+theta_k)(1+d) and (1+theta_k)/(1+d) are 1+theta_{k+1}
    with |theta_{k+1}| <= gamma_{k+1}.  With theta_0 = 0 this proves the lemma for every n."""
    k, u, th, d = z3.Reals("k u theta delta")
    hyps = [k >= 0, u > 0, (k + 1) * u < 1, zabs(th) <= g(k, u), zabs(d) <= u]
    prove(zabs((1 + th) * (1 + d) - 1) <= g(k + 1, u), hyps)
    prove(zabs((1 + th) / (1 + d) - 1) <= g(k + 1, u), hyps)


def test_gamma_is_monotone():
    j, k, u = z3.Reals("j k u")
    prove(g(j, u) <= g(k, u), 0 <= j, j <= k, u > 0, k * u < 1)


@pytest.mark.parametrize("n,k", [(n, k) for n in (1, 2, 3) for k in range(n + 1)])
def test_theta_lemma_direct(n, k):
    """prod_{i} (1 + d_i)^{+-1} = 1 + theta_n, |theta_n| <= gamma_n, checked without induction for n <= 3
    (k factors in the denominator)."""
    d, u = reals("d", n), z3.Real("u")
    num = math.prod([1 + t for t in d[: n - k]], start=z3.RealVal(1))
    den = math.prod([1 + t for t in d[n - k:]], start=z3.RealVal(1))
    prove((1 - n * u) * zabs(num - den) <= n * u * den, [zabs(t) <= u for t in d], u > 0, n * u < 1)


# ------------------------------------------------ structure of a rounded dot product
def _trees(leaves):
    """All binary bracketings of an ordered list of leaves."""
    if len(leaves) == 1:
        yield leaves[0]
        return
    for cut in range(1, len(leaves)):
        for left in _trees(leaves[:cut]):
            for right in _trees(leaves[cut:]):
                yield (left, right)


class _Builder:
    """Evaluate a summation tree symbolically: F_j stands for (1 + delta_j) of rounding j, e_j for an
    underflow error.  A leaf is a rounded product p_i F + e, or, when fused into its parent
    addition (FMA), the exact product p_i; a fused addition may underflow (+ e)."""

    def __init__(self, n):
        self.p = sp.symbols(f"p0:{n}")
        self.F, self.e = [], []

    def fresh(self, kind):
        sym = sp.Symbol(f"{kind}{len(self.F) if kind == 'F' else len(self.e)}")
        (self.F if kind == "F" else self.e).append(sym)
        return sym

    def leaf(self, i):
        return self.p[i] * self.fresh("F") + self.fresh("e")

    def node(self, left, right, fused):
        value = lambda t: self.p[t] if isinstance(t, int) and fused else self.eval(t)
        out = (value(left) + value(right)) * self.fresh("F")
        return out + self.fresh("e") if fused else out

    def eval(self, tree, fuse=()):
        if isinstance(tree, int):
            return self.leaf(tree)
        fused = id(tree) in fuse
        return self.node(tree[0], tree[1], fused)


def _structure_ok(n, expr, builder):
    poly = sp.Poly(sp.expand(expr), *builder.p, *builder.e)
    assert poly.total_degree() == 1
    for i, var in enumerate(list(builder.p) + builder.e):
        coeff = sp.expand(sp.diff(expr, var))
        if coeff == 0:
            continue
        mono = sp.Poly(coeff, *builder.F)
        assert len(mono.terms()) == 1 and mono.terms()[0][1] == 1, "coefficient must be a product of F's"
        degree = mono.total_degree()
        assert all(x <= 1 for x in mono.terms()[0][0]), "each rounding used at most once per term"
        limit = n if var in builder.p else n - 1
        assert degree <= limit, f"{var} goes through {degree} roundings (> {limit})"
    exact = expr.subs({f: 1 for f in builder.F}).subs({e: 0 for e in builder.e})
    assert sp.expand(exact - sum(builder.p)) == 0
    assert len(builder.e) <= n


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_every_summation_tree_has_at_most_n_roundings_per_term(n):
    for tree in _trees(list(range(n))):
        b = _Builder(n)
        _structure_ok(n, b.eval(tree), b)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_fma_chains_have_at_most_n_roundings_per_term(n):
    """Recursive summation with FMA: acc = fma(a_i, b_i, acc) -- each step one rounding, the product
    exact (possibly underflowing)."""
    b = _Builder(n)
    acc = b.leaf(0)
    for i in range(1, n):
        acc = (b.p[i] + acc) * b.fresh("F") + b.fresh("e")
    _structure_ok(n, acc, b)


def test_product_term_bound():
    """|p theta| <= G |p| whenever |theta| <= G (one term of the expansion)."""
    p, th, G = z3.Reals("p theta G")
    prove(zabs(p * th) <= G * zabs(p), zabs(th) <= G)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_dot_product_error_bound_from_theta(n):
    """fl - sum p_i = sum p_i theta_i + sum_j e_j phi_j with |p_i theta_i| <= gamma_n |p_i| and
    |e_j phi_j| <= (1 + gamma_{n-1}) E (previous test, theta lemma), at most n underflow terms  =>
    |fl - sum p_i| <= gamma_n sum |p_i| + n (1 + gamma_{n-1}) E (triangle inequality, G, H abstract)."""
    t, w, p = reals("t", n), reals("w", n), reals("p", n)
    G, H, E = z3.Reals("G H E")
    hyps = [G >= 0, H >= 0, E >= 0]
    hyps += [zabs(t[i]) <= G * zabs(p[i]) for i in range(n)] + [zabs(x) <= H * E for x in w]
    prove(zabs(z3.Sum(t) + z3.Sum(w)) <= G * z3.Sum([zabs(x) for x in p]) + n * H * E, hyps)


# ------------------------------------------- exact arithmetic on random float vectors
def _bound(a, b) -> Fraction:
    n = len(a)
    s = sum(abs(Fraction(x) * Fraction(y)) for x, y in zip(a, b))
    return gamma_exact(n) * s + n * (1 + gamma_exact(n)) * ETA_HALF


def _exact(a, b) -> Fraction:
    return sum((Fraction(x) * Fraction(y) for x, y in zip(a, b)), Fraction(0))


def _sequential(a, b) -> float:
    total = 0.0
    for x, y in zip(a, b):
        total = total + x * y
    return total


def _random_tree_sum(rng, values) -> float:
    values = list(values)
    while len(values) > 1:
        i = int(rng.integers(0, len(values) - 1))
        values[i:i + 2] = [values[i] + values[i + 1]]
    return values[0]


def _vectors(rng, kind, n):
    if kind == "normal":
        return rng.normal(size=n), rng.normal(size=n)
    if kind == "scaled":
        return (rng.normal(size=n) * 2.0 ** rng.integers(-40, 40, n),
                rng.normal(size=n) * 2.0 ** rng.integers(-40, 40, n))
    if kind == "cancel":
        a = rng.normal(size=n)
        b = rng.normal(size=n)
        if n > 1:
            b[-1] = -float(np.dot(a[:-1], b[:-1])) / a[-1]     # exact result near 0
        return a, b
    if kind == "wide":
        return (rng.normal(size=n) * 2.0 ** rng.integers(-480, 480, n),
                rng.normal(size=n) * 2.0 ** rng.integers(-480, 480, n))
    if kind == "subnormal":
        return (rng.normal(size=n) * 2.0 ** rng.integers(-560, -500, n),
                rng.normal(size=n) * 2.0 ** rng.integers(-560, -500, n))
    raise ValueError(kind)


KINDS = ["normal", "scaled", "cancel", "wide", "subnormal"]


@pytest.mark.parametrize("kind", KINDS)
def test_dot_product_bound_on_random_vectors_exact_arithmetic(kind):
    rng = np.random.default_rng(20240601 + KINDS.index(kind))
    for n in (1, 2, 3, 4, 5, 8, 17, 64, 300, 1000):
        for _ in range(4 if n <= 64 else 2):
            a, b = _vectors(rng, kind, n)
            exact, bound = _exact(a, b), _bound(a, b)
            products = [x * y for x, y in zip(a.tolist(), b.tolist())]
            results = {
                "sequential": _sequential(a.tolist(), b.tolist()),
                "reversed": _sequential(a.tolist()[::-1], b.tolist()[::-1]),
                "numpy.dot": float(np.dot(a, b)),
                "matmul": float((a[None, :] @ b[:, None])[0, 0]),
                "pairwise": float(np.sum(a * b)),
                "random tree": _random_tree_sum(rng, products),
            }
            for how, fl in results.items():
                assert math.isfinite(fl)
                assert abs(Fraction(fl) - exact) <= bound, (kind, n, how)


def _implementation_bound(s_float: float, n: int) -> Fraction:
    """E3: the dot-product allowance the checker adds to a row with a non-zero input
    (``forms.linear``, ``lowering.affine.Affine.then``): 2 gamma(n + 2) fl(|a| . |b|) + (n + 2) 2^-1074."""
    from nnequiv.checker import rounding
    return 2 * Fraction(rounding.gamma(n + 2)) * Fraction(s_float) + (n + 2) * Fraction(rounding.ETA)


@pytest.mark.parametrize("kind", KINDS)
def test_implementation_dot_product_allowance(kind):
    """E3 in exact arithmetic: |fl(A x) - A x| <= 2 gamma(n+2) fl(|A| |x|) + (n+2) 2^-1074 for numpy's
    matrix-vector product (BLAS: any order, FMA or not), including underflowing products."""
    rng = np.random.default_rng(99 + KINDS.index(kind))
    for n in (1, 2, 3, 9, 50, 257):
        A = np.vstack([_vectors(rng, kind, n)[0] for _ in range(5)])
        x = _vectors(rng, kind, n)[1]
        fl, s = A @ x, np.abs(A) @ np.abs(x)
        for r in range(A.shape[0]):
            exact = _exact(A[r].tolist(), x.tolist())
            assert abs(Fraction(float(fl[r])) - exact) <= _implementation_bound(float(s[r]), n), (kind, n, r)


def test_checker_rounding_primitives_are_upper_bounds():
    """nnequiv.checker.rounding: gamma(n) >= gamma_n; add_up / add_down bracket the exact sum;
    upper_sum_abs, upper_matvec_abs, upper_add bound the exact quantities (random data, exact check)."""
    from nnequiv.checker import rounding

    for n in (1, 2, 3, 10, 1000, 10 ** 6):
        assert Fraction(rounding.gamma(n)) >= gamma_exact(n)
    rng = np.random.default_rng(7)
    for kind in KINDS:
        for n in (1, 2, 3, 9, 50):
            A = np.vstack([_vectors(rng, kind, n)[0] for _ in range(4)])
            x = _vectors(rng, kind, n)[1]
            sum_abs = rounding.upper_sum_abs(A, axis=1)
            matvec_abs = rounding.upper_matvec_abs(A, x)
            for r in range(A.shape[0]):
                assert sum(abs(Fraction(v)) for v in A[r].tolist()) <= Fraction(float(sum_abs[r]))
                exact_abs = sum(abs(Fraction(p) * Fraction(q)) for p, q in zip(A[r].tolist(), x.tolist()))
                assert exact_abs <= Fraction(float(matvec_abs[r])), (kind, n, r)
            a, b = _vectors(rng, kind, n)
            hi, lo = rounding.add_up(a, b), rounding.add_down(a, b)
            for p, q, h, l in zip(a.tolist(), b.tolist(), hi.tolist(), lo.tolist()):
                assert Fraction(l) <= Fraction(p) + Fraction(q) <= Fraction(h)
            for k in (1, 2, 3, 5):
                terms = [np.abs(_vectors(rng, kind, 3)[0]) for _ in range(k)]
                total = rounding.upper_add(*terms)
                for r in range(3):
                    assert sum(Fraction(float(t[r])) for t in terms) <= Fraction(float(np.asarray(total)[r]))


# ------------------------------------------------------------ wrong variants (dot product)
def test_wrong_theta_bound_nu_instead_of_gamma_fails():
    d, u = reals("d", 2), z3.Real("u")
    refute(zabs((1 + d[0]) * (1 + d[1]) - 1) <= 2 * u, [zabs(t) <= u for t in d], u > 0, 2 * u < 1)


def test_wrong_dot_bound_one_rounding_only_fails():
    """gamma_1 instead of gamma_n: fl(fl(1 + u) + u) = 1 but the exact sum is 1 + 2u."""
    a, b = [1.0, 2.0 ** -53, 2.0 ** -53], [1.0, 1.0, 1.0]
    err = abs(Fraction(_sequential(a, b)) - _exact(a, b))
    total = sum(abs(Fraction(x) * Fraction(y)) for x, y in zip(a, b))
    assert err > gamma_exact(1) * total                       # the wrong bound is violated
    assert err <= _bound(a, b)                                # the right one holds


def test_wrong_implementation_allowance_without_floor_fails():
    """E3 without its (n + 2) 2^-1074 term: fl(|a| |b|) = 0 for a = b = 2^-600, the error is not."""
    from nnequiv.checker import rounding
    a, b = np.array([2.0 ** -600]), np.array([2.0 ** -600])
    err = abs(Fraction(float(a @ b)) - _exact(a.tolist(), b.tolist()))
    s = float(np.abs(a) @ np.abs(b))
    assert err > 2 * Fraction(rounding.gamma(3)) * Fraction(s)
    assert err <= _implementation_bound(s, 1)


def test_wrong_dot_bound_without_underflow_term_fails():
    """Dropping the underflow term: 2^-600 * 2^-600 rounds to 0, the exact product does not."""
    a, b = [2.0 ** -600], [2.0 ** -600]
    err = abs(Fraction(_sequential(a, b)) - _exact(a, b))
    total = sum(abs(Fraction(x) * Fraction(y)) for x, y in zip(a, b))
    assert err > gamma_exact(1) * total
    assert err <= _bound(a, b)


# ------------------------------------------------------ outward rounding of decimal bounds
def _outward(text: str) -> tuple[float, float]:
    """The rule: f = correctly rounded float(text); [nextafter(f, -inf), nextafter(f, +inf)]."""
    f = float(text)
    return math.nextafter(f, -math.inf), math.nextafter(f, math.inf)


def _tight(text: str) -> tuple[float, float]:
    """The tighter rule: keep f on the side where it already bounds the decimal exactly."""
    f, q = float(text), Fraction(text)
    lo = f if math.isfinite(f) and Fraction(f) <= q else math.nextafter(f, -math.inf)
    hi = f if math.isfinite(f) and Fraction(f) >= q else math.nextafter(f, math.inf)
    return lo, hi


def _contains(interval, text) -> bool:
    lo, hi = interval
    q = Fraction(text)
    return (lo == -math.inf or Fraction(lo) <= q) and (hi == math.inf or q <= Fraction(hi))


EDGE_DECIMALS = ["0", "-0", "0.1", "-0.1", "0.3", "1", "1e-400", "-1e-400", "1e400", "-1e400",
                 "2.4703282292062327e-324", "2.4703282292062328e-324", "4.9406564584124654e-324",
                 "2.2250738585072011e-308", "2.2250738585072014e-308", "1.7976931348623157e308",
                 "1.7976931348623158e308", "1.797693134862315807e308", "9007199254740993",
                 "-9007199254740993", "0.30000000000000004", "123456789012345678901234567890.5",
                 "1.00000000000000011102230246251565404236316680908203125"]


def _random_decimals(rng, count):
    for _ in range(count):
        digits = "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(1, 30))))
        point = int(rng.integers(0, len(digits) + 1))
        mantissa = (digits[:point] or "0") + "." + (digits[point:] or "0")
        sign = "-" if rng.random() < 0.5 else ""
        yield f"{sign}{mantissa}e{int(rng.integers(-340, 320))}"


def test_outward_rounded_decimal_contains_the_real_value():
    rng = np.random.default_rng(11)
    for text in itertools.chain(EDGE_DECIMALS, _random_decimals(rng, 3000)):
        assert _contains(_outward(text), text), text
        assert _contains(_tight(text), text), text
        lo, hi = _tight(text)
        assert lo <= hi


def test_wrong_decimal_bounds_without_outward_rounding_fail():
    assert not _contains((float("0.1"), float("0.1")), "0.1")                 # 0.1 rounds up
    assert not _contains((float("0.3"), float("0.3")), "0.3")                 # 0.3 rounds down
    f = float("0.1")
    assert not _contains((f, math.nextafter(f, math.inf)), "0.1")            # rounding one side only
    f = float("0.3")
    assert not _contains((math.nextafter(f, -math.inf), f), "0.3")
