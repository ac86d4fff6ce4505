"""An ONNX file as ONNX describes it: operators, opsets, weights, inputs, outputs.

Read with the ``onnx`` package (protobuf only; nothing runs): the operator
summary counts the nodes of the main graph and of every subgraph (the bodies of
``If``, ``Loop``, ``Scan``), and the parameter count is the number of floating
point scalars stored as initializers, where exporters put the weights (integer
tensors are shapes and indices, not weights); the floating scalars of
``Constant`` nodes (scales such as 1/sqrt(d), folded values) are counted apart.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_DEFAULT_DOMAIN = "ai.onnx"
#: ONNX activation operators -> activation names.
ONNX_ACTIVATIONS = {
    "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus", "Relu": "relu",
    "LeakyRelu": "leaky_relu", "PRelu": "prelu", "Elu": "elu", "Selu": "selu",
    "Celu": "celu", "Gelu": "gelu", "Mish": "mish", "HardSigmoid": "hard_sigmoid",
    "HardSwish": "hardswish", "Softsign": "softsign", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "ThresholdedRelu": "thresholded_relu",
}  # fmt: skip


def onnx_view(path: Path) -> dict[str, Any]:
    """Operators, opsets, parameters and graph inputs/outputs of an ONNX file.

    Args:
        path: the ``.onnx`` file (external data is not needed and not read).

    Returns:
        ``ops`` (op type -> node count, domain-qualified outside the default
        domain, most frequent first), ``domains`` (the domains the nodes use),
        ``opset`` (domain -> version imported), ``producer`` (e.g.
        ``"pytorch 2.13"``), ``parameters`` (floating scalars in initializers),
        ``constants`` (those in ``Constant`` nodes), ``inputs`` and ``outputs``
        (dicts with ``name``, ``shape``: every axis an int, a symbolic name, or
        None when unknown, and ``dtype``), and ``nodes`` of the main graph (dicts
        with ``name``, ``op``, ``activation``, ``detail``: its scalar and list
        attributes, and ``parameters``: the floating scalars of the initializers
        it reads).
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    nodes = list(_nodes(graph))
    ops = Counter(_qualified(node) for node in nodes)
    initializer_names = {t.name for t in graph.initializer}
    parameters, constants = _parameters(onnx, graph)
    weights = {
        t.name: math.prod(t.dims)
        for t in graph.initializer
        if t.data_type in _floating(onnx)
    }
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    return {
        "ops": dict(ops.most_common()),
        "domains": sorted({node.domain or _DEFAULT_DOMAIN for node in nodes}),
        "opset": {
            (entry.domain or _DEFAULT_DOMAIN): int(entry.version)
            for entry in model.opset_import
        },
        "producer": producer,
        "parameters": parameters,
        "constants": constants,
        "inputs": [
            _value(onnx, v) for v in graph.input if v.name not in initializer_names
        ],
        "outputs": [_value(onnx, v) for v in graph.output],
        "nodes": [
            {
                "name": node.name or f"#{i}",
                "op": _qualified(node),
                "activation": ONNX_ACTIVATIONS.get(_qualified(node)),
                "detail": _attributes(onnx, node),
                "parameters": sum(weights.get(v, 0) for v in set(node.input)),
            }
            for i, node in enumerate(graph.node)
        ],
    }


def _qualified(node: Any) -> str:
    domain = node.domain
    if domain in ("", _DEFAULT_DOMAIN):
        return str(node.op_type)
    return f"{domain}.{node.op_type}"


def _attributes(onnx: Any, node: Any) -> str:
    """``alpha=0.01, transB=1``: the attributes that are numbers, strings or lists."""
    kinds = onnx.AttributeProto
    shown = []
    for attribute in node.attribute:
        if attribute.type not in (kinds.INT, kinds.FLOAT, kinds.STRING, kinds.INTS,
                                  kinds.FLOATS):  # fmt: skip
            continue
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, list):
            items = [_scalar(v) for v in value]
            text = f"({', '.join(items)}{',' if len(items) == 1 else ''})"
        else:
            text = _scalar(value)
        shown.append(f"{attribute.name}={text}")
    return ", ".join(shown)


def _scalar(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _nodes(graph: Any) -> Iterator[Any]:
    """Every node of ``graph`` and of the subgraphs in its nodes' attributes."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _nodes(attribute.g)
            for sub in attribute.graphs:
                yield from _nodes(sub)


def _floating(onnx: Any) -> set[int]:
    return {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.BFLOAT16,
    }


def _parameters(onnx: Any, graph: Any) -> tuple[int, int]:
    """Floating scalars in the initializers, and in ``Constant`` nodes."""
    floating = _floating(onnx)
    stored = list(graph.initializer)
    constants = []
    for node in _nodes(graph):
        for attribute in node.attribute:
            stored += list(attribute.g.initializer) if attribute.HasField("g") else []
            for sub in attribute.graphs:
                stored += list(sub.initializer)
        if node.op_type == "Constant" and node.domain in ("", _DEFAULT_DOMAIN):
            constants += [a.t for a in node.attribute if a.HasField("t")]
    weights = sum(math.prod(t.dims) for t in stored if t.data_type in floating)
    fixed = sum(math.prod(t.dims) for t in constants if t.data_type in floating)
    return weights, fixed


def _value(onnx: Any, value: Any) -> dict[str, Any]:
    kind = value.type.tensor_type
    shape: list[int | str | None] | None = None
    if kind.HasField("shape"):
        shape = []
        for dim in kind.shape.dim:
            if dim.HasField("dim_value"):
                shape.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                shape.append(str(dim.dim_param))
            else:
                shape.append(None)
    dtype = (
        onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type).name
        if (kind.elem_type)
        else None
    )
    return {"name": value.name, "shape": shape, "dtype": dtype}
