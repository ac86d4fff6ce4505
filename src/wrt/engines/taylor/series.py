"""Truncated Taylor series and their arithmetic: the numbers the Taylor engine moves.

A :class:`Series` holds normalised Taylor coefficients ``c_0 .. c_K`` of
``t -> f(x + t v)``: ``c_0`` is the value and ``c_k = D^k f[v] / k!``. Every
coefficient has the shape of the value. Products are Cauchy products, and the
elementary functions use the classic recurrences of Taylor arithmetic (Griewank and
Walther, *Evaluating Derivatives*, ch. 13): O(K^2) elementwise work per function.

Saturating functions keep relative accuracy in their tails: the first derivative
of tanh is ``sech^2 u``, not ``1 - tanh(u)^2`` (which is exactly 0 once tanh(u)
rounds to 1, at |u| > 19), and that of the sigmoid is ``sigmoid(u) sigmoid(-u)``,
not ``s (1 - s)``. The higher coefficients follow from the recurrences, whose
terms are then all of the size of the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import torch

Tensor = torch.Tensor


class Series:
    """Coefficients ``c_0 .. c_K`` of a truncated Taylor series, each the same shape."""

    __slots__ = ("coeffs",)

    def __init__(self, coeffs: Sequence[Tensor]) -> None:
        self.coeffs = list(coeffs)

    @property
    def order(self) -> int:
        """K, the highest coefficient kept."""
        return len(self.coeffs) - 1

    def map(self, fn: Callable[[Tensor], Tensor]) -> Series:
        """Apply a function that is linear in its argument to every coefficient."""
        return Series([fn(c) for c in self.coeffs])

    def __repr__(self) -> str:
        return f"Series(K={self.order}, shape={tuple(self.coeffs[0].shape)})"


def lift(value: Tensor | float, like: Series) -> Series:
    """A constant as a series: the value, then zeros."""
    value = torch.as_tensor(
        value, dtype=like.coeffs[0].dtype, device=like.coeffs[0].device
    )
    zero = torch.zeros_like(value)
    return Series([value] + [zero] * like.order)


def add(a: Series, b: Series, alpha: float = 1.0) -> Series:
    """A + alpha b."""
    return Series([x + alpha * y for x, y in zip(a.coeffs, b.coeffs, strict=True)])


def mul(a: Series, b: Series) -> Series:
    """A b, the Cauchy product."""
    K = a.order
    return Series(
        [
            cast(torch.Tensor, sum(a.coeffs[j] * b.coeffs[k - j] for j in range(k + 1)))
            for k in range(K + 1)
        ]
    )


def div(a: Series, b: Series) -> Series:
    """A / b: c_k = (a_k - sum_{j=1..k} b_j c_{k-j}) / b_0."""
    c: list[Tensor] = []
    inv = 1.0 / b.coeffs[0]
    for k in range(a.order + 1):
        acc = a.coeffs[k]
        for j in range(1, k + 1):
            acc = acc - b.coeffs[j] * c[k - j]
        c.append(acc * inv)
    return Series(c)


def _derivative_recurrence(
    u: Series, first: Tensor, factor: Callable[[list[Tensor], int], Tensor]
) -> Series:
    """Y with y' = z u', where z_m = factor(y, m) depends on y_0 .. y_m.

    y_k = (1/k) sum_{j=1..k} j u_j z_{k-j}.
    """
    y = [first]
    z = [factor(y, 0)]
    ju = _scaled(u)
    for k in range(1, u.order + 1):
        y.append(_dot(ju, z, k) / k)
        if k < u.order:
            z.append(factor(y, k))
    return Series(y)


def _scaled(u: Series) -> list[Tensor]:
    """[0, 1 u_1, 2 u_2, ..., K u_K]: the coefficients of t u'(t), computed once."""
    return [u.coeffs[0]] + [j * c for j, c in enumerate(u.coeffs) if j]


def _dot(ju: list[Tensor], z: list[Tensor], k: int) -> Tensor:
    """sum_{j=1..k} (j u_j) z_{k-j}."""
    acc = ju[1] * z[k - 1]
    for j in range(2, k + 1):
        acc = torch.addcmul(acc, ju[j], z[k - j])
    return acc


