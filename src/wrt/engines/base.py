"""The one abstraction of the engines: a request in, values and error estimates out.

A :class:`Request` states everything one call computes: partials, and operators
built from them without forming them one by one, namely a weighted trace of the
Hessian (:class:`WeightedTrace`, the Laplacian when the weights are the identity),
a directional derivative of any order (:class:`Directional`) and the randomized
Hutchinson trace estimate (:class:`Hutchinson`). An engine answers
``supports(model, request)`` with True or a sentence saying why not, and
``compute(model, x, request)`` with a :class:`Computed`: a tensor (N,) per
partial or operator, and, where the engine has one, its error estimate (finite
differences, the Hutchinson standard error). Engines do not parse, load, chunk or
choose: :mod:`wrt.engines.run` chunks and :mod:`wrt.engines.choose` chooses.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import NamedTuple, Protocol

import torch

from wrt.model import Model
from wrt.spec import Partial


@dataclass(frozen=True, eq=False)
class WeightedTrace:
    """``sum_ij C_ij d2y/dx_i dx_j`` over some inputs: shape (N,).

    Compared by identity (it holds a tensor), so one object is one key.

    Attributes:
        output: the output's name.
        over: positions of the R inputs summed over, in the model's order.
        weights: C, a symmetric (R, R) float64 matrix; None for the identity (the
            Laplacian).
    """

    output: str
    over: tuple[int, ...]
    weights: torch.Tensor | None = None

    order = 2

    def pairs(self) -> list[tuple[int, int, float]]:
        """``(i, j, w)`` over positions i <= j with C_ij != 0; w counts C_ji too."""
        r = len(self.over)
        if self.weights is None:
            return [(self.over[i], self.over[i], 1.0) for i in range(r)]
        return [
            (self.over[i], self.over[j], float(self.weights[i, j]) * (1 + (i != j)))
            for i in range(r)
            for j in range(i, r)
            if self.weights[i, j] != 0
        ]

    def sliced(self, start: int, stop: int) -> WeightedTrace:
        """Itself: nothing in it depends on the points."""
        return self


@dataclass(frozen=True, eq=False)
class Directional:
    """``D^k y[v] = d^k/dt^k y(x + t v)`` at t = 0: shape (N,).

    Attributes:
        output: the output's name.
        direction: v, shape (n_in,) for one direction at every point or (N, n_in)
            for a direction per point, in the points' dtype; not normalised.
        order: k >= 1.
    """

    output: str
    direction: torch.Tensor
    order: int = 1

    @property
    def per_point(self) -> bool:
        """Whether each point has its own direction (a (N, n_in) tensor)."""
        return self.direction.dim() == 2

    def sliced(self, start: int, stop: int) -> Directional:
        """The same operator for the points ``start:stop`` (per-point directions)."""
        if not self.per_point:
            return self
        return replace(self, direction=self.direction[start:stop])


@dataclass(frozen=True, eq=False)
class Hutchinson:
    """Hutchinson's estimate of the Laplacian over some inputs, and its std error.

    The S Rademacher vectors come from ``seed`` alone (:func:`rademacher`), so every
    chunk and every engine uses the same ones.

    Attributes:
        output: the output's name.
        over: positions of the inputs summed over.
        samples: S >= 1.
        seed: seed of the vectors.
    """

    output: str
    over: tuple[int, ...]
    samples: int
    seed: int = 0

    order = 2

    def sliced(self, start: int, stop: int) -> Hutchinson:
        """Itself: the vectors do not depend on the points."""
        return self


Operator = WeightedTrace | Directional | Hutchinson
Key = Partial | Operator


def rademacher(
    op: Hutchinson, n_in: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The estimate's vectors, (S, n_in): +-1 on ``op.over``, 0 elsewhere."""
    generator = torch.Generator().manual_seed(op.seed)
    signs = torch.randint(0, 2, (op.samples, len(op.over)), generator=generator)
    v = torch.zeros(op.samples, n_in, dtype=dtype, device=device)
    v[:, list(op.over)] = (2.0 * signs - 1).to(dtype).to(device)
    return v


@dataclass(frozen=True)
class Request:
    """What one call asks for: every partial and operator is computed together.

    Attributes:
        partials: distinct partials, factors in the model's input order.
        differentiable: keep the results attached to the model's parameters so that
            a loss built from them can be backpropagated (training); otherwise the
            results are detached.
        operators: weighted traces, directional derivatives, Hutchinson estimates.
    """

    partials: tuple[Partial, ...]
    differentiable: bool = False
    operators: tuple[Operator, ...] = field(default=())

    @functools.cached_property
    def max_order(self) -> int:
        """Highest total order asked for (0 when only values are asked)."""
        orders = [p.order for p in self.partials] + [op.order for op in self.operators]
        return max(orders, default=0)

    @property
    def keys(self) -> tuple[Key, ...]:
        """Every partial, then every operator: the keys of the results."""
        return (*self.partials, *self.operators)

    def sliced(self, start: int, stop: int) -> Request:
        """The request for the points ``start:stop`` (per-point data sliced)."""
        if not any(
            isinstance(op, Directional) and op.per_point for op in self.operators
        ):
            return self
        ops = tuple(op.sliced(start, stop) for op in self.operators)
        return Request(self.partials, self.differentiable, ops)


class Computed(NamedTuple):
    """An engine's answer: values and, where it has them, error estimates.

    Attributes:
        values: key (partial or operator of the request) -> tensor (N,).
        errors: key -> estimated absolute error (N,), for the keys the engine
            estimates it for (finite differences, Hutchinson); others absent.
    """

    values: dict[Key, torch.Tensor]
    errors: dict[Key, torch.Tensor]


class Engine(Protocol):
    """A way of computing partials and operators; see the module docstring."""

    name: str

    def supports(self, model: Model, request: Request) -> bool | str:
        """True when the engine can compute the request, else the reason it cannot.

        Args:
            model: the model the request is for.
            request: the partials and operators asked.

        Returns:
            True, or one sentence saying why not (used in errors and fallbacks).
        """
        ...

    def chunk_size(self, request: Request, model: Model | None = None) -> int:
        """Points per batch when the caller sets none: bounds memory, keeps speed.

        Args:
            request: the partials and operators asked.
            model: the model, when the size depends on its width.

        Returns:
            A number of points >= 1.
        """
        ...

    def compute(self, model: Model, x: torch.Tensor, request: Request) -> Computed:
        """Compute every requested partial and operator at the points ``x`` (N, n_in).

        Args:
            model: the model, in the dtype to compute in.
            x: the points, (N, n_in), in the model's dtype and on its device.
            request: the partials and operators asked.

        Returns:
            A :class:`Computed`; values in the model's dtype.
        """
        ...
