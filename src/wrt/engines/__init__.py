"""Derivative engines: autograd (reference), taylor, finite_diff (independent check).

A :class:`Request` states partials and operators (:class:`WeightedTrace`,
:class:`Directional`, :class:`Hutchinson`); an engine's ``compute`` returns a
:class:`Computed` (values and error estimates); :func:`resolve` chooses the engine
and :func:`run` is the one chunk loop.
"""

from wrt.engines.autograd import AutogradEngine
from wrt.engines.base import (
    Computed,
    Directional,
    Engine,
    Hutchinson,
    Request,
    WeightedTrace,
)
from wrt.engines.choose import ENGINE_NAMES, resolve
from wrt.engines.finite_diff import FiniteDiffEngine
from wrt.engines.run import run

__all__ = [
    "ENGINE_NAMES",
    "AutogradEngine",
    "Computed",
    "Directional",
    "Engine",
    "FiniteDiffEngine",
    "Hutchinson",
    "Request",
    "WeightedTrace",
    "resolve",
    "run",
]
