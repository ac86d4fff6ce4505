"""ONNX ops of neural-network layers: products, softmax, normalisation, conv, pooling.

Padding that torch's functions cannot express (asymmetric ``pads``, ``auto_pad``
``SAME_*``) is applied with ``F.pad`` before the unpadded torch call; average
pooling divides window sums by window counts, so that every combination of
padding, ``ceil_mode`` and ``count_include_pad`` gives the ONNX result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from wrt.importers.onnx_ops import Args, Result, UnsupportedNode, opt, register, req


@register("Gemm")
def _gemm(
    args: Args,
    ft: torch.dtype,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    transA: int = 0,
    transB: int = 0,
) -> torch.Tensor:
    """``alpha * A' @ B' + beta * C``; A (M, K) or (K, M), B (K, P) or (P, K)."""
    a, b, c = req(args, 0), req(args, 1), opt(args, 2)
    plain = alpha == 1.0 and beta == 1.0 and not transA
    if plain and transB and c is not None and c.dim() == 1 and c.numel() == b.shape[0]:
        return F.linear(a, b, c)  # what torch.nn.Linear computes, bit for bit
    if transA:
        a = a.transpose(0, 1)
    if transB:
        b = b.transpose(0, 1)
    y = a @ b
    if alpha != 1.0:
        y = alpha * y
    if c is not None:
        y = y + (c if beta == 1.0 else beta * c)
    return y


@register("MatMul")
def _matmul(args: Args, ft: torch.dtype) -> torch.Tensor:
    return torch.matmul(req(args, 0), req(args, 1))


@register("Einsum")
def _einsum(args: Args, ft: torch.dtype, *, equation: str) -> torch.Tensor:
    return torch.einsum(equation.replace(" ", ""), *[a for a in args if a is not None])


def _softmax_axis(x: torch.Tensor, axis: int | None, opset: int, fn) -> torch.Tensor:
    """Opset >= 13: along ``axis`` (default -1); before: over the 2-D coercion."""
    if opset >= 13:
        return fn(x, -1 if axis is None else axis)
    axis = (1 if axis is None else axis) % max(x.dim(), 1)
    rows = math.prod(x.shape[:axis])
    return fn(x.reshape(rows, -1), 1).reshape(x.shape)


@register("Softmax")
def _softmax(args: Args, ft: torch.dtype, *, axis: int | None = None, opset: int):
    return _softmax_axis(req(args, 0), axis, opset, torch.softmax)


@register("LogSoftmax")
def _log_softmax(args: Args, ft: torch.dtype, *, axis: int | None = None, opset: int):
    return _softmax_axis(req(args, 0), axis, opset, torch.log_softmax)


@register("LayerNormalization")
def _layer_norm(
    args: Args, ft: torch.dtype, *, axis: int = -1, epsilon: float = 1e-5, stash_type=1
) -> Result:
    """Y, Mean, InvStdDev over the axes from ``axis`` on (biased variance)."""
    x, scale, bias = req(args, 0), req(args, 1), opt(args, 2)
    dims = list(range(axis % x.dim(), x.dim()))
    mean = x.mean(dims, keepdim=True)
    centred = x - mean
    inverse = torch.rsqrt((centred * centred).mean(dims, keepdim=True) + epsilon)
    y = centred * inverse * scale
    return (y if bias is None else y + bias), mean, inverse


def _channel(v: torch.Tensor, rank: int) -> torch.Tensor:
    """A per-channel vector (C,) shaped (C, 1, ..., 1) for an input of ``rank``."""
    return v.reshape(-1, *([1] * (rank - 2)))


@register("BatchNormalization", ignored=("momentum", "spatial", "is_test"))
def _batch_norm(
    args: Args, ft: torch.dtype, *, epsilon: float = 1e-5, training_mode: int = 0
) -> torch.Tensor:
    """Inference form: the stored mean and variance."""
    if training_mode:
        raise UnsupportedNode("BatchNormalization in training mode")
    x = req(args, 0)
    scale, bias, mean, var = (_channel(req(args, i), x.dim()) for i in range(1, 5))
    return (x - mean) * torch.rsqrt(var + epsilon) * scale + bias


@register("InstanceNormalization")
def _instance_norm(args: Args, ft: torch.dtype, *, epsilon: float = 1e-5):
    x = req(args, 0)
    scale, bias = (_channel(req(args, i), x.dim()) for i in (1, 2))
    dims = list(range(2, x.dim()))
    centred = x - x.mean(dims, keepdim=True)
    inverse = torch.rsqrt((centred * centred).mean(dims, keepdim=True) + epsilon)
    return centred * inverse * scale + bias


def _pads(
    auto_pad: str,
    pads: Sequence[int] | None,
    sizes: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> tuple[list[int], list[int]]:
    """(begin, end) padding per spatial axis, from ``pads`` or ``auto_pad``."""
    spatial = len(sizes)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            upper = auto_pad == "SAME_UPPER"
            begin.append(small if upper else large)
            end.append(large if upper else small)
        return begin, end
    if auto_pad == "VALID" or pads is None:
        return [0] * spatial, [0] * spatial
    if auto_pad != "NOTSET":
        raise UnsupportedNode(f"auto_pad {auto_pad}")
    return list(pads[:spatial]), list(pads[spatial:])


def _pad_widths(begin: Sequence[int], end: Sequence[int]) -> list[int]:
    """F.pad's widths (last axis first) for per-axis begin/end padding."""
    widths: list[int] = []
    for b, e in zip(reversed(begin), reversed(end), strict=True):
        widths += [b, e]
    return widths


