"""Quick models for training: :func:`mlp`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from wrt.errors import DataError
from wrt.model import DTypeLike, Model, as_dtype, wrap

ACTIVATIONS = {
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "sin": None,  # SIREN-style; see _Sin
    "relu": nn.ReLU,
}


class _Sin(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


def mlp(
    inputs: Sequence[str],
    outputs: Sequence[str] = ("y",),
    hidden: Sequence[int] = (32, 32),
    activation: str = "tanh",
    *,
    dtype: DTypeLike = "float64",
    seed: int = 0,
) -> Model:
    """A fully connected network with named inputs and outputs, ready to train.

    Weights are Glorot-normal (Xavier), biases zero: the usual start for PINNs.

    Args:
        inputs: input names, e.g. ``["x", "t"]``.
        outputs: output names.
        hidden: widths of the hidden layers.
        activation: ``tanh``, ``sigmoid``, ``softplus``, ``silu``, ``gelu``, ``sin``
            or ``relu`` (relu's second partials are zero: avoid it for PDEs).
        dtype: parameter dtype (float64 by default: derivative losses are
            sensitive to round-off).
        seed: seed of the initialisation.

    Returns:
        A :class:`~wrt.model.Model` with the given names, parameters in ``dtype``.

    Raises:
        DataError: an unknown activation.
        InvalidNameError: a name that is not an identifier, or one given twice.

    Examples:
        >>> m = mlp(["x", "t"], ["u"], hidden=[8, 8])
        >>> m.inputs, m.outputs, m.dtype
        (('x', 't'), ('u',), torch.float64)
    """
    if activation not in ACTIVATIONS:
        raise DataError(
            f"Unknown activation {activation!r}; use one of {', '.join(ACTIVATIONS)}."
        )
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    width = len(inputs)
    for size in list(hidden) + [len(outputs)]:
        linear = nn.Linear(width, size)
        std = (2.0 / (width + size)) ** 0.5
        with torch.no_grad():
            linear.weight.copy_(torch.randn(size, width, generator=generator) * std)
            linear.bias.zero_()
        layers.append(linear)
        factory = ACTIVATIONS[activation]
        layers.append(factory() if factory is not None else _Sin())
        width = size
    layers.pop()  # linear output
    module = nn.Sequential(*layers).to(as_dtype(dtype) or torch.float64)
    return wrap(module, inputs=list(inputs), outputs=list(outputs))
