"""Validates the closed-form derivative oracle in ``tests/zoo.py``.

The closed forms are checked against two independent references:

* the torch module itself (function values, i.e. order 0), and
* sympy: each case's function is rebuilt as a sympy expression with exact
  rational parameters, differentiated with ``sympy.diff`` and evaluated with
  mpmath at 40 significant digits.  The sympy expression is itself tied to the
  torch module by comparing values, so module, closed form and symbolic form all
  agree.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy
import torch

try:  # ``python -m pytest`` from the repo root (any import mode).
    from tests.zoo import (
        CASES,
        ZooCase,
        case,
        sigmoid_derivative,
        softplus_derivative,
        tanh_derivative,
    )
except ImportError:  # pragma: no cover - ``tests/`` itself is on sys.path.
    from zoo import (  # type: ignore[no-redef]
        CASES,
        ZooCase,
        case,
        sigmoid_derivative,
        softplus_derivative,
        tanh_derivative,
    )

RTOL = 1e-10
ATOL = 1e-11
DIGITS = 40
N_SYMPY_POINTS = 3

CASE_PARAMS = [pytest.param(c, id=c.name) for c in CASES]


def _unit(n: int, entries: dict[int, int]) -> tuple[int, ...]:
    alpha = [0] * n
    for i, k in entries.items():
        alpha[i] += k
    return tuple(alpha)


def multi_indices(n: int) -> list[tuple[int, ...]]:
    """A handful of pure and mixed multi-indices of total order 1 to 5."""
    if n == 1:
        return [(k,) for k in range(1, 6)]
    last = n - 1
    specs: list[dict[int, int]] = [
        {0: 1},
        {last: 1},
        {last: 2},
        {0: 1, 1: 1},
        {0: 2, 1: 1},
        {0: 4},
        {0: 1, last: 3},
        {0: 2, 1: 2},
        {0: 5},
        {0: 2, last: 3},
    ]
    if n >= 3:
        specs += [{0: 1, 1: 1, 2: 1}, {0: 1, 1: 2, 2: 1}]
    if n >= 4:
        specs += [{0: 1, 1: 1, 2: 1, 3: 1}]
    if n >= 5:
        specs += [{1: 1, 3: 1, 4: 2}]
    return list(dict.fromkeys(_unit(n, s) for s in specs))


@cache
def _symbolic(name: str) -> tuple[tuple[sympy.Symbol, ...], tuple[Any, ...]]:
    c = case(name)
    assert c.symbolic is not None
    symbols = tuple(sympy.Symbol(f"s_{i}", real=True) for i in range(len(c.inputs)))
    return symbols, c.symbolic(symbols)


@cache
def _derivative(name: str, out_index: int, alpha: tuple[int, ...]) -> Any:
    """``sympy.diff`` of output ``out_index`` by ``alpha``, one order at a time.

    Derivatives are memoised so that multi-indices sharing a prefix share work.
    """
    symbols, exprs = _symbolic(name)
    if not any(alpha):
        return exprs[out_index]
    i = max(k for k, a in enumerate(alpha) if a)
    parent = alpha[:i] + (alpha[i] - 1,) + alpha[i + 1 :]
    return sympy.diff(_derivative(name, out_index, parent), symbols[i])


def _sample_rows(c: ZooCase) -> np.ndarray:
    n = c.points.shape[0]
    return c.points[[0, n // 2, n - 1][:N_SYMPY_POINTS]]


def _evaluate(
    expr: Any, symbols: tuple[sympy.Symbol, ...], rows: np.ndarray
) -> np.ndarray:
    """Evaluates ``expr`` at each row with mpmath at ``DIGITS`` significant digits.

    Rational constants and the (exactly converted) float64 inputs are evaluated at
    high precision, so the result is correctly rounded to float64 in practice.
    """
    fn = sympy.lambdify(symbols, expr, modules="mpmath")
    with mpmath.workdps(DIGITS):
        return np.array(
            [float(fn(*(mpmath.mpf(float(v)) for v in row))) for row in rows]
        )


def _assert_close(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    err = np.abs(got - ref)
    tol = RTOL * np.abs(ref) + ATOL
    assert np.all(err <= tol), (
        f"{what}: max err {err.max():.3e}, got {got}, expected {ref}"
    )


# --------------------------------------------------------------------------- #
# Structure
# --------------------------------------------------------------------------- #


def test_case_names_unique_and_lookup() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    for c in CASES:
        assert case(c.name) is c
    with pytest.raises(KeyError):
        case("no_such_case")


@pytest.mark.parametrize("c", CASE_PARAMS)
def test_case_shapes(c: ZooCase) -> None:
    n_in, n_out = len(c.inputs), len(c.outputs)
    assert c.smooth
    assert c.points.dtype == np.float64
    assert c.points.ndim == 2 and c.points.shape[1] == n_in
    assert 32 <= c.points.shape[0] <= 64
    assert all(p.dtype == torch.float64 for p in c.module.parameters())
    y = c.module(torch.from_numpy(c.points))
    assert y.dtype == torch.float64 and y.shape == (c.points.shape[0], n_out)
    # Rows are independent: an unbatched row gives the same values.
    row = c.module(torch.from_numpy(c.points[3]))
    assert row.shape == (n_out,)
    torch.testing.assert_close(row, y[3], rtol=1e-14, atol=0.0)
    for j in range(n_out):
        d = c.partial(c.points, j, (1,) * n_in)
        assert d.shape == (c.points.shape[0],) and d.dtype == np.float64


def test_partial_validates_arguments() -> None:
    c = case("poly3")
    with pytest.raises(ValueError):
        c.partial(c.points, 0, (1, 0))
    with pytest.raises(ValueError):
        c.partial(c.points, 0, (1, -1, 0))
    with pytest.raises(ValueError):
        c.partial(c.points[:, :2], 0, (1, 0, 0))
    with pytest.raises(IndexError):
        c.partial(c.points, 1, (0, 0, 0))


# --------------------------------------------------------------------------- #
# Order 0: closed form and sympy expression against the torch module
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("c", CASE_PARAMS)
def test_value_matches_module(c: ZooCase) -> None:
    with torch.no_grad():
        y = c.module(torch.from_numpy(c.points)).numpy()
    zeros = (0,) * len(c.inputs)
    for j in range(len(c.outputs)):
        np.testing.assert_allclose(
            c.partial(c.points, j, zeros), y[:, j], rtol=1e-12, atol=1e-14
        )


@pytest.mark.parametrize("c", CASE_PARAMS)
def test_symbolic_matches_module(c: ZooCase) -> None:
    symbols, exprs = _symbolic(c.name)
    assert len(exprs) == len(c.outputs)
    rows = _sample_rows(c)
    with torch.no_grad():
        y = c.module(torch.from_numpy(rows)).numpy()
    for j, expr in enumerate(exprs):
        ref = _evaluate(expr, symbols, rows)
        np.testing.assert_allclose(y[:, j], ref, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- #
# Orders 1 to 5: closed form against sympy.diff
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("c", CASE_PARAMS)
def test_partials_match_sympy(c: ZooCase) -> None:
    symbols, exprs = _symbolic(c.name)
    rows = _sample_rows(c)
    alphas = multi_indices(len(c.inputs))
    if len(c.inputs) > 1:  # at least one mixed partial of total order 4
        assert any(sum(a) == 4 and np.count_nonzero(a) > 1 for a in alphas)
    for j in range(len(exprs)):
        for alpha in alphas:
            ref = _evaluate(_derivative(c.name, j, alpha), symbols, rows)
            got = c.partial(rows, j, alpha)
            _assert_close(got, ref, f"{c.name} d{alpha} {c.outputs[j]}")


# --------------------------------------------------------------------------- #
# Exact zeros the oracle promises
# --------------------------------------------------------------------------- #


def test_exact_zeros() -> None:
    c = case("multi_out")
    w = c.outputs.index("w")
    for alpha in [(0, 1), (1, 1), (3, 2), (0, 5)]:
        assert np.all(c.partial(c.points, w, alpha) == 0.0)
    v = c.outputs.index("v")
    assert np.all(c.partial(c.points, v, (3, 0)) == 0.0)
    assert np.all(c.partial(c.points, v, (0, 4)) == 0.0)
    p = case("poly3")
    assert np.all(p.partial(p.points, 0, (0, 0, 5)) == 0.0)
    assert np.all(p.partial(p.points, 0, (4, 0, 0)) == 0.0)
    assert np.all(p.partial(p.points, 0, (2, 2, 1)) == 0.0)
    np.testing.assert_array_equal(p.partial(p.points, 0, (3, 2, 0)), 12.0)


# --------------------------------------------------------------------------- #
# Activation derivative polynomials
# --------------------------------------------------------------------------- #

_Z = sympy.Symbol("z", real=True)
_ACTS = [
    (tanh_derivative, sympy.tanh(_Z)),
    (sigmoid_derivative, 1 / (1 + sympy.exp(-_Z))),
    (softplus_derivative, sympy.log(1 + sympy.exp(_Z))),
]


@pytest.mark.parametrize(("fn", "expr"), _ACTS, ids=["tanh", "sigmoid", "softplus"])
def test_activation_derivatives(fn: Any, expr: Any) -> None:
    zs = np.array([-3.1, -0.7, 0.0, 0.4, 2.3])
    for m in range(7):
        dexpr = sympy.diff(expr, _Z, m) if m else expr
        ref = _evaluate(dexpr, (_Z,), zs[:, None])
        _assert_close(fn(zs, m), ref, f"{fn.__name__} order {m}")
