"""Central differences with Richardson extrapolation, in float64: the independent check.

For a partial with powers alpha, the stencil is the tensor product of the k-th
central differences ``delta^k f = sum_j (-1)^j C(k, j) f(x + (k/2 - j) h)`` along
each input (half steps for odd k keep it centred). Its error is a series in even
powers of the step, so Richardson extrapolation over the steps
``h_i = scale_i * 2**-j`` (j = 0 .. levels-1) removes one power of h^2 per column of
the table. Per point, the estimate with the smallest estimated error over the
whole table is kept; that error is returned too.

The error of each difference quotient includes the rounding noise of the function
values actually observed, not only the unit round-off of float64: a model that is
a small difference of large terms (``1e6 * (tanh(s) - tanh(s - 1e-6))``) carries
noise a million times its unit round-off. The noise level is estimated per point
from high-order differences of the function on a fine equally spaced probe, the
method of Hamming (*Numerical Methods for Scientists and Engineers*, 1973, ch. 4)
made practical by More and Wild ("Estimating computational noise", SIAM J. Sci.
Comput. 33(3), 2011, their ECnoise): for independent noise of standard deviation
sigma, ``E[(delta^k f)^2] = C(2k, k) sigma^2``, while the smooth part of
``delta^k f`` shrinks as ``h^k``. A noisy function therefore widens the error
estimate (and moves the chosen step up) instead of making the estimate look sure.

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
from wrt.errors import EngineError
from wrt.model import Model

MAX_ORDER = 4
# Richardson needs two steps; past 40 halvings the steps are below round-off.
_MIN_LEVELS, _MAX_LEVELS = 2, 40
# Relative round-off of one float64 model evaluation, with room for the
# evaluation's own error growth (a few dozen operations of unit round-off).
_EPS = 32 * torch.finfo(torch.float64).eps
# The noise probe: _PROBE + 1 equally spaced values, differences of orders
# _NOISE_ORDERS (high enough that a smooth function's part is negligible at the
# probe's step, low enough to leave several differences to average). Its step is a
# quarter of the smallest Richardson step: the noise is measured at the scale the
# differences see. (At much smaller steps the rounding errors of some functions,
# exp for one, are correlated and the noise looks smaller than it is.)
_PROBE = 10
_NOISE_ORDERS = range(4, 7)
# Noise of the values counts this many standard deviations in a bound: the
# estimated error is the smallest of many in the table, and sigma itself is
# estimated from a handful of differences.
_NOISE_BOUND = 3.0
# The probe's step is at least this fraction of |x|: its points stay distinct.
_PROBE_STEP_OF_X = 2.0**-36


class FiniteDiffEngine:
    """Richardson-extrapolated central differences on a float64 copy of the model.

    Args:
        levels: number of step sizes, each half the previous one, starting at the
            input's scale. 14 spans four decades, enough for round-off and
            truncation to cross for orders 1 to 4 in float64.
        scale: largest step per input, shape (n_in,), positive and finite; None
            takes it from the points' spread. Each point's steps are further
            capped by its own magnitude (or 1): ``min(scale, max(|x|, 1))``.

    Raises:
        EngineError: ``levels`` not a whole number from 2 to 40; at compute
            time, a ``scale`` that is not one positive finite number per input.
    """

    name = "finite_diff"

    def __init__(self, levels: int = 14, scale: torch.Tensor | None = None) -> None:
        if isinstance(levels, bool) or not isinstance(levels, int):
            raise EngineError(
                f"levels must be a whole number of step sizes, not {levels!r}; "
                "for example FiniteDiffEngine(levels=14) (the default)."
            )
        if not _MIN_LEVELS <= levels <= _MAX_LEVELS:
            raise EngineError(
                f"levels={levels} is out of range: Richardson extrapolation needs "
                f"{_MIN_LEVELS} to {_MAX_LEVELS} step sizes (each half the last); "
                "14, the default, spans four decades."
            )
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
        return max(1, 2**18 // (self.levels * stencil + _PROBE + 1))

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
            else _given_scale(self.scale, model).to(x64.device)
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
        offsets, weights = _stencil(alpha, x.device)  # (S, n_in), (S,)
        levels = torch.arange(self.levels, dtype=torch.float64, device=x.device)
        ratios = 2.0**-levels  # (L,)
        # per point: never wider than the point's own magnitude (or 1), so that a
        # few huge points do not make every step huge (a point at 0.5 among points
        # at 1e300 would be differenced across the whole real line)
        point_scale = torch.minimum(scale[None, :], x.abs().clamp(min=1.0))
        steps = ratios[:, None, None] * point_scale[None]  # (L, N, n_in)
        sigma = noise_level(model, x, column, alpha, steps[-1] / 4)  # (N,)
        points = x[None, None] + offsets[None, :, None] * steps[:, None]
        n = x.shape[0]
        values = model(points.reshape(-1, x.shape[1]))[:, column]
        values = values.reshape(self.levels, len(weights), n)  # (L, S, N)
        powers = torch.tensor(alpha, dtype=torch.float64, device=x.device)
        denominators = torch.prod(steps**powers, dim=-1)  # (L, N)
        weighted = weights[None, :, None] * values
        table = weighted.sum(1) / denominators  # (L, N)
        # Round-off of each difference quotient: the terms' own round-off, summed,
        # plus the observed noise of the values, added up as for a bound.
        roundoff = (
            _EPS * weighted.abs().sum(1)
            + _NOISE_BOUND * weights.abs().sum() * sigma[None]
        ) / denominators
        best = table[-1]
        best_error = torch.full_like(best, math.inf)
        for m in range(1, self.levels):
            factor = 4.0**m
            nxt = (factor * table[1:] - table[:-1]) / (factor - 1.0)
            # Extrapolation amplifies round-off by at most (factor + 1) / (factor - 1).
            roundoff = roundoff[1:] * (factor + 1.0) / (factor - 1.0)
            # Error of entry (j, m): its change from column m-1 at the same step plus
            # its change from the previous step in column m, plus round-off.
            error = (nxt - table[1:]).abs() + roundoff
            error[1:] += (nxt[1:] - nxt[:-1]).abs()
            error[0] = math.inf  # no previous step to compare with
            smallest, where = error.min(0)
            pick = nxt.gather(0, where[None])[0]
            better = smallest < best_error
            best = torch.where(better, pick, best)
            best_error = torch.where(better, smallest, best_error)
            table = nxt
        return best, best_error


def noise_level(
    model: Model,
    x: torch.Tensor,
    column: int,
    alpha: tuple[int, ...],
    step: torch.Tensor,
) -> torch.Tensor:
    """Standard deviation of the rounding noise of one output around each point.

    The model is evaluated at ``x + i h v`` (i = 0 .. _PROBE), v along the inputs
    the partial differentiates, h a quarter of the smallest step. For
    differences of order k of independent noise, ``sigma_k^2 = mean((delta^k
    f)^2) / C(2k, k)`` estimates sigma^2 (More and Wild's ECnoise); the largest
    over a few orders is kept, so that neither an accidentally small difference
    nor a lingering smooth part makes the noise look smaller than it is.

    Args:
        model: the float64 model.
        x: points, shape (N, n_in), float64.
        column: the output's column.
        alpha: the partial's powers per input.
        step: the probe's step per input, shape (n_in,) or per point (N, n_in).

    Returns:
        sigma, shape (N,), float64; ``inf`` where a probe value is not finite.
    """
    direction = torch.tensor(
        [float(a > 0) for a in alpha], dtype=torch.float64, device=x.device
    )
    step = torch.maximum(step, _PROBE_STEP_OF_X * x.abs()) * direction  # (N, n_in)
    offsets = torch.arange(_PROBE + 1, dtype=torch.float64, device=x.device)
    points = x[None] + offsets[:, None, None] * step[None]  # (P, N, n_in)
    values = model(points.reshape(-1, x.shape[1]))[:, column]
    differences = values.reshape(_PROBE + 1, x.shape[0])
    sigma = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    for k in range(1, max(_NOISE_ORDERS) + 1):
        differences = differences[1:] - differences[:-1]
        if k in _NOISE_ORDERS:
            estimate = (differences.pow(2).mean(0) / math.comb(2 * k, k)).sqrt()
            sigma = torch.maximum(sigma, estimate)
    return torch.nan_to_num(sigma, nan=math.inf)


def _given_scale(scale: object, model: Model) -> torch.Tensor:
    """The ``scale`` a user gave, checked: one positive finite step per input."""
    try:
        tensor = torch.as_tensor(scale, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as error:
        raise EngineError(
            f"scale must be numbers, one step per input, not {scale!r} ({error})."
        ) from None
    if tensor.numel() != model.n_inputs:
        raise EngineError(
            f"scale has {tensor.numel()} entries but the model has "
            f"{model.n_inputs} inputs ({', '.join(model.inputs)}): give one step "
            "per input, or scale=None to take them from the points' spread."
        )
    bad = ~(torch.isfinite(tensor) & (tensor > 0))
    if bad.any():
        where = int(torch.nonzero(bad)[0])
        raise EngineError(
            f"scale for input {model.inputs[where]} is {float(tensor[where])}; "
            "every step must be a positive finite number (the largest step "
            "of that input), or scale=None to take them from the points' spread."
        )
    return tensor


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


def _stencil(
    alpha: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets (S, n_in), in units of each input's step, and weights (S,).

    Both on ``device``, the points' (a CPU stencil fails against CUDA points).
    """
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
        torch.tensor(offsets, dtype=torch.float64, device=device),
        torch.tensor(weights, dtype=torch.float64, device=device),
    )
