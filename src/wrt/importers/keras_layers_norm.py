"""Keras normalisation layers at inference (Normalization, batch and layer norms).

Every statistic is a buffer shaped to broadcast against the layer's input (batch
axis included), so any ``axis`` Keras accepts converts the same way. Layer
normalisation is written out as mean, variance and ``rsqrt`` (as Keras' own ops
do), not a fused kernel: plain elementwise ops and reductions are what the Taylor
engine and third-order autograd differentiate exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from wrt.importers.keras_base import (
    Config,
    Converter,
    UnsupportedLayer,
    Weights,
    tensor,
)

# Keras' backend epsilon: the floor of a Normalization's standard deviation.
_KERAS_EPSILON = 1e-7


def _axes(axis: Any, ndim: int | None) -> tuple[int, ...]:
    """Keras ``axis`` (int, list or None) as sorted non-negative axes.

    Raises:
        UnsupportedLayer: a negative axis whose input rank is not recorded.
    """
    listed = [] if axis is None else [axis] if isinstance(axis, int) else list(axis)
    if ndim is None:  # a file without build configs: only the last axis is known
        if listed != [-1]:
            raise UnsupportedLayer(f"axis={axis} without a recorded input shape")
        return (-1,)
    return tuple(sorted(int(a) % ndim for a in listed))


def _broadcast(array: np.ndarray, keep: tuple[int, ...], ndim: int | None):
    """``array`` (sizes of the kept axes, or fewer) reshaped to broadcast on the input.

    Keras aligns the statistic's dimensions with the kept axes from the right; a
    scalar broadcasts everywhere. Without a recorded rank the statistic is aligned
    with the input's trailing axes (right-aligned numpy broadcasting).
    """
    array = np.asarray(array)
    if ndim is None or array.ndim == 0:
        return tensor(array)
    shape = [1] * ndim
    for i in range(1, array.ndim + 1):
        shape[keep[-i]] = array.shape[-i]
    return tensor(array.reshape(shape))


def input_rank(config: Config) -> int | None:
    """The input's rank (batch axis included) from the layer's build config."""
    shape = config.get("__input_shape__")
    return len(shape) if isinstance(shape, (list, tuple)) else None


class Standardize(nn.Module):
    """Keras ``Normalization``: (x - mean) / max(sqrt(var), eps), or its inverse.

    ``invert=True`` maps back: x * max(sqrt(var), eps) + mean (a model that predicts
    standardised targets and reports them in physical units).
    """

    mean: torch.Tensor
    variance: torch.Tensor

    def __init__(self, mean: torch.Tensor, variance: torch.Tensor, invert: bool):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("variance", variance)
        self.invert = invert

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise (or restore) x of the layer's input shape."""
        scale = torch.clamp(torch.sqrt(self.variance), min=_KERAS_EPSILON)
        return x * scale + self.mean if self.invert else (x - self.mean) / scale

    def extra_repr(self) -> str:
        """Whether it inverts."""
        return "invert=True" if self.invert else ""


def _normalization(config: Config, weights: Weights) -> nn.Module:
    ndim = input_rank(config)
    keep = _axes(config.get("axis", -1), ndim)
    if config.get("mean") is not None:  # given in the config, not adapted
        dtype = np.float64 if "float64" in str(config.get("dtype")) else np.float32
        mean = np.asarray(config["mean"], dtype=dtype)
        variance = np.asarray(config["variance"], dtype=dtype)
    elif len(weights) >= 2:
        mean, variance = weights[0], weights[1]
    else:
        raise UnsupportedLayer("Normalization without mean and variance")
    return Standardize(
        _broadcast(mean, keep, ndim),
        _broadcast(variance, keep, ndim),
        bool(config.get("invert", False)),
    )


