"""Checks of the numbers themselves: non-finite values, float32 round-off, FD agreement.

- *nonfinite*: NaN or Inf in the outputs or in a partial, with the first point.
- *float32-roundoff*: the requested partials in the model's float32 against the
  same partials of a float64 copy; the relative error is the root-mean-square
  difference over the points divided by the root-mean-square of the float64
  partial. Above ``tol`` (default 1e-3, a tenth of a percent) the float32 numbers
  carry visible round-off, typically where a partial is a small difference of large
  terms. A well-conditioned float32 network agrees to about 1e-6 (measured on a
  PINN up to order 8), so the default leaves those alone.
- *fd-disagreement*: the engine's partials (computed in float64) against
  Richardson-extrapolated central differences in float64 with their own error
  estimate (truncation, plus the rounding noise of the function values observed
  around each point, so that a model that is a small difference of large terms
  widens the bound instead of accusing the engine); a point disagrees when the
  difference exceeds ``10 x`` that estimate plus ``1e-6`` of the partial's scale.
  Skipped above order 4 (differences lose too many digits) and for
  piecewise-linear models (a difference across a kink is not a derivative).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import torch

from wrt.checks.findings import Finding
from wrt.derivatives import partials
from wrt.engines.base import Engine
from wrt.errors import DataError, PrecisionWarning
from wrt.model import Model
from wrt.spec import Partial, parse_spec

FD_MAX_ORDER = 4


def nonfinite(
    model: Model,
    x: torch.Tensor,
    values: dict[str, torch.Tensor],
    outputs: dict[str, torch.Tensor],
) -> list[Finding]:
    """NaN / Inf in the model's outputs or in the partials, one finding each.

    Args:
        model: the model (for names).
        x: the points, (N, n_in).
        values: spec -> partial (N,), as computed through the engine path.
        outputs: output name -> its values (N,), from the same engine call.

    A partial is counted only where its output is finite: where the output is not,
    the partial is missing by construction (and the output's finding says why).
    """
    findings = []
    bad_output = {name: ~torch.isfinite(y.detach()) for name, y in outputs.items()}
    labelled = [(label, bad, True) for label, bad in bad_output.items()]
    for spec, tensor in values.items():
        partial = parse_spec(spec, model.inputs, model.outputs)
        bad = ~torch.isfinite(tensor.detach()) & ~bad_output[partial.output]
        labelled.append((spec, bad, False))
    for label, bad, is_output in labelled:
        if bad.any():
            rows = torch.nonzero(bad).flatten().tolist()
            what = "output" if is_output else "partial"
            findings.append(
                Finding(
                    "nonfinite",
                    f"The {what} {label} is NaN or Inf at {len(rows)} of "
                    f"{x.shape[0]} points; first at point {rows[0]} "
                    f"({_point(model, x[rows[0]])}).",
                    "Check the points for values outside the model's domain (log or "
                    "sqrt of negatives, overflow of exp) and the weights for NaN.",
                    specs=[] if is_output else [label],
                    points=rows[:100],
                    details={"count": len(rows), "first_point": rows[0]},
                )
            )
    return findings


def roundoff(
    model: Model,
    x: torch.Tensor,
    specs: list[str],
    engine: str | Engine,
    values: Mapping[str, torch.Tensor],
    tol: float,
) -> list[Finding]:
    """float32 partials against a float64 copy; see the module docstring."""
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise DataError(
            f"roundoff_tol must be a relative error between 0 and 1, not {tol!r}; "
            "the default 1e-3 flags float32 partials off by a tenth of a percent."
        )
    if x.dtype != torch.float32:
        return []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PrecisionWarning)
        exact = partials(model, x, specs, engine=engine, dtype="float64")
    if any(issubclass(w.category, PrecisionWarning) for w in caught):
        return [
            Finding(
                "check-skipped",
                "float32 round-off was not checked: this model cannot compute in "
                "float64 (it runs through Keras, which computes float64 in float32).",
                "Load a model wrt can convert to torch to check round-off.",
                specs=list(specs),
            )
        ]
    relative = {}
    for spec in specs:
        reference = exact[spec]
        size = float(reference.pow(2).mean().sqrt())
        error = float((values[spec].double() - reference).pow(2).mean().sqrt())
        relative[spec] = error / size if size > 0 else (0.0 if error == 0 else math.inf)
    flagged = {s: r for s, r in relative.items() if r > tol}
    if not flagged:
        return []
    worst = max(flagged, key=lambda spec: flagged[spec])
    return [
        Finding(
            "float32-roundoff",
            f"In float32, {len(flagged)} partial(s) differ from float64 by more than "
            f"{tol:.0e} of their size (worst: {worst}, {flagged[worst]:.1e} relative): "
            "they are small differences of large terms.",
            "Compute them in float64: --dtype float64 (wrt.partials(..., "
            "dtype='float64')); the float64 copy leaves your model untouched.",
            specs=list(flagged),
            details={"relative_error": flagged, "tolerance": tol},
        )
    ]


def fd_disagreement(
    model: Model, x: torch.Tensor, specs: list[str], engine: str | Engine
) -> list[Finding]:
    """Engine (float64) against Richardson finite differences; see the docstring."""
    parsed = {s: p for s, p in _parse(model, specs).items() if p.order}
    checkable = [s for s, p in parsed.items() if p.order <= FD_MAX_ORDER]
    findings = []
    skipped = [s for s in parsed if s not in checkable]
    if skipped:
        findings.append(
            Finding(
                "check-skipped",
                f"No finite-difference check above order {FD_MAX_ORDER}: differences "
                "of that order lose too many digits to judge an exact result.",
                "Compare two exact engines instead: engine='taylor' and 'autograd'.",
                specs=skipped,
            )
        )
    if not checkable:
        return findings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        got = partials(model, x, checkable, engine=engine, dtype="float64")
        fd = partials(model, x, checkable, engine="finite_diff", dtype="float64")
    worst: dict[str, float] = {}
    rows: set[int] = set()
    for spec in checkable:
        scale = max(float(fd[spec].abs().max()), 1e-300)
        bound = 10 * fd.errors[parsed[spec]] + 1e-6 * scale
        difference = (got[spec] - fd[spec]).abs()
        bad = difference > bound
        if bad.any():
            worst[spec] = float(difference.max()) / scale
            rows.update(torch.nonzero(bad).flatten().tolist())
    if worst:
        findings.append(
            Finding(
                "fd-disagreement",
                f"The engine's value of {', '.join(worst)} disagrees with finite "
                f"differences (float64, Richardson) beyond their error estimate at "
                f"{len(rows)} of {x.shape[0]} points (largest difference "
                f"{max(worst.values()):.1e} of the partial's scale).",
                "Recompute with engine='autograd' (the reference); if the model has "
                "kinks or branches near these points, finite differences cross them.",
                specs=list(worst),
                points=sorted(rows)[:100],
                details={"relative_error": worst},
            )
        )
    return findings


def at_rows(
    findings: list[Finding], sample: np.ndarray | None, total: int
) -> list[Finding]:
    """Findings made at a sample of the points, their point indices mapped back.

    Args:
        findings: findings whose ``points`` index the sampled points.
        sample: the sampled indices into all points (sorted), or None when every
            point was checked.
        total: the number of points in all.

    Returns:
        The findings with ``points`` indexing all the points, and ``sampled`` /
        ``of`` details where a sample was used.
    """
    if sample is None:
        return findings
    mapped = []
    for finding in findings:
        points = [int(sample[i]) for i in finding.points]
        details = {**finding.details, "sampled": len(sample), "of": total}
        mapped.append(replace(finding, points=points, details=details))
    return mapped


def _parse(model: Model, specs: list[str]) -> dict[str, Partial]:
    from wrt.spec import parse_spec

    return {s: parse_spec(s, model.inputs, model.outputs) for s in specs}


def _point(model: Model, row: torch.Tensor) -> str:
    return ", ".join(
        f"{n}={float(v):.6g}" for n, v in zip(model.inputs, row, strict=True)
    )
