"""Points in a box or on its boundary: uniform, Latin hypercube, or scrambled Sobol.

A box maps each input to an interval ``(low, high)``; an interval with
``low == high`` fixes that input (``t = 0`` for an initial condition). On the
boundary, the points are shared out between the chosen faces (both ends of each
named input), and the other coordinates are sampled inside the face.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from wrt.errors import DataError

METHODS = ("uniform", "lhs", "sobol")


def sample(
    box: Mapping[str, Sequence[float]],
    n: int,
    inputs: Sequence[str],
    *,
    method: str = "uniform",
    seed: int = 0,
    boundary: bool = False,
    faces: Sequence[str] | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """``n`` points (n, n_in) in the model's input order.

    Args:
        box: input -> (low, high); every input must be given.
        n: number of points.
        inputs: the model's inputs (column order).
        method: ``uniform``, ``lhs`` (Latin hypercube) or ``sobol`` (scrambled).
        seed: seed of the random numbers.
        boundary: sample on the faces of the box instead of inside.
        faces: the inputs whose two ends are the faces (default: every input
            with a non-degenerate interval).
        dtype: the points' dtype.

    Examples:
        >>> x = sample({"x": (0, 1), "t": (0, 0)}, 4, ["x", "t"], method="lhs")
        >>> x.shape, bool((x[:, 1] == 0).all())
        (torch.Size([4, 2]), True)
    """
    if method not in METHODS:
        raise DataError(f"Unknown sampler {method!r}; use one of {', '.join(METHODS)}.")
    if n < 1:
        raise DataError(f"A sampler needs n >= 1 points, not {n}.")
    missing = [name for name in inputs if name not in box]
    extra = [name for name in box if name not in inputs]
    if missing or extra:
        raise DataError(
            f"The box must give an interval for every input ({', '.join(inputs)}); "
            f"missing: {', '.join(missing) or 'none'}, "
            f"unknown: {', '.join(extra) or 'none'}."
        )
    low = torch.tensor([float(box[name][0]) for name in inputs], dtype=dtype)
    high = torch.tensor([float(box[name][1]) for name in inputs], dtype=dtype)
    if (high < low).any():
        raise DataError("Every interval of the box needs low <= high.")
    unit = _unit(n, len(inputs), method, seed, dtype)
    points = low + unit * (high - low)
    if not boundary:
        return points
    names = (
        list(faces)
        if faces is not None
        else [name for i, name in enumerate(inputs) if high[i] > low[i]]
    )
    if not names:
        raise DataError("No face to sample: every interval of the box is a point.")
    for name in names:
        if name not in inputs:
            raise DataError(
                f"Unknown face input {name!r}; the inputs are {', '.join(inputs)}."
            )
    # point k goes to face k mod (2 * faces): that input is set to its low or high
    for k in range(n):
        face = k % (2 * len(names))
        i = inputs.index(names[face // 2])
        points[k, i] = low[i] if face % 2 == 0 else high[i]
    return points


def _unit(n: int, d: int, method: str, seed: int, dtype: torch.dtype) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if method == "uniform":
        return torch.rand(n, d, generator=generator, dtype=dtype)
    if method == "lhs":
        strata = torch.stack(
            [torch.randperm(n, generator=generator) for _ in range(d)], 1
        )
        jitter = torch.rand(n, d, generator=generator, dtype=dtype)
        return (strata.to(dtype) + jitter) / n
    engine = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed)
    return engine.draw(n, dtype=dtype)
