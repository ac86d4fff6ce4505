"""Keras layer wrappers: ``Bidirectional`` and ``TimeDistributed``.

``Bidirectional`` runs its forward layer and its backward layer (a copy reading the
sequence from the end) and merges them as Keras does: a backward sequence is put
back in time order first; ``merge_mode`` concat, sum, ave or mul. ``TimeDistributed``
applies its layer to every time step at once, the time axis folded into the batch.
The wrapped layers are converted by the registry (:func:`convert_layer`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from wrt.importers.keras_base import Config, Converter, UnsupportedLayer, Weights

_MERGES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "concat": lambda a, b: torch.cat([a, b], dim=-1),
    "sum": lambda a, b: a + b,
    "ave": lambda a, b: (a + b) / 2,
    "mul": lambda a, b: a * b,
}


def _inner(spec: Config, shape) -> tuple[str, Config]:
    """A wrapped layer's class and config (with its recorded input shape)."""
    built = spec.get("build_config") or {}
    config = {**spec["config"], "__input_shape__": built.get("input_shape", shape)}
    return spec["class_name"], config


class Bidirectional(nn.Module):
    """Forward and backward recurrent layers on x (N, T, F), merged."""

    def __init__(self, forward_layer, backward_layer, merge: str, sequences: bool):
        super().__init__()
        self.forward_layer = forward_layer
        self.backward_layer = backward_layer
        self.merge = merge
        self.sequences = sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Both directions, the backward sequence back in time order, merged."""
        ahead, behind = self.forward_layer(x), self.backward_layer(x)
        if self.sequences:  # (unbind and stack: ops with Taylor rules, unlike flip)
            behind = torch.stack(behind.unbind(1)[::-1], dim=1)
        return _MERGES[self.merge](ahead, behind)

    def extra_repr(self) -> str:
        """The merge."""
        return f"merge_mode={self.merge}"


def _bidirectional(config: Config, weights: Weights) -> nn.Module:
    from wrt.importers.keras_layers import convert_layer  # the full registry

    merge = config.get("merge_mode", "concat")
    if merge not in _MERGES:
        raise UnsupportedLayer(f"Bidirectional(merge_mode={merge!r})")
    shape = config.get("__input_shape__")
    forward_class, forward_config = _inner(config["layer"], shape)
    backward_spec = config.get("backward_layer")
    if backward_spec is None:  # Keras builds it from the forward config
        backward_spec = {
            "class_name": forward_class,
            "config": {
                **config["layer"]["config"],
                "go_backwards": not forward_config.get("go_backwards", False),
            },
        }
    backward_class, backward_config = _inner(backward_spec, shape)
    half = len(weights) // 2
    if len(weights) % 2 or any(
        a.shape != b.shape for a, b in zip(weights[:half], weights[half:], strict=True)
    ):
        raise UnsupportedLayer("Bidirectional with different forward/backward layers")
    sequences = bool(forward_config.get("return_sequences", False))
    return Bidirectional(
        convert_layer(forward_class, forward_config, weights[:half]),
        convert_layer(backward_class, backward_config, weights[half:]),
        merge,
        sequences,
    )


class TimeDistributed(nn.Module):
    """A layer applied to every time step of x (N, T, ...)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fold time into the batch, apply, unfold."""
        n, t = x.shape[0], x.shape[1]
        y = self.layer(x.reshape(n * t, *x.shape[2:]))
        return y.reshape(n, t, *y.shape[1:])


def _time_distributed(config: Config, weights: Weights) -> nn.Module:
    from wrt.importers.keras_layers import convert_layer  # the full registry

    shape = config.get("__input_shape__")
    step = [shape[0], *shape[2:]] if isinstance(shape, (list, tuple)) else None
    return TimeDistributed(convert_layer(*_inner(config["layer"], step), weights))


CONVERTERS: dict[str, Converter] = {
    "Bidirectional": _bidirectional,
    "TimeDistributed": _time_distributed,
}
