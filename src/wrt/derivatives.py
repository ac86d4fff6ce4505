"""The public derivative API: ``partials``, its compositions, and the operators.

``grad``, ``jacobian`` and ``hessian`` each build a list of specs and call
:func:`partials` once, so every entry of one call is computed together and shared
lower orders are computed once. ``laplacian`` (a weighted trace) and
``directional_derivative`` state an operator in the request. Every one of them
resolves its engine in :func:`wrt.engines.choose.resolve` and computes through the
one chunk loop, :func:`wrt.engines.run.run`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from wrt.data import PointsLike, as_points
from wrt.engines.base import Directional, Engine, Request, WeightedTrace
from wrt.engines.choose import resolve
from wrt.engines.run import check_chunk_size, run
from wrt.errors import DataError, ModelError, SpecError
from wrt.model import DTypeLike, Model, wrap
from wrt.names import did_you_mean, listing
from wrt.result import Partials
from wrt.spec import Partial, parse_spec

ModelLike = Model | nn.Module | str | Path
Specs = str | Partial | Sequence[str | Partial]


def partials(
    model: ModelLike,
    points: PointsLike,
    specs: Specs,
    *,
    engine: str | Engine = "auto",
    dtype: DTypeLike = None,
    chunk_size: int | None = None,
    differentiable: bool = False,
    on_chunk: Callable[[int], None] | None = None,
) -> Partials:
    """Partial derivatives of a model's outputs with respect to its named inputs.

    Args:
        model: a :class:`~wrt.model.Model`, a torch module (wrapped with default
            names), or a path to a model file.
        points: (N, n_in) tensor or array in the model's input order, or a
            DataFrame / mapping with a column per input name.
        specs: one spec or a list, e.g. ``["dy/dx1", "d2y/dx1dx2", "d4y/dx1^4"]``;
            an output name alone asks for the value.
        engine: ``"auto"`` (cheapest capable), ``"autograd"``, ``"taylor"``,
            ``"finite_diff"``, or an engine object.
        dtype: ``"float64"`` / ``torch.float64`` to compute on a float64 copy (one
            copy per model, kept in its cache; see :meth:`Model.converted`).
        chunk_size: compute at most this many points at a time (bounds memory);
            None lets the engine choose (e.g. 8192 for order >= 3 with autograd).
        differentiable: keep the results attached to the parameters (training).
        on_chunk: called with the number of points done after each chunk.

    Returns:
        A mapping spec -> tensor of shape (N,).

    Raises:
        SpecError: malformed spec or unknown name.
        DataError: bad points (shape, columns, NaN / Inf), or a bad ``chunk_size``.
        EngineError: unknown engine, or one that cannot compute the request.

    Examples:
        >>> m = wrap(lambda x: (x**2).sum(1), inputs=["x", "t"])
        >>> P = partials(m, torch.tensor([[1.0, 2.0]]), ["dy/dx", "d2y/dt^2"])
        >>> P["dy/dx"], P["d2y/dt^2"]
        (tensor([2.]), tensor([2.]))
    """
    check_chunk_size(chunk_size)
    model = as_model(model).converted(dtype)
    requested = _parse_all(specs, model)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    request = Request(tuple(dict.fromkeys(p for _, p in requested)), differentiable)
    chosen = resolve(engine, model, request)
    computed = run(chosen, model, x, request, chunk_size, on_chunk)
    return Partials(
        {p: computed.values[p] for p in request.partials},
        inputs=model.inputs,
        outputs=model.outputs,
        points=x,
        requested=requested,
        engine=chosen.name,
        errors={
            p: computed.errors[p] for p in request.partials if p in computed.errors
        },
    )


def grad(
    model: ModelLike, points: PointsLike, *, output: str | None = None, **options
) -> torch.Tensor:
    """Gradient of one output: shape (N, n_in).

    Args:
        model: see :func:`partials`.
        points: (N, n_in) or a table; see :func:`partials`.
        output: output name; may be omitted for a single-output model.
        **options: ``engine``, ``dtype``, ``chunk_size``, ``differentiable``.

    Examples:
        >>> m = wrap(lambda x: (x**2).sum(1), inputs=["x1", "x2"])
        >>> grad(m, torch.tensor([[1.0, 3.0]]))
        tensor([[2., 6.]])
    """
    model = as_model(model)
    out = _single_output(model, output)
    specs = [Partial(out, {name: 1}) for name in model.inputs]
    result = partials(model, points, specs, **options)
    return torch.stack([result[s] for s in specs], dim=1)


def jacobian(model: ModelLike, points: PointsLike, **options) -> torch.Tensor:
    """Jacobian of all outputs: shape (N, n_out, n_in).

    Args:
        model: see :func:`partials`.
        points: (N, n_in) or a table.
        **options: ``engine``, ``dtype``, ``chunk_size``, ``differentiable``.
    """
    model = as_model(model)
    rows = [[Partial(out, {name: 1}) for name in model.inputs] for out in model.outputs]
    result = partials(model, points, [s for row in rows for s in row], **options)
    return torch.stack(
        [torch.stack([result[s] for s in row], dim=1) for row in rows], dim=1
    )


def hessian(
    model: ModelLike, points: PointsLike, *, output: str | None = None, **options
) -> torch.Tensor:
    """Hessian of one output with respect to all inputs: shape (N, n_in, n_in).

    Only the upper triangle is computed; the lower one is its mirror (mixed partials
    of smooth functions are symmetric).

    Examples:
        >>> m = wrap(lambda x: x[:, 0] ** 2 * x[:, 1], inputs=["x1", "x2"])
        >>> hessian(m, torch.tensor([[1.0, 3.0]]))
        tensor([[[6., 2.],
                 [2., 0.]]])
    """
    model = as_model(model)
    out = _single_output(model, output)
    names = model.inputs
    n = len(names)
    pairs = [(i, j) for i in range(n) for j in range(i, n)]
    specs = [Partial(out, [(names[i], 1), (names[j], 1)]) for i, j in pairs]
    result = partials(model, points, specs, **options)
    first = result[specs[0]]
    matrix = first.new_zeros(first.shape[0], n, n)
    for (i, j), spec in zip(pairs, specs, strict=True):
        matrix[:, i, j] = result[spec]
        matrix[:, j, i] = result[spec]
    return matrix


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
) -> torch.Tensor:
    """Sum of the pure second partials over some inputs, or a weighted trace: (N,).

    With ``weights`` C (a symmetric (R, R) matrix over ``over``, or a length-R
    vector for a diagonal one), the result is ``sum_ij C_ij d2y/dx_i dx_j``, e.g. a
    diffusion term with an anisotropic or correlated diffusion tensor.

    The Taylor engine computes it by the forward Laplacian: the value, R first
    derivatives and one collapsed second-order entry go through the model once; no
    Hessian is formed. ``engine="auto"`` prefers it for R >= 3 (measured: fewer
    directions are cheaper in reverse mode, which sums autograd's second partials),
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
    chosen = resolve(engine, model, request)
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
) -> torch.Tensor:
    """``D^k y[v] = d^k/dt^k y(x + t v)`` at t = 0, per point: shape (N,).

    The k-th derivative along v, without forming the partials it combines: the
    Taylor engine pushes a univariate jet ``x + t v``; autograd takes k nested
    backward passes of ``<grad, v>``. v is not normalised (scale it to unit length
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
    chosen = resolve(engine, model, request)
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


def as_model(model: ModelLike) -> Model:
    """A :class:`Model` from a Model, a torch module (default names) or a path."""
    if isinstance(model, Model):
        return model
    if isinstance(model, (str, Path)):
        from wrt.importers import load  # deferred: importers pull in format readers

        return load(model)
    if isinstance(model, nn.Module):
        return wrap(model)
    raise ModelError(
        f"Expected a wrt Model, a torch.nn.Module or a path, got "
        f"{type(model).__name__}. Use wrt.wrap(module, inputs=[...]) first."
    )


def _single_output(model: Model, output: str | None) -> str:
    if output is None:
        if model.n_outputs != 1:
            raise SpecError(
                f"The model has {model.n_outputs} outputs ({listing(model.outputs)}); "
                "say which one with output=..."
            )
        return model.outputs[0]
    if output not in model.outputs:
        raise SpecError(
            f"Unknown output {output!r}. The model's outputs are "
            f"{listing(model.outputs)}.{did_you_mean(output, model.outputs)}"
        )
    return output


def _parse_all(specs: Specs, model: Model) -> list[tuple[str, Partial]]:
    if isinstance(specs, (str, Partial)):
        specs = [specs]
    if len(specs) == 0:
        raise SpecError(
            "No derivative asked for. Give at least one spec, e.g. 'dy/dx1'."
        )
    parsed = []
    for spec in specs:
        partial = parse_spec(spec, model.inputs, model.outputs)
        parsed.append((spec if isinstance(spec, str) else str(partial), partial))
    return parsed
