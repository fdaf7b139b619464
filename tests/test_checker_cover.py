"""The trusted cover check: a union of closed sub-boxes covers a box (``proofs/linear_merge.md`` C1)."""

from __future__ import annotations

import numpy as np

from nnequiv.checker.cover import covers
from nnequiv.spec.box import Box


def test_cover_of_a_bisection_tree_and_its_failures():
    box = Box.uniform(-1, 1, 3)
    leaves = [box]
    for depth in range(5):
        leaves = [half for b in leaves for half in b.split(depth % 3)]
    pieces = [(b.lower, b.upper) for b in leaves]
    assert covers(box.lower, box.upper, pieces)
    assert not covers(box.lower, box.upper, pieces[1:])
    assert not covers(np.array([-1.0, -1, -1.5]), box.upper, pieces)          # a larger box
    gap = [(lo, np.where(hi == 0.0, -2.0 ** -40, hi)) for lo, hi in pieces]    # open seam at 0
    assert not covers(box.lower, box.upper, gap)
    assert not covers(box.lower, box.upper, pieces, budget=3)


def test_cover_by_overlapping_unaligned_boxes():
    lower, upper = np.zeros(2), np.ones(2)
    pieces = [(np.array([0.0, 0.0]), np.array([0.75, 0.5])), (np.array([0.5, 0.0]), np.array([1.0, 0.75])),
              (np.array([0.0, 0.25]), np.array([0.6, 1.0])), (np.array([0.55, 0.7]), np.array([1.0, 1.0]))]
    assert covers(lower, upper, pieces)
    pieces[3] = (np.array([0.61, 0.7]), np.array([1.0, 1.0]))                 # (0.605, 0.8) uncovered
    assert not covers(lower, upper, pieces)


def test_random_covers_agree_with_dense_sampling():
    """Soundness by sampling: whenever ``covers`` says yes, every sampled point lies in some piece."""
    rng = np.random.default_rng(7)
    lower, upper = np.zeros(2), np.ones(2)
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, 41)] * 2), -1).reshape(-1, 2)
    accepted = 0
    for _ in range(200):
        pieces = []
        for _ in range(rng.integers(1, 6)):
            a, b = np.sort(rng.choice(np.linspace(0, 1, 5), (2, 2), replace=True), axis=0)
            pieces.append((a, b))
        if covers(lower, upper, pieces):
            accepted += 1
            inside = [np.all((grid >= lo) & (grid <= hi), axis=1) for lo, hi in pieces]
            assert np.any(inside, axis=0).all()
    assert accepted > 0
