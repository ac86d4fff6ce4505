"""Saturating activations whose autograd derivatives keep relative accuracy.

Torch's backward formulas rebuild the derivative of tanh and the sigmoid from the
rounded output: ``1 - y^2`` and ``y (1 - y)``, which are exactly 0 once ``y``
rounds to 1 (tanh'(20) = 1.70e-17 and sigmoid'(40) = 4.25e-18 come out as 0 at
every order); softplus' backward is 1 past its linear cut-off (its second derivative
0 where it is sigmoid'(u)); gelu's tanh form returns NaN at order 3 far out.

:class:`AccurateActivations` is a ``TorchFunctionMode`` that, while active, runs
``torch.tanh``, ``torch.sigmoid``, ``F.softplus``, ``F.logsigmoid``, ``F.silu`` and
``F.gelu`` as autograd functions with the same values and backward passes built
from ``sigmoid(u) sigmoid(-u)`` (computed from ``exp(-|u|)`` inside torch's sigmoid):
relatively accurate, and finite, at every order and every finite u. The autograd
engine enters it for the forward pass. TorchScript archives and exported programs
call the ATen operators directly and are not rerouted (the Taylor engine, whose
rules are accurate, runs those).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


class _Tanh(torch.autograd.Function):
    """Tanh whose derivative is :class:`_Sech2`, not ``1 - y^2``."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(u)
        return torch.tanh(u)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        (u,) = ctx.saved_tensors
        return grad * _Sech2.apply(u)


class _Sech2(torch.autograd.Function):
    """sech^2 u = 4 e / (1 + e)^2, e = exp(-2|u|); derivative -2 tanh(u) sech^2 u."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor) -> torch.Tensor:  # noqa: D102
        e = torch.exp(-2.0 * u.abs())
        out = 4.0 * e / (1.0 + e).square()
        ctx.save_for_backward(u, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        u, out = ctx.saved_tensors
        return grad * -2.0 * _Tanh.apply(u) * out


class _Sigmoid(torch.autograd.Function):
    """Sigmoid whose derivative is :class:`_SigmoidSlope`, not ``y (1 - y)``."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(u)
        return torch.sigmoid(u)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        (u,) = ctx.saved_tensors
        return grad * _SigmoidSlope.apply(u)


class _SigmoidSlope(torch.autograd.Function):
    """s(u) s(-u); its derivative s' (1 - 2 s) = -s' tanh(u / 2)."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = torch.sigmoid(u) * torch.sigmoid(-u)
        ctx.save_for_backward(u, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        u, out = ctx.saved_tensors
        return grad * -out * _Tanh.apply(0.5 * u)


def sigmoid(u: torch.Tensor) -> torch.Tensor:
    """Sigmoid whose derivatives of every order keep relative accuracy."""
    return _Sigmoid.apply(u)


def sigmoid_slope(u: torch.Tensor) -> torch.Tensor:
    """sigmoid'(u) = sigmoid(u) sigmoid(-u), differentiable to every order."""
    return _SigmoidSlope.apply(u)


class _WithSlope(torch.autograd.Function):
    """Torch's own value ``function(u)``, with the derivative ``slope(u)`` given."""

    @staticmethod
    def forward(  # noqa: D102
        ctx: Any, u: torch.Tensor, function: Any, slope: Any
    ) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.slope = slope
        return function(u)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # noqa: D102
        (u,) = ctx.saved_tensors
        return grad * ctx.slope(u), None, None


def _with_slope(u: torch.Tensor, function: Any, slope: Any) -> torch.Tensor:
    return _WithSlope.apply(u, function, slope)


def _softplus(u: torch.Tensor, beta: float = 1.0, threshold: float = 20.0) -> Any:
    return _with_slope(
        u, lambda v: F.softplus(v, beta, threshold), lambda v: sigmoid(beta * v)
    )


def _log_sigmoid(u: torch.Tensor) -> torch.Tensor:
    return _with_slope(u, F.logsigmoid, lambda v: sigmoid(-v))


def _gelu_slope(u: torch.Tensor) -> torch.Tensor:
    """Phi(u) + u phi(u), Phi from erfc (no 1 + erf cancelling for u << 0)."""
    return 0.5 * torch.erfc(-_SQRT_HALF * u) + u * _INV_SQRT_2PI * torch.exp(
        -0.5 * u * u
    )


