"""Rules that push :class:`~wrt.engines.taylor.jet.Jet` through ATen operations.

A rule receives the operation (an ``OpOverload``, for its schema) and the node's
arguments, where traced values are Jets and everything else (weights, sizes,
scalars) is as the graph holds it. Operations whose arguments hold no Jet are not
looked up at all: the interpreter evaluates them directly. Families:

- linear in the jet (views, slices, sums, copies): the same op on the stack, with
  dimension arguments moved past the leading entry dimension;
- matrix products and products: one broadcast GEMM on the stack plus the truncated
  cross terms (:func:`~wrt.engines.taylor.jet.product`);
- elementwise functions: composed from their univariate derivative coefficients
  (:data:`wrt.engines.taylor.elementwise.ELEMENTWISE`);
- comparisons and shape queries: read the value only.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import torch

from wrt.engines.taylor import jet as J
from wrt.engines.taylor.elementwise import ELEMENTWISE, derivative_coefficients
from wrt.engines.taylor.jet import Jet
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
    return isinstance(x, Jet)


def _like(x: Any, ref: Jet) -> Jet:
    return x if _is(x) else J.lift(x, ref)


# --- linear in the jet: shift the dimension arguments by one ----------------------

_DIM_ARGS = {"dim", "dim0", "dim1", "start_dim", "end_dim"}


def _shift(d: int, ndim: int) -> int:
    """A dimension of the value as a dimension of the stack."""
    return (d % ndim if ndim else 0) + 1


def _on_stack(op: Any, x: Jet, args: tuple, kwargs: dict) -> Any:
    """Run ``op`` on the whole stack, arguments rewritten for the extra leading dim."""
    packet = op.overloadpacket
    # unsqueeze's dim counts the dims of its result
    ndim = len(x.shape) + (packet is aten.unsqueeze)
    names = [a.name for a in op._schema.arguments][1:]
    args = list(args)

    def fix(name: str, value: Any) -> Any:
        if name in _DIM_ARGS and value is not None:
            if isinstance(value, (list, tuple)):
                return [_shift(d, ndim) for d in value] or list(range(1, ndim + 1))
            return _shift(value, ndim)
        if name == "size":  # view, reshape, expand
            return [len(x.algebra), *value]
        if name == "dims":  # permute
            return [0, *(_shift(d, ndim) for d in value)]
        if name == "repeats":
            return [1, *value]
        if name == "indices":  # advanced indexing
            return [None, *value]
        return value

    for i, value in enumerate(args):
        args[i] = fix(names[i], value)
    kwargs = {k: fix(k, v) for k, v in kwargs.items()}
    bound = set(names[: len(args)]) | set(kwargs)
    # a dimension left at its default (unbind(x) means dim 0) must move too
    for argument in op._schema.arguments[1:]:
        if (
            argument.name in _DIM_ARGS
            and argument.name not in bound
            and argument.has_default_value()
            and argument.default_value is not None
        ):
            kwargs[argument.name] = fix(argument.name, argument.default_value)
            bound.add(argument.name)
    if packet in (aten.sum, aten.mean) and "dim" not in bound:
        kwargs["dim"] = list(range(1, ndim + 1))  # a full reduction of the value
        op = packet.dim_IntList if packet is aten.sum else packet.dim
    if packet is aten.squeeze and "dim" not in bound:
        dims = [i + 1 for i, s in enumerate(x.shape) if s == 1]
        return op.overloadpacket.dims(x.stack, dims)
    if packet is aten.t:
        return x.stack.transpose(1, 2) if ndim == 2 else x.stack
    return op(x.stack, *args, **kwargs)


def _linear(op: Any, x: Jet, *args: Any, **kwargs: Any) -> Any:
    out = _on_stack(op, x, args, kwargs)
    if isinstance(out, (list, tuple)):  # split, unbind, chunk
        return [x.same(part) for part in out]
    return x.same(out)


for _op in (
    aten.view, aten._unsafe_view, aten.reshape, aten.expand, aten.permute,
    aten.transpose, aten.t, aten.unsqueeze, aten.squeeze, aten.slice, aten.select,
    aten.clone, aten.alias, aten._to_copy, aten.sum, aten.mean, aten.neg,
    aten.index_select, aten.narrow, aten.flatten, aten.contiguous, aten.repeat,
    aten.lift_fresh_copy, aten.index, aten.split, aten.split_with_sizes,
    aten.unbind, aten.chunk,
):  # fmt: skip
    RULES[_op] = _linear


@rule(aten.detach)
def _detach(op: Any, x: Jet) -> Jet:
    """A detached value is a constant: its coefficients are zero."""
    return J.lift(x.value.detach(), x)


def _joiner(op: Any, tensors: list[Any], dim: int = 0) -> Jet:
    ref = next(t for t in tensors if _is(t))
    return ref.same(
        op(
            [_like(t, ref).stack for t in tensors],
            _shift(dim, len(ref.shape) + (op.overloadpacket is aten.stack)),
        )
    )


RULES[aten.cat] = _joiner
RULES[aten.stack] = _joiner


@rule(aten.where)
def _where(op: Any, condition: Any, a: Any, b: Any) -> Jet:
    ref = a if _is(a) else b
    a, b = _like(a, ref), _like(b, ref)
    return ref.same(torch.where(condition, a.stack, b.stack))


# --- arithmetic ----------------------------------------------------------------------


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


# --- matrix products -----------------------------------------------------------------


def _matmul_like(op: Any, a: Any, b: Any) -> Jet:
    """Mm, bmm and matmul: torch.matmul broadcasts over the stack's leading dim.

    A jet on the left is a stack of matrices (or of row vectors, which matmul reads
    as matrices: the same product); a 1-D jet on the right must be turned into
    columns first, or matmul would read the stack itself as the matrix.
    """
    if _is(a) and _is(b):
        if len(a.shape) < 2 or len(b.shape) < 2:
            raise UnsupportedOpError("no Taylor rule for a product of two 1-D jets")
        return J.product(a, b, torch.matmul)
    if _is(a):
        return a.same(torch.matmul(a.stack, b))
    if len(b.shape) == 1:
        return b.same(torch.matmul(a, b.stack.unsqueeze(-1)).squeeze(-1))
    return b.same(torch.matmul(a, b.stack))


RULES[aten.mm] = _matmul_like
RULES[aten.bmm] = _matmul_like
RULES[aten.matmul] = _matmul_like


@rule(aten.addmm)
def _addmm(
    op: Any, bias: Any, a: Any, b: Any, *, beta: float = 1, alpha: float = 1
) -> Jet:
    if not _is(a) and not _is(b):  # only the bias is a jet
        return _add(op, bias.same(beta * bias.stack), alpha * torch.mm(a, b))
    product = _matmul_like(op, a, b)
    if alpha != 1:
        product = product.same(alpha * product.stack)
    if _is(bias):
        return J.add(product, bias, beta)
    stack = product.stack
    stack[0] += beta * bias if beta != 1 else bias  # fresh GEMM output: in place
    return product


# --- comparisons and shape queries: functions of the value only ---------------------


def _of_value(op: Any, *args: Any, **kwargs: Any) -> Any:
    values = [a.value if _is(a) else a for a in args]
    return op(*values, **kwargs)


for _op in (
    aten.gt, aten.lt, aten.ge, aten.le, aten.eq, aten.ne, aten.sign,
    aten.full_like, aten.zeros_like, aten.ones_like, aten.empty_like,
    aten.new_zeros, aten.new_ones, aten.new_full, aten.new_empty,
):  # fmt: skip
    RULES[_op] = _of_value


# --- a few composite operations ------------------------------------------------------


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


@rule(aten.linalg_vector_norm)
def _norm(
    op: Any, x: Jet, ord: float = 2, dim: Any = None, keepdim: bool = False, **kw: Any
) -> Jet:
    if ord != 2 or kw.get("dtype") is not None:
        raise UnsupportedOpError(f"no Taylor rule for the {ord}-norm (only the 2-norm)")
    squares = J.product(x, x)
    summed = _linear(aten.sum.dim_IntList, squares, dim, keepdim)
    return _unary("pow", summed, 0.5)


def lookup(target: Any) -> Rule | None:
    """The rule of an ATen operation (``getitem`` of split results included)."""
    if target is operator.getitem:
        return lambda op, seq, i: seq[i]
    return RULES.get(getattr(target, "overloadpacket", target))


# --- layers that are compositions of the above --------------------------------------


@rule(aten.convolution)
def _convolution(
    op: Any,
    x: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    transposed: bool,
    output_padding: Any,
    groups: int,
) -> Jet:
    """Convolution is linear in its input: the entries go through as extra batch rows.

    The bias is added to the value only.
    """
    if not _is(x) or _is(weight) or _is(bias):
        raise UnsupportedOpError(
            "no Taylor rule for a convolution whose weights depend on the inputs"
        )
    m, shape = x.stack.shape[0], x.shape
    flat = x.stack.reshape(m * shape[0], *shape[1:])
    out = op(
        flat,
        weight,
        None,
        stride,
        padding,
        dilation,
        transposed,
        output_padding,
        groups,
    )
    stack = out.reshape(m, shape[0], *out.shape[1:])
    if bias is not None:
        stack[0] += bias.view(1, -1, *[1] * (stack.dim() - 3))
    return x.same(stack)


def _reduce(x: Jet, dims: list[int], mean: bool) -> Jet:
    return _linear(aten.mean.dim if mean else aten.sum.dim_IntList, x, dims, True)


@rule(aten.native_layer_norm)
def _layer_norm(
    op: Any, x: Jet, normalized_shape: Any, weight: Any, bias: Any, eps: float
) -> list[Any]:
    """(y, mean, rstd), with y = (x - mean) rsqrt(var + eps) * weight + bias."""
    dims = list(range(len(x.shape) - len(normalized_shape), len(x.shape)))
    centred = J.add(x, _reduce(x, dims, mean=True), -1.0)
    variance = _reduce(J.product(centred, centred), dims, mean=True)
    rstd = _unary("rsqrt", J.add_constant(variance, eps))
    y = J.product(centred, rstd)
    if weight is not None:
        y = _scale(y, weight)
    if bias is not None:
        y = J.add_constant(y, bias)
    mean = _reduce(x, dims, mean=True)
    return [y, mean.value, rstd.value]


def _shifted_exp(x: Jet, dim: int) -> Jet:
    """Exp(x - max), the max a detached constant (softmax's usual shift)."""
    shift = x.value.detach().amax(dim=dim, keepdim=True)
    return _unary("exp", J.add_constant(x, -shift))


@rule(aten._softmax)
def _softmax(op: Any, x: Jet, dim: int, half_to_float: bool = False) -> Jet:
    """Exp(x) / sum exp(x) along ``dim``."""
    e = _shifted_exp(x, dim)
    total = _reduce(e, [dim], mean=False)
    return J.product(e, _unary("reciprocal", total))


@rule(aten._log_softmax)
def _log_softmax(op: Any, x: Jet, dim: int, half_to_float: bool = False) -> Jet:
    """X - log sum exp(x) along ``dim``."""
    shift = x.value.detach().amax(dim=dim, keepdim=True)
    total = _reduce(_shifted_exp(x, dim), [dim], mean=False)
    return J.add(x, J.add_constant(_unary("log", total), shift), -1.0)


@rule(aten.native_group_norm)
def _group_norm(
    op: Any,
    x: Jet,
    weight: Any,
    bias: Any,
    n: int,
    c: int,
    hw: int,
    group: int,
    eps: float,
) -> list[Any]:
    """Layer norm over each group of channels, then the per-channel affine map."""
    m = x.stack.shape[0]
    grouped = x.same(x.stack.reshape(m, n, group, -1))
    normed, mean, rstd = _layer_norm(op, grouped, [grouped.shape[-1]], None, None, eps)
    y = x.same(normed.stack.reshape(x.stack.shape))
    shape = (c, *[1] * (len(x.shape) - 2))
    if weight is not None:
        y = _scale(y, weight.reshape(shape))
    if bias is not None:
        y = J.add_constant(y, bias.reshape(shape))
    return [y, mean.reshape(n, group), rstd.reshape(n, group)]


def _batch_norm_eval(
    x: Jet, weight: Any, bias: Any, mean: Any, var: Any, eps: float
) -> Jet:
    """Batch norm with running statistics: an affine map per channel (dim 1)."""
    shape = (-1, *[1] * (len(x.shape) - 2))
    scale = torch.rsqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    y = _scale(x, scale.reshape(shape))
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias
    return J.add_constant(y, shift.reshape(shape))


@rule(aten.native_batch_norm, aten._native_batch_norm_legit)
def _native_batch_norm(
    op: Any,
    x: Jet,
    weight: Any,
    bias: Any,
    mean: Any,
    var: Any,
    training: bool,
    momentum: float,
    eps: float,
) -> list[Any]:
    """Eval mode only: batch statistics of the points themselves have no rule."""
    if training or mean is None:
        raise UnsupportedOpError(
            "no Taylor rule for batch norm in training mode (statistics of the "
            "batch); put the model in eval mode"
        )
    y = _batch_norm_eval(x, weight, bias, mean, var, eps)
    empty = x.value.new_zeros(0)
    return [y, empty, empty]


@rule(aten._native_batch_norm_legit_no_training)
def _batch_norm_no_training(
    op: Any,
    x: Jet,
    weight: Any,
    bias: Any,
    mean: Any,
    var: Any,
    momentum: float,
    eps: float,
) -> list[Any]:
    """Batch norm with running statistics (the eval-mode operator)."""
    y = _batch_norm_eval(x, weight, bias, mean, var, eps)
    empty = x.value.new_zeros(0)
    return [y, empty, empty]
