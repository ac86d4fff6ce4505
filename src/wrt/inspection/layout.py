"""Which wrt columns are which source tensors, and which engines run the model.

A model file's inputs and outputs are tensors of some per-sample shape; wrt sees
columns. The columns of the points are the source inputs, in order, each
flattened row-major; the output columns likewise (an output of per-sample shape
(2, 3) is ``y1 .. y6``, ``y1 .. y3`` its first row). :func:`layout` pairs the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from wrt.model import Model


def layout(
    names: Sequence[str],
    tensors: Sequence[dict[str, Any]] | None,
    default: str,
) -> list[dict[str, Any]]:
    """The source tensors with the wrt columns each one holds.

    Args:
        names: the wrt column names (the model's inputs or outputs), in order.
        tensors: the source tensors in column order, dicts with ``name`` and
            per-sample ``shape`` (ints; None or symbolic axes when unknown) or,
            when only that is known, ``width`` (its columns); None when the
            source does not say.
        default: the tensor's name when the source does not say.

    Returns:
        Dicts with ``name``, ``shape`` (a list of ints, or None when unknown) and
        ``columns`` (the wrt names, row-major). When the shapes are unknown or do
        not add up to the columns, one entry holds them all, of unknown shape
        (several symbolic axes, sizes the file leaves open) unless one open axis
        is fixed by the column count; when the source states no
        tensor at all (a torch module fed (N, n)), its shape is the columns'
        count.
    """
    tensors = list(tensors or [])
    shapes = [_known(t.get("shape")) for t in tensors]
    widths = [
        math.prod(s) if s is not None else t.get("width")
        for s, t in zip(shapes, tensors, strict=True)
    ]
    counted = [w for w in widths if isinstance(w, int)]
    if tensors and len(counted) == len(widths) and sum(counted) == len(names):
        found, start = [], 0
        for tensor, shape, width in zip(tensors, shapes, counted, strict=True):
            found.append(
                {
                    "name": str(tensor.get("name") or default),
                    "shape": shape,
                    "columns": list(names[start : start + width]),
                }
            )
            start += width
        return found
    if len(tensors) > 1:
        label = ", ".join(str(t.get("name") or default) for t in tensors)
        return [{"name": label, "shape": None, "columns": list(names)}]
    if not tensors:  # nothing stated: a module fed (N, n)
        return [{"name": default, "shape": [len(names)], "columns": list(names)}]
    name = str(tensors[0].get("name") or default)
    shape = _one_open_axis(tensors[0].get("shape"), len(names))
    return [{"name": name, "shape": shape, "columns": list(names)}]


def _one_open_axis(shape: Any, columns: int) -> list[int] | None:
    """A shape with one open axis (None, a symbol), fixed by the column count."""
    if not isinstance(shape, list):
        return None
    open_axes = [i for i, d in enumerate(shape) if not isinstance(d, int)]
    known = math.prod(d for d in shape if isinstance(d, int))
    if len(open_axes) != 1 or known == 0 or columns % known:
        return None
    filled = list(shape)
    filled[open_axes[0]] = columns // known
    return filled


def _known(shape: Any) -> list[int] | None:
    if isinstance(shape, list) and all(isinstance(d, int) for d in shape):
        return list(shape)
    return None


def engines(model: Model) -> dict[str, dict[str, Any]]:
    """Which engines can compute partials of the model, and why not.

    ``autograd`` (the reference) and ``finite_diff`` (the independent check) run
    every torch model; ``taylor`` needs a Taylor rule for every operation on the
    traced path, which is asked of the engine itself (a dry trace: no
    derivative is computed).

    Returns:
        Engine name -> ``{"available": bool, "reason": str | None}``.
    """
    from wrt.engines.taylor.engine import TaylorEngine

    verdict = TaylorEngine().supports(model)
    return {
        "autograd": {"available": True, "reason": None},
        "taylor": {
            "available": verdict is True,
            "reason": None if verdict is True else str(verdict),
        },
        "finite_diff": {"available": True, "reason": None},
    }
