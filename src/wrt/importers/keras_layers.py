"""Keras layers as plain torch modules: the registry of converters and the graph runner.

The core layers (dense, activations, merges, reshapes, embeddings, identities at
inference) are here; the families live next to it: :mod:`keras_layers_norm`
(normalisations), :mod:`keras_layers_conv` (convolutions, pooling),
:mod:`keras_layers_rnn` (recurrent layers), :mod:`keras_layers_attention` and
:mod:`keras_layers_wrappers` (Bidirectional, TimeDistributed) and
:mod:`keras_layers_shape` (padding, cropping, up-sampling).
:data:`CONVERTERS` joins them all. A layer without a converter raises
:class:`UnsupportedLayer`; the Keras importer then falls back to running the Keras
model itself. Plain torch modules are what the fast engines can trace, and they
make float64 copies trivial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from wrt.importers import (
    keras_layers_attention,
    keras_layers_conv,
    keras_layers_norm,
    keras_layers_rnn,
    keras_layers_shape,
    keras_layers_wrappers,
)
from wrt.importers.keras_base import (
    Config,
    Converter,
    Lambda,
    UnsupportedLayer,
    Weights,
    activation,
    parameter,
    then,
)

__all__ = ["CONVERTERS", "KerasGraph", "Lookup", "UnsupportedLayer", "convert_layer"]


def _dense(config: Config, weights: Weights) -> nn.Module:
    kernel = weights[0]  # Keras stores (in, out); torch wants (out, in)
    if kernel.ndim != 2:
        raise UnsupportedLayer(f"Dense with a {kernel.ndim}-D kernel")
    linear = nn.Linear(kernel.shape[0], kernel.shape[1], bias=config["use_bias"])
    linear.weight = parameter(kernel.T)
    if config["use_bias"]:
        linear.bias = parameter(weights[1])
    return then(linear, config.get("activation"))


def _leaky_relu(config: Config, weights: Weights) -> nn.Module:
    slope = float(config.get("negative_slope", config.get("alpha", 0.3)))
    return nn.LeakyReLU(slope)


class Relu(nn.Module):
    """Keras ``ReLU``: x from the threshold up (capped at max_value), else a slope."""

    def __init__(self, slope: float, threshold: float, cap: float | None) -> None:
        super().__init__()
        self.slope, self.threshold, self.cap = slope, threshold, cap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """negative_slope (x - threshold) below the threshold; min(x, max_value)."""
        y = torch.where(x >= self.threshold, x, self.slope * (x - self.threshold))
        return y if self.cap is None else torch.clamp(y, max=self.cap)


def _relu(config: Config, weights: Weights) -> nn.Module:
    slope = float(config.get("negative_slope") or 0.0)
    threshold = float(config.get("threshold") or 0.0)
    cap = config.get("max_value")
    if cap is None and threshold == 0.0:
        return nn.LeakyReLU(slope) if slope else nn.ReLU()
    return Relu(slope, threshold, None if cap is None else float(cap))


class PRelu(nn.Module):
    """Keras ``PReLU``: x where positive, alpha x elsewhere (alpha learned)."""

    def __init__(self, alpha) -> None:
        super().__init__()
        self.alpha = parameter(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(x) - alpha relu(-x), as Keras computes it."""
        return torch.relu(x) - self.alpha * torch.relu(-x)


def _prelu(config: Config, weights: Weights) -> nn.Module:
    return PRelu(weights[0])


def _softmax(config: Config, weights: Weights) -> nn.Module:
    axis = config.get("axis", -1)
    if not isinstance(axis, int):
        raise UnsupportedLayer(f"Softmax(axis={axis})")
    return Lambda(lambda x: torch.softmax(x, dim=axis), f"softmax axis {axis}")


def _rescaling(config: Config, weights: Weights) -> nn.Module:
    scale, offset = config.get("scale", 1.0), config.get("offset", 0.0)
    if not all(isinstance(v, (int, float, list)) for v in (scale, offset)):
        raise UnsupportedLayer("Rescaling with a serialized scale")
    if isinstance(scale, (int, float)) and isinstance(offset, (int, float)):
        # Python numbers: exact in a float64 copy (1 / 255 is not a float32)
        return Lambda(lambda x: x * scale + offset, f"x * {scale} + {offset}")
    dtype = torch.float64 if "float64" in str(config.get("dtype")) else torch.float32
    s, o = torch.tensor(scale, dtype=dtype), torch.tensor(offset, dtype=dtype)
    return Affine(s, o)


