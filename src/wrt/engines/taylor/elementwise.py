"""Elementwise functions as univariate Taylor series, and their derivative coefficients.

Each function here maps the truncated series of its argument to the series of its
result (Griewank and Walther's recurrences, :mod:`wrt.engines.taylor.series`). The
jet rules need only one thing from them: ``g^(j)(u_0) / j!`` for j = 0..K, the
coefficients of ``t -> g(u_0 + t)``, which :func:`derivative_coefficients` reads off
by feeding the series ``u_0 + t``. A function is written once, as a recurrence, and
every jet (pure, mixed, collapsed) composes with it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from wrt.engines.taylor import series as S
from wrt.engines.taylor.series import Series
from wrt.engines.taylor.trigonometric import TRIGONOMETRIC

Function = Callable[..., Series]


def _sin(x: Series) -> Series:
    return S.sin_cos(x)[0]


def _cos(x: Series) -> Series:
    return S.sin_cos(x)[1]


def _log1p(x: Series) -> Series:
    return S.log(S.add(x, S.lift(1.0, x)))


def _expm1(x: Series) -> Series:
    e = S.exp(x)
    return Series([torch.expm1(x.coeffs[0]), *e.coeffs[1:]])


def _softplus(x: Series, beta: float = 1.0, threshold: float = 20.0) -> Series:
    return S.softplus(x, float(beta), float(threshold))


def _silu(x: Series) -> Series:
    return S.mul(x, S.sigmoid(x))


def _one_plus(series: Series, value: torch.Tensor) -> Series:
    """1 + series, its value given (computed without cancelling)."""
    return Series([value, *series.coeffs[1:]])


def _gelu(x: Series, *, approximate: str = "none") -> Series:
    # 1 + erf(v) and 1 + tanh(v) cancel for v << 0: their values are erfc(-v) and
    # 2 sigmoid(2 v) (gelu'(-20) is -1.07e-86, not 0.3% off)
    if approximate == "tanh":
        inner = S.add(x, S.power(x, 3).map(lambda c: 0.044715 * c))
        v = inner.map(lambda c: math.sqrt(2.0 / math.pi) * c)
        one_plus = _one_plus(S.tanh(v), 2.0 * torch.sigmoid(2.0 * v.coeffs[0]))
        return S.mul(x.map(lambda c: 0.5 * c), one_plus)
    v = x.map(lambda c: c / math.sqrt(2.0))
    one_plus = _one_plus(S.erf(v), torch.erfc(-v.coeffs[0]))
    return S.mul(x.map(lambda c: 0.5 * c), one_plus)


def _elu(
    x: Series, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0
) -> Series:
    inner = x.map(lambda c: input_scale * c)
    negative = S.exp(inner).map(lambda c: alpha * scale * c)
    negative = Series(
        [
            torch.nn.functional.elu(x.coeffs[0] * input_scale, alpha) * scale,
            *negative.coeffs[1:],
        ]
    )
    positive = x.map(lambda c: scale * c)
    mask = x.coeffs[0] > 0
    return Series(
        [
            torch.where(mask, p, n)
            for p, n in zip(positive.coeffs, negative.coeffs, strict=True)
        ]
    )


def _relu(x: Series) -> Series:
    u = x.coeffs[0]
    return S.piecewise_linear(x, torch.relu(u), (u > 0).to(u.dtype))


def _leaky_relu(x: Series, negative_slope: float = 0.01) -> Series:
    u = x.coeffs[0]
    slope = torch.where(u > 0, torch.ones_like(u), torch.full_like(u, negative_slope))
    return S.piecewise_linear(
        x, torch.nn.functional.leaky_relu(u, negative_slope), slope
    )


def _abs(x: Series) -> Series:
    u = x.coeffs[0]
    return S.piecewise_linear(x, u.abs(), torch.sign(u))


def _clamp(x: Series, low: Any = None, high: Any = None) -> Series:
    u = x.coeffs[0]
    inside = torch.ones_like(u, dtype=torch.bool)
    if low is not None:
        inside &= u > low
    if high is not None:
        inside &= u < high
    return S.piecewise_linear(x, torch.clamp(u, low, high), inside.to(u.dtype))


def _power(x: Series, p: float) -> Series:
    return S.power(x, float(p))


def _mish(x: Series) -> Series:
    return S.mul(x, S.tanh(S.softplus(x)))


def _hardswish(x: Series) -> Series:
    """X relu6(x + 3) / 6: 0 below -3, x above 3, x (x + 3) / 6 between."""
    u = x.coeffs[0]
    middle = S.mul(x, S.add(x, S.lift(3.0, x))).map(lambda c: c / 6.0)
    middle = Series([torch.nn.functional.hardswish(u), *middle.coeffs[1:]])
    low, high = u <= -3.0, u >= 3.0
    return Series(
        [
            torch.where(high, xc, torch.where(low, torch.zeros_like(mc), mc))
            for xc, mc in zip(x.coeffs, middle.coeffs, strict=True)
        ]
    )


def _hardsigmoid(x: Series) -> Series:
    """Relu6(x + 3) / 6: slope 1/6 between -3 and 3, flat outside."""
    u = x.coeffs[0]
    inside = ((u > -3.0) & (u < 3.0)).to(u.dtype) / 6.0
    return S.piecewise_linear(x, torch.nn.functional.hardsigmoid(u), inside)


# selu's constants, as torch.nn.functional.selu documents them
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


#: aten operation name -> its function on univariate series (extra args: the op's).
ELEMENTWISE: dict[str, Function] = {
    "tanh": S.tanh,
    "sigmoid": S.sigmoid,
    "exp": S.exp,
    "log": S.log,
    "erf": S.erf,
    "sin": _sin,
    "cos": _cos,
    "log1p": _log1p,
    "expm1": _expm1,
    "softplus": _softplus,
    "log_sigmoid": S.log_sigmoid,
    "silu": _silu,
    "gelu": _gelu,
    "elu": _elu,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "abs": _abs,
    "hardtanh": _clamp,
    "clamp": _clamp,
    "sqrt": lambda x: S.power(x, 0.5),
    "rsqrt": lambda x: S.power(x, -0.5),
    "reciprocal": lambda x: S.div(S.lift(1.0, x), x),
    "square": lambda x: S.mul(x, x),
    "pow": _power,
    "clamp_min": lambda x, low: _clamp(x, low, None),
    "clamp_max": lambda x, high: _clamp(x, None, high),
    "selu": lambda x: _elu(x, _SELU_ALPHA, _SELU_SCALE),
    "celu": lambda x, alpha=1.0: _elu(x, float(alpha), 1.0, 1.0 / float(alpha)),
    "mish": _mish,
    "hardswish": _hardswish,
    "hardsigmoid": _hardsigmoid,
    **TRIGONOMETRIC,
}


def derivative_coefficients(
    name: str, value: torch.Tensor, order: int, *args: Any, **kwargs: Any
) -> list[torch.Tensor]:
    """``g^(j)(value) / j!`` for j = 0..order, elementwise, for the function ``name``.

    Args:
        name: a key of :data:`ELEMENTWISE`.
        value: where to expand, any shape S.
        order: K, the highest coefficient wanted.
        *args: the operation's own arguments (a slope, a power, ...).
        **kwargs: its keyword arguments (``approximate`` of gelu).

    Returns:
        K + 1 tensors of shape S.

    Examples:
        >>> c = derivative_coefficients("exp", torch.zeros(1), 3)
        >>> [round(float(t), 4) for t in c]
        [1.0, 1.0, 0.5, 0.1667]
    """
    if order <= 2 and name in _LOW_ORDER:
        return _LOW_ORDER[name](value)[: order + 1]
    if name in _POLYNOMIAL and not args and not kwargs:
        return _by_polynomials(name, value, order)
    one = torch.ones_like(value)
    zero = torch.zeros_like(value)
    series = Series([value, one] + [zero] * (order - 1))
    return ELEMENTWISE[name](series, *args, **kwargs).coeffs


def _tanh_low(u: torch.Tensor) -> list[torch.Tensor]:
    """Tanh, tanh' = sech^2 u (= 1 - y^2) and tanh'' / 2 = -y (1 - y^2)."""
    y = torch.tanh(u)
    slope = S.tanh_slope(u)
    return [y, slope, -y * slope]


