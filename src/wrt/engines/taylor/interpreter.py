"""Trace a model to ATen operations once, then push Taylor series through the graph.

``make_fx`` records the operations the model runs on a real input of the shape that
will be evaluated (so view sizes are right) and keeps references to the model's own
parameters, so results stay differentiable with respect to them. The interpreter
walks the graph: nodes whose inputs hold no jet are evaluated as they are (weights,
constants), the others go through their rule in :mod:`jet_rules`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, cast

import torch
from torch.fx import GraphModule, Node
from torch.fx.experimental.proxy_tensor import make_fx
from torch.fx.node import map_arg

from wrt.engines.taylor.jet import Jet
from wrt.engines.taylor.jet_rules import lookup, mutates_first
from wrt.engines.taylor.rules.registry import aten
from wrt.errors import UnsupportedOpError
from wrt.model import Model

#: Operations whose results can steer the model's Python control flow (a scalar
#: read such as an ONNX Loop's condition, a truth value, a data-dependent shape):
#: the trace bakes the branches their traced values took.
READS = (aten._local_scalar_dense, aten.is_nonzero, aten.equal, aten.nonzero)


class StaleTrace(UnsupportedOpError):
    """These points steer the model's control flow unlike the traced ones."""


def trace(model: Model, x: torch.Tensor, fresh: bool = False) -> GraphModule:
    """The ATen graph of ``model`` on points shaped like ``x`` (N, n_in).

    Tracing costs tens of milliseconds, more than propagating the series, so the
    graph is kept in the model's :class:`~wrt.cache.Cache` (never on the user's
    module) for each point shape, dtype and device, and reused while the model's
    parameters and buffers are the same tensor objects (the graph holds references
    to them, so in-place training updates are seen; replaced tensors make a new
    trace). ``fresh`` traces again on ``x`` even so.

    A model whose control flow reads values (:data:`READS`: a loop's condition,
    ``.item()``) is traced on ``x`` with those reads recorded in
    ``graph.meta["wrt_reads"]``; :func:`propagate` checks them on every call and
    raises :class:`StaleTrace` when other points take another branch.
    """
    key = (tuple(x.shape), x.dtype, x.device, _tensor_ids(model))

    def build() -> GraphModule:
        with torch.no_grad():
            graph = make_fx(
                lambda points: model(points),
                tracing_mode="real",
                _error_on_data_dependent_ops=False,
            )(x)
            graph.meta["wrt_reads"] = _read_values(graph, x)
        return graph

    if fresh:
        model.cache.graphs.pop(key, None)
    return model.cache.graph(key, build)


def _read_values(graph: GraphModule, x: torch.Tensor) -> dict[str, Any]:
    """Node name -> traced value of every read in ``graph`` (one more forward)."""
    reads = {
        node
        for node in graph.graph.nodes
        if getattr(node.target, "overloadpacket", None) in READS
    }
    if not reads:
        return {}
    recorded: dict[str, Any] = {}

    class _Recorder(torch.fx.Interpreter):
        def run_node(self, n: Node) -> Any:
            out = super().run_node(n)
            if n in reads:
                recorded[n.name] = out
            return out

    _Recorder(graph).run(x)
    return recorded


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.equal(a, b))
    return bool(a == b)