class BatchNormInference(nn.Module):
    """Keras ``BatchNormalization`` at inference: g (x - m) / sqrt(v + eps) + b."""

    scale: torch.Tensor
    offset: torch.Tensor
    mean: torch.Tensor
    variance: torch.Tensor

    def __init__(self, scale, offset, mean, variance, epsilon: float) -> None:
        super().__init__()
        for name, value in dict(scale=scale, offset=offset, mean=mean).items():
            self.register_buffer(name, value)
        self.register_buffer("variance", variance)
        self.epsilon = epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise x with the moving statistics."""
        inv = self.scale / torch.sqrt(self.variance + self.epsilon)
        return (x - self.mean) * inv + self.offset


def _batch_norm(config: Config, weights: Weights) -> nn.Module:
    ndim = input_rank(config)
    keep = _axes(config.get("axis", -1), ndim)
    it = iter(weights)
    scale = next(it) if config.get("scale", True) else None
    offset = next(it) if config.get("center", True) else None
    mean, variance = next(it), next(it)
    ones = np.ones_like(mean)
    scale = scale if scale is not None else ones
    offset = offset if offset is not None else 0 * ones
    return BatchNormInference(
        _broadcast(scale, keep, ndim),
        _broadcast(offset, keep, ndim),
        _broadcast(mean, keep, ndim),
        _broadcast(variance, keep, ndim),
        float(config.get("epsilon", 1e-3)),
    )


class LayerNorm(nn.Module):
    """Keras ``LayerNormalization``, as Keras' ``ops.layer_normalization`` computes it.

    Moments over ``axes`` (population variance); ``rms_scaling`` is Keras' variant:
    x * rsqrt(var + eps) * gamma, no centring and no offset.
    """

    gamma: torch.Tensor | None
    beta: torch.Tensor | None

    def __init__(self, axes, gamma, beta, epsilon: float, rms: bool) -> None:
        super().__init__()
        self.axes = tuple(axes)
        self.gamma = nn.Parameter(gamma) if gamma is not None else None
        self.beta = nn.Parameter(beta) if beta is not None else None
        self.epsilon = epsilon
        self.rms = rms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise x over the layer's axes."""
        mean = x.mean(dim=self.axes, keepdim=True)
        centred = x - mean
        variance = (centred * centred).mean(dim=self.axes, keepdim=True)
        inv = torch.rsqrt(variance + self.epsilon)
        if self.rms:
            out = x * inv
            return out * self.gamma if self.gamma is not None else out
        out = centred * inv
        if self.gamma is not None:
            out = out * self.gamma
        return out + self.beta if self.beta is not None else out


def _layer_norm(config: Config, weights: Weights) -> nn.Module:
    ndim = input_rank(config)
    keep = _axes(config.get("axis", -1), ndim)
    rms = bool(config.get("rms_scaling", False))
    it = iter(weights)
    gamma = next(it) if config.get("scale", True) or rms else None
    beta = next(it) if config.get("center", True) and not rms else None
    # counted from the end: the module works on any leading shape
    axes = tuple(a - ndim if ndim is not None else a for a in keep)

    def shaped(array):
        if array is None:
            return None
        if ndim is None:
            return tensor(array)
        return _broadcast(array, keep, ndim).squeeze(0)

    return LayerNorm(
        axes, shaped(gamma), shaped(beta), float(config.get("epsilon", 1e-3)), rms
    )


class RMSNorm(nn.Module):
    """Keras ``RMSNormalization``: x * rsqrt(mean(x^2) + eps) * scale over ``axes``."""

    def __init__(self, axes, scale: torch.Tensor, epsilon: float) -> None:
        super().__init__()
        self.axes = tuple(axes)
        self.scale = nn.Parameter(scale)
        self.epsilon = epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise x over the layer's axes by its root mean square."""
        mean_square = (x * x).mean(dim=self.axes, keepdim=True)
        return x * torch.rsqrt(mean_square + self.epsilon) * self.scale


def _rms_norm(config: Config, weights: Weights) -> nn.Module:
    ndim = input_rank(config)
    keep = _axes(config.get("axis", -1), ndim)
    axes = tuple(a - ndim if ndim is not None else a for a in keep)
    scale = weights[0]
    shaped = tensor(scale) if ndim is None else _broadcast(scale, keep, ndim)[0]
    return RMSNorm(axes, shaped, float(config.get("epsilon", 1e-6)))


CONVERTERS: dict[str, Converter] = {
    "RMSNormalization": _rms_norm,
    "Normalization": _normalization,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
}
