"""The leaf modules of a torch module, as layers: name, class, detail, parameters.

The view of a plain torch model (``wrt.wrap``, ``.npz`` weights, a ``state_dict``
with its class) and of a TorchScript file, whose submodules keep the name of the
class they were scripted from (``original_name``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

#: Leaf modules that are activations: torch class name -> activation name.
ACTIVATION_CLASSES = {
    "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus", "SiLU": "silu",
    "GELU": "gelu", "ELU": "elu", "SELU": "selu", "CELU": "celu", "Mish": "mish",
    "ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
    "Hardtanh": "hardtanh", "Hardswish": "hardswish", "Hardsigmoid": "hard_sigmoid",
    "Softsign": "softsign", "LogSigmoid": "log_sigmoid", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "Tanhshrink": "tanhshrink",
}  # fmt: skip

#: Names that converted functions (wrt's Keras and ONNX importers) carry.
ACTIVATION_NAMES = set(ACTIVATION_CLASSES.values()) | {
    "linear", "swish", "exponential", "sin", "cos", "exp", "abs",
}  # fmt: skip


def torch_layers(module: nn.Module) -> list[dict[str, Any]]:
    """One entry per leaf module of ``module``.

    Args:
        module: a torch module (a TorchScript module too).

    Returns:
        Dicts with ``name`` (the module path, or the class name for a leaf root),
        ``type`` (the class, the scripted class for TorchScript), ``detail``
        (``extra_repr``), ``activation`` (a name or None) and ``parameters``
        (the leaf's own scalar weights).
    """
    return [_layer(name, child) for name, child in _leaves(module)]


def _leaves(module: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, child in module.named_modules():
        if not any(True for _ in child.children()):
            yield name or class_name(module), child


def class_name(module: nn.Module) -> str:
    """The module's class name; a TorchScript module's original class."""
    kind = type(module).__name__
    if isinstance(module, torch.jit.ScriptModule):
        kind = str(getattr(module, "original_name", kind))
    return kind


def _layer(name: str, module: nn.Module) -> dict[str, Any]:
    kind = class_name(module)
    detail = ""
    if not isinstance(module, torch.jit.ScriptModule):
        detail = module.extra_repr()  # a scripted module's says only its class
    activation = ACTIVATION_CLASSES.get(kind)
    if activation is None and getattr(module, "name", None) in ACTIVATION_NAMES:
        activation = module.name
    return {
        "name": name,
        "type": kind,
        "detail": detail,
        "activation": activation,
        "parameters": sum(p.numel() for p in module.parameters()),
    }
