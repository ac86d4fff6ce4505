"""Rules for reductions and rearrangements beyond the plain linear ones.

Maxima and minima are piecewise: each output follows the input entry that attains
it, so its coefficients are that entry's (exact wherever the extremum is unique;
at a tie the coefficients are averaged over the tied entries, as autograd spreads
the gradient). Variance, standard deviation and log-sum-exp are compositions of
the sum and elementwise rules; gathers, flips, rolls and cumulative sums act on the
whole stack like the other linear operations.
"""

from __future__ import annotations

from typing import Any

import torch

from wrt.engines.taylor import jet as J
from wrt.engines.taylor.jet import Jet
from wrt.engines.taylor.rules.arithmetic import _unary
from wrt.engines.taylor.rules.linear import _linear, _shift
from wrt.engines.taylor.rules.registry import RULES, _is, _like, aten, rule


def _dims(x: Jet, dim: Any) -> list[int]:
    """The value's dimensions a reduction runs over (all for None or [])."""
    if dim is None or (isinstance(dim, (list, tuple)) and not dim):
        return list(range(len(x.shape)))
    listed = [dim] if isinstance(dim, int) else list(dim)
    return sorted(d % max(len(x.shape), 1) for d in listed)


def _extremum(x: Jet, dims: list[int], keepdim: bool, largest: bool) -> Jet:
    """Max or min over ``dims``: the mean coefficients of the attaining entries."""
    value = x.value
    if not dims or not len(x.shape):
        return x
    best = value.amax(dims, keepdim=True) if largest else value.amin(dims, keepdim=True)
    hit = (value == best).to(value.dtype)
    count = hit.sum(dims, keepdim=True)
    stack_dims = [d + 1 for d in dims]
    stack = (x.stack * hit).sum(stack_dims, keepdim=True) / count
    stack[0] = best  # the value itself, not a rounded mean of copies
    if not keepdim:
        stack = stack.squeeze(stack_dims) if len(x.shape) else stack
    return x.same(stack)


@rule(aten.amax)
def _amax(op: Any, x: Jet, dim: Any = (), keepdim: bool = False) -> Jet:
    return _extremum(x, _dims(x, dim), keepdim, largest=True)


@rule(aten.amin)
def _amin(op: Any, x: Jet, dim: Any = (), keepdim: bool = False) -> Jet:
    return _extremum(x, _dims(x, dim), keepdim, largest=False)


def _max_or_min(largest: bool) -> Any:
    def apply(op: Any, x: Jet, *args: Any, **kwargs: Any) -> Any:
        if op._overloadname == "default":  # a full reduction to a scalar
            return _extremum(x, _dims(x, None), False, largest)
        if not _is(x):  # maximum(a, b) of two tensors is aten.maximum, not here
            return op(x, *args, **kwargs)
        values, indices = op(x.value, *args, **kwargs)
        dim = args[0] if args else kwargs["dim"]
        keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
        index = indices if keepdim else indices.unsqueeze(dim)
        return [_pick_along(x, dim, index, keepdim), indices]

    return apply


def _pick_along(x: Jet, dim: int, index: torch.Tensor, keepdim: bool = True) -> Jet:
    """The coefficients of the entries at ``index`` along ``dim`` (gather)."""
    m = x.stack.shape[0]
    d = _shift(dim, len(x.shape))
    stack = torch.gather(x.stack, d, index.unsqueeze(0).expand(m, *index.shape))
    return x.same(stack if keepdim else stack.squeeze(d))


RULES[aten.max] = _max_or_min(largest=True)
RULES[aten.min] = _max_or_min(largest=False)


@rule(aten.gather)
def _gather(op: Any, x: Jet, dim: int, index: torch.Tensor, **kw: Any) -> Jet:
    """Integer indices are constants: the same gather on every coefficient."""
    return _pick_along(x, dim, index)


@rule(aten.flip)
def _flip(op: Any, x: Jet, dims: Any) -> Jet:
    return x.same(torch.flip(x.stack, [_shift(d, len(x.shape)) for d in dims]))


@rule(aten.roll)
def _roll(op: Any, x: Jet, shifts: Any, dims: Any = ()) -> Jet:
    if not dims:  # roll of the flattened tensor
        flat = x.stack.reshape(x.stack.shape[0], -1)
        return x.same(torch.roll(flat, list(shifts), [1]).reshape(x.stack.shape))
    moved = [_shift(d, len(x.shape)) for d in dims]
    return x.same(torch.roll(x.stack, list(shifts), moved))


@rule(aten.masked_fill)
def _masked_fill(op: Any, x: Any, mask: torch.Tensor, value: Any) -> Jet:
    """Filled entries hold a constant: the value there, zero coefficients."""
    if _is(value):
        value_jet = value
        x = _like(x, value_jet)
        return x.same(torch.where(mask, value_jet.stack, x.stack))
    stack = torch.where(mask, x.stack.new_zeros(()), x.stack)
    stack[0] = torch.where(mask, value, x.value)
    return x.same(stack)


def _variance(x: Jet, dim: Any, correction: Any, keepdim: bool) -> Jet:
    """Sum (x - mean)^2 / (n - correction) over ``dim``."""
    dims = _dims(x, dim)
    n = 1
    for d in dims:
        n *= x.shape[d]
    mean = _linear(aten.mean.dim, x, dims, True)
    centred = J.add(x, mean, -1.0)
    total = _linear(aten.sum.dim_IntList, J.product(centred, centred), dims, keepdim)
    divisor = n - (1.0 if correction is None else float(correction))
    return total.same(total.stack / divisor)


@rule(aten.var)
def _var(op: Any, x: Jet, dim: Any = None, *, correction: Any = None, **kw: Any) -> Jet:
    return _variance(x, dim, correction, kw.get("keepdim", False))


@rule(aten.std)
def _std(op: Any, x: Jet, dim: Any = None, *, correction: Any = None, **kw: Any) -> Jet:
    return _unary("sqrt", _variance(x, dim, correction, kw.get("keepdim", False)))


@rule(aten.var_mean)
def _var_mean(
    op: Any, x: Jet, dim: Any = None, *, correction: Any = None, **kw: Any
) -> list[Jet]:
    keepdim = kw.get("keepdim", False)
    mean = _linear(aten.mean.dim, x, _dims(x, dim), keepdim)
    return [_variance(x, dim, correction, keepdim), mean]


@rule(aten.std_mean)
def _std_mean(
    op: Any, x: Jet, dim: Any = None, *, correction: Any = None, **kw: Any
) -> list[Jet]:
    variance, mean = _var_mean(op, x, dim, correction=correction, **kw)
    return [_unary("sqrt", variance), mean]


@rule(aten.logsumexp)
def _logsumexp(op: Any, x: Jet, dim: Any, keepdim: bool = False) -> Jet:
    """Log sum exp(x - max) + max, the max a detached constant."""
    dims = _dims(x, dim)
    shift = x.value.detach().amax(dims, keepdim=True)
    shifted = _unary("exp", J.add_constant(x, -shift))
    total = _unary("log", _linear(aten.sum.dim_IntList, shifted, dims, True))
    out = J.add_constant(total, shift)
    if not keepdim:
        out = _linear(aten.squeeze.dims, out, dims)
    return out
