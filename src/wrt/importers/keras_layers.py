"""Keras layers as plain torch modules: a registry of converters and the graph runner.

Each converter takes a layer's serialized config and its weights (numpy arrays, in
Keras' order) and returns an ``nn.Module`` computing the same function at inference
time. A layer without a converter raises :class:`UnsupportedLayer`; the Keras
importer then falls back to running the Keras model itself. Plain torch modules are
what the fast engines can trace, and they make float64 copies trivial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from wrt.importers.activations import softplus

Config = dict[str, Any]
Weights = list[np.ndarray]


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


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, copy=True))


# --- activations ------------------------------------------------------------------

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
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


def activation(spec: Any) -> nn.Module:
    """A Keras activation (name or serialized layer) as a module.

    Raises:
        UnsupportedLayer: unknown activation.
    """
    if spec is None:
        return nn.Identity()
    if isinstance(spec, dict):  # a serialized layer used as activation
        return convert_layer(spec.get("class_name", "?"), spec.get("config", {}), [])
    name = str(spec)
    if name == "linear":
        return nn.Identity()
    if name not in _ACTIVATIONS:
        raise UnsupportedLayer(f"activation {name!r}")
    return Lambda(_ACTIVATIONS[name], name)


# --- layers -----------------------------------------------------------------------


def _dense(config: Config, weights: Weights) -> nn.Module:
    kernel = weights[0]  # Keras stores (in, out); torch wants (out, in)
    linear = nn.Linear(kernel.shape[0], kernel.shape[1], bias=config["use_bias"])
    with torch.no_grad():
        linear.weight = nn.Parameter(_tensor(kernel.T))
        if config["use_bias"]:
            linear.bias = nn.Parameter(_tensor(weights[1]))
    act = activation(config.get("activation"))
    return linear if isinstance(act, nn.Identity) else nn.Sequential(linear, act)


class Standardize(nn.Module):
    """Keras ``Normalization``: (x - mean) / max(sqrt(variance), epsilon)."""

    mean: torch.Tensor
    variance: torch.Tensor

    def __init__(self, mean: torch.Tensor, variance: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("variance", variance)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise x (N, d)."""
        # Keras' backend epsilon (1e-7) guards constant features.
        return (x - self.mean) / torch.clamp(torch.sqrt(self.variance), min=1e-7)


def _normalization(config: Config, weights: Weights) -> nn.Module:
    if config.get("invert"):
        raise UnsupportedLayer("Normalization(invert=True)")
    axis = config.get("axis", -1)
    if axis not in (-1, [-1], (-1,)):
        raise UnsupportedLayer(f"Normalization(axis={axis})")
    if config.get("mean") is not None:  # given in the config, not adapted
        mean, variance = np.asarray(config["mean"]), np.asarray(config["variance"])
    else:
        mean, variance = weights[0], weights[1]
    return Standardize(_tensor(mean).reshape(-1), _tensor(variance).reshape(-1))


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
        """Normalise x (N, d) with the moving statistics."""
        inv = self.scale / torch.sqrt(self.variance + self.epsilon)
        return (x - self.mean) * inv + self.offset


def _batch_norm(config: Config, weights: Weights) -> nn.Module:
    if config.get("axis", -1) not in (-1, [-1]):
        raise UnsupportedLayer(f"BatchNormalization(axis={config.get('axis')})")
    it = iter(weights)
    scale = next(it) if config.get("scale", True) else None
    offset = next(it) if config.get("center", True) else None
    mean, variance = next(it), next(it)
    ones = np.ones_like(mean)
    return BatchNormInference(
        _tensor(scale if scale is not None else ones),
        _tensor(offset if offset is not None else 0 * ones),
        _tensor(mean),
        _tensor(variance),
        float(config.get("epsilon", 1e-3)),
    )


def _leaky_relu(config: Config, weights: Weights) -> nn.Module:
    slope = float(config.get("negative_slope", config.get("alpha", 0.3)))
    return nn.LeakyReLU(slope)


def _relu(config: Config, weights: Weights) -> nn.Module:
    if config.get("max_value") is not None or config.get("threshold", 0.0) != 0.0:
        raise UnsupportedLayer("ReLU with max_value or threshold")
    slope = float(config.get("negative_slope", 0.0))
    return nn.LeakyReLU(slope) if slope else nn.ReLU()


