"""Resolve ``engine="auto" | "autograd" | "finite_diff"`` to an engine, in one place.

``auto`` takes the cheapest engine that supports the request. Today that is the
autograd engine, which supports every differentiable model; the Taylor engine
will be tried first once it exists. ``finite_diff`` is never chosen by ``auto``:
it is the independent check, asked for by name.
"""

from __future__ import annotations

from wrt.engines.autograd import AutogradEngine
from wrt.engines.base import Engine, Request
from wrt.engines.finite_diff import FiniteDiffEngine
from wrt.errors import EngineError
from wrt.model import Model
from wrt.names import did_you_mean, listing

_FACTORIES = {
    "autograd": AutogradEngine,
    "finite_diff": FiniteDiffEngine,
}
ENGINE_NAMES = ("auto", *_FACTORIES)
_AUTO_ORDER = ("autograd",)


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
        reasons = []
        for candidate in _AUTO_ORDER:
            chosen = _FACTORIES[candidate]()
            verdict = chosen.supports(model, request)
            if verdict is True:
                return chosen
            reasons.append(f"{candidate}: {verdict}")
        raise EngineError("No engine can compute this request: " + "; ".join(reasons))
    if name not in _FACTORIES:
        raise EngineError(
            f"Unknown engine {engine!r}. Valid engines are {listing(ENGINE_NAMES)}."
            f"{did_you_mean(name, ENGINE_NAMES)}"
        )
    chosen = _FACTORIES[name]()
    _require(chosen, model, request)
    return chosen


def _require(engine: Engine, model: Model, request: Request) -> None:
    verdict = engine.supports(model, request)
    if verdict is not True:
        raise EngineError(
            f"The {engine.name} engine cannot compute this request: {verdict}. "
            "Use engine='autograd' (exact for every order) or engine='auto'."
        )
