"""Keras convolution and pooling layers (1-D and 2-D) as torch functionals.

Tensors stay in Keras' layout between layers (channels last by default, so
``Flatten`` and ``Dense`` after a convolution read the same order as in Keras); a
convolution or pooling moves the channels first for torch and back. ``same``
padding is TensorFlow's: ``ceil(L / stride)`` outputs, the extra padding on the
right (bottom) when the total is odd, and average pooling counts only the real
entries of a window. ``causal`` padding (Conv1D) pads the left only.

Padding is a concatenation with constants and average pooling a depthwise
convolution with constant weights: ops whose Taylor rules exist (``cat``,
``convolution``), so the Taylor engine runs through these layers.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from wrt.importers.keras_base import (
    Config,
    Converter,
    UnsupportedLayer,
    Weights,
    channels_last,
    ints,
    parameter,
    then,
)


def same_padding(
    size: int, kernel: int, stride: int, dilation: int = 1
) -> tuple[int, int]:
    """TensorFlow's ``same`` padding (before, after) of one spatial axis."""
    span = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


class _Spatial(nn.Module):
    """Shared layout handling: channels to axis 1 for torch, padding per axis."""

    def __init__(self, rank: int, last: bool, padding: str) -> None:
        super().__init__()
        self.rank = rank
        self.last = last
        self.padding = padding

    def _first(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(-1, 1) if self.last else x

    def _back(self, y: torch.Tensor) -> torch.Tensor:
        return y.movedim(1, -1) if self.last else y

    def _pads(self, x, kernel, stride, dilation) -> list[tuple[int, int]]:
        """(before, after) per spatial axis of channels-first x."""
        pads = []
        for axis in range(self.rank):
            size = x.shape[2 + axis]
            if self.padding == "same":
                pads.append(
                    same_padding(size, kernel[axis], stride[axis], dilation[axis])
                )
            elif self.padding == "causal":
                pads.append(((kernel[axis] - 1) * dilation[axis], 0))
            else:
                pads.append((0, 0))
        return pads


def pad(x: torch.Tensor, pads: list[tuple[int, int]], value: float = 0.0):
    """Channels-first x padded with ``value``: (before, after) per spatial axis."""
    for axis, (before, after) in enumerate(pads):
        dim = 2 + axis
        parts = [x]
        if before:
            shape = list(x.shape)
            shape[dim] = before
            parts.insert(0, x.new_full(shape, value))
        if after:
            shape = list(x.shape)
            shape[dim] = after
            parts.append(x.new_full(shape, value))
        x = torch.cat(parts, dim=dim) if len(parts) > 1 else x
    return x


class Conv(_Spatial):
    """Keras ``Conv1D`` / ``Conv2D`` (any padding, strides, dilation, groups).

    ``DepthwiseConv1D`` / ``2D`` too: one group per input channel, ``multiplier``
    outputs each, in Keras' order (output channel ``c * multiplier + j``).
    """

    def __init__(self, config: Config, weights: Weights, rank: int) -> None:
        padding = str(config.get("padding", "valid")).lower()
        if padding not in ("valid", "same", "causal"):
            raise UnsupportedLayer(f"Conv{rank}D(padding={padding!r})")
        super().__init__(rank, channels_last(config), padding)
        kernel = weights[0]  # (*window, in / groups, out)
        self.window = tuple(kernel.shape[:rank])
        self.groups = int(config.get("groups", 1))
        if "depth_multiplier" in config:  # depthwise: (*window, in, multiplier)
            self.groups = kernel.shape[rank]
            kernel = kernel.reshape(*self.window, 1, -1)  # channel c*m + j
        # torch wants (out, in / groups, *window)
        self.weight = parameter(kernel.transpose(rank + 1, rank, *range(rank)))
        self.bias = parameter(weights[1]) if config.get("use_bias", True) else None
        self.stride = ints(config.get("strides", 1), rank)
        self.dilation = ints(config.get("dilation_rate", 1), rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve x (N, *spatial, C) (or channels first)."""
        x = self._first(x)
        x = pad(x, self._pads(x, self.window, self.stride, self.dilation))
        conv = F.conv1d if self.rank == 1 else F.conv2d
        y = conv(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return self._back(y)


class Pool(_Spatial):
    """Keras ``MaxPooling`` / ``AveragePooling`` 1-D and 2-D."""

    def __init__(self, config: Config, rank: int, kind: str) -> None:
        padding = str(config.get("padding", "valid")).lower()
        if padding not in ("valid", "same"):
            raise UnsupportedLayer(f"pooling padding={padding!r}")
        super().__init__(rank, channels_last(config), padding)
        self.kind = kind
        self.window = ints(config.get("pool_size", 2), rank)
        strides = config.get("strides")
        self.stride = self.window if strides is None else ints(strides, rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool x (N, *spatial, C) (or channels first)."""
        x = self._first(x)
        pads = self._pads(x, self.window, self.stride, (1,) * self.rank)
        if self.kind == "max":
            pool = F.max_pool1d if self.rank == 1 else F.max_pool2d
            return self._back(pool(pad(x, pads, -math.inf), self.window, self.stride))
        total = self._window_sum(pad(x, pads))
        if not any(any(p) for p in pads):
            return self._back(total / math.prod(self.window))
        # TensorFlow averages over the real entries of a window only
        count = self._window_sum(pad(torch.ones_like(x[:1, :1]), pads))
        return self._back(total / count)

    def _window_sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum over each window: a depthwise convolution with weights 1."""
        channels = x.shape[1]
        ones = x.new_ones(channels, 1, *self.window)
        conv = F.conv1d if self.rank == 1 else F.conv2d
        return conv(x, ones, None, self.stride, 0, 1, channels)


class GlobalPool(nn.Module):
    """Keras ``GlobalAveragePooling`` or ``GlobalMaxPooling`` (all spatial axes)."""

    def __init__(self, config: Config, rank: int, kind: str) -> None:
        super().__init__()
        last = channels_last(config)
        self.axes = tuple(range(1, rank + 1)) if last else tuple(range(2, rank + 2))
        self.keepdims = bool(config.get("keepdims", False))
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reduce x over its spatial axes."""
        if self.kind == "max":
            return x.amax(dim=self.axes, keepdim=self.keepdims)
        return x.mean(dim=self.axes, keepdim=self.keepdims)


def _conv(rank: int) -> Converter:
    def make(config: Config, weights: Weights) -> nn.Module:
        return then(Conv(config, weights, rank), config.get("activation"))

    return make


def _pool(rank: int, kind: str) -> Converter:
    def make(config: Config, weights: Weights) -> nn.Module:
        return Pool(config, rank, kind)

    return make


def _global(rank: int, kind: str) -> Converter:
    def make(config: Config, weights: Weights) -> nn.Module:
        return GlobalPool(config, rank, kind)

    return make


CONVERTERS: dict[str, Converter] = {
    "Conv1D": _conv(1),
    "Conv2D": _conv(2),
    "DepthwiseConv1D": _conv(1),
    "DepthwiseConv2D": _conv(2),
    "MaxPooling1D": _pool(1, "max"),
    "MaxPooling2D": _pool(2, "max"),
    "AveragePooling1D": _pool(1, "avg"),
    "AveragePooling2D": _pool(2, "avg"),
    "GlobalAveragePooling1D": _global(1, "avg"),
    "GlobalAveragePooling2D": _global(2, "avg"),
    "GlobalMaxPooling1D": _global(1, "max"),
    "GlobalMaxPooling2D": _global(2, "max"),
}
