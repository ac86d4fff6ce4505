"""Keras operations recorded in a functional model (``x * t``, ``keras.ops.sin(x)``).

A functional model built with ``keras.ops`` (or operators on Keras tensors) saves
each operation as a node of class ``Multiply``, ``Sin``, ``GetItem``, ... from the
modules ``keras.src.ops.numpy`` / ``nn`` / ``linalg``; they hold no weights and may
take constants (``2.0 * x``, ``x[:, 0:1]``). Each converts to the torch function it
names. An operation that would mix the rows of a batch (a reduction, reshape or
index over the batch axis) is refused, as is one wrt does not know: the importer
then runs Keras itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

from wrt.importers.activations import softplus
from wrt.importers.keras_base import Config, Lambda, UnsupportedLayer

OpBuilder = Callable[[Config], Callable[..., torch.Tensor]]


def is_op(entry: dict[str, Any]) -> bool:
    """Whether a config entry is a Keras operation rather than a layer."""
    return str(entry.get("module") or "").startswith("keras.src.ops")


def constant(value: Any) -> Any:
    """A constant argument of an operation as Python: numbers, slices, tuples.

    Raises:
        UnsupportedLayer: a constant of another kind (a serialized object).
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(constant(v) for v in value)
    if isinstance(value, dict) and value.get("class_name") == "__slice__":
        c = value["config"]
        return slice(c.get("start"), c.get("stop"), c.get("step"))
    if isinstance(value, dict) and value.get("class_name") == "__ellipsis__":
        return Ellipsis
    raise UnsupportedLayer(f"an operation with the constant {str(value)[:60]}")


def _axis(config: Config, key: str = "axis") -> Any:
    """A non-batch axis (or axes) of the config; refused for the batch axis."""
    axis = config.get(key)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    if axis is None or any(a == 0 for a in axes):
        raise UnsupportedLayer(f"an operation over the batch axis ({key}={axis})")
    return tuple(axes) if isinstance(axis, (list, tuple)) else int(axis)


def _reduce(fn: Callable[..., torch.Tensor]) -> OpBuilder:
    def build(config: Config) -> Callable[..., torch.Tensor]:
        axis, keep = _axis(config), bool(config.get("keepdims", False))
        if config.get("initial") is not None:
            raise UnsupportedLayer("a reduction with an initial value")
        return lambda x: fn(x, dim=axis, keepdim=keep)

    return build


def _reshape(config: Config):
    shape = tuple(int(d) for d in config["newshape"])
    if shape[0] != -1:
        raise UnsupportedLayer(f"a reshape that fixes the batch size ({shape})")
    return lambda x: x.reshape(x.shape[0], *shape[1:])


def _transpose(config: Config):
    axes = config.get("axes")
    if axes is None or int(axes[0]) != 0:
        raise UnsupportedLayer(f"a transpose that moves the batch axis ({axes})")
    return lambda x: x.permute(*axes)


def _get_item(x: torch.Tensor, key: Any) -> torch.Tensor:
    key = key if isinstance(key, tuple) else (key,)
    if not key or key[0] != slice(None) and key[0] is not Ellipsis:
        raise UnsupportedLayer(f"an index into the batch axis ({key})")
    return x[key]


def _cast(config: Config):
    if not str(config.get("dtype", "")).startswith(("float", "bfloat")):
        raise UnsupportedLayer(f"a cast to {config.get('dtype')}")
    return lambda x: x  # the conversion keeps its own float dtype (float64 exact)


def _norm(config: Config):
    if config.get("ord") not in (None, 2, 2.0) or isinstance(config["axis"], list):
        raise UnsupportedLayer(f"a norm with ord={config.get('ord')}")
    axis, keep = _axis(config), bool(config.get("keepdims", False))
    return lambda x: torch.linalg.vector_norm(x, 2, dim=axis, keepdim=keep)


def _plain(fn: Callable[..., torch.Tensor]) -> OpBuilder:
    return lambda config: fn


def _along(fn: Callable[..., torch.Tensor]) -> OpBuilder:
    """An op taking ``dim=`` (its axis checked once, when the model loads)."""

    def build(config: Config) -> Callable[..., torch.Tensor]:
        axis = _axis(config)
        return lambda *xs: fn(*xs, dim=axis)

    return build