def flat(
    graph: GraphModule, model: Model, x: Jet, now: bool = False
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The propagation of jets like ``x`` through ``graph`` as one flat ATen graph.

    Walking the graph and dispatching rules in Python costs a fixed few
    microseconds per operation on every call; a flat graph of the ATen calls the
    rules made runs without that (measured: d4y/dx1^4 on the seed network, 12.9 ->
    9.7 ms). Tracing it costs about one propagation, so it is built on the second
    call with the same graph, stack shape and algebra (at once with ``now``, the
    compiler's way in: :mod:`wrt.engines.compiling`), and kept in the model's cache
    beside the graph. Only for results that need no gradient: the flat graph holds
    the parameters as constants, so the cache drops it when any of them changes.
    None when the graph reads values that steer its control flow (checked on every
    call by :func:`propagate`) or on a first sighting.
    """
    if graph.meta.get("wrt_reads"):  # reads are checked on every call
        return None
    key = (graph, tuple(x.stack.shape), x.algebra)
    flats = model.cache.valid_flats(model.module)
    seen = flats.get(key)
    if callable(seen):
        return cast(Callable[[torch.Tensor], torch.Tensor], seen)
    if seen is None and not now:  # first sighting: interpret this time
        model.cache.add_flat(key, True)
        return None
    algebra = x.algebra
    with torch.no_grad():
        built = make_fx(
            lambda stack: propagate(graph, Jet(stack, algebra)).stack,
            tracing_mode="real",
        )(x.stack)
    model.cache.add_flat(key, built)
    return built


def _tensor_ids(model: Model) -> tuple[int, ...]:
    module = model.module
    return tuple(id(t) for t in (*module.parameters(), *module.buffers()))


def missing_rules(graph: GraphModule) -> list[str]:
    """Names of the operations on the traced path that have no Taylor rule.

    An in-place write whose memory another view reads afterwards counts as one
    (the functional rules would lose the write), so ``auto`` falls back for it.
    """
    traced = depends_on_input(graph)
    order = {n: i for i, n in enumerate(graph.graph.nodes)}
    missing = []
    for node in graph.graph.nodes:
        if node.op != "call_function" or node not in traced:
            continue
        if lookup(node.target) is None:
            missing.append(str(node.target))
        elif mutates_first(node.target) and isinstance(node.args[0], Node):
            reader = stale_reader(graph, node, node.args[0], order)
            if reader is not None:  # a write the functional rules would lose
                missing.append(f"{node.target} (in place; {reader.name} reads after)")
    return sorted(set(missing))


def propagate(graph: GraphModule, x: Jet) -> Jet:
    """The output jet of the graph when its input is the jet ``x``."""
    env: dict[Node, Any] = {}
    # Free each value after its last use: series of wide layers are large, and
    # holding them all made glibc page memory back in on every call.
    last_use: dict[Node, Node] = {}
    for node in graph.graph.nodes:
        for source in node.all_input_nodes:
            last_use[source] = node
    reads = graph.meta.get("wrt_reads") or {}
    freed_by: dict[Node, list[Node]] = {}
    for source, user in last_use.items():
        freed_by.setdefault(user, []).append(source)
    for node in graph.graph.nodes:
        if node.op == "placeholder":
            env[node] = x
        elif node.op == "get_attr":
            env[node] = getattr(graph, node.target)
        elif node.op == "call_function":
            args = map_arg(node.args, lambda n: env[n])
            kwargs = map_arg(node.kwargs, lambda n: env[n])
            env[node] = _call(node, args, kwargs)
            if node.name in reads and not _same(env[node], reads[node.name]):
                raise StaleTrace(
                    f"The model's control flow reads {node.target} (node "
                    f"{node.name}), which differs at these points from the traced "
                    "ones; trace again."
                )
            target = node.args[0] if node.args else None
            if (
                isinstance(target, Node)
                and mutates_first(node.target)
                and _holds_jet(env[node])
            ):
                _check_no_stale_alias(graph, node, target)
                env[target] = env[node]  # later reads of the tensor see the write
            for source in freed_by.get(node, ()):
                env.pop(source, None)
        elif node.op == "output":
            result = map_arg(node.args[0], lambda n: env[n])
            return result[0] if isinstance(result, (list, tuple)) else result
    raise UnsupportedOpError("the traced graph has no output")


def _call(node: Node, args: Any, kwargs: Any) -> Any:
    if not _holds_jet((args, kwargs)):
        return cast(Callable[..., Any], node.target)(*args, **kwargs)
    rule = lookup(node.target)
    if rule is None:
        raise UnsupportedOpError(
            f"The Taylor engine has no rule for {node.target} (node {node.name})."
        )
    return rule(node.target, *args, **kwargs)


def _is_view(node: Node) -> bool:
    """A node whose result shares storage with its first argument."""
    if node.op != "call_function":
        return False
    if node.target is operator.getitem:  # a part of split / unbind / chunk
        source = node.args[0]
        return isinstance(source, Node) and _is_view(source)
    schema = getattr(node.target, "_schema", None)
    if schema is None or not schema.returns or mutates_first(node.target):
        return False
    return schema.returns[0].alias_info is not None


def _check_no_stale_alias(graph: GraphModule, node: Node, written: Node) -> None:
    """Refuse an in-place write that another view of the same storage reads later.

    The rules are functional: the write is bound to the written node only, so a
    base or sibling view read after it would miss it. make_fx points later reads of
    the written tensor itself at the in-place node, which is what the rules see.
    """
    reader = stale_reader(graph, node, written)
    if reader is not None:
        raise UnsupportedOpError(
            f"The Taylor engine cannot follow the in-place {node.target} (node "
            f"{node.name}): {reader.name} shares its memory and is read after it. "
            "Use engine='autograd'."
        )


def stale_reader(
    graph: GraphModule, node: Node, written: Node, order: dict[Node, int] | None = None
) -> Node | None:
    """A view of ``written``'s storage (not itself) read after the write ``node``."""
    base = written
    while _is_view(base) and isinstance(base.args[0], Node):
        base = base.args[0]
    family, frontier = {base}, [base]
    while frontier:
        for user in frontier.pop().users:
            if user not in family and _is_view(user):
                family.add(user)
                frontier.append(user)
    family.discard(written)
    order = order or {n: i for i, n in enumerate(graph.graph.nodes)}
    here = order[node]
    for member in sorted(family, key=order.__getitem__):
        if any(order[user] > here for user in member.users):
            return member
    return None


def _holds_jet(value: Any) -> bool:
    if isinstance(value, Jet):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_jet(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_jet(v) for v in value.values())
    return False


def depends_on_input(graph: GraphModule) -> set[Node]:
    """The nodes whose value depends on the graph's input (the traced path)."""
    reached: set[Node] = set()
    for node in graph.graph.nodes:
        if node.op == "placeholder" or any(a in reached for a in node.all_input_nodes):
            reached.add(node)
    return reached
