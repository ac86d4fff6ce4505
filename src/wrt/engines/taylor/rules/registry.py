"""The registry of Taylor rules: one per ATen overload packet, and their lookup.

A rule receives the operation (an ``OpOverload``, for its schema) and the node's
arguments, where traced values are Jets and everything else (weights, sizes,
scalars) is as the graph holds it. Operations whose arguments hold no Jet are not
looked up at all: the interpreter evaluates them directly.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch

from wrt.engines.taylor import jet as J
from wrt.engines.taylor.jet import Jet

aten = torch.ops.aten
Rule = Callable[..., Any]
RULES: dict[Any, Rule] = {}


def rule(*ops: Any) -> Callable[[Rule], Rule]:
    """Register a rule for the overload packets ``ops``."""

    def register(fn: Rule) -> Rule:
        for op in ops:
            RULES[op] = fn
        return fn

    return register


def _is(x: Any) -> bool:
    return isinstance(x, Jet)


def _like(x: Any, ref: Jet) -> Jet:
    return x if _is(x) else J.lift(x, ref)


def lookup(target: Any) -> Rule | None:
    """The rule of an ATen operation (``getitem`` of split results included)."""
    if target is operator.getitem:
        return lambda op, seq, i: seq[i]
    return RULES.get(getattr(target, "overloadpacket", target))
