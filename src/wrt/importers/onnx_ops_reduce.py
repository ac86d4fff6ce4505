"""ONNX reductions (the Reduce family, ArgMax/ArgMin) and CumSum.

The axes of a reduction are an attribute up to opset 12 (ReduceSum) or 17 (the
others) and the optional second input from then on; both forms are read. No axes
reduce over every axis, unless ``noop_with_empty_axes`` is set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from wrt.importers.onnx_ops import Args, Op, add, ints, opt, register, req
from wrt.importers.onnx_ops_shape import axes_of

Reducer = Callable[[torch.Tensor, list[int], bool], torch.Tensor]


def _prod(x: torch.Tensor, dims: list[int], keep: bool) -> torch.Tensor:
    for dim in sorted(dims, reverse=True):
        x = torch.prod(x, dim, keepdim=keep)
    return x


_REDUCERS: dict[str, Reducer] = {
    "ReduceSum": lambda x, d, k: torch.sum(x, d, keepdim=k),
    "ReduceMean": lambda x, d, k: torch.mean(x, d, keepdim=k),
    "ReduceMax": lambda x, d, k: torch.amax(x, d, keepdim=k),
    "ReduceMin": lambda x, d, k: torch.amin(x, d, keepdim=k),
    "ReduceProd": _prod,
    "ReduceL1": lambda x, d, k: torch.sum(torch.abs(x), d, keepdim=k),
    # sqrt(sum x^2) as written: the same derivatives as the definition everywhere
    "ReduceL2": lambda x, d, k: torch.sqrt(torch.sum(x * x, d, keepdim=k)),
    "ReduceSumSquare": lambda x, d, k: torch.sum(x * x, d, keepdim=k),
    "ReduceLogSum": lambda x, d, k: torch.log(torch.sum(x, d, keepdim=k)),
    "ReduceLogSumExp": lambda x, d, k: torch.logsumexp(x, d, keepdim=k),
}


def _reduce(
    args: Args,
    ft: torch.dtype,
    *,
    reducer: Reducer,
    axes: list[int] | None = None,
    keepdims: int = 1,
    noop_with_empty_axes: int = 0,
) -> torch.Tensor:
    x = req(args, 0)
    wanted = axes_of(args, axes)
    if not wanted:
        if noop_with_empty_axes:
            return x
        wanted = list(range(x.dim()))
    if x.dim() == 0:  # torch reads dims=[] as "every axis"; be explicit
        return reducer(x.reshape(1), [0], False)
    return reducer(x, sorted({a % x.dim() for a in wanted}), bool(keepdims))


for _name, _reducer in _REDUCERS.items():
    add(
        _name,
        Op(
            functools.partial(_reduce, reducer=_reducer),
            {"axes": None, "keepdims": 1, "noop_with_empty_axes": 0},
        ),
    )


def _arg(
    args: Args,
    ft: torch.dtype,
    *,
    pick: Callable[..., torch.Tensor],
    axis: int = 0,
    keepdims: int = 1,
    select_last_index: int = 0,
) -> torch.Tensor:
    x = req(args, 0)
    if select_last_index:
        flipped = pick(torch.flip(x, [axis]), axis, keepdim=bool(keepdims))
        return x.shape[axis] - 1 - flipped
    return pick(x, axis, keepdim=bool(keepdims))


for _name, _pick in (("ArgMax", torch.argmax), ("ArgMin", torch.argmin)):
    add(
        _name,
        Op(
            functools.partial(_arg, pick=_pick),
            {"axis": 0, "keepdims": 1, "select_last_index": 0},
        ),
    )


@register("CumSum")
def _cumsum(
    args: Args, ft: torch.dtype, *, exclusive: int = 0, reverse: int = 0
) -> torch.Tensor:
    x, axis_input = req(args, 0), opt(args, 1)
    axis = ints(req(args, 1))[0] if axis_input is not None else 0
    if reverse:
        x = torch.flip(x, [axis])
    total = torch.cumsum(x, axis)
    if exclusive:  # shift by one: 0, x0, x0 + x1, ...
        total = total - x
    return torch.flip(total, [axis]) if reverse else total