def _square(y: list[Tensor], m: int) -> Tensor:
    """(y y)_m from y_0 .. y_m, using the symmetry of the terms."""
    acc = y[0] * y[m] * 2.0 if m else y[0] * y[0]
    for i in range(1, (m + 1) // 2):
        acc = torch.addcmul(acc, y[i], y[m - i], value=2.0)
    if m and m % 2 == 0:
        acc = torch.addcmul(acc, y[m // 2], y[m // 2])
    return acc


def tanh_slope(u: Tensor) -> Tensor:
    """``1 - tanh(u)^2 = sech(u)^2 = 4 sigmoid(2u) sigmoid(-2u)``.

    Relatively accurate for every u (1.70e-17 at u = 20, where ``1 - tanh(u)^2``
    gives 0), and finite with finite gradients for every u (0 once the sigmoid
    underflows). Of the accurate forms, the cheapest measured (two sigmoids; the
    ``1 / cosh^2`` form overflows into NaN gradients).
    """
    v = 2.0 * u
    return 4.0 * torch.sigmoid(v) * torch.sigmoid(-v)


def sigmoid_slope(u: Tensor) -> Tensor:
    """``s (1 - s) = sigmoid(u) sigmoid(-u)``: relatively accurate for every u."""
    return torch.sigmoid(u) * torch.sigmoid(-u)


def tanh(u: Series) -> Series:
    """Tanh u, from y' = (1 - y^2) u', with 1 - y_0^2 computed as sech^2 u_0."""
    return _derivative_recurrence(
        u,
        torch.tanh(u.coeffs[0]),
        lambda y, m: tanh_slope(u.coeffs[0]) if m == 0 else -_square(y, m),
    )


def sigmoid(u: Series) -> Series:
    """Sigmoid u, from y' = (y - y^2) u', with y_0 - y_0^2 as s(u_0) s(-u_0)."""
    return _derivative_recurrence(
        u,
        torch.sigmoid(u.coeffs[0]),
        lambda y, m: sigmoid_slope(u.coeffs[0]) if m == 0 else y[m] - _square(y, m),
    )


def log_sigmoid(u: Series) -> Series:
    """Log sigmoid u: y' = sigmoid(-u) u'."""
    rate = sigmoid(u.map(lambda c: -c))
    return scaled_by(u, rate, torch.nn.functional.logsigmoid(u.coeffs[0]))


def exp(u: Series) -> Series:
    """Exp u, from y' = y u'."""
    return _derivative_recurrence(u, torch.exp(u.coeffs[0]), lambda y, m: y[m])


def scaled_by(u: Series, rate: Series, first: Tensor) -> Series:
    """Y with y' = rate u' and y_0 = first (rate known up to order K - 1)."""
    y = [first]
    ju = _scaled(u)
    for k in range(1, u.order + 1):
        y.append(_dot(ju, rate.coeffs, k) / k)
    return Series(y)


def log(u: Series) -> Series:
    """Log u: y' = u' / u."""
    return scaled_by(u, div(lift(1.0, u), u), torch.log(u.coeffs[0]))


def sin_cos(u: Series) -> tuple[Series, Series]:
    """(sin u, cos u) together: s' = c u', c' = -s u'."""
    s, c = [torch.sin(u.coeffs[0])], [torch.cos(u.coeffs[0])]
    ju = _scaled(u)
    for k in range(1, u.order + 1):
        s.append(_dot(ju, c, k) / k)
        c.append(-_dot(ju, s, k) / k)
    return Series(s), Series(c)


def sinh_cosh(u: Series) -> tuple[Series, Series]:
    """(sinh u, cosh u) together: s' = c u', c' = s u'."""
    s, c = [torch.sinh(u.coeffs[0])], [torch.cosh(u.coeffs[0])]
    ju = _scaled(u)
    for k in range(1, u.order + 1):
        s.append(_dot(ju, c, k) / k)
        c.append(_dot(ju, s, k) / k)
    return Series(s), Series(c)


def tan(u: Series) -> Series:
    """Tan u, from y' = (1 + y^2) u'."""
    return _derivative_recurrence(
        u,
        torch.tan(u.coeffs[0]),
        lambda y, m: 1.0 + y[0] * y[0] if m == 0 else _square(y, m),
    )


def power(u: Series, p: float) -> Series:
    """U ** p for a constant p: u y' = p y u'.

    y_k = (1 / (k u_0)) sum_{j=1..k} (p j - (k - j)) u_j y_{k-j}.
    """
    if float(p).is_integer() and 0 <= p <= 4:
        result = lift(1.0, u)
        for _ in range(int(p)):
            result = mul(result, u)
        return result
    y = [u.coeffs[0] ** p]
    inv = 1.0 / u.coeffs[0]
    for k in range(1, u.order + 1):
        acc = sum((p * j - (k - j)) * u.coeffs[j] * y[k - j] for j in range(1, k + 1))
        y.append(acc * inv / k)
    return Series(y)


def erf(u: Series) -> Series:
    """Erf u: y' = (2 / sqrt(pi)) exp(-u^2) u'."""
    rate = exp(mul(u, u).map(lambda c: -c))
    rate = rate.map(lambda c: c * (2.0 / math.sqrt(math.pi)))
    return scaled_by(u, rate, torch.erf(u.coeffs[0]))


def softplus(u: Series, beta: float = 1.0, threshold: float = 20.0) -> Series:
    """Softplus, ``log(1 + exp(beta u)) / beta``: y' = sigmoid(beta u) u'.

    The value is torch's own (linear past ``threshold``, where it rounds to u); the
    derivatives are those of the smooth function at every u. Torch documents the
    cut-off as a numerical shortcut for the value; differentiating it would make
    the second derivative 0 past the threshold, where it is sigmoid'(beta u) beta.
    """
    s = sigmoid(u.map(lambda c: c * beta))
    return scaled_by(u, s, torch.nn.functional.softplus(u.coeffs[0], beta, threshold))


def piecewise_linear(u: Series, value: Tensor, slope: Tensor) -> Series:
    """A function that is linear around each point: value, then slope u_k."""
    return Series([value] + [slope * c for c in u.coeffs[1:]])
