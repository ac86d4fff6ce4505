"""ONNX operators as plain torch functions: the converter's op registry.

Every supported ``(domain, op_type)`` has one :class:`Op` in :data:`DOMAINS`
(:data:`OPS` is the default domain's table). An op is a function
``fn(args, float_dtype, *, attribute=default, ...)``: ``args`` are the node's inputs
in order (``None`` for an omitted optional input), ``float_dtype`` is the dtype of
the points the module was called on, and its keyword-only parameters are the ONNX
attributes it reads, with their ONNX defaults (no default: the attribute is
required). Two keyword-only names are facts about the node instead of attributes:
``n_outputs`` (how many outputs the node declares) and ``opset`` (the version of
the node's domain that the model imports). Ops are added with :func:`register`::

    @register("Softsign")
    def _softsign(args, ft):
        x = req(args, 0)
        return x / (1 + x.abs())

Every function is built from differentiable torch operations without in-place
updates or detaching, so the converted graph can be differentiated to any order.
Integer operands (axes, shapes, slice bounds) are read with :func:`ints` when the
node runs, so they may be initializers, ``Constant`` nodes or computed by ``Shape``
nodes alike.

The ops live in family modules, imported at the end of this one:
:mod:`~wrt.importers.onnx_ops_math` (elementwise), ``onnx_ops_shape``,
``onnx_ops_reduce``, ``onnx_ops_nn`` (linear algebra, softmax, normalisation,
convolution, pooling) and ``onnx_ops_rnn`` (LSTM, GRU, RNN).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from onnx import NodeProto, TensorProto, helper

from wrt.errors import ModelFormatError

Args = list[torch.Tensor | None]
Result = torch.Tensor | tuple[torch.Tensor, ...]
OpFunction = Callable[..., Result]
FnT = TypeVar("FnT", bound=Callable[..., Any])

#: Keyword-only parameters that are facts about the node, not attributes.
NODE_FACTS = frozenset({"n_outputs", "opset"})
#: Marks an attribute without a default: the op needs it.
REQUIRED: Any = object()


class UnsupportedNode(Exception):
    """A node the registry cannot convert; the loader turns it into a wrt error."""


@dataclass(frozen=True)
class Op:
    """One registry entry.

    Attributes:
        fn: ``fn(args, float_dtype, **attributes) -> tensor or tuple of tensors``.
        attributes: attribute name -> ONNX default (:data:`REQUIRED` when the
            attribute has none; None: absent unless given).
        ignored: attributes that do not change the result at inference (e.g. the
            ``seed`` of ``Dropout``).
        facts: the names of :data:`NODE_FACTS` that ``fn`` takes.
    """

    fn: OpFunction
    attributes: Mapping[str, Any] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()
    facts: frozenset[str] = frozenset()


#: domain -> op_type -> converter; ``""`` is the default domain (``ai.onnx``).
DOMAINS: dict[str, dict[str, Op]] = {"": {}}
#: The default domain's ops.
OPS: dict[str, Op] = DOMAINS[""]


def _domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def add(op_type: str, op: Op, domain: str = "") -> None:
    """Put ``op`` into the registry (for ops built from a shared function).

    Raises:
        ValueError: ``(domain, op_type)`` has a converter already.
    """
    table = DOMAINS.setdefault(_domain(domain), {})
    if op_type in table:
        raise ValueError(f"ONNX op {op_type!r} of domain {domain!r} registered twice")
    table[op_type] = op


def register(
    op_type: str, domain: str = "", *, ignored: Iterable[str] = ()
) -> Callable[[FnT], FnT]:
    """Decorator: ``fn`` converts the nodes of ``op_type`` in ``domain``.

    The keyword-only parameters of ``fn`` are the attributes it reads (their
    defaults are the ONNX defaults; one without a default is required), except
    ``n_outputs`` and ``opset``, which :func:`build` fills from the node.

    Args:
        op_type: the ONNX op type, e.g. ``"ReduceSum"``.
        domain: its domain; ``""`` (or ``"ai.onnx"``) is the default one, e.g.
            ``"ai.onnx.ml"``.
        ignored: attributes that do not change the result at inference.

    Returns:
        A decorator that registers ``fn`` and returns it unchanged.
    """

    def decorate(fn: FnT) -> FnT:
        attributes: dict[str, Any] = {}
        facts = set()
        for parameter in inspect.signature(fn).parameters.values():
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue
            if parameter.name in NODE_FACTS:
                facts.add(parameter.name)
            elif parameter.default is inspect.Parameter.empty:
                attributes[parameter.name] = REQUIRED
            else:
                attributes[parameter.name] = parameter.default
        add(op_type, Op(fn, attributes, frozenset(ignored), frozenset(facts)), domain)
        return fn

    return decorate


def req(args: Args, position: int) -> torch.Tensor:
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


def opt(args: Args, position: int) -> torch.Tensor | None:
    """The node's optional input at ``position``, None when omitted."""
    return args[position] if position < len(args) else None


