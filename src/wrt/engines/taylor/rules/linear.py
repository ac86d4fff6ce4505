"""Rules for operations linear in the jet, and those that read the value only.

Views, slices, sums, copies and joins run the same operation on the whole stack
of coefficients, with dimension arguments moved past the leading entry dimension;
comparisons and shape queries are functions of the value.
"""

from __future__ import annotations

from typing import Any

import torch

from wrt.engines.taylor import jet as J
from wrt.engines.taylor.jet import Jet
from wrt.engines.taylor.rules.registry import RULES, _is, _like, aten, rule

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
    listed = list(args)

    def fix(name: str, value: Any) -> Any:
        if value is None:  # an optional argument left out
            return value
        if name in _DIM_ARGS:
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

    for i, value in enumerate(listed):
        listed[i] = fix(names[i], value)
    args = tuple(listed)
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
    if (
        packet in (aten.view, aten._unsafe_view, aten.view_copy)
        and op._overloadname == "default"
    ):
        # the stack of a transposed value need not be viewable where the value is
        size = kwargs["size"] if "size" in kwargs else args[0]
        return x.stack.reshape(size)
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
    aten.unbind, aten.chunk, aten.unsafe_split, aten.unsafe_split_with_sizes,
    aten.unsafe_chunk, aten.cumsum, aten.expand_copy, aten.view_copy,
    aten.permute_copy, aten.transpose_copy, aten.unsqueeze_copy,
    aten.squeeze_copy, aten.slice_copy, aten.select_copy,
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


@rule(aten.copy)
def _copy(op: Any, dst: Any, src: Any, non_blocking: bool = False) -> Jet:
    """``dst`` overwritten by ``src`` (broadcast to its shape, in its dtype)."""
    shape = dst.shape if _is(dst) else tuple(dst.shape)
    dtype = dst.stack.dtype if _is(dst) else dst.dtype
    ref = src if _is(src) else dst
    src = _like(src, ref)
    stack = src.stack.to(dtype).expand(src.stack.shape[0], *shape)
    return src.same(stack.clone())


# --- comparisons and shape queries: functions of the value only ---------------------


def _of_value(op: Any, *args: Any, **kwargs: Any) -> Any:
    values = [a.value if _is(a) else a for a in args]
    return op(*values, **kwargs)


for _op in (
    aten.gt, aten.lt, aten.ge, aten.le, aten.eq, aten.ne, aten.sign,
    aten.full_like, aten.zeros_like, aten.ones_like, aten.empty_like,
    aten.new_zeros, aten.new_ones, aten.new_full, aten.new_empty,
    # a scalar read (.item(), an ONNX Loop's trip count) and integer-valued or
    # piecewise-constant results: autograd sees constants there too
    aten._local_scalar_dense, aten.item, aten.is_nonzero, aten.argmax, aten.argmin,
    aten.any, aten.all, aten.floor, aten.ceil, aten.round, aten.trunc,
    aten.logical_and, aten.logical_or, aten.logical_not, aten.logical_xor,
    aten.isnan, aten.isinf, aten.isfinite, aten.bitwise_and, aten.bitwise_or,
    aten.bitwise_not, aten.floor_divide,
):  # fmt: skip
    RULES[_op] = _of_value