def _geometry(x, kernel, strides, dilations, pads, auto_pad):
    spatial = x.dim() - 2
    strides = list(strides or [1] * spatial)
    dilations = list(dilations or [1] * spatial)
    begin, end = _pads(auto_pad, pads, x.shape[2:], kernel, strides, dilations)
    return spatial, strides, dilations, begin, end


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@register("Conv")
def _conv(
    args: Args,
    ft: torch.dtype,
    *,
    auto_pad: str = "NOTSET",
    dilations: list[int] | None = None,
    group: int = 1,
    kernel_shape: list[int] | None = None,
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> torch.Tensor:
    x, w, b = req(args, 0), req(args, 1), opt(args, 2)
    kernel = list(w.shape[2:])
    spatial, strides, dilations, begin, end = _geometry(
        x, kernel, strides, dilations, pads, auto_pad
    )
    if spatial not in _CONV:
        raise UnsupportedNode(f"Conv over {spatial} spatial axes")
    padding: list[int] | int = begin
    if begin != end:
        x, padding = F.pad(x, _pad_widths(begin, end)), 0
    return _CONV[spatial](x, w, b, strides, padding, dilations, group)


@register("ConvTranspose")
def _conv_transpose(
    args: Args,
    ft: torch.dtype,
    *,
    auto_pad: str = "NOTSET",
    dilations: list[int] | None = None,
    group: int = 1,
    kernel_shape: list[int] | None = None,
    output_padding: list[int] | None = None,
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> torch.Tensor:
    """The full transposed convolution, then ``pads`` cropped from its ends."""
    x, w, b = req(args, 0), req(args, 1), opt(args, 2)
    spatial = x.dim() - 2
    if spatial not in _CONV_T:
        raise UnsupportedNode(f"ConvTranspose over {spatial} spatial axes")
    if auto_pad not in ("NOTSET", "VALID"):
        raise UnsupportedNode(f"ConvTranspose with auto_pad {auto_pad}")
    strides = list(strides or [1] * spatial)
    dilations = list(dilations or [1] * spatial)
    extra = list(output_padding or [0] * spatial)
    if auto_pad == "VALID" or pads is None:
        begin, end = [0] * spatial, [0] * spatial
    else:
        begin, end = list(pads[:spatial]), list(pads[spatial:])
    y = _CONV_T[spatial](x, w, b, strides, 0, extra, group, dilations)
    index = [slice(None), slice(None)]
    for axis in range(spatial):
        index.append(slice(begin[axis], y.shape[2 + axis] - end[axis]))
    return y[tuple(index)]


@register("MaxPool", ignored=("storage_order",))
def _max_pool(
    args: Args,
    ft: torch.dtype,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    dilations: list[int] | None = None,
    kernel_shape: list[int],
    pads: list[int] | None = None,
    strides: list[int] | None = None,
    n_outputs: int,
) -> torch.Tensor:
    if n_outputs > 1:
        raise UnsupportedNode("MaxPool with its Indices output")
    x = req(args, 0)
    spatial, strides, dilations, begin, end = _geometry(
        x, kernel_shape, strides, dilations, pads, auto_pad
    )
    if any(begin) or any(end):
        x = F.pad(x, _pad_widths(begin, end), value=-math.inf)
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[spatial]
    return pool(x, kernel_shape, strides, 0, dilations, bool(ceil_mode))


@register("AveragePool")
def _average_pool(
    args: Args,
    ft: torch.dtype,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    count_include_pad: int = 0,
    dilations: list[int] | None = None,
    kernel_shape: list[int],
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> torch.Tensor:
    x = req(args, 0)
    spatial, strides, dilations, begin, end = _geometry(
        x, kernel_shape, strides, dilations, pads, auto_pad
    )
    if any(d != 1 for d in dilations):
        raise UnsupportedNode("AveragePool with dilations")
    pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[spatial]
    if not (any(begin) or any(end) or ceil_mode):
        return pool(x, kernel_shape, strides, 0)
    widths = _pad_widths(begin, end)
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    # window sums over window counts; torch's divisor cancels out
    counted = F.pad(ones, widths, value=1.0 if count_include_pad else 0.0)
    total = pool(F.pad(x, widths), kernel_shape, strides, 0, bool(ceil_mode))
    return total / pool(counted, kernel_shape, strides, 0, bool(ceil_mode))


@register("GlobalAveragePool")
def _global_average_pool(args: Args, ft: torch.dtype) -> torch.Tensor:
    x = req(args, 0)
    return x.mean(list(range(2, x.dim())), keepdim=True)


@register("GlobalMaxPool")
def _global_max_pool(args: Args, ft: torch.dtype) -> torch.Tensor:
    x = req(args, 0)
    return x.amax(list(range(2, x.dim())), keepdim=True)


_RESIZE_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


@register("Resize")
def _resize(
    args: Args,
    ft: torch.dtype,
    *,
    antialias: int = 0,
    axes: list[int] | None = None,
    coordinate_transformation_mode: str = "half_pixel",
    cubic_coeff_a: float = -0.75,
    exclude_outside: int = 0,
    extrapolation_value: float = 0.0,
    keep_aspect_ratio_policy: str = "stretch",
    mode: str = "nearest",
    nearest_mode: str = "round_prefer_floor",
) -> torch.Tensor:
    """The resizes torch's ``F.interpolate`` computes (what torch exporters write).

    nearest: ``asymmetric`` coordinates with ``floor`` (torch's ``nearest``);
    linear: ``half_pixel`` / ``pytorch_half_pixel`` (align_corners False) or
    ``align_corners``; cubic: the same with ``cubic_coeff_a`` -0.75 (bicubic). The
    spatial axes (from 2 on) are resized; scales (input 2) or sizes (input 3).
    """
    x, scales, sizes = req(args, 0), opt(args, 2), opt(args, 3)
    spatial = x.dim() - 2
    exotic = antialias or axes is not None or exclude_outside
    exotic = exotic or keep_aspect_ratio_policy != "stretch"
    if exotic or spatial not in _RESIZE_LINEAR:
        raise UnsupportedNode("Resize with these attributes")
    align = coordinate_transformation_mode == "align_corners"
    if mode == "nearest":
        ok = coordinate_transformation_mode == "asymmetric" and nearest_mode == "floor"
        torch_mode, align_arg = "nearest", None
    elif mode in ("linear", "cubic"):
        ok = align or coordinate_transformation_mode in (
            "half_pixel",
            "pytorch_half_pixel",
        )
        ok = ok and (mode == "linear" or cubic_coeff_a == -0.75)
        torch_mode = _RESIZE_LINEAR[spatial] if mode == "linear" else "bicubic"
        ok = ok and (mode == "linear" or spatial == 2)
        align_arg = align
    else:
        ok = False
    if not ok:
        raise UnsupportedNode(
            f"Resize mode {mode} with {coordinate_transformation_mode} coordinates"
        )
    if sizes is not None and sizes.numel():
        size = [int(v) for v in sizes.reshape(-1).tolist()][2:]
        return F.interpolate(x, size=size, mode=torch_mode, align_corners=align_arg)
    if scales is None or scales.numel() == 0:
        raise UnsupportedNode("Resize without scales or sizes")
    factors = [float(v) for v in scales.reshape(-1).tolist()]
    if factors[:2] != [1.0, 1.0]:
        raise UnsupportedNode("Resize of the batch or channel axis")
    return F.interpolate(
        x,
        scale_factor=factors[2:],
        mode=torch_mode,
        align_corners=align_arg,
        recompute_scale_factor=False,
    )
