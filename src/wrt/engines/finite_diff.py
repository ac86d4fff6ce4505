"""Central differences with Richardson extrapolation, in float64: the independent check.

For a partial with powers alpha, the stencil is the tensor product of the k-th
central differences ``delta^k f = sum_j (-1)^j C(k, j) f(x + (k/2 - j) h)`` along
each input (half steps for odd k keep it centred). Its error is a series in even
powers of the step, so Richardson extrapolation over the steps
``h_i = scale_i * 2**-j`` (j = 0 .. levels-1) removes one power of h^2 per column of
the table. Per point, the estimate with the smallest estimated error over the
whole table is kept; that error is returned too.

The step scale of each input comes from the points' own spread (their standard
deviation), never a fixed number: a step that ignores the data's scale is what made
the hand-made check in the first seed question look wrong. It is never the default
engine: it costs many model evaluations and is only as smooth as the model is.
"""

from __future__ import annotations

import itertools
import math

import torch

from wrt.engines.base import Computed, Key, Request
from wrt.model import Model

MAX_ORDER = 4
# Relative round-off of one float64 model evaluation, with room for the
# evaluation's own error growth (a few dozen operations of unit round-off).
_EPS = 32 * torch.finfo(torch.float64).eps


class FiniteDiffEngine:
    """Richardson-extrapolated central differences on a float64 copy of the model.

    Args:
        levels: number of step sizes, each half the previous one, starting at the
            input's scale. 14 spans four decades, enough for round-off and
            truncation to cross for orders 1 to 4 in float64.
        scale: step scale per input, shape (n_in,); None takes it from the points.
    """

    name = "finite_diff"

    def __init__(self, levels: int = 14, scale: torch.Tensor | None = None) -> None:
        self.levels = levels
        self.scale = scale

    def supports(self, model: Model, request: Request) -> bool | str:
        """Partials of orders up to 4, and results that need not be differentiable."""
        if request.operators:
            return (
                "finite differences compute partials only, not operators (weighted "
                "traces, directional derivatives, estimates)"
            )
        if request.max_order > MAX_ORDER:
            return (
                f"finite differences go up to order {MAX_ORDER} (asked: "
                f"{request.max_order}); beyond, round-off swamps the result"
            )
        if request.differentiable:
            return "finite differences of a float64 copy cannot be backpropagated"
        return True

    def chunk_size(self, request: Request, model: Model | None = None) -> int:
        """Points per batch: each point costs levels x stencil model evaluations."""
        stencil = max(
            (math.prod(power + 1 for _, power in p.orders) for p in request.partials),
            default=1,
        )
        return max(1, 2**18 // (self.levels * stencil))

    def compute(self, model: Model, x: torch.Tensor, request: Request) -> Computed:
        """Estimate every requested partial, with its estimated error.

        Args:
            model: the model (evaluated as a float64 copy).
            x: points, shape (N, n_in).
            request: the partials, order at most 4.

        Returns:
            partial -> float64 tensor (N,), and partial -> its error (N,).
        """
        model64 = model.converted(torch.float64)
        x64 = x.detach().to(torch.float64)
        scale = (
            step_scale(x64)
            if self.scale is None
            else torch.as_tensor(self.scale, dtype=torch.float64)
        )
        results: dict[Key, torch.Tensor] = {}
        errors: dict[Key, torch.Tensor] = {}
        with torch.no_grad():
            for partial in request.partials:
                column = model.outputs.index(partial.output)
                alpha = partial.multi_index(model.inputs)
                value, error = self._estimate(model64, x64, column, alpha, scale)
                results[partial] = value
                errors[partial] = error
        return Computed(results, errors)

    def _estimate(
        self,
        model: Model,
        x: torch.Tensor,
        column: int,
        alpha: tuple[int, ...],
        scale: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Best Richardson estimate and its error, each (N,)."""
        if sum(alpha) == 0:
            value = model(x)[:, column]
            return value, torch.zeros_like(value)
        offsets, weights = _stencil(alpha)  # (S, n_in), (S,)
        ratios = 2.0 ** -torch.arange(self.levels, dtype=torch.float64)  # (L,)
        steps = ratios[:, None] * scale[None, :]  # (L, n_in)
        points = x[None, None] + offsets[None, :, None] * steps[:, None, None]
        n = x.shape[0]
        values = model(points.reshape(-1, x.shape[1]))[:, column]
        values = values.reshape(self.levels, len(weights), n)  # (L, S, N)
        powers = torch.tensor(alpha, dtype=torch.float64)
        denominators = torch.prod(steps**powers, dim=1)[:, None]  # (L, 1)
        weighted = weights[None, :, None] * values
        column = weighted.sum(1) / denominators  # (L, N)
        # Round-off of each difference quotient: the terms' own round-off, summed.
        roundoff = _EPS * weighted.abs().sum(1) / denominators
        best = column[-1]
        best_error = torch.full_like(best, math.inf)
        for m in range(1, self.levels):
            factor = 4.0**m
            nxt = (factor * column[1:] - column[:-1]) / (factor - 1.0)
            # Extrapolation amplifies round-off by at most (factor + 1) / (factor - 1).
            roundoff = roundoff[1:] * (factor + 1.0) / (factor - 1.0)
            # Error of entry (j, m): its change from column m-1 at the same step plus
            # its change from the previous step in column m, plus round-off.
            error = (nxt - column[1:]).abs() + roundoff
            error[1:] += (nxt[1:] - nxt[:-1]).abs()
            error[0] = math.inf  # no previous step to compare with
            smallest, where = error.min(0)
            pick = nxt.gather(0, where[None])[0]
            better = smallest < best_error
            best = torch.where(better, pick, best)
            best_error = torch.where(better, smallest, best_error)
            column = nxt
        return best, best_error


def step_scale(x: torch.Tensor) -> torch.Tensor:
    """Largest step per input: the spread of the points, shape (n_in,).

    The standard deviation of each column when there are several distinct points;
    for a single point (or a constant column) ``max(|x|, 1)``, the usual relative
    step.
    """
    fallback = x.abs().amax(0).clamp(min=1.0)
    if x.shape[0] < 2:
        return fallback
    spread = x.std(0)
    return torch.where(spread > 0, spread, fallback)


def _stencil(alpha: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets (S, n_in), in units of each input's step, and weights (S,)."""
    per_input = []
    for k in alpha:
        per_input.append(
            [((k / 2 - j), (-1) ** j * math.comb(k, j)) for j in range(k + 1)]
        )
    offsets, weights = [], []
    for combo in itertools.product(*per_input):
        offsets.append([offset for offset, _ in combo])
        weights.append(math.prod(weight for _, weight in combo))
    return (
        torch.tensor(offsets, dtype=torch.float64),
        torch.tensor(weights, dtype=torch.float64),
    )
