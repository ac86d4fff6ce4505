"""Rules for norms and normalisations: compositions of the other rules.

The 2-norm, layer and group norm, batch norm with running statistics, softmax and
log-softmax, each written with the arithmetic and reduction rules.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wrt.engines.taylor import jet as J
from wrt.engines.taylor.jet import Jet
from wrt.engines.taylor.rules.arithmetic import _scale, _unary
from wrt.engines.taylor.rules.linear import _linear
from wrt.engines.taylor.rules.registry import aten, rule
from wrt.errors import UnsupportedOpError


@rule(aten.linalg_vector_norm)
def _norm(
    op: Any, x: Jet, ord: float = 2, dim: Any = None, keepdim: bool = False, **kw: Any
) -> Jet:
    if ord != 2 or kw.get("dtype") is not None:
        raise UnsupportedOpError(f"no Taylor rule for the {ord}-norm (only the 2-norm)")
    squares = J.product(x, x)
    summed = _linear(aten.sum.dim_IntList, squares, dim, keepdim)
    return _unary("pow", summed, 0.5)


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


@rule(aten._safe_softmax)
def _safe_softmax(op: Any, x: Jet, dim: int, dtype: Any = None) -> Jet:
    """Softmax, with 0 (not NaN) along a slice that is -inf throughout (masked)."""
    out = _softmax(op, x, dim)
    dead = (x.value == -math.inf).all(dim=dim, keepdim=True)
    return out.same(torch.where(dead, out.stack.new_zeros(()), out.stack))


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
