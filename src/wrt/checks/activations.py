"""Non-smooth operations in a model: where higher partials say nothing.

A network built from ReLU-like pieces (relu, leaky_relu, prelu, hardtanh, relu6,
abs, clamp, max/min of two branches) is piecewise linear in its inputs: its first
partials are piecewise constant and every partial of order >= 2 is zero almost
everywhere (and undefined on the kinks). Such partials are exact and useless for
physics or curvature. The operations are read from the model's traced ATen graph
(what actually runs), else from its layer list.
"""

from __future__ import annotations

import torch

from wrt.checks.findings import Finding
from wrt.describe import describe
from wrt.model import Model

#: ATen operations (overload packet names) that make a model piecewise smooth.
NON_SMOOTH_OPS = {
    "relu": "relu",
    "leaky_relu": "leaky_relu",
    "_prelu_kernel": "prelu",
    "prelu": "prelu",
    "hardtanh": "hardtanh",
    "threshold": "threshold",
    "abs": "abs",
    "clamp": "clamp",
    "clamp_min": "clamp",
    "clamp_max": "clamp",
    "maximum": "maximum",
    "minimum": "minimum",
    "hardswish": "hardswish",
    "hardsigmoid": "hardsigmoid",
}
_LAYER_NAMES = {
    "relu",
    "relu6",
    "leaky_relu",
    "prelu",
    "hardtanh",
    "abs",
    "hard_sigmoid",
    "hardswish",
}


def non_smooth_operations(model: Model) -> list[str]:
    """Names of the piecewise-linear operations on the model's path from its inputs."""
    from wrt.engines.taylor.interpreter import depends_on_input, trace

    probe = torch.zeros(2, model.n_inputs, dtype=model.dtype or torch.float64)
    try:
        graph = trace(model, probe)
    except Exception:  # tracing user code can fail; the layer list still helps
        layers = describe(model)["activations"]
        return sorted({a for a in layers if a in _LAYER_NAMES})
    found = set()
    on_path = depends_on_input(graph)
    for node in graph.graph.nodes:
        if node.op != "call_function" or node not in on_path:
            continue
        packet = getattr(node.target, "overloadpacket", None)
        name = getattr(packet, "__name__", "")
        if name in NON_SMOOTH_OPS:
            found.add(NON_SMOOTH_OPS[name])
    return sorted(found)


def piecewise_linear(model: Model, specs: list[str]) -> list[Finding]:
    """A ``piecewise-linear`` warning when the model has non-smooth operations."""
    ops = non_smooth_operations(model)
    if not ops:
        return []
    return [
        Finding(
            "piecewise-linear",
            f"The model is built from piecewise-linear operations ({', '.join(ops)}): "
            "its first partials are piecewise constant and every partial of order "
            ">= 2 is zero almost everywhere (undefined on the kinks).",
            "For smooth partials (curvature, PDE residuals, sensitivities of order 2) "
            "train with a smooth activation: tanh, softplus, silu or gelu.",
            specs=list(specs),
            details={"operations": ops},
        )
    ]
