"""ONNX shape ops: reshaping, indexing, joining and shape arithmetic.

Data moves through torch views, ``index_select`` and ``cat``, which differentiate
to any order. Shape arithmetic (``Shape``, ``Size``, ``Range`` of integers,
``ConstantOfShape``) runs on integer tensors that carry no derivative.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from wrt.importers.onnx_ops import (
    Args,
    Result,
    UnsupportedNode,
    ints,
    opt,
    register,
    req,
)


@register("Concat")
def _concat(args: Args, ft: torch.dtype, *, axis: int) -> torch.Tensor:
    return torch.cat([a for a in args if a is not None], dim=axis)


def slice_range(start: int, end: int, step: int, dim: int) -> range:
    """The indices ONNX Slice takes along an axis of size ``dim``.

    These are the spec's clamping rules, which differ from Python's for negative
    steps.
    """
    if step == 0:
        raise ValueError("Slice step 0")
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return range(start, end, step)


@register("Slice")
def _slice(
    args: Args,
    ft: torch.dtype,
    *,
    starts: list[int] | None = None,
    ends: list[int] | None = None,
    axes: list[int] | None = None,
) -> torch.Tensor:
    """Opset >= 10: bounds are inputs 1..4; opset < 10: attributes."""
    x = req(args, 0)
    steps: list[int] | None = None
    if starts is None:
        starts, ends = ints(req(args, 1)), ints(req(args, 2))
        if opt(args, 3) is not None:
            axes = ints(req(args, 3))
        if opt(args, 4) is not None:
            steps = ints(req(args, 4))
    if ends is None:
        raise ValueError("Slice without ends")
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = axis % x.dim()
        picked = slice_range(start, end, step, x.shape[axis])
        if step > 0:
            index = (slice(None),) * axis + (slice(picked.start, picked.stop, step),)
            x = x[index]
        else:
            rows = torch.tensor(list(picked), dtype=torch.int64, device=x.device)
            x = torch.index_select(x, axis, rows)
    return x


@register("Reshape")
def _reshape(args: Args, ft: torch.dtype, *, allowzero: int = 0) -> torch.Tensor:
    x, shape = req(args, 0), ints(req(args, 1))
    if not allowzero:  # 0 copies the input's size on that axis
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


@register("Flatten")
def _flatten(args: Args, ft: torch.dtype, *, axis: int = 1) -> torch.Tensor:
    x = req(args, 0)
    axis = axis + x.dim() if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def axes_of(args: Args, attribute: list[int] | None, position: int = 1):
    """Axes from the attribute (opset < 13) or an input (opset >= 13), else None."""
    if attribute is not None:
        return list(attribute)
    value = opt(args, position)
    return None if value is None else ints(value)


@register("Unsqueeze")
def _unsqueeze(
    args: Args, ft: torch.dtype, *, axes: list[int] | None = None
) -> torch.Tensor:
    x = req(args, 0)
    wanted = axes_of(args, axes) or []
    rank = x.dim() + len(wanted)
    for axis in sorted(a % rank for a in wanted):
        x = x.unsqueeze(axis)
    return x


@register("Squeeze")
def _squeeze(
    args: Args, ft: torch.dtype, *, axes: list[int] | None = None
) -> torch.Tensor:
    x = req(args, 0)
    wanted = axes_of(args, axes)
    if wanted is None:  # every axis of size 1
        wanted = [i for i, size in enumerate(x.shape) if size == 1]
    for axis in sorted((a % x.dim() for a in wanted), reverse=True):
        x = x.squeeze(axis)
    return x


def _indices(indices: torch.Tensor, size: int) -> torch.Tensor:
    """Integer indices with negative ones counted from the end, as int64."""
    flat = indices.to(torch.int64)
    return torch.where(flat < 0, flat + size, flat)


@register("Gather")
def _gather(args: Args, ft: torch.dtype, *, axis: int = 0) -> torch.Tensor:
    """out.shape = data.shape[:axis] + indices.shape + data.shape[axis + 1:]."""
    data, indices = req(args, 0), req(args, 1)
    axis = axis % data.dim()
    flat = _indices(indices.reshape(-1), data.shape[axis])
    picked = torch.index_select(data, axis, flat)
    shape = data.shape[:axis] + indices.shape + data.shape[axis + 1 :]
    return picked.reshape(shape)


@register("GatherElements")
def _gather_elements(args: Args, ft: torch.dtype, *, axis: int = 0) -> torch.Tensor:
    data, indices = req(args, 0), req(args, 1)
    axis = axis % data.dim()
    return torch.gather(data, axis, _indices(indices, data.shape[axis]))


@register("Split")
def _split(
    args: Args,
    ft: torch.dtype,
    *,
    axis: int = 0,
    split: list[int] | None = None,
    num_outputs: int | None = None,
    n_outputs: int,
) -> Result:
    x = req(args, 0)
    sizes = axes_of(args, split)
    if sizes is None:  # equal parts, the last one smaller (opset 18)
        size = x.shape[axis]
        part = -(-size // (num_outputs or n_outputs))
        sizes = [part] * (n_outputs - 1) + [size - part * (n_outputs - 1)]
    return tuple(torch.split(x, sizes, dim=axis))


@register("Transpose")
def _transpose(
    args: Args, ft: torch.dtype, *, perm: list[int] | None = None
) -> torch.Tensor:
    x = req(args, 0)
    return x.permute(list(perm) if perm is not None else list(range(x.dim()))[::-1])


@register("Shape")
def _shape(
    args: Args, ft: torch.dtype, *, start: int = 0, end: int | None = None
) -> torch.Tensor:
    dims = list(req(args, 0).shape)[start:end]
    return torch.tensor(dims, dtype=torch.int64, device=req(args, 0).device)


@register("Size")
def _size(args: Args, ft: torch.dtype) -> torch.Tensor:
    x = req(args, 0)
    return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


@register("Expand")
def _expand(args: Args, ft: torch.dtype) -> torch.Tensor:
    """Numpy broadcasting of the input and the shape, in both directions."""
    x, shape = req(args, 0), ints(req(args, 1))
    return x.expand(torch.broadcast_shapes(tuple(x.shape), tuple(shape)))


@register("Tile")
def _tile(args: Args, ft: torch.dtype) -> torch.Tensor:
    return req(args, 0).repeat(ints(req(args, 1)))


@register("ConstantOfShape")
def _constant_of_shape(args: Args, ft: torch.dtype, *, value=None) -> torch.Tensor:
    shape = ints(req(args, 0))
    if value is None:  # float32 zero
        return torch.zeros(shape, dtype=ft)
    array = numpy_helper.to_array(value).reshape(-1)
    kind = ft if array.dtype.kind == "f" else dtype_of_numpy(array.dtype)
    return torch.full(shape, array[0].item(), dtype=kind)


def dtype_of_numpy(kind: np.dtype) -> torch.dtype:
    """The torch dtype of a non-floating numpy dtype."""
    try:
        return torch.from_numpy(np.zeros(1, kind)).dtype
    except TypeError as exc:
        raise UnsupportedNode(f"values of dtype {kind}") from exc


@register("Range")
def _range(args: Args, ft: torch.dtype) -> torch.Tensor:
    start, limit, delta = req(args, 0), req(args, 1), req(args, 2)
    kind = ft if start.is_floating_point() else start.dtype
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=kind)


@register("Trilu")
def _trilu(args: Args, ft: torch.dtype, *, upper: int = 1) -> torch.Tensor:
    x, k = req(args, 0), opt(args, 1)
    shift = int(k.item()) if k is not None else 0
    return torch.triu(x, shift) if upper else torch.tril(x, shift)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


@register("Pad")
def _pad(
    args: Args,
    ft: torch.dtype,
    *,
    mode: str = "constant",
    pads: list[int] | None = None,
    value: float = 0.0,
) -> torch.Tensor:
    """Opset >= 11: pads, constant value and (18) axes are inputs."""
    x = req(args, 0)
    if pads is None:
        pads = ints(req(args, 1))
        fill = opt(args, 2)
        value = float(fill.item()) if fill is not None and fill.numel() else 0.0
    rank = x.dim()
    axes = axes_of(args, None, 3) or list(range(rank))
    axes = [a % rank for a in axes]
    begin = dict(zip(axes, pads[: len(axes)], strict=True))
    end = dict(zip(axes, pads[len(axes) :], strict=True))
    if any(begin[a] < 0 or end[a] < 0 for a in axes):
        raise UnsupportedNode("Pad with negative pads")
    if mode not in _PAD_MODES:
        raise ValueError(f"Pad mode {mode!r}: wrt reads constant, reflect and edge")
    widths: list[int] = []  # F.pad wants the last axis first
    for axis in reversed(range(rank)):
        widths += [begin.get(axis, 0), end.get(axis, 0)]
    if mode == "constant":
        return F.pad(x, widths, value=value)
    # reflect / replicate pad the trailing axes only: drop leading zero pairs
    while len(widths) > 2 and widths[-2:] == [0, 0]:
        widths = widths[:-2]
    return F.pad(x, widths, mode=_PAD_MODES[mode])


@register("GatherND")
def _gather_nd(args: Args, ft: torch.dtype, *, batch_dims: int = 0) -> torch.Tensor:
    """out[b..., m...] = data[b..., idx[b..., m..., :]...]; shape idx[:-1] + rest."""
    data, indices = req(args, 0), req(args, 1)
    k = indices.shape[-1]
    batch = math.prod(data.shape[:batch_dims])
    flat = data.reshape(batch, *data.shape[batch_dims:])
    picks = indices.reshape(batch, -1, k).to(torch.int64)
    rows = torch.arange(batch, device=data.device)[:, None]
    rows = rows.expand(batch, picks.shape[1])
    index = [rows]
    for j in range(k):
        index.append(_indices(picks[..., j], data.shape[batch_dims + j]))
    picked = flat[tuple(index)]  # (batch, M, *rest)
    return picked.reshape(*indices.shape[:-1], *data.shape[batch_dims + k :])


@register("ScatterElements")
def _scatter_elements(
    args: Args, ft: torch.dtype, *, axis: int = 0, reduction: str = "none"
) -> torch.Tensor:
    """``data`` with ``updates`` written (or added) at ``indices`` along ``axis``."""
    data, indices, updates = req(args, 0), req(args, 1), req(args, 2)
    axis = axis % data.dim()
    index = _indices(indices, data.shape[axis])
    if reduction == "none":
        return torch.scatter(data, axis, index, updates)
    if reduction == "add":
        return torch.scatter_add(data, axis, index, updates)
    raise UnsupportedNode(f"ScatterElements with reduction {reduction}")


@register("ScatterND")
def _scatter_nd(args: Args, ft: torch.dtype, *, reduction: str = "none"):
    """``data`` with ``updates`` at the index tuples in the last axis of indices."""
    data, indices, updates = req(args, 0), req(args, 1), req(args, 2)
    if reduction not in ("none", "add"):
        raise UnsupportedNode(f"ScatterND with reduction {reduction}")
    k = indices.shape[-1]
    index = tuple(_indices(indices[..., j], data.shape[j]) for j in range(k))
    return torch.index_put(data, index, updates, accumulate=reduction == "add")
