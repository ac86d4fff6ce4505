"""The Taylor propagation as a pure function of (parameters, points).

:func:`bound_partials` pushes the jet of the requested partials through the
model's traced ATen graph (:func:`~wrt.engines.taylor.interpreter.trace`) with
given tensors standing in for the model's parameters. Called on the parameters
themselves it is the differentiable Taylor result of
:meth:`~wrt.engines.taylor.engine.TaylorEngine.compute`; called under
``make_fx`` on placeholder tensors it records the whole propagation as one flat
ATen graph whose inputs are the parameters, which AOTAutograd (``torch.compile``)
can differentiate: the partials are a forward computation, so the gradient of a
loss built from them needs one backward pass, never a double backward.

Only the entries the partials need are kept (the downward closure of their
multi-indices: for ``u, u_x, u_t, u_xx`` four entries), so every layer costs one
GEMM of 4 N rows and each nonlinearity the few products of its truncated series
(Griewank and Walther, *Evaluating Derivatives*, 2nd ed., SIAM 2008, ch. 13).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch.fx import GraphModule

from wrt.engines.base import Request
from wrt.engines.taylor.engine import TaylorEngine
from wrt.engines.taylor.interpreter import missing_rules, propagate, trace
from wrt.engines.taylor.jet import Jet
from wrt.model import Model
from wrt.spec import Partial


class _Bound:
    """A traced graph read with other tensors in place of some of its attributes.

    :func:`~wrt.engines.taylor.interpreter.propagate` reads ``graph.graph``,
    ``graph.meta`` and the attributes of ``get_attr`` nodes; this view answers the
    same, with ``swap[name]`` for the swapped attributes. The graph (cached in the
    model's :class:`~wrt.cache.Cache`) is never changed.
    """

    def __init__(self, module: GraphModule, swap: Mapping[str, torch.Tensor]) -> None:
        self.graph = module.graph
        self.meta = module.meta
        self._module = module
        self._swap = swap

    def __getattr__(self, name: str) -> Any:
        swap = self.__dict__["_swap"]
        if name in swap:
            return swap[name]
        return getattr(self.__dict__["_module"], name)


def parameter_slots(
    graph: GraphModule, params: Sequence[torch.Tensor]
) -> dict[str, int]:
    """Attribute name in ``graph`` -> position in ``params`` of the tensor it holds.

    The trace keeps references to the model's own parameters (identity, not a
    copy); a parameter the graph never reads has no slot.
    """
    where = {id(p): i for i, p in enumerate(params)}
    slots: dict[str, int] = {}
    for node in graph.graph.nodes:
        if node.op == "get_attr":
            held = getattr(graph, cast(str, node.target))
            if id(held) in where:
                slots[cast(str, node.target)] = where[id(held)]
    return slots


def traceable(model: Model, x: torch.Tensor) -> str | None:
    """Why the partials at points like ``x`` cannot be a pure function (None: can).

    A model whose control flow reads values (a loop's condition) is retraced when
    other points branch otherwise, and an operation without a Taylor rule has no
    forward form: neither can be recorded once and replayed.
    """
    try:
        graph = trace(model, x)
    except Exception as exc:  # tracing user code can fail in many ways
        return f"the model could not be traced ({type(exc).__name__}: {exc})"
    if graph.meta.get("wrt_reads"):
        return "the model's control flow reads values of its inputs"
    missing = missing_rules(graph)
    if missing:
        return f"no Taylor rule for {', '.join(missing)}"
    return None


def bound_partials(
    model: Model,
    x: torch.Tensor,
    partials: Sequence[Partial],
    params: Sequence[torch.Tensor],
) -> dict[Partial, torch.Tensor]:
    """The outputs and partials at ``x``, computed from ``params``.

    Args:
        model: the model; its graph on points shaped like ``x`` is traced (or read
            from its cache).
        x: points, (N, n_in), the model's dtype.
        partials: outputs (order 0) and partials; factors in the model's input
            order.
        params: tensors standing in for ``model.module``'s trainable parameters,
            in the order of ``parameters()`` (the parameters themselves, or
            tracing placeholders).

    Returns:
        Each partial -> (N,), exact: ``c_a * a!`` of the propagated jet.

    Raises:
        UnsupportedOpError: an operation has no Taylor rule.
    """
    graph = trace(model, x)
    own = [p for p in model.module.parameters() if p.requires_grad]
    slots = parameter_slots(graph, own)
    bound = cast(GraphModule, _Bound(graph, {k: params[i] for k, i in slots.items()}))
    involved, algebra, entries = TaylorEngine().plan(
        Request(tuple(partials)), model.inputs
    )
    x = x.detach()
    if len(algebra) == 1:  # values only: the graph evaluated as it is
        y = cast(torch.Tensor, propagate(bound, cast(Jet, x))).unsqueeze(0)
    else:
        stack = x.new_zeros((len(algebra), *x.shape))
        stack[0] = x
        for r, position in enumerate(involved):
            stack[algebra.unit(r), :, position] = 1
        y = propagate(bound, Jet(stack, algebra)).stack
    results: dict[Partial, torch.Tensor] = {}
    for partial, alpha in entries.items():
        column = model.outputs.index(partial.output)
        # a float: 21! and beyond do not fit the int64 torch would convert to
        scale = float(math.prod(math.factorial(a) for a in alpha))
        value = y[algebra.position(alpha), :, column]
        results[partial] = value * scale if scale != 1 else value
    return results