def _sigmoid_low(u: torch.Tensor) -> list[torch.Tensor]:
    """Sigmoid s, s' = s(u) s(-u) (= s (1 - s)) and s'' / 2 = s' (1 - 2 s) / 2."""
    s = torch.sigmoid(u)
    slope = s * torch.sigmoid(-u)
    return [s, slope, slope * (0.5 - s)]


#: Closed forms for orders <= 2 of the commonest activations (no recurrence).
_LOW_ORDER = {"tanh": _tanh_low, "sigmoid": _sigmoid_low}

#: Functions whose derivative is a polynomial q of their value, g' = q(g), with
#: q(g(u)) computed accurately from u (the ``slope``). Then g^(j) = p_j(g) with
#: p_1 = q and p_{j+1} = p_j' q, so every p_j = q r_j: r_1 = 1 and
#: r_{j+1} = q' r_j + q r_j'. Computing g^(j) as slope(u) r_j(g) keeps its relative
#: accuracy in the tails, where q(g) itself is all cancellation (1 - tanh^2).
_POLYNOMIAL = {
    "tanh": (torch.tanh, S.tanh_slope, (1.0, 0.0, -1.0)),
    "sigmoid": (torch.sigmoid, S.sigmoid_slope, (0.0, 1.0, -1.0)),
}


def _poly_mul(a: list[float], b: list[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, ca in enumerate(a):
        for j, cb in enumerate(b):
            out[i + j] += ca * cb
    return out


def _poly_add(a: list[float], b: list[float]) -> list[float]:
    size = max(len(a), len(b))
    return [
        (a[i] if i < len(a) else 0.0) + (b[i] if i < len(b) else 0.0)
        for i in range(size)
    ]


def _poly_derivative(a: list[float]) -> list[float]:
    return [k * c for k, c in enumerate(a)][1:] or [0.0]


@functools.lru_cache(maxsize=32)
def _derivative_polynomials(name: str, order: int) -> list[tuple[float, ...]]:
    """Coefficients (lowest degree first) of r_j / j!, j = 1..order."""
    q = list(_POLYNOMIAL[name][2])
    dq = _poly_derivative(q)
    polys, r = [], [1.0]
    for j in range(1, order + 1):
        polys.append(tuple(c / math.factorial(j) for c in r))
        r = _poly_add(_poly_mul(dq, r), _poly_mul(q, _poly_derivative(r)))
    return polys


def _by_polynomials(name: str, value: torch.Tensor, order: int) -> list[torch.Tensor]:
    function, slope, _ = _POLYNOMIAL[name]
    y = function(value)
    base = slope(value)
    out = [y]
    for poly in _derivative_polynomials(name, order):
        acc = torch.full_like(y, poly[-1])
        for c in reversed(poly[:-1]):  # Horner
            acc = acc * y + c if c else acc * y
        out.append(acc * base)
    return out