class Affine(nn.Module):
    """Keras ``Rescaling``: x * scale + offset (scalars or per feature)."""

    scale: torch.Tensor
    offset: torch.Tensor

    def __init__(self, scale: torch.Tensor, offset: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)
        self.register_buffer("offset", offset)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale and shift x."""
        return x * self.scale + self.offset


def _flatten(config: Config, weights: Weights) -> nn.Module:
    if config.get("data_format") == "channels_first":
        raise UnsupportedLayer("Flatten(data_format='channels_first')")
    return nn.Flatten()


def _reshape(config: Config, weights: Weights) -> nn.Module:
    shape = tuple(int(d) for d in config["target_shape"])
    return Lambda(lambda x: x.reshape(x.shape[0], *shape), f"reshape to {shape}")


def _permute(config: Config, weights: Weights) -> nn.Module:
    dims = tuple(int(d) for d in config["dims"])  # 1-based, the batch axis fixed
    return Lambda(lambda x: x.permute(0, *dims), f"permute {dims}")


def _concatenate(config: Config, weights: Weights) -> nn.Module:
    axis = int(config.get("axis", -1))
    return Lambda(lambda *xs: torch.cat(xs, dim=axis), f"concatenate axis {axis}")


def _merge(fn: Callable[[Sequence[torch.Tensor]], torch.Tensor], name: str):
    def make(config: Config, weights: Weights) -> nn.Module:
        return Lambda(lambda *xs: fn(xs), name)

    return make


def _fold(fn, xs: Sequence[torch.Tensor]) -> torch.Tensor:
    """fn(fn(x0, x1), x2) ...: pairwise maxima (ops with a Taylor rule)."""
    out = xs[0]
    for x in xs[1:]:
        out = fn(out, x)
    return out


def _identity(config: Config, weights: Weights) -> nn.Module:
    return nn.Identity()


def _activation_layer(config: Config, weights: Weights) -> nn.Module:
    return activation(config.get("activation"))


def _elu(config: Config, weights: Weights) -> nn.Module:
    return nn.ELU(float(config.get("alpha", 1.0)))


class Lookup(nn.Module):
    """Keras ``Embedding``: rows of a table picked by integer-valued columns.

    The index is the column's value, which must be an integer in [0, rows); any
    other value gives NaN rows (Keras would stop with an index error, or truncate
    a fraction). A lookup is piecewise constant in its index, so no derivative
    exists along it: the importer marks the inputs that feed an ``Embedding`` as
    integer-valued and :func:`wrt.partials` refuses derivatives along them.

    The rows are picked by a one-hot matmul, (N, ..., rows) @ (rows, dim): every op
    of it has a Taylor rule, so the other inputs of a mixed model keep the Taylor
    engine. Memory grows with the table's rows (a chunk of points holds its
    one-hot codes).
    """

    positions: torch.Tensor

    def __init__(self, table) -> None:
        super().__init__()
        self.table = parameter(table)
        rows = self.table.shape[0]
        self.register_buffer("positions", torch.arange(rows, dtype=self.table.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Look up x (N, ...) of integer values: (N, ..., output_dim)."""
        hot = (x.detach().unsqueeze(-1) == self.positions).to(self.table.dtype)
        found = hot @ self.table
        valid = hot.sum(dim=-1, keepdim=True) > 0
        return torch.where(valid, found, found.new_full((), math.nan))


def _embedding(config: Config, weights: Weights) -> nn.Module:
    if config.get("mask_zero"):
        raise UnsupportedLayer("Embedding(mask_zero=True)")
    if len(weights) != 1 or weights[0].ndim != 2:
        raise UnsupportedLayer("Embedding with a quantised or factored table")
    return Lookup(weights[0])


_CORE: dict[str, Converter] = {
    "Dense": _dense,
    "Activation": _activation_layer,
    "LeakyReLU": _leaky_relu,
    "ReLU": _relu,
    "PReLU": _prelu,
    "Identity": _identity,
    "ELU": _elu,
    "Softmax": _softmax,
    "Rescaling": _rescaling,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Permute": _permute,
    "Concatenate": _concatenate,
    "Add": _merge(lambda xs: sum(xs[1:], xs[0]), "add"),
    "Subtract": _merge(lambda xs: xs[0] - xs[1], "subtract"),
    "Multiply": _merge(lambda xs: math.prod(xs[1:], start=xs[0]), "multiply"),
    "Average": _merge(lambda xs: sum(xs[1:], xs[0]) / len(xs), "average"),
    "Maximum": _merge(lambda xs: _fold(torch.maximum, xs), "maximum"),
    "Minimum": _merge(lambda xs: _fold(torch.minimum, xs), "minimum"),
    "Embedding": _embedding,
    # identities at inference: noise and dropout act in training only
    "Dropout": _identity,
    "SpatialDropout1D": _identity,
    "SpatialDropout2D": _identity,
    "GaussianNoise": _identity,
    "GaussianDropout": _identity,
    "AlphaDropout": _identity,
    "ActivityRegularization": _identity,
}

