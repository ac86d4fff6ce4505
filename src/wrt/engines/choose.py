"""Resolve ``engine="auto" | "autograd" | "taylor" | "finite_diff"``, in one place.

``auto`` takes the cheapest engine that supports the request, by a cost model
fitted to the seed network's measurements (``docs/benchmarks.md``):

- autograd: one backward pass per node of its trie, a pass at depth d costing
  about 2^d forward passes (each nesting differentiates the graph the previous
  pass built);
- taylor: one forward pass of M kept entries (:mod:`wrt.engines.taylor.algebra`),
  about M (K + 1) / 2 forward passes for order K (the products between entries),
  M (K + 1) / 3 along a single input (the series recurrences run directly).

Measured on the seed network (N = 2000, float32), taylor / autograd: d3y/dx1^3
7.8 / 9.8 ms, d4y/dx1^4 9.4 / 22, d4y/dx1^4 with d4y/dx2^4 25 / 49; but mixed
partials d3y/dx1^2dx2 15 / 7.3, d4y/dx1^2dx2^2 45 / 22, and Hessians of few inputs
favour reverse mode, which reuses one backward pass for every partial of the next
order. The model reproduces each of these choices.

Operators: a weighted trace over R >= 3 inputs prefers Taylor (the forward
Laplacian; measured: fewer directions are cheaper in reverse mode, which reuses
one backward pass per row of the Hessian); a Hutchinson estimate always prefers
Taylor (one pass of 2 S + 1 entries against S copies of the points in reverse
mode); a directional derivative of order k is a univariate partial of order k for
the cost model ((k + 1)^2 / 3 against 2^k - 1 passes: Taylor from order 3). A
request prefers Taylor when any of its parts does.

The single fallback policy: when Taylor is preferred but cannot run the model (an
operation without a Taylor rule, a graph that cannot be traced), ``auto`` uses
autograd and always says so with a :class:`~wrt.errors.FallbackWarning` naming
the reason. An engine asked for by name is never replaced: one that cannot
compute the request raises :class:`~wrt.errors.EngineError`. ``finite_diff`` is
never chosen by ``auto``: it is the independent check, asked for by name.
"""

from __future__ import annotations

import warnings

from wrt.engines.autograd import AutogradEngine, backward_passes
from wrt.engines.base import Directional, Engine, Hutchinson, Request, WeightedTrace
from wrt.engines.compiling import CompileOption, Mode, refuse_ignored
from wrt.engines.exact_norms import fused_norms
from wrt.engines.finite_diff import FiniteDiffEngine
from wrt.engines.taylor.engine import TaylorEngine
from wrt.errors import EngineError, FallbackWarning, caller_level
from wrt.model import Model
from wrt.names import did_you_mean, listing

_FACTORIES = {
    "autograd": AutogradEngine,
    "taylor": TaylorEngine,
    "finite_diff": FiniteDiffEngine,
}
ENGINE_NAMES = ("auto", *_FACTORIES)


def resolve(
    engine: str | Engine,
    model: Model,
    request: Request,
    compile: CompileOption = "auto",
) -> Engine:
    """The engine that will compute ``request`` on ``model``.

    Args:
        engine: ``"auto"``, an engine name, or an engine object.
        model: the model.
        request: what is asked.
        compile: the Taylor engine's compile option ("auto", True, False) when
            wrt makes the engine (by name or ``auto``); an engine object keeps
            its own (:mod:`wrt.engines.compiling`).

    Returns:
        An engine whose ``supports`` accepted the request.

    Raises:
        EngineError: unknown name, or the named engine cannot compute the request
            (the message says why and which engine can), a bad ``compile``, or
            compile=True with an engine that never compiles.
        IntegerInputError: the request differentiates along an integer-valued
            input (:attr:`Model.integer_inputs`), whatever the engine.
    """
    mode = refuse_ignored(engine, compile)  # compile=True with autograd: refused
    if model.integer_inputs:
        model.refuse_integer_columns(differentiated_columns(model, request))
    if not isinstance(engine, str):
        _require(engine, model, request)
        return engine
    name = engine.strip().lower().replace("-", "_")
    if name == "auto":
        return _cheapest(model, request, mode)
    if name not in _FACTORIES:
        raise EngineError(
            f"Unknown engine {engine!r}. Valid engines are {listing(ENGINE_NAMES)}."
            f"{did_you_mean(name, ENGINE_NAMES)}"
        )
    chosen = TaylorEngine(compile=mode) if name == "taylor" else _FACTORIES[name]()
    _require(chosen, model, request)
    return chosen


def differentiated_columns(model: Model, request: Request) -> set[int]:
    """The input columns ``request`` differentiates along (partials and operators)."""
    index = model.index_of
    columns = {index[name] for p in request.partials for name, _ in p.orders}
    for op in request.operators:
        if isinstance(op, (WeightedTrace, Hutchinson)):
            columns.update(op.over)
        elif isinstance(op, Directional):
            moved = op.direction.reshape(-1, model.n_inputs).ne(0).any(dim=0)
            columns.update(int(i) for i in moved.nonzero().flatten())
    return columns


def _cheapest(model: Model, request: Request, mode: Mode = "auto") -> Engine:
    """The engine ``auto`` picks; see the module docstring for the cost model."""
    autograd = AutogradEngine()
    taylor = TaylorEngine(compile=mode)
    if request.max_order >= 3 and fused_norms(model):
        if taylor.supports(model, request) is True:
            return taylor  # autograd's order >= 3 through fused norms is wrong
        return autograd  # it warns (PrecisionWarning) when it runs
    if not prefers_taylor(model, request):
        return autograd
    verdict = taylor.supports(model, request)
    if verdict is not True:
        warnings.warn(
            f"The Taylor engine cannot run this model ({verdict}); using the autograd "
            "engine instead (exact, slower at high order or for many directions).",
            FallbackWarning,
            stacklevel=caller_level(),
        )
        return autograd
    return taylor


def prefers_taylor(model: Model, request: Request) -> bool:
    """Whether the cost model (module docstring) prefers Taylor for ``request``."""
    for op in request.operators:
        if isinstance(op, Hutchinson):
            return True
        if isinstance(op, WeightedTrace) and len(op.over) >= 3:
            return True
        if isinstance(op, Directional) and (op.order + 1) ** 2 / 3 < 2**op.order - 1:
            return True
    if not request.partials or request.max_order < 3:
        return False
    partials = Request(request.partials)
    algebra = TaylorEngine().plan(partials, model.inputs).algebra
    # one direction runs the series recurrences directly: cheaper than composing
    taylor_cost = len(algebra) * (algebra.order + 1) / (3 if algebra.univariate else 2)
    autograd_cost = sum(2**depth for depth in backward_passes(partials, model.inputs))
    return taylor_cost < autograd_cost


def _require(engine: Engine, model: Model, request: Request) -> None:
    verdict = engine.supports(model, request)
    if verdict is not True:
        raise EngineError(
            f"The {engine.name} engine cannot compute this request: {verdict}. "
            "Use engine='autograd' (exact for every order) or engine='auto'."
        )
