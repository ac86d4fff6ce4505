"""Trigonometric and hyperbolic functions and their inverses as univariate series.

Each inverse function is written through its derivative, ``y' = rate(u) u'`` with
an algebraic rate (``1 / sqrt(1 - u^2)`` for asin, ``1 / (1 + u^2)`` for atan,
...), so one recurrence (:func:`~wrt.engines.taylor.series.scaled_by`) gives every
order. The constant term of ``1 - u^2`` is formed as ``(1 - u)(1 + u)``: near
``|u| = 1`` the product keeps its relative accuracy where the difference cancels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from wrt.engines.taylor import series as S
from wrt.engines.taylor.series import Series


def _with_value(series: Series, value: torch.Tensor) -> Series:
    """The same series with its constant term computed apart (accurately)."""
    return Series([value, *series.coeffs[1:]])


def _one_minus_square(u: Series) -> Series:
    """1 - u^2, its value as (1 - u_0)(1 + u_0)."""
    u0 = u.coeffs[0]
    square = S.mul(u, u).map(lambda c: -c)
    return _with_value(S.add(square, S.lift(1.0, u)), (1.0 - u0) * (1.0 + u0))


def _square_minus_one(u: Series) -> Series:
    """u^2 - 1, its value as (u_0 - 1)(u_0 + 1)."""
    u0 = u.coeffs[0]
    square = S.mul(u, u)
    return _with_value(S.add(square, S.lift(-1.0, u)), (u0 - 1.0) * (u0 + 1.0))


def _one_plus_square(u: Series) -> Series:
    return S.add(S.mul(u, u), S.lift(1.0, u))


def _integral(
    rate: Callable[[Series], Series], value: Callable[[torch.Tensor], torch.Tensor]
) -> Callable[[Series], Series]:
    """The function with y(u_0) = value(u_0) and y' = rate(u) u'."""

    def apply(u: Series) -> Series:
        return S.scaled_by(u, rate(u), value(u.coeffs[0]))

    return apply


def _negated(rate: Callable[[Series], Series]) -> Callable[[Series], Series]:
    return lambda u: rate(u).map(lambda c: -c)


def _inverse_root(base: Callable[[Series], Series]) -> Callable[[Series], Series]:
    return lambda u: S.power(base(u), -0.5)


def _inverse(base: Callable[[Series], Series]) -> Callable[[Series], Series]:
    return lambda u: S.div(S.lift(1.0, u), base(u))


#: aten operation name -> its function on univariate series.
TRIGONOMETRIC: dict[str, Callable[[Series], Series]] = {
    "tan": S.tan,
    "sinh": lambda u: S.sinh_cosh(u)[0],
    "cosh": lambda u: S.sinh_cosh(u)[1],
    "asin": _integral(_inverse_root(_one_minus_square), torch.asin),
    "acos": _integral(_negated(_inverse_root(_one_minus_square)), torch.acos),
    "atan": _integral(_inverse(_one_plus_square), torch.atan),
    "asinh": _integral(_inverse_root(_one_plus_square), torch.asinh),
    "acosh": _integral(_inverse_root(_square_minus_one), torch.acosh),
    "atanh": _integral(_inverse(_one_minus_square), torch.atanh),
}
