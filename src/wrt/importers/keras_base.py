"""What every Keras layer converter shares: the refusal, modules, activations.

A converter takes a layer's serialized config and its weights (numpy arrays, in
Keras' order) and returns an ``nn.Module`` computing the same function at inference
time on tensors in Keras' layout (channels last). A layer or configuration it cannot
convert raises :class:`UnsupportedLayer`; the importer then runs Keras itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from wrt.importers.activations import softplus

Config = dict[str, Any]
Weights = list[np.ndarray]
Converter = Callable[[Config, Weights], nn.Module]


class UnsupportedLayer(Exception):
    """A layer or activation with no torch converter (the importer falls back)."""


class Lambda(nn.Module):
    """A stateless function as a module (activations, merges, reshapes)."""

    def __init__(self, fn: Callable[..., torch.Tensor], name: str) -> None:
        super().__init__()
        self.fn = fn
        self.name = name

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        """Apply the function to the arguments."""
        return self.fn(*args)

    def extra_repr(self) -> str:
        """The function's name, for printing."""
        return self.name


def tensor(array: np.ndarray) -> torch.Tensor:
    """A torch copy of a numpy weight (its dtype kept)."""
    return torch.from_numpy(np.array(array, copy=True))


def parameter(array: np.ndarray) -> nn.Parameter:
    """A contiguous trainable parameter holding a copy of ``array``."""
    return nn.Parameter(tensor(np.ascontiguousarray(array)))


def ints(value: Any, rank: int) -> tuple[int, ...]:
    """A Keras size argument (an int or a list) as ``rank`` ints."""
    if isinstance(value, (list, tuple)):
        if len(value) != rank:
            raise UnsupportedLayer(f"size {value} for a {rank}-D layer")
        return tuple(int(v) for v in value)
    return (int(value),) * rank


def channels_last(config: Config) -> bool:
    """Whether a layer reads (N, ..., C) (Keras' default) rather than (N, C, ...)."""
    layout = config.get("data_format") or "channels_last"
    if layout not in ("channels_last", "channels_first"):
        raise UnsupportedLayer(f"data_format={layout!r}")
    return layout == "channels_last"


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "relu": F.relu,
    "relu6": F.relu6,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": softplus,  # exact past x = 20, where F.softplus cuts off
    "softsign": F.softsign,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,  # Keras' default is the exact (erf) form, as torch's
    "silu": F.silu,
    "swish": F.silu,
    "mish": F.mish,
    "exponential": torch.exp,
    "log_sigmoid": F.logsigmoid,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),  # Keras' default slope
    "hard_sigmoid": lambda x: F.relu6(x + 3.0) / 6.0,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
}


def activation_fn(spec: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """A Keras activation given by name as a function (for recurrent cells).

    Raises:
        UnsupportedLayer: unknown or serialized-layer activation.
    """
    name = "linear" if spec is None else spec
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise UnsupportedLayer(f"activation {spec!r}")
    return ACTIVATIONS[name]


def activation(spec: Any) -> nn.Module:
    """A Keras activation (name or serialized layer) as a module.

    Raises:
        UnsupportedLayer: unknown activation.
    """
    if spec is None or spec == "linear":
        return nn.Identity()
    if isinstance(spec, dict):  # a serialized layer used as activation
        from wrt.importers.keras_layers import convert_layer  # the full registry

        return convert_layer(spec.get("class_name", "?"), spec.get("config", {}), [])
    name = str(spec)
    return Lambda(activation_fn(name), name)


def then(module: nn.Module, spec: Any) -> nn.Module:
    """``module`` followed by the activation ``spec`` (itself when linear)."""
    act = activation(spec)
    return module if isinstance(act, nn.Identity) else nn.Sequential(module, act)
