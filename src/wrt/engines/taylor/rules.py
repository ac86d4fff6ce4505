"""Taylor rules for ATen operations, one small function per operation family.

A rule receives the node's arguments, where traced values are :class:`Series` and
everything else (weights, sizes, scalars) is as the graph holds it, and returns a
Series. Operations whose arguments hold no Series are not looked up at all: the
interpreter evaluates them directly. An operation without a rule raises
:class:`~wrt.errors.UnsupportedOpError` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from wrt.engines.taylor import series as S
from wrt.engines.taylor.series import Series
from wrt.errors import UnsupportedOpError

aten = torch.ops.aten
Rule = Callable[..., Any]
RULES: dict[Any, Rule] = {}


def rule(*ops: Any) -> Callable[[Rule], Rule]:
    """Register a rule for the overload packets ``ops``."""

    def register(fn: Rule) -> Rule:
        for op in ops:
            RULES[op] = fn
        return fn

    return register


def _is(x: Any) -> bool:
    return isinstance(x, Series)


def _like(x: Any, ref: Series) -> Series:
    return x if _is(x) else S.lift(x, ref)


# --- ops linear in their one series argument: shapes, copies, sums -----------------


def _per_coefficient(op: Any) -> Rule:
    def apply(x: Series, *args: Any, **kwargs: Any) -> Series:
        return x.map(lambda c: op(c, *args, **kwargs))

    return apply


for _op in (
    aten.view, aten._unsafe_view, aten.reshape, aten.expand, aten.permute,
    aten.transpose, aten.t, aten.unsqueeze, aten.squeeze, aten.slice, aten.select,
    aten.clone, aten.alias, aten._to_copy, aten.sum, aten.mean, aten.neg,
    aten.index_select, aten.narrow, aten.flatten, aten.contiguous, aten.repeat,
    aten.lift_fresh_copy,
):  # fmt: skip
    RULES[_op] = _per_coefficient(_op)


@rule(aten.detach)
def _detach(x: Series) -> Series:
    """A detached value is a constant: its higher coefficients are zero."""
    return S.lift(x.coeffs[0].detach(), x)


def _splitter(op: Any) -> Rule:
    def apply(x: Series, *args: Any, **kwargs: Any) -> list[Series]:
        parts = [op(c, *args, **kwargs) for c in x.coeffs]
        return [Series([p[i] for p in parts]) for i in range(len(parts[0]))]

    return apply


for _op in (aten.split, aten.split_with_sizes, aten.unbind, aten.chunk):
    RULES[_op] = _splitter(_op)


def _joiner(op: Any) -> Rule:
    def apply(tensors: list[Any], dim: int = 0) -> Series:
        ref = next(t for t in tensors if _is(t))
        lifted = [_like(t, ref) for t in tensors]
        return Series(
            [op([t.coeffs[k] for t in lifted], dim) for k in range(ref.order + 1)]
        )

    return apply


RULES[aten.cat] = _joiner(aten.cat)
RULES[aten.stack] = _joiner(aten.stack)


@rule(aten.where)
def _where(condition: Any, a: Any, b: Any) -> Series:
    ref = a if _is(a) else b
    a, b = _like(a, ref), _like(b, ref)
    return Series(
        [torch.where(condition, x, y) for x, y in zip(a.coeffs, b.coeffs, strict=True)]
    )


# --- arithmetic --------------------------------------------------------------------


@rule(aten.add)
def _add(a: Any, b: Any, *, alpha: float = 1) -> Series:
    if _is(a) and _is(b):
        return S.add(a, b, alpha)
    if _is(a):
        return Series([a.coeffs[0] + alpha * b, *a.coeffs[1:]])
    scaled = b.map(lambda c: alpha * c)
    return Series([a + scaled.coeffs[0], *scaled.coeffs[1:]])


@rule(aten.sub)
def _sub(a: Any, b: Any, *, alpha: float = 1) -> Series:
    return _add(a, b.map(lambda c: -c) if _is(b) else -b, alpha=alpha)


@rule(aten.rsub)
def _rsub(a: Any, b: Any, *, alpha: float = 1) -> Series:
    return _sub(b, a, alpha=alpha)


@rule(aten.mul)
def _mul(a: Any, b: Any) -> Series:
    if _is(a) and _is(b):
        return S.mul(a, b)
    series, constant = (a, b) if _is(a) else (b, a)
    return series.map(lambda c: c * constant)


@rule(aten.div)
def _div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Series:
    if rounding_mode is not None:
        raise UnsupportedOpError("no Taylor rule for div with rounding (not smooth)")
    if _is(b):
        return S.div(_like(a, b), b)
    return a.map(lambda c: c / b)


@rule(aten.pow)
def _pow(a: Any, b: Any) -> Series:
    if _is(a) and not _is(b):
        return S.power(a, float(b))
    if not _is(a):  # constant ** series = exp(series log constant)
        return S.exp(b.map(lambda c: c * math.log(float(a))))
    return S.exp(S.mul(b, S.log(a)))


@rule(aten.sqrt)
def _sqrt(x: Series) -> Series:
    return S.power(x, 0.5)


@rule(aten.rsqrt)
def _rsqrt(x: Series) -> Series:
    return S.power(x, -0.5)


@rule(aten.reciprocal)
def _reciprocal(x: Series) -> Series:
    return S.div(S.lift(1.0, x), x)


@rule(aten.square)
def _square(x: Series) -> Series:
    return S.mul(x, x)


# --- linear algebra ------------------------------------------------------------------


def _matmul_like(op: Any) -> Rule:
    def apply(a: Any, b: Any) -> Series:
        if _is(a) and _is(b):
            return S.bilinear(op, a, b)
        if _is(a) and a.coeffs[0].dim() == 2:  # one GEMM for all coefficients
            stacked = op(torch.cat(a.coeffs, 0), b)
            return Series(list(stacked.chunk(a.order + 1, 0)))
        if _is(a):
            return a.map(lambda c: op(c, b))
        return b.map(lambda c: op(a, c))

    return apply


RULES[aten.mm] = _matmul_like(aten.mm)
RULES[aten.bmm] = _matmul_like(aten.bmm)
RULES[aten.matmul] = _matmul_like(aten.matmul)


@rule(aten.addmm)
def _addmm(bias: Any, a: Any, b: Any, *, beta: float = 1, alpha: float = 1) -> Series:
    product = RULES[aten.mm](a, b)
    if alpha != 1:
        product = product.map(lambda c: alpha * c)
    return _add(product, bias if not _is(bias) else bias, alpha=beta)


# --- elementwise functions ---------------------------------------------------------


RULES[aten.tanh] = S.tanh
RULES[aten.sigmoid] = S.sigmoid
RULES[aten.exp] = S.exp
RULES[aten.log] = S.log
RULES[aten.erf] = S.erf


@rule(aten.sin)
def _sin(x: Series) -> Series:
    return S.sin_cos(x)[0]


@rule(aten.cos)
def _cos(x: Series) -> Series:
    return S.sin_cos(x)[1]


@rule(aten.log1p)
def _log1p(x: Series) -> Series:
    return S.log(S.add(x, S.lift(1.0, x)))


@rule(aten.expm1)
def _expm1(x: Series) -> Series:
    e = S.exp(x)
    return Series([torch.expm1(x.coeffs[0]), *e.coeffs[1:]])


@rule(aten.softplus)
def _softplus(x: Series, beta: float = 1.0, threshold: float = 20.0) -> Series:
    return S.softplus(x, float(beta), float(threshold))


@rule(aten.silu)
def _silu(x: Series) -> Series:
    return S.mul(x, S.sigmoid(x))


@rule(aten.gelu)
def _gelu(x: Series, *, approximate: str = "none") -> Series:
    if approximate == "tanh":
        inner = S.add(x, S.power(x, 3).map(lambda c: 0.044715 * c))
        t = S.tanh(inner.map(lambda c: math.sqrt(2.0 / math.pi) * c))
        return S.mul(x.map(lambda c: 0.5 * c), S.add(t, S.lift(1.0, x)))
    e = S.erf(x.map(lambda c: c / math.sqrt(2.0)))
    return S.mul(x.map(lambda c: 0.5 * c), S.add(e, S.lift(1.0, x)))


@rule(aten.elu)
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


@rule(aten.relu)
def _relu(x: Series) -> Series:
    u = x.coeffs[0]
    return S.piecewise_linear(x, torch.relu(u), (u > 0).to(u.dtype))


@rule(aten.leaky_relu)
def _leaky_relu(x: Series, negative_slope: float = 0.01) -> Series:
    u = x.coeffs[0]
    slope = torch.where(u > 0, torch.ones_like(u), torch.full_like(u, negative_slope))
    return S.piecewise_linear(
        x, torch.nn.functional.leaky_relu(u, negative_slope), slope
    )


@rule(aten.abs)
def _abs(x: Series) -> Series:
    u = x.coeffs[0]
    return S.piecewise_linear(x, u.abs(), torch.sign(u))


@rule(aten.hardtanh, aten.clamp)
def _clamp(x: Series, low: Any = None, high: Any = None) -> Series:
    u = x.coeffs[0]
    inside = torch.ones_like(u, dtype=torch.bool)
    if low is not None:
        inside &= u > low
    if high is not None:
        inside &= u < high
    return S.piecewise_linear(x, torch.clamp(u, low, high), inside.to(u.dtype))


# --- ops that read only a series' shape: their result is a constant ---------------


def _constant_from_shape(op: Any) -> Rule:
    def apply(x: Series, *args: Any, **kwargs: Any) -> torch.Tensor:
        return op(x.coeffs[0], *args, **kwargs)

    return apply


for _op in (
    aten.full_like, aten.zeros_like, aten.ones_like, aten.empty_like,
    aten.new_zeros, aten.new_ones, aten.new_full, aten.new_empty,
):  # fmt: skip
    RULES[_op] = _constant_from_shape(_op)


# --- comparisons: a boolean of the value, no derivative -------------------------------


def _of_value(op: Any) -> Rule:
    def apply(*args: Any, **kwargs: Any) -> torch.Tensor:
        values = [a.coeffs[0] if _is(a) else a for a in args]
        return op(*values, **kwargs)

    return apply


for _op in (aten.gt, aten.lt, aten.ge, aten.le, aten.eq, aten.ne, aten.sign):
    RULES[_op] = _of_value(_op)


@rule(aten.prod)
def _prod(
    x: Series, dim: int | None = None, keepdim: bool = False, **kwargs: Any
) -> Series:
    if dim is None:
        x, dim = x.map(lambda c: c.reshape(-1)), 0
    parts = _splitter(aten.unbind)(x, dim)
    result = parts[0]
    for part in parts[1:]:
        result = S.mul(result, part)
    return result.map(lambda c: c.unsqueeze(dim)) if keepdim else result


@rule(aten.logaddexp)
def _logaddexp(a: Any, b: Any) -> Series:
    ref = a if _is(a) else b
    a, b = _like(a, ref), _like(b, ref)
    shift = torch.maximum(a.coeffs[0], b.coeffs[0]).detach()
    ea = S.exp(Series([a.coeffs[0] - shift, *a.coeffs[1:]]))
    eb = S.exp(Series([b.coeffs[0] - shift, *b.coeffs[1:]]))
    total = S.log(S.add(ea, eb))
    return Series([torch.logaddexp(a.coeffs[0], b.coeffs[0]), *total.coeffs[1:]])


RULES[aten.index] = _per_coefficient(aten.index)  # advanced indexing of columns


def _pick(choose_first: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Rule:
    def apply(a: Any, b: Any) -> Series:
        ref = a if _is(a) else b
        a, b = _like(a, ref), _like(b, ref)
        first = choose_first(a.coeffs[0], b.coeffs[0])
        return Series(
            [torch.where(first, x, y) for x, y in zip(a.coeffs, b.coeffs, strict=True)]
        )

    return apply


RULES[aten.maximum] = _pick(lambda a, b: a >= b)
RULES[aten.minimum] = _pick(lambda a, b: a <= b)


@rule(aten.linalg_vector_norm)
def _norm(
    x: Series, ord: float = 2, dim: Any = None, keepdim: bool = False, **kw: Any
) -> Series:
    if ord != 2 or kw.get("dtype") is not None:
        raise UnsupportedOpError(f"no Taylor rule for the {ord}-norm (only the 2-norm)")
    squares = S.mul(x, x).map(
        lambda c: c.sum(dim=dim, keepdim=keepdim) if dim is not None else c.sum()
    )
    return S.power(squares, 0.5)