def _gelu_tanh_slope(u: torch.Tensor) -> torch.Tensor:
    """d/du [u sigmoid(2 v)], v = c (u + a u^3): 1 + tanh(v) written 2 sigmoid(2v)."""
    v = _GELU_C * (u + _GELU_A * u**3)
    dv = _GELU_C * (1.0 + 3.0 * _GELU_A * u * u)
    return sigmoid(2.0 * v) + 2.0 * u * sigmoid_slope(2.0 * v) * dv


def _gelu(u: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    slope = _gelu_tanh_slope if approximate == "tanh" else _gelu_slope
    return _with_slope(u, lambda v: F.gelu(v, approximate=approximate), slope)


def _silu(u: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    return _with_slope(u, F.silu, lambda v: sigmoid(v) + v * sigmoid_slope(v))


def _tanh(u: torch.Tensor) -> torch.Tensor:
    return _Tanh.apply(u)


#: function -> (accurate replacement, |u| beyond which torch's own derivatives
#: lose more than about 1e-13 relative: eps / (1 - tanh(u)^2) at 4, eps e^u for
#: the sigmoid family at 7, eps / |gelu'(u)| at -4)
_LIMIT_TANH, _LIMIT_SIGMOID, _LIMIT_GELU = 4.0, 7.0, 4.0
_REPLACED: dict[Any, tuple[Any, float]] = {
    torch.tanh: (_tanh, _LIMIT_TANH),
    torch.Tensor.tanh: (_tanh, _LIMIT_TANH),
    F.tanh: (_tanh, _LIMIT_TANH),
    torch.sigmoid: (sigmoid, _LIMIT_SIGMOID),
    torch.Tensor.sigmoid: (sigmoid, _LIMIT_SIGMOID),
    F.sigmoid: (sigmoid, _LIMIT_SIGMOID),
    F.softplus: (_softplus, _LIMIT_SIGMOID),
    F.logsigmoid: (_log_sigmoid, _LIMIT_SIGMOID),
    F.silu: (_silu, _LIMIT_SIGMOID),
    F.gelu: (_gelu, _LIMIT_GELU),
}


class AccurateActivations(TorchFunctionMode):
    """While active, saturating activations differentiate with relative accuracy.

    An activation takes the accurate path only when its input needs gradients and
    some entry is beyond the function's limit (where torch's own derivatives lose
    digits); otherwise torch's own function runs, so the common case costs one
    reduction per activation. Measured on the tests' MLPs, the accurate path
    itself costs 50 to 100% more time per nested backward pass (Python autograd
    functions), hence the limit. Values are torch's own either way.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        entry = _REPLACED.get(func)
        if entry is not None and args and _needs(args[0], entry[1], func, args, kwargs):
            if func not in (F.softplus, F.gelu, F.silu) and (len(args) > 1 or kwargs):
                return func(*args, **kwargs)  # an out= or other variant: as is
            return entry[0](*args, **kwargs)
        return func(*args, **kwargs)


def _needs(u: Any, limit: float, func: Any, args: Any, kwargs: Any) -> bool:
    """Whether ``u`` needs gradients and reaches beyond ``limit`` somewhere.

    Decided from two vectorised reductions (``amax``, ``amin``: no temporary of
    ``u``'s size; on a (2000, 64) float32 input, one thread, 14 us against 102 us
    for the former ``(u.abs() > limit).any()``, which made two full-size
    temporaries and was a fifth of ``wrt.grad``'s time on the seed network).
    Softplus is judged on ``beta u``, and past its own threshold as well (torch's
    linear cut-off, whose derivatives are 1 and then 0). A NaN entry makes the
    reductions NaN; then the entries that are not NaN are judged alone.
    """
    if not isinstance(u, torch.Tensor) or not u.requires_grad:
        return False
    if not u.is_floating_point() or u.numel() == 0:
        return False
    with torch.no_grad():
        low, high = _extremes(u.detach())
        if math.isnan(low) or math.isnan(high):
            kept = u.detach()[~torch.isnan(u.detach())]
            if kept.numel() == 0:
                return False
            low, high = _extremes(kept)
    if func is F.softplus:
        named = dict(zip(("beta", "threshold"), args[1:], strict=False))
        named.update(kwargs)
        beta = float(named.get("beta", 1.0))
        threshold = float(named.get("threshold", 20.0))
        low, high = sorted((beta * low, beta * high))
        return high > limit or low < -limit or high > threshold
    return high > limit or low < -limit


def _extremes(u: torch.Tensor) -> tuple[float, float]:
    """The least and greatest entry of ``u`` (NaN if any entry is NaN)."""
    return float(u.amin()), float(u.amax())
