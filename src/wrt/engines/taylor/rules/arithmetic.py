"""Rules for arithmetic and elementwise functions of jets.

Sums are sums of stacks; products are truncated Cauchy products
(:func:`~wrt.engines.taylor.jet.product`); elementwise functions compose the jet
with their univariate derivative coefficients
(:data:`wrt.engines.taylor.elementwise.ELEMENTWISE`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from wrt.engines.taylor import jet as J
from wrt.engines.taylor.elementwise import ELEMENTWISE, derivative_coefficients
from wrt.engines.taylor.jet import Jet
from wrt.engines.taylor.rules.linear import _linear, _shift
from wrt.engines.taylor.rules.registry import RULES, Rule, _is, _like, aten, rule
from wrt.engines.taylor.series import Series
from wrt.errors import UnsupportedOpError


@rule(aten.add)
def _add(op: Any, a: Any, b: Any, *, alpha: float = 1) -> Jet:
    if _is(a) and _is(b):
        return J.add(a, b, alpha)
    if _is(a):
        return J.add_constant(a, alpha * b)
    scaled = b.same(alpha * b.stack) if alpha != 1 else b
    return J.add_constant(scaled, a)


@rule(aten.sub)
def _sub(op: Any, a: Any, b: Any, *, alpha: float = 1) -> Jet:
    return _add(op, a, b.same(-b.stack) if _is(b) else -b, alpha=alpha)


@rule(aten.rsub)
def _rsub(op: Any, a: Any, b: Any, *, alpha: float = 1) -> Jet:
    return _sub(op, b, a, alpha=alpha)


def _scale(x: Jet, constant: Any) -> Jet:
    """X * constant, where the constant broadcasts against the value."""
    if isinstance(constant, torch.Tensor) and constant.dim() > len(x.shape):
        stack = x.stack.reshape(
            x.stack.shape[0], *[1] * (constant.dim() - len(x.shape)), *x.shape
        )
        return x.same(stack * constant)
    return x.same(x.stack * constant)


@rule(aten.mul)
def _mul(op: Any, a: Any, b: Any) -> Jet:
    if _is(a) and _is(b):
        return J.product(a, b)
    return _scale(a, b) if _is(a) else _scale(b, a)


def _unary(name: str, x: Jet, *args: Any) -> Jet:
    """An elementwise function of one jet."""
    return RULES_BY_NAME[name](None, x, *args)


@rule(aten.div)
def _div(op: Any, a: Any, b: Any, *, rounding_mode: str | None = None) -> Jet:
    if rounding_mode is not None:
        raise UnsupportedOpError("no Taylor rule for div with rounding (not smooth)")
    if _is(b):
        inverse = _unary("reciprocal", b)
        return J.product(a, inverse) if _is(a) else _scale(inverse, a)
    return a.same(a.stack / b)


@rule(aten.pow)
def _pow(op: Any, a: Any, b: Any) -> Jet:
    if _is(a) and not _is(b):
        return _unary("pow", a, float(b))
    if not _is(a):  # constant ** jet = exp(jet log constant)
        return _unary("exp", b.same(b.stack * math.log(float(a))))
    return _unary("exp", J.product(b, _unary("log", a)))


def _elementwise(name: str) -> Rule:
    def apply(op: Any, x: Jet, *args: Any, **kwargs: Any) -> Jet:
        if x.algebra.univariate:  # the recurrence itself, on the coefficients
            series = ELEMENTWISE[name](Series(x.stack.unbind(0)), *args, **kwargs)
            return x.same(torch.stack(series.coeffs))
        coefficients = derivative_coefficients(
            name, x.value, x.algebra.order, *args, **kwargs
        )
        return J.compose(x, coefficients)

    return apply


RULES_BY_NAME = {name: _elementwise(name) for name in ELEMENTWISE}
for _name, _rule in RULES_BY_NAME.items():
    if _name != "pow":  # pow may have a jet exponent: its own rule above
        RULES[getattr(aten, _name)] = _rule


@rule(aten.prod)
def _prod(
    op: Any, x: Jet, dim: int | None = None, keepdim: bool = False, **kw: Any
) -> Jet:
    if dim is None:
        x, dim = x.same(x.stack.reshape(x.stack.shape[0], -1)), 0
    parts = _linear(aten.unbind.int, x, dim)
    result = parts[0]
    for part in parts[1:]:
        result = J.product(result, part)
    return _linear(aten.unsqueeze.default, result, dim) if keepdim else result


@rule(aten.cumprod)
def _cumprod(op: Any, x: Jet, dim: int, **kw: Any) -> Jet:
    """Running products along ``dim``, one truncated product per step."""
    parts = _linear(aten.unbind.int, x, dim)
    running = [parts[0]]
    for part in parts[1:]:
        running.append(J.product(running[-1], part))
    return x.same(torch.stack([r.stack for r in running], _shift(dim, len(x.shape))))


@rule(aten.logaddexp)
def _logaddexp(op: Any, a: Any, b: Any) -> Jet:
    ref = a if _is(a) else b
    a, b = _like(a, ref), _like(b, ref)
    shift = torch.maximum(a.value, b.value).detach()
    total = J.add(
        _unary("exp", J.add_constant(a, -shift)),
        _unary("exp", J.add_constant(b, -shift)),
    )
    return J.add_constant(_unary("log", total), shift)


def _pick(choose_first: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Rule:
    def apply(op: Any, a: Any, b: Any) -> Jet:
        ref = a if _is(a) else b
        a, b = _like(a, ref), _like(b, ref)
        return ref.same(torch.where(choose_first(a.value, b.value), a.stack, b.stack))

    return apply


RULES[aten.maximum] = _pick(lambda a, b: a >= b)
RULES[aten.minimum] = _pick(lambda a, b: a <= b)


@rule(aten.log_sigmoid_forward)
def _log_sigmoid_forward(op: Any, x: Jet) -> list[Any]:
    """(log sigmoid x, buffer): the buffer is the kernel's scratch, left empty."""
    return [_unary("log_sigmoid", x), x.value.new_zeros(0)]


@rule(aten._prelu_kernel)
def _prelu(op: Any, x: Jet, weight: torch.Tensor) -> Jet:
    """X where x > 0, weight * x elsewhere: piecewise linear, weight constant."""
    u = x.value
    slope = torch.where(u > 0, torch.ones_like(u), weight.expand_as(u))
    return x.same(x.stack * slope)


@rule(aten.atan2)
def _atan2(op: Any, a: Any, b: Any) -> Jet:
    """Atan(a / b) plus the branch's constant multiple of pi (b != 0)."""
    ratio = _div(op, a, b)
    out = _unary("atan", ratio)
    a_value = a.value if _is(a) else a
    b_value = b.value if _is(b) else b
    branch = torch.atan2(a_value, b_value) - out.value
    return J.add_constant(out, branch)
