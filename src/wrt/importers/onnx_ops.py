"""ONNX operators as plain torch functions: the converter's op registry.

Every supported ``op_type`` has one entry in :data:`OPS`: a function
``fn(args, float_dtype, **attributes)`` and the attributes it reads, with their
ONNX defaults. ``args`` are the node's inputs in order (``None`` for an omitted
optional input), ``float_dtype`` is the dtype of the points the module was called
on. Every function is built from differentiable torch operations without in-place
updates, so the converted graph can be differentiated to any order.

Integer operands (axes, shapes, slice bounds) are read with ``tolist()`` when the
node runs, so they may be initializers, ``Constant`` nodes or computed by ``Shape``
nodes alike.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from onnx import NodeProto, TensorProto, helper

from wrt.errors import ModelFormatError
from wrt.importers.activations import softplus

Args = list[torch.Tensor | None]
Result = torch.Tensor | tuple[torch.Tensor, ...]
OpFunction = Callable[..., Result]


class UnsupportedNode(Exception):
    """A node the registry cannot convert; the loader turns it into a wrt error."""


@dataclass(frozen=True)
class Op:
    """One registry entry.

    Attributes:
        fn: ``fn(args, float_dtype, **attributes) -> tensor or tuple of tensors``.
        attributes: attribute name -> ONNX default (None: absent unless given).
        ignored: attributes that do not change the result at inference (e.g. the
            ``seed`` of ``Dropout``).
    """

    fn: OpFunction
    attributes: Mapping[str, Any] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()


def _req(args: Args, position: int) -> torch.Tensor:
    """The node's input at ``position``, which the op requires.

    Raises:
        ModelFormatError: the input is omitted (an empty name in the graph): the
            file does not follow the ONNX specification of the op.
    """
    value = args[position] if position < len(args) else None
    if value is None:
        raise ModelFormatError(
            f"An ONNX node omits its input {position}, which its op requires; the "
            "file does not follow the ONNX specification (onnx.checker says where)."
        )
    return value


def _ints(t: torch.Tensor) -> list[int]:
    """An integer tensor (axes, shape, bounds) as a list of Python ints."""
    return [int(v) for v in t.detach().reshape(-1).tolist()]


def _unary(torch_fn: Callable[[torch.Tensor], torch.Tensor]) -> Op:
    return Op(functools.partial(_apply, torch_fn=torch_fn))


def _apply(args: Args, ft: torch.dtype, *, torch_fn) -> torch.Tensor:
    return torch_fn(_req(args, 0))


def _binary(args: Args, ft: torch.dtype, *, torch_fn) -> torch.Tensor:
    return torch_fn(_req(args, 0), _req(args, 1))


def _div(args: Args, ft: torch.dtype) -> torch.Tensor:
    a, b = _req(args, 0), _req(args, 1)
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")  # ONNX integer division truncates


def _softplus(args: Args, ft: torch.dtype) -> torch.Tensor:
    # log(1 + e^x) without torch's linear cut-off at x = 20 (F.softplus), which
    # would make every derivative of order >= 2 exactly zero there
    return softplus(_req(args, 0))


def _leaky_relu(args: Args, ft: torch.dtype, *, alpha: float) -> torch.Tensor:
    return F.leaky_relu(_req(args, 0), alpha)


def _elu(args: Args, ft: torch.dtype, *, alpha: float) -> torch.Tensor:
    return F.elu(_req(args, 0), alpha)


def _gelu(args: Args, ft: torch.dtype, *, approximate: str) -> torch.Tensor:
    return F.gelu(_req(args, 0), approximate=approximate)


def _gemm(
    args: Args, ft: torch.dtype, *, alpha: float, beta: float, transA: int, transB: int
) -> torch.Tensor:
    """``alpha * A' @ B' + beta * C``; A (M, K) or (K, M), B (K, P) or (P, K)."""
    a, b = _req(args, 0), _req(args, 1)
    c = args[2] if len(args) > 2 else None  # optional
    plain = alpha == 1.0 and beta == 1.0 and not transA
    if plain and transB and c is not None and c.dim() == 1 and c.numel() == b.shape[0]:
        return F.linear(a, b, c)  # what torch.nn.Linear computes, bit for bit
    if transA:
        a = a.transpose(0, 1)
    if transB:
        b = b.transpose(0, 1)
    y = a @ b
    if alpha != 1.0:
        y = alpha * y
    if c is not None:
        y = y + (c if beta == 1.0 else beta * c)
    return y


def _matmul(args: Args, ft: torch.dtype) -> torch.Tensor:
    return torch.matmul(_req(args, 0), _req(args, 1))


def _identity(args: Args, ft: torch.dtype) -> torch.Tensor:
    return _req(args, 0)


def _dropout(args: Args, ft: torch.dtype) -> Result:
    # inference: the data passes unchanged; the optional mask output is all True
    return _req(args, 0), torch.ones_like(_req(args, 0), dtype=torch.bool)


_FLOAT_TYPES = {
    TensorProto.FLOAT,
    TensorProto.DOUBLE,
    TensorProto.FLOAT16,
    TensorProto.BFLOAT16,
}
_OTHER_TYPES: dict[int, torch.dtype] = {
    TensorProto.INT64: torch.int64,
    TensorProto.INT32: torch.int32,
    TensorProto.INT16: torch.int16,
    TensorProto.INT8: torch.int8,
    TensorProto.UINT8: torch.uint8,
    TensorProto.BOOL: torch.bool,
}


def _cast(args: Args, ft: torch.dtype, *, to: int) -> torch.Tensor:
    # A cast to any floating type gives the dtype of the points, so that the float64
    # copy of a float32 file computes in float64 throughout.
    target = ft if to in _FLOAT_TYPES else _OTHER_TYPES[to]
    return _req(args, 0).to(target)


def _concat(args: Args, ft: torch.dtype, *, axis: int) -> torch.Tensor:
    return torch.cat([a for a in args if a is not None], dim=axis)


def _slice_range(start: int, end: int, step: int, dim: int) -> range:
    """The indices ONNX Slice takes along an axis of size ``dim``.

    These are the spec's clamping rules, which differ from Python's for negative
    steps.
    """
    if step == 0:
        raise ValueError("Slice step 0")
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return range(start, end, step)


def _slice(
    args: Args,
    ft: torch.dtype,
    *,
    starts: list[int] | None,
    ends: list[int] | None,
    axes: list[int] | None,
) -> torch.Tensor:
    """Opset >= 10: bounds are inputs 1..4; opset < 10: attributes."""
    x = _req(args, 0)
    steps: list[int] | None = None
    if starts is None:
        starts, ends = _ints(_req(args, 1)), _ints(_req(args, 2))
        if len(args) > 3 and args[3] is not None:
            axes = _ints(_req(args, 3))
        if len(args) > 4 and args[4] is not None:
            steps = _ints(_req(args, 4))
    assert ends is not None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = axis % x.dim()
        picked = _slice_range(start, end, step, x.shape[axis])
        if step > 0:
            index = (slice(None),) * axis + (slice(picked.start, picked.stop, step),)
            x = x[index]
        else:
            rows = torch.tensor(list(picked), dtype=torch.int64, device=x.device)
            x = torch.index_select(x, axis, rows)
    return x


def _reshape(args: Args, ft: torch.dtype, *, allowzero: int) -> torch.Tensor:
    x, shape = _req(args, 0), _ints(_req(args, 1))
    if not allowzero:  # 0 copies the input's size on that axis
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _flatten(args: Args, ft: torch.dtype, *, axis: int) -> torch.Tensor:
    x = _req(args, 0)
    axis = axis + x.dim() if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def _axes(args: Args, attribute: list[int] | None) -> list[int] | None:
    """Axes from the attribute (opset < 13) or the second input (opset >= 13)."""
    if attribute is not None:
        return list(attribute)
    if len(args) > 1 and args[1] is not None:
        return _ints(_req(args, 1))
    return None


def _unsqueeze(args: Args, ft: torch.dtype, *, axes: list[int] | None) -> torch.Tensor:
    x = _req(args, 0)
    wanted = _axes(args, axes) or []
    rank = x.dim() + len(wanted)
    for axis in sorted(a % rank for a in wanted):
        x = x.unsqueeze(axis)
    return x


def _squeeze(args: Args, ft: torch.dtype, *, axes: list[int] | None) -> torch.Tensor:
    x = _req(args, 0)
    wanted = _axes(args, axes)
    if wanted is None:  # every axis of size 1
        wanted = [i for i, size in enumerate(x.shape) if size == 1]
    for axis in sorted((a % x.dim() for a in wanted), reverse=True):
        x = x.squeeze(axis)
    return x


def _gather(args: Args, ft: torch.dtype, *, axis: int) -> torch.Tensor:
    """out.shape = data.shape[:axis] + indices.shape + data.shape[axis + 1:]."""
    data, indices = _req(args, 0), _req(args, 1)
    axis = axis % data.dim()
    size = data.shape[axis]
    flat = indices.reshape(-1).to(torch.int64)
    flat = torch.where(flat < 0, flat + size, flat)
    picked = torch.index_select(data, axis, flat)
    shape = data.shape[:axis] + indices.shape + data.shape[axis + 1 :]
    return picked.reshape(shape)


def _split(
    args: Args,
    ft: torch.dtype,
    *,
    axis: int,
    split: list[int] | None,
    num_outputs: int | None,
    n_outputs: int,
) -> Result:
    x = _req(args, 0)
    sizes = _axes(args, split)
    if sizes is None:  # equal parts, the last one smaller (opset 18)
        size = x.shape[axis]
        part = -(-size // (num_outputs or n_outputs))
        sizes = [part] * (n_outputs - 1) + [size - part * (n_outputs - 1)]
    return tuple(torch.split(x, sizes, dim=axis))


def _transpose(args: Args, ft: torch.dtype, *, perm: list[int] | None) -> torch.Tensor:
    x = _req(args, 0)
    return x.permute(list(perm) if perm is not None else list(range(x.dim()))[::-1])


def _shape(args: Args, ft: torch.dtype, *, start: int, end: int | None) -> torch.Tensor:
    dims = list(_req(args, 0).shape)[start:end]
    return torch.tensor(dims, dtype=torch.int64, device=_req(args, 0).device)


# ONNX float attributes are float32: the default alpha of LeakyRelu is 0.01f.
_F32_0_01 = 0.009999999776482582
_NO_GRAD_EFFECT = frozenset({"seed", "ratio", "is_test", "training_mode"})

#: op_type -> converter entry; the single list of what the ONNX importer supports.
OPS: dict[str, Op] = {
    "Abs": _unary(torch.abs),
    "Add": Op(functools.partial(_binary, torch_fn=torch.add)),
    "Cast": Op(_cast, {"to": None}, frozenset({"saturate", "round_mode"})),
    "Concat": Op(_concat, {"axis": None}),
    "Cos": _unary(torch.cos),
    "Div": Op(_div),
    "Dropout": Op(_dropout, ignored=_NO_GRAD_EFFECT),
    "Elu": Op(_elu, {"alpha": 1.0}),
    "Erf": _unary(torch.erf),
    "Exp": _unary(torch.exp),
    "Flatten": Op(_flatten, {"axis": 1}),
    "Gather": Op(_gather, {"axis": 0}),
    "Gelu": Op(_gelu, {"approximate": "none"}),
    "Gemm": Op(_gemm, {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}),
    "Identity": Op(_identity),
    "LeakyRelu": Op(_leaky_relu, {"alpha": _F32_0_01}),
    "Log": _unary(torch.log),
    "MatMul": Op(_matmul),
    "Mul": Op(functools.partial(_binary, torch_fn=torch.mul)),
    "Neg": _unary(torch.neg),
    "Pow": Op(functools.partial(_binary, torch_fn=torch.pow)),
    "Reciprocal": _unary(torch.reciprocal),
    "Relu": _unary(torch.relu),
    "Reshape": Op(_reshape, {"allowzero": 0}),
    "Shape": Op(_shape, {"start": 0, "end": None}),
    "Sigmoid": _unary(torch.sigmoid),
    "Sin": _unary(torch.sin),
    "Slice": Op(_slice, {"starts": None, "ends": None, "axes": None}),
    "Softplus": Op(_softplus),
    "Split": Op(_split, {"axis": 0, "split": None, "num_outputs": None}),
    "Sqrt": _unary(torch.sqrt),
    "Squeeze": Op(_squeeze, {"axes": None}),
    "Sub": Op(functools.partial(_binary, torch_fn=torch.sub)),
    "Tanh": _unary(torch.tanh),
    "Transpose": Op(_transpose, {"perm": None}),
    "Unsqueeze": Op(_unsqueeze, {"axes": None}),
}


#: domain -> op_type -> entry, for ops outside the default domain (``ai.onnx.ml``:
#: :mod:`wrt.importers.onnx_ops_ml`), filled by :func:`register`.
DOMAINS: dict[str, dict[str, Op]] = {}


def register(op_type: str, domain: str = "") -> Callable[[OpFunction], OpFunction]:
    """Register ``fn(args, float_dtype, **attributes)`` as the converter of an op.

    The attributes the op reads are ``fn``'s keyword-only parameters, their
    defaults the ONNX defaults. Used as a decorator; returns ``fn`` unchanged.

    Args:
        op_type: the ONNX op type, e.g. ``"Scaler"``.
        domain: its domain; ``""`` (or ``"ai.onnx"``) is the default domain.
    """

    def add(fn: OpFunction) -> OpFunction:
        parameters = inspect.signature(fn).parameters.values()
        attributes = {
            p.name: None if p.default is p.empty else p.default
            for p in parameters
            if p.kind is p.KEYWORD_ONLY
        }
        entry = Op(fn, attributes)
        if domain in ("", "ai.onnx"):
            OPS[op_type] = entry
        else:
            DOMAINS.setdefault(domain, {})[op_type] = entry
        return fn

    return add


def supported_ops() -> str:
    """The supported op types, for messages (``Constant`` is read at load time)."""
    extra = [f"{op} ({domain})" for domain, ops in DOMAINS.items() for op in ops]
    return ", ".join([*sorted([*OPS, "Constant"]), *sorted(extra)])


def build(node: NodeProto) -> OpFunction:
    """The function computing ``node``: its registry entry with attributes bound.

    Args:
        node: an ONNX node of the default domain.

    Returns:
        ``fn(args, float_dtype) -> tensor or tuple of tensors``.

    Raises:
        UnsupportedNode: unknown op type, or an attribute the entry does not read.
    """
    table = OPS if node.domain in ("", "ai.onnx") else DOMAINS.get(node.domain, {})
    if node.op_type not in table:
        raise UnsupportedNode(node.op_type)
    op = table[node.op_type]
    values = dict(op.attributes)
    for attribute in node.attribute:
        if attribute.name in op.ignored:
            continue
        if attribute.name not in op.attributes:
            raise UnsupportedNode(f"{node.op_type} with attribute {attribute.name}")
        value = helper.get_attribute_value(attribute)
        values[attribute.name] = value.decode() if isinstance(value, bytes) else value
    if node.op_type == "Cast" and values["to"] not in _FLOAT_TYPES | set(_OTHER_TYPES):
        raise UnsupportedNode(f"Cast to {TensorProto.DataType.Name(values['to'])}")
    if node.op_type == "Concat" and values["axis"] is None:
        raise UnsupportedNode("Concat without axis")
    if node.op_type == "Split":
        values["n_outputs"] = len(node.output)
    return functools.partial(op.fn, **values)
