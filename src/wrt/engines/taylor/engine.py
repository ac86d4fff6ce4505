"""The Taylor engine: univariate Taylor series pushed forward through the traced model.

For every direction a request needs, the input series is ``x + t v``; one pass
through the graph (all directions stacked along the batch) gives the normalised
coefficients ``c_k = D^k f[v] / k!`` of every output, for every k up to the highest
order asked. A pure partial ``d^k y / dx_i^k`` is ``k! c_k`` along ``e_i``; a mixed
one combines the directions of :mod:`directions` with exact weights. Lower orders
come from the same pass. Nothing is differentiated backwards, so the cost grows
about as K^2 per elementwise operation and K per matrix product, instead of
exponentially as nested reverse mode does.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from wrt.engines.base import Request
from wrt.engines.taylor.directions import weights
from wrt.engines.taylor.interpreter import missing_rules, propagate, trace
from wrt.engines.taylor.series import Series
from wrt.model import Model
from wrt.spec import Partial

Direction = tuple[int, ...]


class TaylorEngine:
    """Forward Taylor-mode propagation over the model's ATen graph."""

    name = "taylor"

    def __init__(self) -> None:
        self._weights: dict[
            tuple[int, ...], list[tuple[tuple[int, ...], Fraction]]
        ] = {}

    def supports(self, model: Model, request: Request) -> bool | str:
        """True when every operation on the model's traced path has a rule."""
        probe = torch.zeros(2, model.n_inputs, dtype=model.dtype or torch.float64)
        try:
            graph = trace(model, probe)
        except Exception as exc:  # tracing user code can fail in many ways
            return f"the model could not be traced ({type(exc).__name__}: {exc})"
        missing = missing_rules(graph)
        if missing:
            return f"no Taylor rule for {', '.join(missing)}"
        return True

    def chunk_size(self, request: Request) -> int:
        """Points per batch; each point carries one row per direction."""
        directions = sum(
            len(self._weights_for(tuple(p for _, p in partial.orders)))
            for partial in request.partials
            if partial.order
        )
        return max(256, 65536 // max(1, directions))

    def plan(
        self, request: Request, inputs: tuple[str, ...]
    ) -> tuple[list[Direction], dict[Partial, list[tuple[Direction, Fraction]]]]:
        """Directions to propagate and, per partial, its weighted directions.

        Args:
            request: the partials.
            inputs: the model's input names (directions are vectors over them).

        Returns:
            The distinct directions, and for each partial the (direction, weight)
            pairs whose weighted k-th directional derivatives add up to it (empty
            for a value).
        """
        recipes: dict[Partial, list[tuple[Direction, Fraction]]] = {}
        directions: dict[Direction, None] = {}
        for partial in request.partials:
            alpha = partial.multi_index(inputs)
            support = [i for i, power in enumerate(alpha) if power]
            recipe = []
            if support:
                powers = tuple(alpha[i] for i in support)
                k = sum(powers)
                for local, weight in self._weights_for(powers):
                    # D^k f[g v] = g^k D^k f[v]: multiples share one direction
                    g = math.gcd(*local)
                    full = [0] * len(inputs)
                    for position, value in zip(support, local, strict=True):
                        full[position] = value // g
                    recipe.append((tuple(full), weight * g**k))
                    directions[tuple(full)] = None
            recipes[partial] = recipe
        return list(directions), recipes

    def _weights_for(self, powers: tuple[int, ...]):
        if powers not in self._weights:
            self._weights[powers] = weights(powers)
        return self._weights[powers]

    def compute(
        self, model: Model, x: torch.Tensor, request: Request
    ) -> dict[Partial, torch.Tensor]:
        """Compute the requested partials at the points ``x`` (N, n_in).

        Raises:
            UnsupportedOpError: an operation of the model has no Taylor rule.
        """
        directions, recipes = self.plan(request, model.inputs)
        order = request.max_order
        n = x.shape[0]
        x = x.detach()
        if not directions:  # values only
            with torch.set_grad_enabled(request.differentiable):
                y = model(x)
            return {p: y[:, model.outputs.index(p.output)] for p in request.partials}
        v = torch.tensor(directions, dtype=x.dtype, device=x.device)  # (D, n_in)
        points = x.repeat(len(directions), 1)  # (D*N, n_in), direction-major
        tangent = v.repeat_interleave(n, dim=0)
        coefficients = [points, tangent] + [torch.zeros_like(points)] * (order - 1)
        graph = trace(model, points)
        with torch.set_grad_enabled(request.differentiable):
            y = propagate(graph, Series(coefficients))
        index = {d: i for i, d in enumerate(directions)}
        results: dict[Partial, torch.Tensor] = {}
        for partial, recipe in recipes.items():
            column = model.outputs.index(partial.output)
            if not recipe:
                results[partial] = y.coeffs[0][:n, column]
                continue
            k = partial.order
            scale = math.factorial(k)
            total = None
            for direction, weight in recipe:
                start = index[direction] * n
                term = y.coeffs[k][start : start + n, column] * (float(weight) * scale)
                total = term if total is None else total + term
            results[partial] = total
        if not request.differentiable:
            results = {p: t.detach() for p, t in results.items()}
        return results
