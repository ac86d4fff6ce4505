"""ONNX elementwise ops: arithmetic, activations, comparisons, casts.

Each is the torch function of the same name on broadcast operands (ONNX broadcasts
as numpy does), differentiable to any order where the function is; piecewise
constant ones (Floor, Sign, comparisons) have zero derivatives, as in torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from wrt.importers.activations import softplus
from wrt.importers.onnx_ops import Args, Op, Result, add, dtype_of, opt, register, req


def _apply(args: Args, ft: torch.dtype, *, torch_fn) -> torch.Tensor:
    return torch_fn(req(args, 0))


def _binary(args: Args, ft: torch.dtype, *, torch_fn) -> torch.Tensor:
    return torch_fn(req(args, 0), req(args, 1))


def _variadic(args: Sequence[torch.Tensor | None], ft: torch.dtype, *, torch_fn):
    present = [a for a in args if a is not None]
    result = present[0]
    for other in present[1:]:
        result = torch_fn(result, other)
    return result


_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "Abs": torch.abs,
    "Acos": torch.acos,
    "Acosh": torch.acosh,
    "Asin": torch.asin,
    "Asinh": torch.asinh,
    "Atan": torch.atan,
    "Atanh": torch.atanh,
    "Ceil": torch.ceil,
    "Cos": torch.cos,
    "Cosh": torch.cosh,
    "Erf": torch.erf,
    "Exp": torch.exp,
    "Floor": torch.floor,
    "IsNaN": torch.isnan,
    "Log": torch.log,
    "Neg": torch.neg,
    "Not": torch.logical_not,
    "Reciprocal": torch.reciprocal,
    "Relu": torch.relu,
    "Round": torch.round,  # half to even, as ONNX
    "Sigmoid": torch.sigmoid,
    "Sign": torch.sign,
    "Sin": torch.sin,
    "Sinh": torch.sinh,
    "Sqrt": torch.sqrt,
    "Tan": torch.tan,
    "Tanh": torch.tanh,
}
_BINARY: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "Add": torch.add,
    "And": torch.logical_and,
    "Equal": torch.eq,
    "Greater": torch.gt,
    "GreaterOrEqual": torch.ge,
    "Less": torch.lt,
    "LessOrEqual": torch.le,
    "Mul": torch.mul,
    "Or": torch.logical_or,
    "Pow": torch.pow,
    "Sub": torch.sub,
    "Xor": torch.logical_xor,
}
_VARIADIC: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "Max": torch.maximum,
    "Min": torch.minimum,
    "Sum": torch.add,
}
for _name, _fn in _UNARY.items():
    add(_name, Op(functools.partial(_apply, torch_fn=_fn)))
for _name, _fn in _BINARY.items():
    add(_name, Op(functools.partial(_binary, torch_fn=_fn)))
for _name, _fn in _VARIADIC.items():
    add(_name, Op(functools.partial(_variadic, torch_fn=_fn)))


@register("Mean")
def _mean(args: Args, ft: torch.dtype) -> torch.Tensor:
    present = [a for a in args if a is not None]
    return _variadic(present, ft, torch_fn=torch.add) / len(present)


@register("Div")
def _div(args: Args, ft: torch.dtype) -> torch.Tensor:
    a, b = req(args, 0), req(args, 1)
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")  # ONNX integer division truncates


@register("Mod")
def _mod(args: Args, ft: torch.dtype, *, fmod: int = 0) -> torch.Tensor:
    a, b = req(args, 0), req(args, 1)
    return torch.fmod(a, b) if fmod else torch.remainder(a, b)


@register("Softplus")
def _softplus(args: Args, ft: torch.dtype) -> torch.Tensor:
    # log(1 + e^x) without torch's linear cut-off at x = 20 (F.softplus), which
    # would make every derivative of order >= 2 exactly zero there
    return softplus(req(args, 0))


@register("Softsign")
def _softsign(args: Args, ft: torch.dtype) -> torch.Tensor:
    x = req(args, 0)
    return x / (1 + x.abs())


# ONNX float attributes are float32: the default alpha of LeakyRelu is 0.01f.
_F32_0_01 = 0.009999999776482582


@register("LeakyRelu")
def _leaky_relu(args: Args, ft: torch.dtype, *, alpha: float = _F32_0_01):
    return F.leaky_relu(req(args, 0), alpha)


@register("PRelu")
def _prelu(args: Args, ft: torch.dtype) -> torch.Tensor:
    x, slope = req(args, 0), req(args, 1)
    return torch.where(x >= 0, x, slope * x)


@register("Elu")
def _elu(args: Args, ft: torch.dtype, *, alpha: float = 1.0) -> torch.Tensor:
    return F.elu(req(args, 0), alpha)


@register("Celu")
def _celu(args: Args, ft: torch.dtype, *, alpha: float = 1.0) -> torch.Tensor:
    return F.celu(req(args, 0), alpha)


_SELU_ALPHA = float(torch.tensor(1.67326319217681884765625, dtype=torch.float32))
_SELU_GAMMA = float(torch.tensor(1.05070102214813232421875, dtype=torch.float32))


@register("Selu")
def _selu(
    args: Args, ft: torch.dtype, *, alpha: float = _SELU_ALPHA, gamma=_SELU_GAMMA
) -> torch.Tensor:
    return gamma * F.elu(req(args, 0), alpha)


@register("ThresholdedRelu")
def _thresholded_relu(args: Args, ft: torch.dtype, *, alpha: float = 1.0):
    x = req(args, 0)
    return torch.where(x > alpha, x, torch.zeros_like(x))


@register("HardSigmoid")
def _hard_sigmoid(
    args: Args, ft: torch.dtype, *, alpha: float = 0.2, beta: float = 0.5
) -> torch.Tensor:
    return torch.clamp(alpha * req(args, 0) + beta, 0.0, 1.0)


@register("HardSwish")
def _hard_swish(args: Args, ft: torch.dtype) -> torch.Tensor:
    x = req(args, 0)
    return x * torch.clamp(x / 6 + 0.5, 0.0, 1.0)


@register("Mish")
def _mish(args: Args, ft: torch.dtype) -> torch.Tensor:
    x = req(args, 0)
    return x * torch.tanh(softplus(x))


@register("Gelu")
def _gelu(args: Args, ft: torch.dtype, *, approximate: str = "none") -> torch.Tensor:
    return F.gelu(req(args, 0), approximate=approximate)


@register("Clip")
def _clip(
    args: Args, ft: torch.dtype, *, min: float | None = None, max: float | None = None
) -> torch.Tensor:
    """Opset >= 11: bounds are optional inputs 1, 2; opset < 11: attributes."""
    x = req(args, 0)
    low, high = opt(args, 1), opt(args, 2)
    if low is not None or high is not None:
        return torch.clamp(x, low, high)
    if min is None and max is None:
        return x
    return torch.clamp(x, min, max)


@register("Where")
def _where(args: Args, ft: torch.dtype) -> torch.Tensor:
    return torch.where(req(args, 0).to(torch.bool), req(args, 1), req(args, 2))


@register("IsInf")
def _is_inf(
    args: Args, ft: torch.dtype, *, detect_negative: int = 1, detect_positive: int = 1
) -> torch.Tensor:
    x = req(args, 0)
    return (torch.isposinf(x) & bool(detect_positive)) | (
        torch.isneginf(x) & bool(detect_negative)
    )


@register("Identity")
def _identity(args: Args, ft: torch.dtype) -> torch.Tensor:
    return req(args, 0)


@register("Dropout", ignored=("seed", "ratio", "is_test", "training_mode"))
def _dropout(args: Args, ft: torch.dtype) -> Result:
    # inference: the data passes unchanged; the optional mask output is all True
    return req(args, 0), torch.ones_like(req(args, 0), dtype=torch.bool)


@register("Cast", ignored=("saturate", "round_mode"))
def _cast(args: Args, ft: torch.dtype, *, to: int) -> torch.Tensor:
    # A cast to any floating type gives the dtype of the points, so that the float64
    # copy of a float32 file computes in float64 throughout.
    return req(args, 0).to(dtype_of(to, ft))


@register("CastLike", ignored=("saturate", "round_mode"))
def _cast_like(args: Args, ft: torch.dtype) -> torch.Tensor:
    x, like = req(args, 0), req(args, 1)
    return x.to(ft if like.is_floating_point() else like.dtype)
