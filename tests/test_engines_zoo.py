"""Every engine against every closed-form zoo case, every partial up to order 4."""

import itertools

import numpy as np
import pytest
import torch

import wrt
from tolerances import BY_ENGINE, assert_partial_close
from zoo import CASES, ZooCase

MAX_ORDER = 4


def multi_indices(n: int, max_order: int) -> list[tuple[int, ...]]:
    """Every alpha with 1 <= |alpha| <= max_order, for n inputs."""
    out = []
    for k in range(1, max_order + 1):
        for combo in itertools.combinations_with_replacement(range(n), k):
            out.append(tuple(combo.count(i) for i in range(n)))
    return out


def check_case(case: ZooCase, engine: str) -> None:
    model = wrt.wrap(case.module, inputs=case.inputs, outputs=case.outputs)
    alphas = multi_indices(len(case.inputs), MAX_ORDER)
    specs = [
        wrt.Partial(out, dict(zip(case.inputs, alpha, strict=True)))
        for out in case.outputs
        for alpha in alphas
    ]
    x = torch.from_numpy(case.points)
    result = wrt.partials(model, x, specs, engine=engine)
    assert result.engine == engine
    for spec in specs:
        j = case.outputs.index(spec.output)
        alpha = spec.multi_index(case.inputs)
        expected = case.partial(case.points, j, alpha)
        assert_partial_close(
            result[spec], expected, **BY_ENGINE[engine], what=f"{case.name} {spec}"
        )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("engine", ["autograd", "taylor", "finite_diff"])
def test_engine_matches_closed_form(case, engine):
    check_case(case, engine)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("engine", ["autograd", "taylor"])
def test_order_five_pure_and_mixed(case, engine):
    model = wrt.wrap(case.module, inputs=case.inputs, outputs=case.outputs)
    n = len(case.inputs)
    alphas = [tuple(5 if i == k else 0 for i in range(n)) for k in range(n)]
    if n > 1:
        alphas += [(3, 2) + (0,) * (n - 2), (1,) * min(n, 5) + (0,) * (n - min(n, 5))]
    specs = [
        wrt.Partial(case.outputs[0], dict(zip(case.inputs, a, strict=True)))
        for a in alphas
    ]
    result = wrt.partials(model, case.points, specs, engine=engine)
    for spec, alpha in zip(specs, alphas, strict=True):
        expected = case.partial(case.points, 0, alpha)
        assert_partial_close(
            result[spec], expected, **BY_ENGINE[engine], what=f"{case.name} {spec}"
        )


def test_zero_partials_of_an_ignored_input_are_exact():
    case = next(c for c in CASES if c.name == "multi_out")
    model = wrt.wrap(case.module, inputs=case.inputs, outputs=case.outputs)
    result = wrt.partials(model, case.points, ["dw/dt", "d2w/dxdt", "d4w/dt^4"])
    for value in result.values():
        assert np.array_equal(value.numpy(), np.zeros(len(case.points)))