_OPS: dict[str, OpBuilder] = {
    # arithmetic (either side may be a Python number)
    "Add": _plain(lambda a, b: a + b),
    "Subtract": _plain(lambda a, b: a - b),
    "Multiply": _plain(lambda a, b: a * b),
    "Divide": _plain(lambda a, b: a / b),
    "TrueDivide": _plain(lambda a, b: a / b),
    "Power": _plain(lambda a, b: a**b),
    "Maximum": _plain(lambda a, b: torch.maximum(*_tensors(a, b))),
    "Minimum": _plain(lambda a, b: torch.minimum(*_tensors(a, b))),
    "Matmul": _plain(torch.matmul),
    "Negative": _plain(torch.neg),
    "Absolute": _plain(torch.abs),
    "Abs": _plain(torch.abs),
    "Square": _plain(torch.square),
    "Sqrt": _plain(torch.sqrt),
    "Reciprocal": _plain(torch.reciprocal),
    "Exp": _plain(torch.exp),
    "Expm1": _plain(torch.expm1),
    "Log": _plain(torch.log),
    "Log1p": _plain(torch.log1p),
    "Sin": _plain(torch.sin),
    "Cos": _plain(torch.cos),
    "Tan": _plain(torch.tan),
    "Arcsin": _plain(torch.asin),
    "Arccos": _plain(torch.acos),
    "Arctan": _plain(torch.atan),
    "Sinh": _plain(torch.sinh),
    "Cosh": _plain(torch.cosh),
    "Tanh": _plain(torch.tanh),
    "Arctanh": _plain(torch.atanh),
    "Sign": _plain(torch.sign),
    "Clip": lambda c: lambda x: torch.clamp(x, c.get("x_min"), c.get("x_max")),
    # comparisons and selection
    "Greater": _plain(lambda a, b: a > b),
    "GreaterEqual": _plain(lambda a, b: a >= b),
    "Less": _plain(lambda a, b: a < b),
    "LessEqual": _plain(lambda a, b: a <= b),
    "Where": _plain(lambda c, a, b: torch.where(c, *_tensors(a, b))),
    # shapes (the batch axis stays where it is)
    "GetItem": _plain(_get_item),
    "Concatenate": _along(lambda *xs, dim: torch.cat(xs, dim=dim)),
    "Stack": _along(lambda *xs, dim: torch.stack(xs, dim=dim)),
    "ExpandDims": _along(torch.unsqueeze),
    "Squeeze": _along(torch.squeeze),
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Cast": _cast,
    # reductions over non-batch axes
    "Sum": _reduce(torch.sum),
    "Mean": _reduce(torch.mean),
    "Max": _reduce(torch.amax),
    "Min": _reduce(torch.amin),
    "Norm": _norm,
    # activations (keras.ops.nn)
    "Relu": _plain(F.relu),
    "Relu6": _plain(F.relu6),
    "Sigmoid": _plain(torch.sigmoid),
    "Softplus": _plain(softplus),
    "Softsign": _plain(F.softsign),
    "Silu": _plain(F.silu),
    "Mish": _plain(F.mish),
    "Selu": _plain(F.selu),
    "LogSigmoid": _plain(F.logsigmoid),
    "Gelu": lambda c: (
        lambda x: F.gelu(
            x, approximate="tanh" if c.get("approximate", True) else "none"
        )
    ),
    "Elu": lambda c: lambda x: F.elu(x, float(c.get("alpha", 1.0))),
    "LeakyRelu": lambda c: lambda x: F.leaky_relu(x, float(c["negative_slope"])),
    "Softmax": _along(torch.softmax),
    "LogSoftmax": _along(torch.log_softmax),
}


def _tensors(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Two arguments as tensors of the same dtype (one may be a Python number)."""
    like = a if isinstance(a, torch.Tensor) else b
    return torch.as_tensor(a).to(like), torch.as_tensor(b).to(like)


def convert_op(class_name: str, config: Config) -> Lambda:
    """The torch function of a Keras operation node, as a module.

    Raises:
        UnsupportedLayer: an unknown operation, or one over the batch axis.
    """
    if class_name not in _OPS:
        raise UnsupportedLayer(f"operation {class_name}")
    fn = _OPS[class_name](config)
    return Lambda(fn, f"keras.ops {class_name}")
