"""Machine check for proofs/maxpool_lowering.md: MaxPool as a ReLU tournament."""

import numpy as np
import pytest
import z3

from nnequiv.lowering.affine import Affine
from nnequiv.lowering.maxpool import tournament_round
from proofs._z3util import prove, reals, refute, relu, zmax


def _round(candidates, keep_odd=True):
    pairs = [zmax(a, b) for a, b in zip(candidates[0::2], candidates[1::2])]
    return pairs + ([candidates[-1]] if len(candidates) % 2 and keep_odd else [])


def test_pair_max_is_b_plus_relu_a_minus_b():
    a, b = z3.Reals("a b")
    prove(zmax(a, b) == b + relu(a - b))


@pytest.mark.parametrize("width", range(1, 10))
def test_tournament_rounds_keep_the_maximum(width):
    c = reals("c", width)
    current, rounds = list(c), 0
    while len(current) > 1:
        after = _round(current)
        prove(zmax(*after) == zmax(*current))
        current, rounds = after, rounds + 1
    assert rounds == int(np.ceil(np.log2(width))) if width > 1 else rounds == 0


def _play(values: np.ndarray, windows):
    """The code's tournament_round bookkeeping, played on numbers with max(a, b) for a pair."""
    pool = Affine.exact(np.eye(values.size), np.zeros(values.size))
    current = values.astype(np.float64)
    while any(len(w) > 1 for w in windows):
        step = tournament_round(pool, windows)
        diffs = step.differences.weight @ current
        seconds = step.seconds.weight @ current
        singles = step.singles.weight @ current
        current = np.concatenate([np.maximum(diffs, 0.0) + seconds, singles])
        pool, windows = Affine.exact(np.eye(current.size), np.zeros(current.size)), step.windows
    return np.array([current[w[0]] for w in windows])


@pytest.mark.parametrize("seed", range(5))
def test_tournament_bookkeeping_matches_max(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(-50, 50, size=30).astype(np.float64)      # small integers: every sum is exact
    windows = [sorted(rng.choice(30, size=int(rng.integers(1, 10)), replace=False).tolist()) for _ in range(12)]
    np.testing.assert_array_equal(_play(values, windows), [values[w].max() for w in windows])


def test_padding_never_wins():
    s = reals("s", 3)
    # -inf modelled as any value below every input: the maximum is unchanged
    pad = z3.Real("pad")
    prove(zmax(*s, pad) == zmax(*s), [pad < t for t in s])


# ------------------------------------------------------------ wrong variants
def test_wrong_carried_operand_fails():
    a, b = z3.Reals("a b")
    refute(zmax(a, b) == a + relu(a - b))


def test_wrong_sum_of_relus_fails():
    a, b = z3.Reals("a b")
    refute(zmax(a, b) == relu(a) + relu(b))


def test_wrong_tournament_dropping_the_odd_candidate_fails():
    c = reals("c", 3)
    refute(zmax(*_round(c, keep_odd=False)) == zmax(*c))
