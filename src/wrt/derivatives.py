"""The public derivative API: ``partials`` and its thin compositions.

``grad``, ``jacobian`` and ``hessian`` each build a list of specs and call
:func:`partials` once, so every entry of one call is computed together and shared
lower orders are computed once. The operators (``laplacian``,
``directional_derivative``, ``laplacian_estimate``) live in :mod:`wrt.operators`
and :mod:`wrt.randomized`. Every one of them resolves its engine in
:func:`wrt.engines.choose.resolve` and computes through the one chunk loop,
:func:`wrt.engines.run.run`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from wrt.data import PointsLike, as_points
from wrt.engines.base import Engine, Request
from wrt.engines.choose import resolve
from wrt.engines.compiling import CompileOption, compile_seconds, refuse_ignored
from wrt.engines.run import check_chunk_size, run
from wrt.errors import ModelError, NonFiniteWarning, SpecError, caller_level
from wrt.model import DTypeLike, Model, is_sklearn, wrap
from wrt.names import did_you_mean, listing
from wrt.nonfinite import screen, warning_text
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
    first_row: int = 0,
    compile: CompileOption = "auto",
) -> Partials:
    """Partial derivatives of a model's outputs with respect to its named inputs.

    The outputs' values are computed in the same engine call. Where an output is
    NaN or Inf its partials are meaningless, even when an engine returns a finite
    number for them, so they are set to NaN there (one missing value in every
    table wrt writes), and a :class:`~wrt.errors.NonFiniteWarning` names the count
    and the first point; partials that are NaN or Inf where their output is finite
    are named too. Results that stay differentiable (training) are not screened:
    the training loop's own guard names the term, step and point.

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
        first_row: the row of the first point in its file, for the warning's
            row numbers (a streamed chunk starts further down).
        compile: compile the Taylor engine's propagation with ``torch.compile``:
            ``"auto"`` once the same model, request and point shape has repeated
            enough to repay the compile time, True at once, False never (see
            :mod:`wrt.engines.compiling`; an engine object keeps its own
            setting). The time spent is ``compile_seconds`` on the result.

    Returns:
        A mapping spec -> tensor of shape (N,).

    Raises:
        SpecError: malformed spec or unknown name.
        DataError: bad points (shape, columns, NaN / Inf), or a bad ``chunk_size``.
        EngineError: unknown engine, or one that cannot compute the request, or a
            ``compile`` other than "auto", True or False ("on" / "off"), or
            compile=True with an engine that never compiles (autograd,
            finite_diff).

    Warns:
        NonFiniteWarning: an output or a partial is NaN or Inf at some points.
        CompileWarning: compiling failed; the values were computed without it.

    Examples:
        >>> m = wrap(lambda x: (x**2).sum(1), inputs=["x", "t"])
        >>> P = partials(m, torch.tensor([[1.0, 2.0]]), ["dy/dx", "d2y/dt^2"])
        >>> P["dy/dx"], P["d2y/dt^2"]
        (tensor([2.]), tensor([2.]))
    """
    check_chunk_size(chunk_size)
    refuse_ignored(engine, compile)
    model = as_model(model).converted(dtype)
    requested = _parse_all(specs, model)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    asked = tuple(dict.fromkeys(p for _, p in requested))
    # the outputs' values screen the partials (free: every engine evaluates them)
    values_of = () if differentiable else tuple(Partial(o) for o in model.outputs)
    request = Request(tuple(dict.fromkeys(asked + values_of)), differentiable)
    chosen = resolve(engine, model, request, compile)
    compiled_before = compile_seconds(chosen)
    computed = run(chosen, model, x, request, chunk_size, on_chunk)
    values = {p: computed.values[p] for p in asked}
    errors = {p: computed.errors[p] for p in asked if p in computed.errors}
    if not differentiable:
        outputs = {p.output: computed.values[p] for p in values_of}
        values, gaps = screen(values, outputs, x, model.inputs, first_row)
        if gaps:
            warnings.warn(
                warning_text(gaps), NonFiniteWarning, stacklevel=caller_level()
            )
        # no error estimate for a value that is missing
        errors = {
            p: e.masked_fill(torch.isnan(values[p]), float("nan"))
            for p, e in errors.items()
        }
    return Partials(
        values,
        inputs=model.inputs,
        outputs=model.outputs,
        points=x,
        requested=requested,
        engine=chosen.name,
        errors=errors,
        compile_seconds=compile_seconds(chosen) - compiled_before,
    )


def grad(
    model: ModelLike, points: PointsLike, *, output: str | None = None, **options
) -> torch.Tensor:
    """Gradient of one output: shape (N, n_in).

    Args:
        model: see :func:`partials`.
        points: (N, n_in) or a table; see :func:`partials`.
        output: output name; may be omitted for a single-output model.
        **options (Any): ``engine``, ``dtype``, ``chunk_size``, ``differentiable``,
            ``compile``;
            see :func:`partials`.

    Returns:
        dy/dx_i at every point, (N, n_in) in the model's input order, in the
        model's dtype (or ``dtype``); units of the output per unit of each input.

    Raises:
        SpecError: an unknown ``output`` name.
        DataError: bad points (shape, columns, NaN / Inf), or a bad ``chunk_size``.
        EngineError: unknown engine, or one that cannot compute the request.

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
        **options (Any): ``engine``, ``dtype``, ``chunk_size``, ``differentiable``,
            ``compile``;
            see :func:`partials`.

    Returns:
        dy_j/dx_i at every point, (N, n_out, n_in), outputs and inputs in the
        model's order; units of each output per unit of each input.

    Raises:
        DataError: bad points (shape, columns, NaN / Inf), or a bad ``chunk_size``.
        EngineError: unknown engine, or one that cannot compute the request.
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

    Args:
        model: see :func:`partials`.
        points: (N, n_in) or a table; see :func:`partials`.
        output: output name; may be omitted for a single-output model.
        **options (Any): ``engine``, ``dtype``, ``chunk_size``, ``differentiable``;
            see :func:`partials`.

    Returns:
        d2y/dx_i dx_j at every point, (N, n_in, n_in), symmetric; units of the
        output per unit of x_i per unit of x_j.

    Raises:
        SpecError: an unknown ``output`` name.
        DataError: bad points (shape, columns, NaN / Inf), or a bad ``chunk_size``.
        EngineError: unknown engine, or one that cannot compute the request.

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


def as_model(model: ModelLike) -> Model:
    """A :class:`Model` from a Model, module, fitted estimator or path.

    A torch module gets default names; a scikit-learn estimator is converted by
    :func:`wrap`; a path is loaded.
    """
    if isinstance(model, Model):
        return model
    if isinstance(model, (str, Path)):
        from wrt.importers import load  # deferred: importers pull in format readers

        return load(model)
    if isinstance(model, nn.Module) or is_sklearn(model):
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
