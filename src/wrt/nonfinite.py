"""NaN and Inf in results: one missing value everywhere, and a warning that says where.

A model can return NaN or Inf at some points (``log`` or ``sqrt`` of a negative,
an ``exp`` that overflows). Its partials there are meaningless even when an engine
returns a finite number for them (the partial of ``sqrt(x1) + x2**2`` along ``x2``
is ``2 * x2`` whatever ``x1`` is). So :func:`wrt.partials` (and everything
built on it: ``grad``, ``jacobian``, ``hessian``, streaming) computes the outputs'
values with the partials, in the same engine call, and, with :func:`screen`,

- sets every partial of an output to NaN at the points where that output is NaN or
  Inf (the value stays missing in every table wrt writes: an empty CSV cell, a
  Parquet null, a JSON ``null``);
- warns with :class:`~wrt.errors.NonFiniteWarning`, naming the count and the first
  point (its row and values), once per call; and the same for partials that are
  NaN or Inf where their output is finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from wrt.spec import Partial


@dataclass(frozen=True)
class Gap:
    """Where one output or partial is NaN or Inf.

    Attributes:
        label: ``"output y"`` or ``"dy/dx1"``.
        count: number of points where it is non-finite.
        total: number of points.
        first: row of the first such point (0-based, in the points given).
        point: that point's coordinates, ``{input: value}``.
    """

    label: str
    count: int
    total: int
    first: int
    point: dict[str, float]

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v:.6g}" for k, v in self.point.items())
        return (
            f"{self.label} is NaN or Inf at {self.count} of {self.total} points "
            f"(first: row {self.first}, {where})"
        )


def screen(
    values: Mapping[Partial, torch.Tensor],
    outputs: Mapping[str, torch.Tensor],
    points: torch.Tensor,
    inputs: Sequence[str],
    first_row: int = 0,
) -> tuple[dict[Partial, torch.Tensor], list[Gap]]:
    """Partials set to NaN where their output is NaN or Inf, and where gaps are.

    Args:
        values: partial -> values, shape (N,).
        outputs: output name -> its values at the same points, shape (N,).
        points: the points, shape (N, n_in).
        inputs: the names of the points' columns.
        first_row: the row number of the first point (for the gaps' rows).

    Returns:
        The masked values (new tensors where something changed) and one
        :class:`Gap` per output, then per partial, that is non-finite somewhere
        (a partial counted only where its output is finite).
    """
    if _all_finite([*outputs.values(), *values.values()]):
        return dict(values), []  # the common case, from one fused test
    gaps: list[Gap] = []
    bad_output: dict[str, torch.Tensor] = {}
    for name, y in outputs.items():
        bad = ~torch.isfinite(y.detach())
        bad_output[name] = bad
        if bool(bad.any()):
            gaps.append(_gap(f"output {name}", bad, points, inputs, first_row))
    masked: dict[Partial, torch.Tensor] = {}
    for partial, value in values.items():
        mask = bad_output.get(partial.output)
        if mask is not None and bool(mask.any()) and partial.order > 0:
            value = value.masked_fill(mask, float("nan"))
        masked[partial] = value
        if partial.order == 0:
            continue
        own = ~torch.isfinite(value.detach())
        if mask is not None:
            own = own & ~mask
        if bool(own.any()):
            gaps.append(_gap(str(partial), own, points, inputs, first_row))
    return masked, gaps


def _all_finite(tensors: Sequence[torch.Tensor]) -> bool:
    """Whether every entry of every tensor is finite: True is always right.

    One sum over the tensors stacked, read once (NaN and Inf propagate through
    sums); False may also mean an overflow of finite values, and the caller then
    looks entry by entry. A few microseconds, where ``isfinite`` on each tensor
    cost 0.1 ms per ``wrt.grad`` call on the seed network.
    """
    kept = [t.detach() for t in tensors if t.is_floating_point() and t.numel()]
    if not kept:
        return True
    shapes = {(t.shape, t.dtype) for t in kept}
    if len(shapes) == 1:  # the usual case: one stack, one sum, one read
        return math.isfinite(float(torch.stack(kept).sum()))
    return all(math.isfinite(float(t.sum())) for t in kept)


def _gap(
    label: str, bad: torch.Tensor, points: torch.Tensor, inputs, first_row: int = 0
) -> Gap:
    rows = torch.nonzero(bad).flatten()
    first = int(rows[0])
    coords = points[first].detach().cpu().double().tolist()
    named = dict(zip(inputs, coords, strict=True))
    return Gap(label, int(rows.numel()), int(bad.numel()), first_row + first, named)


def find_gap(
    label: str, values: torch.Tensor, points: torch.Tensor, inputs: Sequence[str]
) -> Gap | None:
    """Where ``values`` (shape (N,) or (N, k)) is NaN or Inf; None if nowhere."""
    bad = ~torch.isfinite(values.detach())
    if bad.dim() > 1:
        bad = bad.flatten(1).any(dim=1)
    return _gap(label, bad, points, inputs) if bool(bad.any()) else None


def warning_text(gaps: Sequence[Gap]) -> str:
    """One line: every gap, and what was done about it."""
    done = (
        " Partials where the output is NaN or Inf are left missing (NaN)."
        if any(g.label.startswith("output ") for g in gaps)
        else " The output is finite there: the partial itself is infinite or"
        " undefined (a kink or a vertical tangent, e.g. sqrt at 0)."
    )
    return (
        "; ".join(str(g) for g in gaps)
        + "."
        + done
        + " Check those points against the model's domain (log or sqrt of "
        "negatives, overflow of exp)."
    )
