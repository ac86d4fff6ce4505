"""Trace a model to ATen operations once, then push Taylor series through the graph.

``make_fx`` records the operations the model runs on a real input of the shape that
will be evaluated (so view sizes are right) and keeps references to the model's own
parameters, so results stay differentiable with respect to them. The interpreter
walks the graph: nodes whose inputs hold no series are evaluated as they are (weights,
constants), the others go through their rule in :mod:`rules`.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch.fx import GraphModule, Node
from torch.fx.experimental.proxy_tensor import make_fx

from wrt.engines.taylor.rules import RULES
from wrt.engines.taylor.series import Series
from wrt.errors import UnsupportedOpError
from wrt.model import Model


def trace(model: Model, x: torch.Tensor) -> GraphModule:
    """The ATen graph of ``model`` on points shaped like ``x`` (N, n_in).

    Tracing costs tens of milliseconds, more than propagating the series, so the
    graph is kept on the model (not in module state) for each point shape, dtype and
    device, and reused while the model's parameters and buffers are the same tensor
    objects (the graph holds references to them, so in-place training updates are
    seen; replaced tensors make a new trace).
    """
    key = (tuple(x.shape), x.dtype, x.device, _tensor_ids(model))
    graphs = model.__dict__.setdefault("_taylor_graphs", {})
    if key not in graphs:
        if len(graphs) >= 8:  # a few chunk shapes per workload; drop the oldest
            graphs.pop(next(iter(graphs)))
        with torch.no_grad():
            graphs[key] = make_fx(lambda points: model(points), tracing_mode="real")(x)
    return graphs[key]


def _tensor_ids(model: Model) -> tuple[int, ...]:
    module = model.module
    return tuple(id(t) for t in (*module.parameters(), *module.buffers()))


def missing_rules(graph: GraphModule) -> list[str]:
    """Names of the operations on the traced path that have no Taylor rule."""
    traced = _depends_on_input(graph)
    missing = []
    for node in graph.graph.nodes:
        if node.op == "call_function" and node in traced and _rule(node) is None:
            if node.target is not operator.getitem:
                missing.append(str(node.target))
    return sorted(set(missing))


def propagate(graph: GraphModule, x: Series) -> Series:
    """The output series of the graph when its input is the series ``x``."""
    env: dict[Node, Any] = {}
    # Free each value after its last use: series of wide layers are large, and
    # holding them all made glibc page memory back in on every call.
    last_use: dict[Node, Node] = {}
    for node in graph.graph.nodes:
        for source in node.all_input_nodes:
            last_use[source] = node
    freed_by: dict[Node, list[Node]] = {}
    for source, user in last_use.items():
        freed_by.setdefault(user, []).append(source)
    for node in graph.graph.nodes:
        if node.op == "placeholder":
            env[node] = x
        elif node.op == "get_attr":
            env[node] = getattr(graph, node.target)
        elif node.op == "call_function":
            args = torch.fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
            env[node] = _call(node, args, kwargs)
            for source in freed_by.get(node, ()):
                env.pop(source, None)
        elif node.op == "output":
            result = torch.fx.node.map_arg(node.args[0], lambda n: env[n])
            return result[0] if isinstance(result, (list, tuple)) else result
    raise UnsupportedOpError("the traced graph has no output")


def _call(node: Node, args: Any, kwargs: Any) -> Any:
    if not _holds_series((args, kwargs)):
        return node.target(*args, **kwargs)
    if node.target is operator.getitem:
        return args[0][args[1]]
    rule = _rule(node)
    if rule is None:
        raise UnsupportedOpError(
            f"The Taylor engine has no rule for {node.target} (node {node.name})."
        )
    return rule(*args, **kwargs)


def _rule(node: Node):
    target = node.target
    packet = getattr(target, "overloadpacket", target)
    return RULES.get(packet)


def _holds_series(value: Any) -> bool:
    if isinstance(value, Series):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_series(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_series(v) for v in value.values())
    return False


def _depends_on_input(graph: GraphModule) -> set[Node]:
    reached: set[Node] = set()
    for node in graph.graph.nodes:
        if node.op == "placeholder" or any(a in reached for a in node.all_input_nodes):
            reached.add(node)
    return reached
