"""The public derivative API: ``partials`` and its thin compositions.

``grad``, ``jacobian``, ``hessian`` and ``laplacian`` each build a list of specs and
call :func:`partials` once, so every entry of one call is computed together and
shared lower orders are computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from wrt.data import PointsLike, as_points
from wrt.engines.base import Engine, Request
from wrt.engines.choose import resolve
from wrt.engines.taylor.engine import TaylorEngine, points_per_chunk
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
        engine: ``"auto"`` (cheapest capable), ``"autograd"``, ``"finite_diff"``.
        dtype: ``"float64"`` / ``torch.float64`` to compute on a float64 copy.
        chunk_size: compute at most this many points at a time (bounds memory);
            None lets the engine choose (e.g. 8192 for order >= 3 with autograd).
        differentiable: keep the results attached to the parameters (training).
        on_chunk: called with the number of points done after each chunk.

    Returns:
        A mapping spec -> tensor of shape (N,).

    Raises:
        SpecError: malformed spec or unknown name.
        DataError: bad points (shape, columns, NaN / Inf).
        EngineError: unknown engine, or one that cannot compute the request.

    Examples:
        >>> m = wrap(lambda x: (x**2).sum(1), inputs=["x", "t"])
        >>> P = partials(m, torch.tensor([[1.0, 2.0]]), ["dy/dx", "d2y/dt^2"])
        >>> P["dy/dx"], P["d2y/dt^2"]
        (tensor([2.]), tensor([2.]))
    """
    model = as_model(model).to(dtype)
    requested = _parse_all(specs, model)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    request = Request(tuple(dict.fromkeys(p for _, p in requested)), differentiable)
    chosen = resolve(engine, model, request)
    values, errors = _compute_in_chunks(chosen, model, x, request, chunk_size, on_chunk)
    return Partials(
        values,
        inputs=model.inputs,
        outputs=model.outputs,
        points=x,
        requested=requested,
        engine=chosen.name,
        errors=errors,
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
    Hessian is formed. ``engine="auto"`` takes it when the model's operations all
    have Taylor rules and R >= 3 (measured: fewer directions are cheaper in reverse
    mode), else sums the autograd engine's second partials.

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

    Examples:
        The Laplacian of sum(x**2) is 2 n:

        >>> m = wrap(lambda x: (x**2).sum(1), inputs=["a", "b", "c"])
        >>> laplacian(m, torch.ones(2, 3))
        tensor([6., 6.])
        >>> laplacian(m, torch.ones(2, 3), weights=[1.0, 0.5, 0.0], engine="taylor")
        tensor([3., 3.])
    """
    model = as_model(model).to(dtype)
    out = _single_output(model, output)
    names = _inputs_named(model, over)
    matrix = _trace_weights(weights, len(names), model.dtype)
    pairs = [
        (i, j)
        for i in range(len(names))
        for j in range(i, len(names))
        if matrix is None and i == j or matrix is not None and matrix[i, j] != 0
    ]
    specs = [Partial(out, [(names[i], 1), (names[j], 1)]) for i, j in pairs]
    request = Request(tuple(specs), differentiable)
    chosen = _laplacian_engine(engine, model, request, len(names))
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    if isinstance(chosen, TaylorEngine):
        over_positions = tuple(model.inputs.index(name) for name in names)
        size = chunk_size or points_per_chunk(model, len(names) + 2)
        pieces = [
            chosen.weighted_trace(
                model, x[s : s + size], out, over_positions, matrix, differentiable
            )
            for s in range(0, max(x.shape[0], 1), size)
        ]
        return _join(pieces)
    values, _ = _compute_in_chunks(chosen, model, x, request, chunk_size, None)
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for (i, j), spec in zip(pairs, specs, strict=True):
        weight = 1.0 if matrix is None else float(matrix[i, j]) * (1 + (i != j))
        total = total + weight * values[spec]
    return total


def _inputs_named(model: Model, over: Sequence[str] | None) -> tuple[str, ...]:
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
    weights: torch.Tensor | Sequence | None, size: int, dtype: torch.dtype | None
) -> torch.Tensor | None:
    """The (R, R) symmetric weight matrix, or None for the identity."""
    if weights is None:
        return None
    given = torch.as_tensor(weights, dtype=torch.float64)
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


def _laplacian_engine(
    engine: str | Engine, model: Model, request: Request, directions: int
) -> Engine:
    if engine != "auto":
        return resolve(engine, model, request)
    if directions >= 3 and TaylorEngine().supports(model) is True:
        return TaylorEngine()
    return resolve("autograd", model, request)


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


def _compute_in_chunks(
    engine: Engine,
    model: Model,
    x: torch.Tensor,
    request: Request,
    chunk_size: int | None,
    on_chunk: Callable[[int], None] | None,
) -> tuple[dict[Partial, torch.Tensor], dict[Partial, torch.Tensor]]:
    if chunk_size is not None and chunk_size < 1:
        raise DataError(
            f"chunk_size must be a positive number of points, not {chunk_size}."
        )
    n = x.shape[0]
    size = chunk_size or engine.chunk_size(request, model)
    pieces: list[dict[Partial, torch.Tensor]] = []
    errors: list[dict[Partial, torch.Tensor]] = []
    for start in range(0, max(n, 1), max(size, 1)):
        chunk = x[start : start + size]
        pieces.append(engine.compute(model, chunk, request))
        errors.append(dict(getattr(engine, "last_error", {})))
        if on_chunk is not None:
            on_chunk(chunk.shape[0])
    values = {p: _join([piece[p] for piece in pieces]) for p in request.partials}
    error_values = (
        {p: _join([e[p] for e in errors]) for p in request.partials}
        if all(errors)
        else {}
    )
    return values, error_values


def _join(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate chunks; a single chunk is returned as it is (no copy)."""
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)