def _rescaling(config: Config, weights: Weights) -> nn.Module:
    scale, offset = config.get("scale", 1.0), config.get("offset", 0.0)
    if not all(isinstance(v, (int, float)) for v in (scale, offset)):
        raise UnsupportedLayer("Rescaling with per-feature scale")
    return Lambda(lambda x: x * scale + offset, f"x * {scale} + {offset}")


def _flatten(config: Config, weights: Weights) -> nn.Module:
    return nn.Flatten()


def _reshape(config: Config, weights: Weights) -> nn.Module:
    shape = tuple(config["target_shape"])
    return Lambda(lambda x: x.reshape(x.shape[0], *shape), f"reshape to {shape}")


def _concatenate(config: Config, weights: Weights) -> nn.Module:
    axis = int(config.get("axis", -1))
    return Lambda(lambda *xs: torch.cat(xs, dim=axis), f"concatenate axis {axis}")


def _merge(fn: Callable[[Sequence[torch.Tensor]], torch.Tensor], name: str):
    def make(config: Config, weights: Weights) -> nn.Module:
        return Lambda(lambda *xs: fn(xs), name)

    return make


def _identity(config: Config, weights: Weights) -> nn.Module:
    return nn.Identity()


def _activation_layer(config: Config, weights: Weights) -> nn.Module:
    return activation(config.get("activation"))


def _elu(config: Config, weights: Weights) -> nn.Module:
    return nn.ELU(float(config.get("alpha", 1.0)))


CONVERTERS: dict[str, Callable[[Config, Weights], nn.Module]] = {
    "Dense": _dense,
    "Activation": _activation_layer,
    "LeakyReLU": _leaky_relu,
    "ReLU": _relu,
    "ELU": _elu,
    "Normalization": _normalization,
    "BatchNormalization": _batch_norm,
    "Rescaling": _rescaling,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Concatenate": _concatenate,
    "Add": _merge(lambda xs: sum(xs[1:], xs[0]), "add"),
    "Subtract": _merge(lambda xs: xs[0] - xs[1], "subtract"),
    "Multiply": _merge(lambda xs: math.prod(xs[1:], start=xs[0]), "multiply"),
    "Average": _merge(lambda xs: sum(xs[1:], xs[0]) / len(xs), "average"),
    "Dropout": _identity,  # inference: no dropout
    "GaussianNoise": _identity,
    "GaussianDropout": _identity,
    "AlphaDropout": _identity,
    "ActivityRegularization": _identity,
}


def convert_layer(class_name: str, config: Config, weights: Weights) -> nn.Module:
    """The torch module for one Keras layer.

    Raises:
        UnsupportedLayer: no converter for this layer or configuration.
    """
    if class_name not in CONVERTERS:
        raise UnsupportedLayer(f"layer {class_name}")
    return CONVERTERS[class_name](config, weights)


# --- the graph --------------------------------------------------------------------

TensorRef = tuple[str, int, int]  # (layer name, node index, tensor index)


class KerasGraph(nn.Module):
    """Runs converted layers along a Keras model's graph, on one (N, n_in) tensor.

    Args:
        layers: converted modules by Keras layer name.
        calls: (layer name, node index, argument refs, several arguments?) in an
            order where every argument is computed before it is used; the result of
            node k of a layer is ``(name, k, 0)``.
        inputs: (input ref, per-sample shape) for each Keras input, in order; the
            columns of the points are split and reshaped into them.
        outputs: refs of the Keras outputs; each is flattened to (N, k) and all are
            concatenated.
    """

    def __init__(
        self,
        layers: dict[str, nn.Module],
        calls: list[tuple[str, int, list[TensorRef], bool]],
        inputs: list[tuple[TensorRef, tuple[int, ...]]],
        outputs: list[TensorRef],
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.calls = calls
        self.inputs = inputs
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the graph on points (N, n_in); returns (N, n_out)."""
        values: dict[TensorRef, torch.Tensor] = {}
        start = 0
        for ref, shape in self.inputs:
            width = math.prod(shape)
            values[ref] = x[:, start : start + width].reshape(x.shape[0], *shape)
            start += width
        for name, index, args, as_list in self.calls:
            tensors = [values[ref] for ref in args]
            layer = self.layers[name]
            values[(name, index, 0)] = layer(*tensors) if as_list else layer(tensors[0])
        flat = [values[ref].reshape(x.shape[0], -1) for ref in self.outputs]
        return flat[0] if len(flat) == 1 else torch.cat(flat, dim=1)
