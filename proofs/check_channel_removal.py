"""Machine check for proofs/channel_removal.md: removing a channel that flows through a
residual Add (all branches of the Add and every consumer of its result)."""

import pytest
import z3

from proofs._z3util import act, dot, prove, real_matrix, reals, refute, vec_eq

C, P = 3, 2   # channels of the Add, outputs of the consumer


def _setting(branches: int, k: int = 1, activate: bool = False):
    """Branch values t[b][i] (channel i of branch b, at one position), Add, optional activation
    (a residual block's ReLU/LeakyReLU after the Add), then a consumer V u + c."""
    t = [reals(f"t{b}_", C) for b in range(branches)]
    s = z3.Real("s")
    added = [z3.Sum([t[b][i] for b in range(branches)]) for i in range(C)]
    u = [act(v, s) for v in added] if activate else added
    V, c = real_matrix("V", P, C), reals("c", P)
    original = [dot(V[a], u) + c[a] for a in range(P)]

    def reduced(extra_bias):
        return [z3.Sum([V[a][i] * u[i] for i in range(C) if i != k]) + c[a] + extra_bias(a)
                for a in range(P)]
    return t, s, V, original, reduced


@pytest.mark.parametrize("branches", [1, 2, 3])
@pytest.mark.parametrize("activate", [False, True])
def test_zero_on_every_branch_removal_is_exact(branches, activate):
    k = 1
    t, s, V, original, reduced = _setting(branches, k, activate)
    prove(vec_eq(original, reduced(lambda a: 0)), [t[b][k] == 0 for b in range(branches)])


@pytest.mark.parametrize("branches", [1, 2, 3])
@pytest.mark.parametrize("activate", [False, True])
def test_constant_on_every_branch_removal_with_bias_fold(branches, activate):
    k = 1
    t, s, V, original, reduced = _setting(branches, k, activate)
    const = reals("alpha", branches)
    total = z3.Sum(const)
    folded = act(total, s) if activate else total
    prove(vec_eq(original, reduced(lambda a: V[a][k] * folded)),
          [t[b][k] == const[b] for b in range(branches)])


def test_sum_must_be_constant_necessity():
    """If the Add's channel takes two different values t1 != t2 (at two inputs) and a consumer
    reads it (v != 0), no constant d folded into the bias is right at both inputs."""
    t1, t2, v, d = z3.Reals("t1 t2 v d")
    prove(z3.Not(z3.And(v * t1 == v * d, v * t2 == v * d)), t1 != t2, v != 0)


# ------------------------------------------------------------ wrong variants
@pytest.mark.parametrize("activate", [False, True])
def test_wrong_zero_on_one_branch_only_fails(activate):
    k = 1
    t, s, V, original, reduced = _setting(2, k, activate)
    refute(vec_eq(original, reduced(lambda a: 0)), t[0][k] == 0)      # skip branch still carries k


def test_wrong_constant_channel_without_bias_fold_fails():
    k = 1
    t, s, V, original, reduced = _setting(2, k)
    alpha = reals("alpha", 2)
    refute(vec_eq(original, reduced(lambda a: 0)), [t[b][k] == alpha[b] for b in range(2)])


def test_wrong_constant_channel_fold_without_activation_fails():
    # after a residual ReLU the folded constant is sigma(alpha + beta), not alpha + beta
    k = 1
    t, s, V, original, reduced = _setting(2, k, activate=True)
    alpha = reals("alpha", 2)
    refute(vec_eq(original, reduced(lambda a: V[a][k] * (alpha[0] + alpha[1]))),
           [t[b][k] == alpha[b] for b in range(2)], s == 0)
