"""The one abstraction of the engines: a request in, a tensor per partial out.

An engine answers ``supports(model, request)`` with True or a sentence saying why
not, and ``compute(model, x, request)`` with a dict from each requested
:class:`~wrt.spec.Partial` to a tensor of shape (N,). Engines do not parse, load,
chunk or choose: :mod:`wrt.derivatives` and :mod:`wrt.engines.choose` do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import torch

from wrt.model import Model
from wrt.spec import Partial


@dataclass(frozen=True)
class Request:
    """What one call asks for: every partial is computed together.

    Attributes:
        partials: distinct partials, factors in the model's input order.
        differentiable: keep the results attached to the model's parameters so that
            a loss built from them can be backpropagated (training); otherwise the
            results are detached.
    """

    partials: tuple[Partial, ...]
    differentiable: bool = False

    @functools.cached_property
    def max_order(self) -> int:
        """Highest total order asked for (0 when only values are asked)."""
        return max((p.order for p in self.partials), default=0)


class Engine(Protocol):
    """A way of computing partials; see the module docstring."""

    name: str

    def supports(self, model: Model, request: Request) -> bool | str:
        """True when the engine can compute the request, else the reason it cannot."""
        ...

    def chunk_size(self, request: Request, model: Model | None = None) -> int:
        """Points per batch when the caller sets none: bounds memory, keeps speed."""
        ...

    def compute(
        self, model: Model, x: torch.Tensor, request: Request
    ) -> dict[Partial, torch.Tensor]:
        """Compute every requested partial at the points ``x`` (N, n_in).

        Returns:
            partial -> tensor (N,) in the model's dtype.
        """
        ...
