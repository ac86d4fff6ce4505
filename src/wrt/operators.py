"""Operators: derivatives built without forming every partial they combine.

``laplacian`` (a weighted trace ``sum_ij C_ij d2y/dx_i dx_j``) and
``directional_derivative`` (``d^k/dt^k y(x + t v)``) state an operator in the
request (:mod:`wrt.engines.base`); the engine chosen in
:func:`wrt.engines.choose.resolve` computes it through the one chunk loop,
:func:`wrt.engines.run.run`. The randomized Laplacian is in :mod:`wrt.randomized`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from wrt.data import PointsLike, as_points
from wrt.derivatives import ModelLike, _single_output, as_model
from wrt.engines.base import Directional, Engine, Request, WeightedTrace
from wrt.engines.choose import resolve
from wrt.engines.compiling import CompileOption
from wrt.engines.run import check_chunk_size, run
from wrt.errors import DataError, SpecError
from wrt.model import DTypeLike, Model, wrap  # noqa: F401 (wrap: the doctests)
from wrt.names import did_you_mean, listing


def laplacian(
    model: ModelLike,
    points: PointsLike,
    *,
    over: Sequence[str] | None = None,
    output: str | None = None,
    weights: torch.Tensor | Sequence | None = None,
    engine: str | Engine = "auto",
    dtype: DTypeLike = None,
    chunk_size: int | None = None,
    differentiable: bool = False,
    compile: CompileOption = "auto",
) -> torch.Tensor:
    """Sum of the pure second partials over some inputs, or a weighted trace: (N,).

    With ``weights`` C (a symmetric (R, R) matrix over ``over``, or a length-R
    vector for a diagonal one), the result is ``sum_ij C_ij d2y/dx_i dx_j``, e.g. a
    diffusion term with an anisotropic or correlated diffusion tensor.

    The Taylor engine computes it by the forward Laplacian (Li et al. 2024): the
    value, R first derivatives and one collapsed second-order entry go through the
    model once; no Hessian is formed. Collapsing the R second-order directions into
    one coefficient is collapsed Taylor mode (Dangel et al. 2025).
    ``engine="auto"`` prefers it for R >= 3 (measured: fewer directions are cheaper
    in reverse mode, which sums autograd's second partials),
    and falls back to autograd with a ``FallbackWarning`` when the model has an
    operation without a Taylor rule (:mod:`wrt.engines.choose`).

    Args:
        model: see :func:`partials`.
        points: (N, n_in) or a table.
        over: the inputs to sum over (default all), e.g. ``["x", "y"]`` to leave
            out time.
        output: output name; may be omitted for a single-output model.
        weights: C, as above; None for the Laplacian (C = identity).
        engine: ``"auto"``, ``"taylor"`` (forward Laplacian), ``"autograd"``, ...
        dtype: see :func:`partials`.
        chunk_size: see :func:`partials`.
        differentiable: see :func:`partials`.
        compile: see :func:`partials`.

    Returns:
        The (weighted) Laplacian at every point, (N,), in the model's dtype (or
        ``dtype``); units of the output per unit of input squared.

    Raises:
        SpecError: an unknown name in ``over`` or ``output``.
        DataError: bad ``weights`` (shape, NaN / Inf, not symmetric) or
            ``chunk_size``.
        EngineError: unknown engine, or one that cannot compute a trace.

    Examples:
        The Laplacian of sum(x**2) is 2 n:

        >>> m = wrap(lambda x: (x**2).sum(1), inputs=["a", "b", "c"])
        >>> laplacian(m, torch.ones(2, 3))
        tensor([6., 6.])
        >>> laplacian(m, torch.ones(2, 3), weights=[1.0, 0.5, 0.0], engine="taylor")
        tensor([3., 3.])
    """
    check_chunk_size(chunk_size)
    model = as_model(model).converted(dtype)
    out = _single_output(model, output)
    names = _inputs_named(model, over)
    matrix = _trace_weights(weights, len(names))
    over_positions = tuple(model.inputs.index(name) for name in names)
    op = WeightedTrace(out, over_positions, matrix)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    request = Request((), differentiable, (op,))
    chosen = resolve(engine, model, request, compile)
    return run(chosen, model, x, request, chunk_size).values[op]


def directional_derivative(
    model: ModelLike,
    points: PointsLike,
    direction: torch.Tensor | Sequence,
    *,
    order: int = 1,
    output: str | None = None,
    engine: str | Engine = "auto",
    dtype: DTypeLike = None,
    chunk_size: int | None = None,
    differentiable: bool = False,
    compile: CompileOption = "auto",
) -> torch.Tensor:
    """``D^k y[v] = d^k/dt^k y(x + t v)`` at t = 0, per point: shape (N,).

    The k-th derivative along v, without forming the partials it combines: the
    Taylor engine pushes a univariate jet ``x + t v`` (univariate Taylor arithmetic,
    Griewank and Walther 2008, chapter 13); autograd takes k nested backward passes
    of ``<grad, v>``. v is not normalised (scale it to unit length
    for the slope per unit distance).

    Args:
        model: see :func:`partials`.
        points: (N, n_in) or a table.
        direction: v, an (n_in,) vector used at every point or an (N, n_in) tensor
            with one direction per point, in the model's input order.
        order: k >= 1.
        output: output name; may be omitted for a single-output model.
        engine: ``"auto"``, ``"autograd"``, ``"taylor"`` or an engine object.
        dtype: see :func:`partials`.
        chunk_size: see :func:`partials`.
        differentiable: see :func:`partials`.
        compile: see :func:`partials`.

    Returns:
        The k-th directional derivative at every point, (N,), in the model's dtype
        (or ``dtype``); units of the output per unit of ``t`` to the k.

    Raises:
        DataError: a direction of the wrong shape, holding NaN / Inf, or all
            zeros; an order below 1; a bad ``chunk_size``.

    Examples:
        >>> m = wrap(lambda x: x[:, 0] ** 3 + x[:, 1], inputs=["a", "b"])
        >>> directional_derivative(m, torch.ones(1, 2), [1.0, 1.0], order=1)
        tensor([4.])
        >>> directional_derivative(m, torch.ones(1, 2), [1.0, 0.0], order=3)
        tensor([6.])
    """
    check_chunk_size(chunk_size)
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise DataError(
            f"order must be a whole number >= 1, not {order!r}; order=k asks for "
            "the k-th derivative along the direction."
        )
    model = as_model(model).converted(dtype)
    out = _single_output(model, output)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    v = _direction(direction, model, x)
    op = Directional(out, v, order)
    request = Request((), differentiable, (op,))
    chosen = resolve(engine, model, request, compile)
    return run(chosen, model, x, request, chunk_size).values[op]


def _direction(
    direction: torch.Tensor | Sequence, model: Model, x: torch.Tensor
) -> torch.Tensor:
    """The direction as a tensor (n_in,) or (N, n_in) in the points' dtype."""
    n, n_in = x.shape[0], model.n_inputs
    try:
        v = torch.as_tensor(direction, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(
            f"direction= must be numbers, a ({n_in},) vector or a ({n}, {n_in}) "
            f"array; could not read it ({exc})."
        ) from None
    if v.shape not in ((n_in,), (n, n_in)):
        raise DataError(
            f"direction= has shape {tuple(v.shape)}; give a ({n_in},) vector (one "
            f"direction, inputs {listing(model.inputs)}) or a ({n}, {n_in}) array "
            "(one per point)."
        )
    if not torch.isfinite(v).all():
        raise DataError("direction= holds NaN or Inf; give finite numbers.")
    if not (v != 0).any():
        raise DataError(
            "direction= is all zeros; a derivative along no direction is always 0. "
            "Give a nonzero vector."
        )
    return v.to(dtype=x.dtype, device=x.device)


def _inputs_named(model: Model, over: Sequence[str] | None) -> tuple[str, ...]:
    if isinstance(over, str):
        over = [over]
    names = model.inputs if over is None else tuple(dict.fromkeys(over))
    for name in names:
        if name not in model.inputs:
            raise SpecError(
                f"Unknown input {name!r} in over=. The model's inputs are "
                f"{listing(model.inputs)}.{did_you_mean(name, model.inputs)}"
            )
    if not names:
        raise SpecError("over= is empty; name at least one input.")
    return names


def _trace_weights(
    weights: torch.Tensor | Sequence | None, size: int
) -> torch.Tensor | None:
    """The (R, R) symmetric float64 weight matrix, or None for the identity."""
    if weights is None:
        return None
    try:
        given = torch.as_tensor(weights, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(
            f"weights= must be numbers, a ({size},) vector or a ({size}, {size}) "
            f"matrix; could not read it ({exc})."
        ) from None
    matrix = torch.diag(given) if given.dim() == 1 else given
    if matrix.shape != (size, size):
        raise DataError(
            f"weights= has shape {tuple(given.shape)}, but there are {size} inputs "
            f"in over=; give a ({size},) vector or a ({size}, {size}) matrix."
        )
    if not torch.isfinite(matrix).all():
        raise DataError("weights= holds NaN or Inf.")
    if not torch.allclose(matrix, matrix.T, rtol=1e-12, atol=0.0):
        raise DataError(
            "weights= is not symmetric; d2y/dxidxj = d2y/dxjdxi, so only the "
            "symmetric part counts: pass (C + C.T) / 2."
        )
    return matrix
