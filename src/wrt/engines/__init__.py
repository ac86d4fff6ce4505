"""Derivative engines: autograd (reference), finite_diff (independent check)."""

from wrt.engines.autograd import AutogradEngine
from wrt.engines.base import Engine, Request
from wrt.engines.choose import ENGINE_NAMES, resolve
from wrt.engines.finite_diff import FiniteDiffEngine

__all__ = [
    "ENGINE_NAMES",
    "AutogradEngine",
    "Engine",
    "FiniteDiffEngine",
    "Request",
    "resolve",
]
