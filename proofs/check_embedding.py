"""Machine check for proofs/embedding.md (E1: inserting zero neurons is exact)."""

import z3

from proofs._z3util import act, dot, prove, real_matrix, reals, refute, vec_eq

N_IN, N, N_OUT = 2, 2, 2
POSITIONS = (2, 0)      # neuron i of the hidden layer goes to position POSITIONS[i] of width 3
WIDTH = 3


def _network():
    x = reals("x", N_IN)
    W1, b1, s1 = real_matrix("W1", N, N_IN), reals("b1", N), reals("s1", N)
    W2, b2 = real_matrix("W2", N_OUT, N), reals("b2", N_OUT)
    h = [act(dot(W1[i], x) + b1[i], s1[i]) for i in range(N)]
    out = [dot(W2[a], h) + b2[a] for a in range(N_OUT)]
    return x, W1, b1, s1, W2, b2, out


def _embedded(W1, b1, s1, W2, b2, x, inserted_bias=0, outgoing=None):
    at = {p: i for i, p in enumerate(POSITIONS)}
    rows = [W1[at[j]] if j in at else [0] * N_IN for j in range(WIDTH)]
    bias = [b1[at[j]] if j in at else inserted_bias for j in range(WIDTH)]
    slope = [s1[at[j]] if j in at else 1 for j in range(WIDTH)]
    h = [act(dot(rows[j], x) + bias[j], slope[j]) for j in range(WIDTH)]
    cols = outgoing or (lambda a, j: W2[a][at[j]] if j in at else 0)
    return [z3.Sum([cols(a, j) * h[j] for j in range(WIDTH)]) + b2[a] for a in range(N_OUT)]


def test_zero_neurons_are_exact():
    x, W1, b1, s1, W2, b2, out = _network()
    prove(vec_eq(out, _embedded(W1, b1, s1, W2, b2, x)))


def test_two_embedded_layers_are_exact():
    x = reals("x", N_IN)
    W1, b1, s1 = real_matrix("W1", N, N_IN), reals("b1", N), reals("s1", N)
    W2, b2, s2 = real_matrix("W2", N, N), reals("b2", N), reals("s2", N)
    W3 = real_matrix("W3", 1, N)
    h1 = [act(dot(W1[i], x) + b1[i], s1[i]) for i in range(N)]
    h2 = [act(dot(W2[i], h1) + b2[i], s2[i]) for i in range(N)]
    out = dot(W3[0], h2)
    at = {p: i for i, p in enumerate(POSITIONS)}
    e1 = [act(dot(W1[at[j]], x) + b1[at[j]], s1[at[j]]) if j in at else act(0, 1) for j in range(WIDTH)]
    e2 = []
    for j in range(WIDTH):     # rows and columns placed
        row = [W2[at[j]][at[c]] if j in at and c in at else 0 for c in range(WIDTH)]
        e2.append(act(dot(row, e1) + (b2[at[j]] if j in at else 0), s2[at[j]] if j in at else 1))
    embedded_out = z3.Sum([(W3[0][at[j]] if j in at else 0) * e2[j] for j in range(WIDTH)])
    prove(out == embedded_out)


def test_wrong_inserted_neuron_with_bias_and_outgoing_weight_fails():
    x, W1, b1, s1, W2, b2, out = _network()
    c = z3.Real("c")
    wrong = _embedded(W1, b1, s1, W2, b2, x, inserted_bias=1,
                      outgoing=lambda a, j: W2[a][POSITIONS.index(j)] if j in POSITIONS else c)
    refute(vec_eq(out, wrong))


def test_wrong_columns_not_following_rows_fails():
    x, W1, b1, s1, W2, b2, out = _network()
    swapped = {2: 1, 0: 0}     # rows placed by POSITIONS, columns by another map
    wrong = _embedded(W1, b1, s1, W2, b2, x,
                      outgoing=lambda a, j: W2[a][swapped[j]] if j in swapped else 0)
    refute(vec_eq(out, wrong))
