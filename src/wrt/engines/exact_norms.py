"""Normalisation layers that nested autograd differentiates exactly, to any order.

PyTorch's fused ``native_layer_norm`` (and ``native_group_norm``, and batch norm in
training mode) save their mean and inverse standard deviation without autograd
history; their double-backward formulas account for that analytically, so first
and second derivatives are right, but a third nested ``autograd.grad`` treats
those statistics as constants and returns silently wrong numbers (pytorch issues
#175754 and #186256; measured here with torch 2.13: d3y/dx^3 through a LayerNorm off
by 25 while finite differences agree with the exact value to 1e-8).

:class:`ExactNorms` is a ``TorchFunctionMode`` that, while active, computes
``F.layer_norm`` and ``F.group_norm`` from plain tensor operations (mean, variance,
rsqrt), whose derivatives autograd composes exactly. The autograd engine enters it
for requests of order >= 3. Models that call the fused ATen operators directly
(TorchScript archives, ``torch.export`` programs) cannot be rerouted this way:
:func:`fused_norms` finds them, and the engine warns (``auto`` takes the Taylor
engine, whose rules are exact, when it can run the model).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from wrt.model import Model

#: Fused ATen normalisations whose derivatives of order >= 3 torch gets wrong.
FUSED = ("native_layer_norm", "native_group_norm", "native_batch_norm",
         "_native_batch_norm_legit")  # fmt: skip


def layer_norm(
    x: torch.Tensor,
    normalized_shape: Any,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """``F.layer_norm`` from plain operations (biased variance, as torch)."""
    dims = tuple(range(x.dim() - len(tuple(normalized_shape)), x.dim()))
    centred = x - x.mean(dims, keepdim=True)
    variance = (centred * centred).mean(dims, keepdim=True)
    y = centred * torch.rsqrt(variance + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def group_norm(
    x: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """``F.group_norm`` from plain operations."""
    n, c = x.shape[:2]
    grouped = x.reshape(n, num_groups, -1)
    y = layer_norm(grouped, grouped.shape[-1:], eps=eps).reshape(x.shape)
    shape = (1, c, *[1] * (x.dim() - 2))
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _batch_stats(node: Any) -> bool:
    """Whether a fused norm node normalises by statistics of its input.

    Layer and group norms always do; batch norm only in training mode (its
    ``training`` argument, the sixth): with running statistics it is an affine map,
    exact to every order.
    """
    name = node.target.overloadpacket.__name__
    if "batch_norm" not in name:
        return True
    if node.target._overloadname == "no_stats":
        return True
    return len(node.args) > 5 and node.args[5] is True


class ExactNorms(TorchFunctionMode):
    """While active, layer and group norms run as differentiable compositions."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if func is F.layer_norm:
            return layer_norm(*args, **kwargs)
        if func is F.group_norm:
            return group_norm(*args, **kwargs)
        return func(*args, **kwargs)


def fused_norms(model: Model) -> list[str]:
    """Fused normalisations the model still runs under :class:`ExactNorms`.

    Traced once per model (two probe rows, ``make_fx``) and remembered in its
    :class:`~wrt.cache.Cache`. Models that cannot be traced are assumed clean
    (nothing found).
    """
    cached = model.cache.fused_norms
    if cached is not None:
        return cached
    from torch.fx.experimental.proxy_tensor import make_fx

    probe = torch.zeros(
        2, model.n_inputs, dtype=model.dtype or torch.float64, device=model.device
    )
    found: list[str] = []
    try:
        with torch.no_grad(), ExactNorms():
            graph = make_fx(lambda points: model(points), tracing_mode="real")(probe)
    except Exception:  # tracing user code can fail; then nothing is known
        graph = None
    if graph is not None:
        for node in graph.graph.nodes:
            packet = getattr(
                getattr(node.target, "overloadpacket", None), "__name__", ""
            )
            if node.op == "call_function" and packet in FUSED:
                found.append(packet)
    model.cache.fused_norms = sorted(set(found))
    return model.cache.fused_norms
