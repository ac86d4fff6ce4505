"""Non-smooth operations in a model: where higher partials say nothing.

A network built from ReLU-like pieces (relu, leaky_relu, prelu, hardtanh, relu6,
abs, clamp, max/min of two branches) is piecewise linear in its inputs: its first
partials are piecewise constant and every partial of order >= 2 is zero almost
everywhere (and undefined on the kinks). Such partials are exact and useless for
physics or curvature. The operations are read from the model's traced ATen graph
(what actually runs), else from its layer list.
"""

from __future__ import annotations

from wrt.checks.findings import Finding
from wrt.inspection.operations import is_piecewise_linear
from wrt.inspection.operations import non_smooth_operations as traced_non_smooth
from wrt.inspection.torch_layers import torch_layers
from wrt.model import Model


def non_smooth_operations(model: Model) -> list[str]:
    """Names of the piecewise-linear operations on the model's path from its inputs.

    The same answer ``wrt inspect`` gives (:mod:`wrt.inspection.operations`): from
    the traced graph, else from the activations of the leaf modules.
    """
    named = [a["activation"] for a in torch_layers(model.module) if a["activation"]]
    return traced_non_smooth(model, named)


def piecewise_linear(model: Model, specs: list[str]) -> list[Finding]:
    """A ``piecewise-linear`` warning when the model has non-smooth operations."""
    ops = non_smooth_operations(model)
    if not ops or is_piecewise_linear(model) is False:
        return []  # smooth, or kinks inside smooth nonlinearities (softsign)
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
