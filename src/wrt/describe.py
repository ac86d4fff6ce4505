"""What a model is made of: format, names, layers, activations, parameters, dtype.

Used by ``wrt inspect``; the checks (piecewise-linear activations) read the same
layer list.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wrt.model import Model

# Leaf modules that are activations: torch class name -> activation name.
ACTIVATION_CLASSES = {
    "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus", "SiLU": "silu",
    "GELU": "gelu", "ELU": "elu", "SELU": "selu", "CELU": "celu", "Mish": "mish",
    "ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
    "Hardtanh": "hardtanh", "Hardswish": "hardswish", "Hardsigmoid": "hard_sigmoid",
    "Softsign": "softsign", "LogSigmoid": "log_sigmoid", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "Tanhshrink": "tanhshrink",
}  # fmt: skip
# Names that converted functions (wrt's Keras and ONNX importers) carry.
ACTIVATION_NAMES = set(ACTIVATION_CLASSES.values()) | {
    "linear", "swish", "exponential", "sin", "cos", "exp", "abs",
}  # fmt: skip


def describe(model: Model) -> dict[str, Any]:
    """A JSON-ready description of the model.

    Returns:
        ``format``, ``source``, ``inputs``, ``outputs``, ``dtype``, ``parameters``
        (count of scalar weights), ``layers`` (one entry per leaf module: ``name``,
        ``type``, ``detail``, ``activation`` or None) and ``activations`` (the
        distinct activation names, in order of appearance).
    """
    layers = [_layer(name, module) for name, module in _leaves(model.module)]
    activations = list(
        dict.fromkeys(a["activation"] for a in layers if a["activation"])
    )
    return {
        "format": model.format,
        "source": model.source,
        "inputs": list(model.inputs),
        "outputs": list(model.outputs),
        "dtype": str(model.dtype).removeprefix("torch.") if model.dtype else None,
        "parameters": sum(p.numel() for p in model.module.parameters()),
        "layers": layers,
        "activations": activations,
    }


def _leaves(module: nn.Module):
    for name, child in module.named_modules():
        if not any(True for _ in child.children()):
            yield name or type(module).__name__, child


def _layer(name: str, module: nn.Module) -> dict[str, Any]:
    kind = type(module).__name__
    if isinstance(module, torch.jit.ScriptModule):
        # a TorchScript submodule keeps the class it was scripted from
        kind = str(getattr(module, "original_name", kind))
    detail = module.extra_repr() if hasattr(module, "extra_repr") else ""
    activation = ACTIVATION_CLASSES.get(kind)
    if activation is None and getattr(module, "name", None) in ACTIVATION_NAMES:
        activation = module.name
    return {"name": name, "type": kind, "detail": detail, "activation": activation}
