"""The randomized (Hutchinson) Laplacian, for inputs too many to sum over one by one.

``tr H = E[v^T H v]`` for random vectors v with independent entries of mean 0 and
variance 1; Rademacher entries (+-1) give the smallest variance,
``Var(v^T H v) = 2 sum_{i != j} H_ij^2``: the estimate is exact when H is diagonal.
Each sample costs one second-order directional derivative, so S samples cost about
S + 1 forward passes whatever the number of inputs, against R for the exact
forward Laplacian. The samples' spread gives the standard error of the estimate at
each point, so a user can see whether S was enough.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from wrt.data import PointsLike, as_points
from wrt.derivatives import ModelLike, _inputs_named, _join, _single_output, as_model
from wrt.engines.taylor.engine import HutchinsonEstimate, TaylorEngine, points_per_chunk
from wrt.errors import DataError, FallbackWarning
from wrt.model import DTypeLike, Model


def laplacian_estimate(
    model: ModelLike,
    points: PointsLike,
    *,
    samples: int = 32,
    seed: int = 0,
    over: Sequence[str] | None = None,
    output: str | None = None,
    dtype: DTypeLike = None,
    chunk_size: int | None = None,
    differentiable: bool = False,
) -> HutchinsonEstimate:
    """Hutchinson estimate of the Laplacian, with its standard error: (N,) each.

    The same S Rademacher vectors are used at every point (drawn from ``seed``), so
    results are reproducible and smooth in the points. With the Taylor engine each
    vector is one direction of one forward pass; models it cannot run use
    Hessian-vector products of autograd instead (with a ``FallbackWarning``).

    Args:
        model: see :func:`wrt.partials`.
        points: (N, n_in) or a table.
        samples: S, the number of random vectors (>= 2 for a standard error).
        seed: seed of the random vectors.
        over: the inputs to sum over (default all).
        output: output name; may be omitted for a single-output model.
        dtype: see :func:`wrt.partials`.
        chunk_size: see :func:`wrt.partials`.
        differentiable: see :func:`wrt.partials`.

    Returns:
        ``(estimate, std_error, samples)``; ``std_error`` is the sample standard
        deviation of v^T H v over sqrt(S), per point (inf when S = 1).

    Examples:
        >>> from wrt import wrap
        >>> m = wrap(lambda x: (x**2).sum(1), inputs=["a", "b", "c"])
        >>> est = laplacian_estimate(m, torch.ones(2, 3), samples=4)
        >>> est.estimate, est.std_error
        (tensor([6., 6.]), tensor([0., 0.]))
    """
    if samples < 1:
        raise DataError(f"samples must be at least 1, not {samples}.")
    model = as_model(model).to(dtype)
    out = _single_output(model, output)
    names = _inputs_named(model, over)
    over_positions = tuple(model.inputs.index(name) for name in names)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    engine = TaylorEngine()
    verdict = engine.supports(model)
    if verdict is not True:
        warnings.warn(
            f"The Taylor engine cannot run this model ({verdict}); estimating with "
            "autograd Hessian-vector products instead (same estimate, slower).",
            FallbackWarning,
            stacklevel=2,
        )
    size = chunk_size or points_per_chunk(model, 1 + 2 * samples)
    pieces = []
    estimate = engine.hutchinson if verdict is True else _by_autograd
    for start in range(0, max(x.shape[0], 1), size):
        chunk = x[start : start + size]
        generator = torch.Generator().manual_seed(seed)  # same vectors every chunk
        pieces.append(
            estimate(
                model, chunk, out, over_positions, samples, generator, differentiable
            )
        )
    return HutchinsonEstimate(
        _join([p.estimate for p in pieces]),
        _join([p.std_error for p in pieces]),
        samples,
    )


def _by_autograd(
    model: Model,
    x: torch.Tensor,
    output: str,
    over: tuple[int, ...],
    samples: int,
    generator: torch.Generator,
    differentiable: bool,
) -> HutchinsonEstimate:
    """v^T H v for every vector and point with two batched backward passes."""
    signs = torch.randint(0, 2, (samples, len(over)), generator=generator)
    v = torch.zeros(samples, model.n_inputs, dtype=x.dtype, device=x.device)
    v[:, list(over)] = (2.0 * signs - 1).to(x.dtype).to(x.device)
    n = x.shape[0]
    with torch.enable_grad():
        rows = x.detach().repeat(samples, 1).requires_grad_(True)  # (S N, n_in)
        directions = v.repeat_interleave(n, dim=0)
        y = model(rows)[:, model.outputs.index(output)]
        (g,) = torch.autograd.grad(y.sum(), rows, create_graph=True)
        (hv,) = torch.autograd.grad(
            (g * directions).sum(), rows, create_graph=differentiable
        )
    quadratic = (hv * directions).sum(1).reshape(samples, n)
    estimate = quadratic.mean(0)
    spread = quadratic.std(0) if samples > 1 else torch.full_like(estimate, math.inf)
    if not differentiable:
        estimate, spread = estimate.detach(), spread.detach()
    return HutchinsonEstimate(estimate, spread / math.sqrt(samples), samples)
