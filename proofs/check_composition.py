"""Machine check for proofs/composition.md: per-step deviation bounds compose along a chain
of certified passes (triangle inequality); exact steps compose to exact."""

import pytest
import z3

from proofs._z3util import all_of, prove, reals, refute, zabs, zmax


def _chain(steps, width):
    values = [reals(f"f{k}_", width) for k in range(steps + 1)]
    eps = [reals(f"eps{k}_", width) for k in range(steps)]
    hyps = [zabs(values[k][i] - values[k + 1][i]) <= eps[k][i] for k in range(steps) for i in range(width)]
    return values, eps, hyps


@pytest.mark.parametrize("steps", [1, 2, 3])
@pytest.mark.parametrize("width", [1, 2, 3])
def test_deviation_bounds_add_along_a_chain(steps, width):
    values, eps, hyps = _chain(steps, width)
    claim = all_of(zabs(values[0][i] - values[-1][i]) <= z3.Sum([eps[k][i] for k in range(steps)])
                   for i in range(width))
    prove(claim, hyps)


@pytest.mark.parametrize("steps", [2, 3])
def test_exact_steps_compose_to_exact(steps):
    values, eps, hyps = _chain(steps, 2)
    prove(all_of(values[0][i] == values[-1][i] for i in range(2)), hyps, [e == 0 for es in eps for e in es])


def test_uniform_bound_from_per_component_bounds():
    """max_i over components: sup-norm deviation <= max_i sum_k eps_k,i <= sum_k max_i eps_k,i."""
    values, eps, hyps = _chain(2, 2)
    total = zmax(*eps[0]) + zmax(*eps[1])
    prove(all_of(zabs(values[0][i] - values[-1][i]) <= total for i in range(2)), hyps)


# ------------------------------------------------------------ wrong variants
def test_wrong_composition_with_max_instead_of_sum_fails():
    values, eps, hyps = _chain(2, 1)
    refute(zabs(values[0][0] - values[-1][0]) <= zmax(eps[0][0], eps[1][0]), hyps)


def test_wrong_composition_last_step_only_fails():
    values, eps, hyps = _chain(2, 1)
    refute(zabs(values[0][0] - values[-1][0]) <= eps[1][0], hyps)
