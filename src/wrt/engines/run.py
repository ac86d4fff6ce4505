"""The one chunk loop: every derivative wrt computes goes through :func:`run`.

Partials, gradients, Jacobians, Hessians, Laplacians and weighted traces,
Hutchinson estimates, directional derivatives (the check's among them),
sensitivities and training terms all build a :class:`~wrt.engines.base.Request`,
let :func:`wrt.engines.choose.resolve` pick the engine, and call :func:`run`,
which splits the points into chunks (slicing per-point directions with them),
calls the engine's ``compute`` once per chunk and joins values and error
estimates. A fix made in an engine therefore reaches every feature.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from wrt.engines.base import Computed, Engine, Key, Request
from wrt.errors import DataError
from wrt.model import Model


def check_chunk_size(chunk_size: object) -> int | None:
    """``chunk_size`` as given (a positive int) or None; anything else is refused.

    Raises:
        DataError: zero, negative, or not an integer.
    """
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise DataError(
            f"chunk_size must be a positive whole number of points, not "
            f"{chunk_size!r}; pass e.g. chunk_size=4096, or None to let the engine "
            "choose."
        )
    if chunk_size < 1:
        raise DataError(
            f"chunk_size must be a positive number of points, not {chunk_size}; "
            "pass e.g. chunk_size=4096, or None to let the engine choose."
        )
    return chunk_size


def run(
    engine: Engine,
    model: Model,
    x: torch.Tensor,
    request: Request,
    chunk_size: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> Computed:
    """Compute ``request`` at the points ``x`` (N, n_in), chunk by chunk.

    Args:
        engine: the engine (already resolved).
        model: the model.
        x: points, shape (N, n_in).
        request: the partials and operators.
        chunk_size: points per chunk; None lets the engine choose.
        on_chunk: called with the number of points done after each chunk.

    Returns:
        Values of every key of the request, (N,) each, and the error estimates the
        engine gave for every chunk.

    Raises:
        DataError: a bad ``chunk_size``.
    """
    size = check_chunk_size(chunk_size) or engine.chunk_size(request, model)
    size = max(int(size), 1)
    n = x.shape[0]
    if n <= size:  # one chunk: the request as it is, no joining
        got = engine.compute(model, x, request)
        if on_chunk is not None:
            on_chunk(n)
        keys = request.keys
        return Computed(
            {key: got.values[key] for key in keys},
            {key: got.errors[key] for key in keys if key in got.errors},
        )
    values: dict[Key, list[torch.Tensor]] = {key: [] for key in request.keys}
    errors: dict[Key, list[torch.Tensor]] = {key: [] for key in request.keys}
    for start in range(0, max(n, 1), size):
        chunk = x[start : start + size]
        piece = request.sliced(start, start + size)
        got = engine.compute(model, chunk, piece)
        # A sliced request holds new operator objects: match keys by position.
        for key, own in zip(request.keys, piece.keys, strict=True):
            values[key].append(got.values[own])
            if own in got.errors:
                errors[key].append(got.errors[own])
        if on_chunk is not None:
            on_chunk(chunk.shape[0])
    return Computed(
        {key: join(parts) for key, parts in values.items()},
        {
            key: join(parts)
            for key, parts in errors.items()
            if parts and len(parts) == len(values[key])
        },
    )


def join(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate chunks; a single chunk is returned as it is (no copy)."""
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)
