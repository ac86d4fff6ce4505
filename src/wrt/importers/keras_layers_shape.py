"""Keras layers that move entries around: padding, cropping, nearest up-sampling.

Tensors are in Keras' layout (channels last unless a layer says otherwise); each of
these is a concatenation with zeros, a slice, or a broadcast, whose Taylor rules
exist (``cat``, ``slice``, ``expand``).
"""

from __future__ import annotations

import torch
from torch import nn

from wrt.importers.keras_base import (
    Config,
    Converter,
    UnsupportedLayer,
    Weights,
    channels_last,
)
from wrt.importers.keras_layers_conv import pad


def _pairs(value, rank: int) -> list[tuple[int, int]]:
    """Keras padding / cropping (int, pair, or pair per axis) as (before, after)."""
    if isinstance(value, int):
        return [(value, value)] * rank
    items = list(value)
    if rank == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(int(items[0]), int(items[1]))]
    if all(isinstance(v, int) for v in items) and len(items) == rank:
        return [(int(v), int(v)) for v in items]
    return [(int(a), int(b)) for a, b in items]


class Spatial(nn.Module):
    """A per-axis edit of the spatial axes, in either channel layout."""

    def __init__(
        self, kind: str, pairs, rank: int, last: bool, size: list[int] | None = None
    ) -> None:
        super().__init__()
        self.kind, self.pairs, self.rank, self.last = kind, pairs, rank, last
        self.size: list[int] = size or []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad, crop or up-sample x (N, *spatial, C) or (N, C, *spatial)."""
        x = x.movedim(-1, 1) if self.last else x
        if self.kind == "pad":
            x = pad(x, self.pairs)
        elif self.kind == "crop":
            for axis, (before, after) in enumerate(self.pairs):
                length = x.shape[2 + axis] - before - after
                x = x.narrow(2 + axis, before, length)
        else:  # nearest up-sampling: each entry repeated size times per axis
            for axis, times in enumerate(self.size):
                dim = 2 + axis
                shape = list(x.shape)
                y = x.unsqueeze(dim + 1).expand(
                    *shape[: dim + 1], times, *shape[dim + 1 :]
                )
                shape[dim] *= times
                x = y.reshape(shape)
        return x.movedim(1, -1) if self.last else x


def _spatial(kind: str, rank: int) -> Converter:
    def make(config: Config, weights: Weights) -> nn.Module:
        last = channels_last(config)
        if kind == "pad":
            return Spatial(kind, _pairs(config["padding"], rank), rank, last)
        if kind == "crop":
            return Spatial(kind, _pairs(config["cropping"], rank), rank, last)
        if config.get("interpolation", "nearest") != "nearest":
            raise UnsupportedLayer(
                f"UpSampling(interpolation={config['interpolation']!r})"
            )
        size = config["size"]
        size = [int(size)] * rank if isinstance(size, int) else [int(s) for s in size]
        return Spatial(kind, [], rank, last, size)

    return make


CONVERTERS: dict[str, Converter] = {
    "ZeroPadding1D": _spatial("pad", 1),
    "ZeroPadding2D": _spatial("pad", 2),
    "Cropping1D": _spatial("crop", 1),
    "Cropping2D": _spatial("crop", 2),
    "UpSampling1D": _spatial("up", 1),
    "UpSampling2D": _spatial("up", 2),
}