def ints(t: torch.Tensor) -> list[int]:
    """An integer tensor (axes, shape, bounds) as a list of Python ints."""
    return [int(v) for v in t.detach().reshape(-1).tolist()]


#: ONNX floating element types: a cast to any of them gives the points' dtype.
FLOAT_TYPES = {
    TensorProto.FLOAT,
    TensorProto.DOUBLE,
    TensorProto.FLOAT16,
    TensorProto.BFLOAT16,
}
#: Other ONNX element types that torch holds.
OTHER_TYPES: dict[int, torch.dtype] = {
    TensorProto.INT64: torch.int64,
    TensorProto.INT32: torch.int32,
    TensorProto.INT16: torch.int16,
    TensorProto.INT8: torch.int8,
    TensorProto.UINT8: torch.uint8,
    TensorProto.BOOL: torch.bool,
}


def dtype_of(code: int, ft: torch.dtype) -> torch.dtype:
    """The torch dtype for an ONNX element type; floating types give ``ft``.

    A float64 copy of a float32 file then computes in float64 throughout.

    Raises:
        UnsupportedNode: a type torch does not hold (strings, complex, float8).
    """
    if code in FLOAT_TYPES:
        return ft
    if code in OTHER_TYPES:
        return OTHER_TYPES[code]
    raise UnsupportedNode(f"element type {TensorProto.DataType.Name(code)}")


def supported_ops() -> str:
    """The supported op types, for messages (``Constant`` is read at load time)."""
    names = [*OPS, "Constant"]
    names += [f"{d}.{op}" for d, table in DOMAINS.items() if d for op in table]
    return ", ".join(sorted(names))


def build(node: NodeProto, opsets: Mapping[str, int] | None = None) -> OpFunction:
    """The function computing ``node``: its registry entry with attributes bound.

    Args:
        node: an ONNX node.
        opsets: domain -> the opset version the model imports (``""`` for the
            default domain); the newest version is assumed for a missing domain.

    Returns:
        ``fn(args, float_dtype) -> tensor or tuple of tensors``.

    Raises:
        UnsupportedNode: unknown op type, an attribute the entry does not read, or
            a required attribute missing.
    """
    domain = _domain(node.domain)
    op = DOMAINS.get(domain, {}).get(node.op_type)
    if op is None:
        raise UnsupportedNode(node.op_type)
    values = dict(op.attributes)
    for attribute in node.attribute:
        if attribute.name in op.ignored:
            continue
        if attribute.name not in op.attributes:
            raise UnsupportedNode(f"{node.op_type} with attribute {attribute.name}")
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        values[attribute.name] = value
    missing = [name for name, value in values.items() if value is REQUIRED]
    if missing:
        raise UnsupportedNode(f"{node.op_type} without attribute {missing[0]}")
    if node.op_type == "Cast" and domain == "":
        dtype_of(values["to"], torch.float32)  # refuse a cast torch cannot do now
    if "n_outputs" in op.facts:
        values["n_outputs"] = len(node.output)
    if "opset" in op.facts:
        versions = dict(opsets or {})
        values["opset"] = versions.get(domain, versions.get("ai.onnx", 10**6))
    return functools.partial(op.fn, **values)


# The family modules register their ops on import; they import this module's
# helpers, which are defined above.
from wrt.importers import (  # noqa: E402
    onnx_ops_math,  # noqa: F401
    onnx_ops_nn,  # noqa: F401
    onnx_ops_reduce,  # noqa: F401
    onnx_ops_rnn,  # noqa: F401
    onnx_ops_shape,  # noqa: F401
)
