"""Does each compressed model still compute what the original computes on the input box?

Every input lies in [-1, 1].  ``nnequiv_check`` proves the relation for *all* inputs in
the box (not just sampled ones) and keeps a certificate; the next run re-verifies it
instead of proving again.
"""

import pytest

from nnequiv.testing import NotEquivalentError

BOX = (-1.0, 1.0)  # the same interval for every input


def test_reexported_model_is_exactly_the_same(models, nnequiv_check):
    # MatMul + Add instead of Gemm: equal outputs in exact arithmetic, everywhere on the box
    nnequiv_check(models["original"], models["reexported"], BOX, exact=True)


@pytest.mark.nnequiv(timeout=30)
def test_fp16_weights_stay_within_eps(models, nnequiv_check):
    # rounding the weights to float16 moves every output by at most 0.01
    nnequiv_check(models["original"], models["fp16"], BOX, eps=1e-2)


@pytest.mark.xfail(raises=NotEquivalentError, strict=True,
                   reason="removing a hidden unit changes the outputs by more than 0.01")
def test_pruned_model_is_not_equivalent(models, nnequiv_check):
    nnequiv_check(models["original"], models["pruned"], BOX, eps=1e-2)
