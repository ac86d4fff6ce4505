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
    """The rule of an ATen operation (``getitem`` of split results included).

    An in-place operation (``add_``, ``sigmoid_``, ``transpose_``: the fused RNN
    layers run them on their own scratch tensors) gets the rule of its functional
    variant; the interpreter then binds the result to the mutated argument too.
    """
    if target is operator.getitem:
        return lambda op, seq, i: seq[i]
    functional = functional_variant(target)
    if functional is not None:
        found = RULES.get(functional.overloadpacket)
        if found is None:
            return None
        return lambda op, *args, **kwargs: found(functional, *args, **kwargs)
    return RULES.get(getattr(target, "overloadpacket", target))


def mutates_first(target: Any) -> bool:
    """Whether ``target`` is an ATen operation writing into its first argument."""
    schema = getattr(target, "_schema", None)
    if schema is None or not schema.arguments:
        return False
    alias = schema.arguments[0].alias_info
    return bool(alias is not None and alias.is_write)


def functional_variant(target: Any) -> Any:
    """``aten.add.Tensor`` for ``aten.add_.Tensor`` (None if not in-place)."""
    if not mutates_first(target) or any(
        a.alias_info is not None and a.alias_info.is_write
        for a in target._schema.arguments[1:]
    ):
        return None  # out= variants and the like write elsewhere too
    name = target.overloadpacket.__name__
    if not name.endswith("_"):
        return None
    packet = getattr(aten, name[:-1], None)
    if packet is None:
        return None
    for overload in (target._overloadname, "default", "int", "Tensor"):
        if overload in packet.overloads():
            return getattr(packet, overload)
    return None