#: Every converter by Keras class name.
CONVERTERS: dict[str, Converter] = {
    **_CORE,
    **keras_layers_norm.CONVERTERS,
    **keras_layers_conv.CONVERTERS,
    **keras_layers_rnn.CONVERTERS,
    **keras_layers_attention.CONVERTERS,
    **keras_layers_wrappers.CONVERTERS,
    **keras_layers_shape.CONVERTERS,
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


class Call:
    """One layer call of the graph: positional and keyword tensor arguments.

    Attributes:
        layer: the Keras layer's name.
        index: the node index (a layer called twice has nodes 0 and 1).
        args: refs of the positional tensor arguments.
        as_list: the arguments were passed as one list (merges).
        kwargs: keyword -> ref for tensors passed by keyword.
        options: constant keyword arguments the converted layer takes
            (``use_causal_mask``).
        constants: position -> constant among the positional arguments (a
            Keras operation such as ``2.0 * x`` or ``x[:, 0:1]``).
    """

    def __init__(
        self, layer, index, args, as_list, kwargs=None, options=None, constants=None
    ):
        self.layer, self.index = str(layer), int(index)
        self.args: list[TensorRef] = [tuple(a) for a in args]  # type: ignore[misc]
        self.as_list = bool(as_list)
        self.kwargs: dict[str, TensorRef] = {
            k: tuple(v)  # type: ignore[misc]
            for k, v in (kwargs or {}).items()
        }
        self.options: dict[str, object] = dict(options or {})
        self.constants: dict[int, Any] = dict(constants or {})

    def arguments(self, tensors: list[torch.Tensor]) -> list[Any]:
        """The positional arguments: the tensors with the constants put back."""
        it = iter(tensors)
        count = len(self.args) + len(self.constants)
        return [
            self.constants[i] if i in self.constants else next(it) for i in range(count)
        ]

    @property
    def needs(self) -> list[TensorRef]:
        """Every ref the call reads."""
        return [*self.args, *self.kwargs.values()]


class KerasGraph(nn.Module):
    """Runs converted layers along a Keras model's graph, on one (N, n_in) tensor.

    Args:
        layers: converted modules by Keras layer name.
        calls: the layer calls, in an order where every argument is computed
            before it is used; the result of node k of a layer is ``(name, k, 0)``.
        inputs: (input ref, per-sample shape) for each Keras input, in order; the
            columns of the points are split and reshaped into them.
        outputs: refs of the Keras outputs; each is flattened to (N, k) and all are
            concatenated.
    """

    def __init__(
        self,
        layers: dict[str, nn.Module],
        calls: list[Call],
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
        parts, start = [], 0
        for _, shape in self.inputs:
            width = math.prod(shape)
            parts.append(x[:, start : start + width].reshape(x.shape[0], *shape))
            start += width
        flat = [out.reshape(x.shape[0], -1) for out in self.evaluate(parts)]
        return flat[0] if len(flat) == 1 else torch.cat(flat, dim=1)

    def evaluate(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The graph's output tensors (their own shapes) from its input tensors."""
        values: dict[TensorRef, torch.Tensor] = {
            ref: tensor for (ref, _), tensor in zip(self.inputs, inputs, strict=True)
        }
        for call in self.calls:
            args = call.arguments([values[ref] for ref in call.args])
            kwargs: dict[str, Any] = {k: values[r] for k, r in call.kwargs.items()}
            kwargs.update(call.options)
            layer = self.layers[call.layer]
            values[(call.layer, call.index, 0)] = layer(*args, **kwargs)
        return [values[ref] for ref in self.outputs]


class Nested(nn.Module):
    """A Keras model used as a layer of another: its graph on the call's tensors."""

    def __init__(self, graph: KerasGraph) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The nested model's (single) output."""
        return self.graph.evaluate(inputs)[0]
