"""The inputs of :func:`wrt.check` that are its own: options and training data.

Both are checked before any partial is computed, so a bad value fails at once
with a message that names it, its range and how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from wrt.checks.neighbours import DataIndex
from wrt.data import PointsLike, as_points
from wrt.errors import CheckOptionError, DataError


def training_data(data: PointsLike, inputs: Sequence[str]) -> torch.Tensor:
    """The training inputs as a float64 tensor (M, n_in).

    Raises:
        DataError: no rows, missing columns, non-numeric or non-finite values; the
            message says it is about the training data.
    """
    if getattr(data, "shape", (1,))[0] == 0 or (
        isinstance(data, (list, tuple)) and not data
    ):
        raise DataError(
            "The training data (data=...) has no rows; the checks compare the "
            "points with the training rows. Pass the training inputs."
        )
    try:
        return as_points(data, inputs, dtype=torch.float64)
    except DataError as exc:
        raise DataError(f"The training data (data=...): {exc}") from exc


def training_index(
    data: PointsLike, inputs: Sequence[str], neighbours: int | None
) -> DataIndex:
    """The training data, checked and indexed once (before any partial is computed).

    Raises:
        DataError: see :func:`training_data`; fewer than 2 distinct rows.
        CheckOptionError: ``neighbours`` above the number of distinct rows.
    """
    index = DataIndex(training_data(data, inputs))
    if neighbours is not None and neighbours > index.size:
        raise CheckOptionError(
            f"neighbours={neighbours} is more than the {index.size} distinct "
            "training rows; pass neighbours between 2 and "
            f"{index.size}, or None for the default."
        )
    return index


def check_options(
    neighbours: object, rel_spread: float, angle_tol: float, far_factor: float
) -> None:
    """Raise :class:`CheckOptionError` for an option out of its range."""
    if neighbours is not None and (
        isinstance(neighbours, bool)
        or not isinstance(neighbours, int)
        or neighbours < 2
    ):
        raise CheckOptionError(
            f"neighbours={neighbours!r} is not a neighbourhood size; pass an "
            "integer >= 2 (training rows per neighbourhood), or None for the "
            "default."
        )
    bounds = {
        "rel_spread": (
            rel_spread,
            0.0,
            1.0,
            "a fraction strictly between 0 and 1, e.g. 0.05",
        ),
        "angle_tol": (angle_tol, 0.0, 1.0, "the sine of an angle, in (0, 1], e.g. 0.1"),
        "far_factor": (far_factor, 0.0, math.inf, "a finite factor > 0, e.g. 3"),
    }
    for name, (value, low, high, valid) in bounds.items():
        number = value if isinstance(value, (int, float)) else math.nan
        inside = low < number < high or (name == "angle_tol" and number == 1.0)
        if isinstance(value, bool) or not inside:
            raise CheckOptionError(f"{name}={value!r} is out of range; pass {valid}.")
