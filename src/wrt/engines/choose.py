"""Resolve ``engine="auto" | "autograd" | "taylor" | "finite_diff"``, in one place.

``auto`` takes the cheapest engine that supports the request, by a cost model
measured on the seed network (``docs/benchmarks.md``): one forward Taylor pass per
direction against one backward pass per node of autograd's trie. Taylor mode wins
for orders >= 3 along few directions (d4y/dx1^4: one direction against four nested
passes); autograd wins for first and second order, where one backward pass gives
every partial of the next order at once. When Taylor mode is preferred but the
model has an operation without a Taylor rule, ``auto`` falls back to autograd with
a :class:`~wrt.errors.FallbackWarning` naming the operation. ``finite_diff`` is
never chosen by ``auto``: it is the independent check, asked for by name.
"""

from __future__ import annotations

import warnings

from wrt.engines.autograd import AutogradEngine, backward_passes
from wrt.engines.base import Engine, Request
from wrt.engines.finite_diff import FiniteDiffEngine
from wrt.engines.taylor.engine import TaylorEngine
from wrt.errors import EngineError, FallbackWarning
from wrt.model import Model
from wrt.names import did_you_mean, listing

_FACTORIES = {
    "autograd": AutogradEngine,
    "taylor": TaylorEngine,
    "finite_diff": FiniteDiffEngine,
}
ENGINE_NAMES = ("auto", *_FACTORIES)


def resolve(engine: str | Engine, model: Model, request: Request) -> Engine:
    """The engine that will compute ``request`` on ``model``.

    Args:
        engine: ``"auto"``, an engine name, or an engine object.
        model: the model.
        request: what is asked.

    Returns:
        An engine whose ``supports`` accepted the request.

    Raises:
        EngineError: unknown name, or the named engine cannot compute the request
            (the message says why and which engine can).
    """
    if not isinstance(engine, str):
        _require(engine, model, request)
        return engine
    name = engine.strip().lower().replace("-", "_")
    if name == "auto":
        return _cheapest(model, request)
    if name not in _FACTORIES:
        raise EngineError(
            f"Unknown engine {engine!r}. Valid engines are {listing(ENGINE_NAMES)}."
            f"{did_you_mean(name, ENGINE_NAMES)}"
        )
    chosen = _FACTORIES[name]()
    _require(chosen, model, request)
    return chosen


def _cheapest(model: Model, request: Request) -> Engine:
    """The engine ``auto`` picks; see the module docstring for the cost model."""
    autograd = AutogradEngine()
    if request.max_order < 3:
        return autograd
    taylor = TaylorEngine()
    directions, _ = taylor.plan(request, model.inputs)
    # measured: a Taylor pass per direction costs about two nested backward passes
    if 2 * len(directions) > backward_passes(request, model.inputs):
        return autograd
    verdict = taylor.supports(model, request)
    if verdict is not True:
        warnings.warn(
            f"The Taylor engine cannot run this model ({verdict}); using the autograd "
            "engine instead (exact, slower at high order).",
            FallbackWarning,
            stacklevel=4,
        )
        return autograd
    return taylor


def _require(engine: Engine, model: Model, request: Request) -> None:
    verdict = engine.supports(model, request)
    if verdict is not True:
        raise EngineError(
            f"The {engine.name} engine cannot compute this request: {verdict}. "
            "Use engine='autograd' (exact for every order) or engine='auto'."
        )
