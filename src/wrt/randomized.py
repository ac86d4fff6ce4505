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

from collections.abc import Sequence

import torch  # noqa: F401 (the doctest uses it)

from wrt.data import PointsLike, as_points
from wrt.derivatives import ModelLike, _single_output, as_model
from wrt.engines.base import Engine, Hutchinson, Request
from wrt.engines.choose import resolve
from wrt.engines.compiling import CompileOption
from wrt.engines.run import check_chunk_size, run
from wrt.engines.taylor.engine import HutchinsonEstimate
from wrt.errors import DataError
from wrt.model import DTypeLike
from wrt.operators import _inputs_named


def laplacian_estimate(
    model: ModelLike,
    points: PointsLike,
    *,
    samples: int = 32,
    seed: int = 0,
    over: Sequence[str] | None = None,
    output: str | None = None,
    engine: str | Engine = "auto",
    dtype: DTypeLike = None,
    chunk_size: int | None = None,
    differentiable: bool = False,
    compile: CompileOption = "auto",
) -> HutchinsonEstimate:
    """Hutchinson estimate of the Laplacian, with its standard error: (N,) each.

    Hutchinson's estimator (Hutchinson 1990): ``tr(H) = E[v^T H v]`` for random
    vectors v with independent Rademacher (+-1) entries, averaged over S vectors.
    The same S Rademacher vectors are used at every point (drawn from ``seed``), so
    results are reproducible and smooth in the points, and equal whatever the
    chunking or the engine. With the Taylor engine each vector is one direction of
    one forward pass; ``engine="auto"`` uses Hessian-vector products of autograd
    on models it cannot run, with a ``FallbackWarning``.

    Args:
        model: see :func:`wrt.partials`.
        points: (N, n_in) or a table.
        samples: S, the number of random vectors (>= 2 for a standard error).
        seed: seed of the random vectors.
        over: the inputs to sum over (default all).
        output: output name; may be omitted for a single-output model.
        engine: ``"auto"``, ``"taylor"``, ``"autograd"`` or an engine object.
        dtype: see :func:`wrt.partials`.
        chunk_size: see :func:`wrt.partials`.
        differentiable: see :func:`wrt.partials`.
        compile: see :func:`wrt.partials`.

    Returns:
        ``(estimate, std_error, samples)``; ``std_error`` is the sample standard
        deviation of v^T H v over sqrt(S), per point (inf when S = 1).

    Raises:
        DataError: ``samples`` or ``seed`` not a whole number (``samples`` >= 1),
            or a bad ``chunk_size``.
        SpecError: an unknown name in ``over`` or ``output``.
        EngineError: unknown engine, or one that cannot compute the estimate.

    Examples:
        >>> from wrt import wrap
        >>> m = wrap(lambda x: (x**2).sum(1), inputs=["a", "b", "c"])
        >>> est = laplacian_estimate(m, torch.ones(2, 3), samples=4)
        >>> est.estimate, est.std_error
        (tensor([6., 6.]), tensor([0., 0.]))
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise DataError(
            f"samples must be a whole number >= 1, not {samples!r}; e.g. "
            "samples=32 (the standard error shrinks as 1/sqrt(samples))."
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"seed must be a whole number, not {seed!r}; e.g. seed=0.")
    check_chunk_size(chunk_size)
    model = as_model(model).converted(dtype)
    out = _single_output(model, output)
    names = _inputs_named(model, over)
    over_positions = tuple(model.inputs.index(name) for name in names)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    op = Hutchinson(out, over_positions, samples, seed)
    request = Request((), differentiable, (op,))
    chosen = resolve(engine, model, request, compile)
    computed = run(chosen, model, x, request, chunk_size)
    return HutchinsonEstimate(computed.values[op], computed.errors[op], samples)
