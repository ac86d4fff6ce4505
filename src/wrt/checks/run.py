""":func:`check`: say when a partial is meaningless, and verify the ones that are not.

Runs, in order: non-finite values, piecewise-linear operations, identifiability and
coverage (when the training data is given), float32 round-off (float32 models) and
a finite-difference verification. Each check is in its own module of
:mod:`wrt.checks`; this one only gathers their findings.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch

from wrt.checks import activations, numerics, support
from wrt.checks.findings import CheckReport, Finding
from wrt.data import PointsLike, as_points
from wrt.derivatives import ModelLike, as_model, partials
from wrt.engines.base import Engine
from wrt.errors import EngineError, FallbackWarning
from wrt.model import Model
from wrt.names import listing
from wrt.operators import directional_derivative as _directional
from wrt.spec import Partial, format_spec, parse_spec


def check(
    model: ModelLike,
    points: PointsLike,
    data: PointsLike | None = None,
    specs: str | Sequence[str] | None = None,
    *,
    engine: str | Engine = "auto",
    neighbours: int | None = None,
    rel_spread: float = 0.05,
    angle_tol: float = 0.1,
    far_factor: float = 3.0,
    roundoff_tol: float = 1e-3,
    verify: bool = True,
) -> CheckReport:
    """Check the partials of ``model`` at ``points``; a report of findings.

    Args:
        model: a Model, torch module or model file.
        points: the query points (N, n_in) or a table with a column per input.
        data: the training inputs (M, n_in) or table; enables ``not-identifiable``
            and ``far-from-data``.
        specs: the partials to check (default: every first partial of every
            output).
        engine: the engine whose values are checked.
        neighbours: k, training rows per local neighbourhood (default
            ``max(2 n_in + 2, 16)``).
        rel_spread: a direction is determined by the data when its spread is at
            least this fraction of the largest spread nearby.
        angle_tol: an input is in the determined span when the sine of its angle
            to it is below this.
        far_factor: points farther from the data than this many times the data's
            own typical spacing (95th percentile) are ``far-from-data``.
        roundoff_tol: relative float32 error that makes ``float32-roundoff``.
        verify: run the finite-difference verification (``fd-disagreement``).

    Returns:
        A :class:`~wrt.checks.findings.CheckReport`, errors first.

    Examples:
        >>> import wrt
        >>> m = wrt.wrap(lambda x: x[:, 0] + 2 * x[:, 1], inputs=["x1", "x2"])
        >>> line = torch.linspace(0, 1, 50).unsqueeze(1) * torch.tensor([[1.0, 1.5]])
        >>> report = check(m, line, data=line, verify=False)
        >>> report.codes()
        ['not-identifiable', 'not-identifiable']
        >>> f = report.findings[0]
        >>> round(float(f.directional_derivative[0]), 4)  # (1 + 2 * 1.5) / sqrt(3.25)
        2.2188
    """
    model = as_model(model)
    names = _specs(model, specs)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    values = partials(model, x, names, engine=engine)
    found: list[Finding] = numerics.nonfinite(model, x, dict(values.items()))
    found += activations.piecewise_linear(model, names)
    if data is not None:
        train = as_points(data, model.inputs, dtype=torch.float64)
        found += identifiability(
            model, x, train, names, neighbours, rel_spread, angle_tol, engine=engine
        )
        found += coverage(model, x, train, neighbours, far_factor)
    else:
        found.append(
            Finding(
                "check-skipped",
                "No training data given: whether the data determines these partials "
                "(not-identifiable) and whether the points lie near it "
                "(far-from-data) was not checked.",
                "Pass the training inputs: wrt.check(model, X, data=train) or "
                "wrt check MODEL --data TRAIN.",
            )
        )
    found += numerics.roundoff(model, x, names, engine, values, roundoff_tol)
    if verify:
        if any(f.code == "piecewise-linear" for f in found):
            found.append(
                Finding(
                    "check-skipped",
                    "No finite-difference verification: differences across the "
                    "kinks of a piecewise-linear model are not derivatives.",
                    "Compare engine='autograd' with engine='taylor' instead.",
                    specs=names,
                )
            )
        else:
            found += numerics.fd_disagreement(model, x, names, engine)
    return CheckReport(found).sorted()


def identifiability(
    model: Model,
    x: torch.Tensor,
    data: torch.Tensor,
    specs: list[str],
    neighbours: int | None = None,
    rel_spread: float = 0.05,
    angle_tol: float = 0.1,
    *,
    engine: str | Engine = "auto",
) -> list[Finding]:
    """``not-identifiable`` findings; see :mod:`wrt.checks.support`."""
    n_in = model.n_inputs
    k = neighbours or max(2 * n_in + 2, 16)
    points = x.detach().to(torch.float64)
    near = support.neighbourhoods(data, points, k)
    projector, rank = support.determined_projector(data, near, rel_spread)
    eye = torch.eye(n_in, dtype=torch.float64)
    findings = []
    for spec in specs:
        partial = parse_spec(spec, model.inputs, model.outputs)
        alpha = partial.multi_index(model.inputs)
        involved = [i for i, a in enumerate(alpha) if a]
        if not involved:
            continue
        axes = eye[involved]  # (s, n_in)
        inside = projector @ axes.T  # (N, n_in, s): each axis projected
        off = (axes.T.unsqueeze(0) - inside).norm(dim=1)  # (N, s): sine of angle
        bad = (off > angle_tol).any(1)
        if not bad.any():
            continue
        direction = _determined_direction(
            projector, torch.tensor(alpha, dtype=torch.float64)
        )
        derivative = directional_derivative(
            model, x, direction.to(x.dtype), partial.order, partial.output, engine
        )
        rows = torch.nonzero(bad).flatten().tolist()
        first = rows[0]
        missing = [
            model.inputs[i]
            for i, o in zip(involved, off[first], strict=True)
            if o > angle_tol
        ]
        along = _as_text(model.inputs, direction[first])
        findings.append(
            Finding(
                "not-identifiable",
                f"{spec} is not determined by the training data at {len(rows)} of "
                f"{x.shape[0]} points: near them the data spans "
                f"{int(rank[first])} direction(s) of the {n_in} inputs, and "
                f"{listing(missing)} is not among them, so the network's slope along "
                f"{listing(missing)} is whatever it does off the data. The data "
                f"determines the derivative along {along} (unit length): "
                f"{_order_word(partial.order)} derivative there is "
                f"{float(derivative[first]):.6g} at point {first}.",
                "Use the directional derivative along the data (attribute "
                "directional_derivative, per point), or train on data that varies "
                f"{listing(missing)} independently.",
                specs=[spec],
                points=rows[:100],
                details={
                    "count": len(rows),
                    "direction": direction[first],
                    "directions": direction,
                    "directional_derivative": derivative,
                    "data_rank": rank,
                },
            )
        )
    return findings


def coverage(
    model: Model,
    x: torch.Tensor,
    data: torch.Tensor,
    neighbours: int | None = None,
    far_factor: float = 3.0,
) -> list[Finding]:
    """``far-from-data`` finding; see :mod:`wrt.checks.support`."""
    k = neighbours or max(2 * model.n_inputs + 2, 16)
    points = x.detach().to(torch.float64)
    near = support.neighbourhoods(data, points, k)
    spacing = support.leave_one_out_spacing(data, near, k)
    distance = near.distance[:, -1]
    limit = far_factor * spacing
    far = distance > limit if spacing > 0 else distance > 1e-9
    if not far.any():
        return []
    rows = torch.nonzero(far).flatten().tolist()
    return [
        Finding(
            "far-from-data",
            f"{len(rows)} of {x.shape[0]} points lie outside the region the training "
            f"data covers (their distance to the {near.distance.shape[1]}th nearest "
            f"training row, in units of each input's spread, exceeds {far_factor:g} "
            f"times the data's own 95th percentile of {spacing:.3g}): partials there "
            "are extrapolation.",
            "Evaluate partials where the model was trained, or add training data "
            "around these points.",
            points=rows[:100],
            details={
                "count": len(rows),
                "distance": distance,
                "limit": limit,
            },
        )
    ]


def directional_derivative(
    model: Model,
    x: torch.Tensor,
    direction: torch.Tensor,
    order: int,
    output: str,
    engine: str | Engine = "auto",
) -> torch.Tensor:
    """``D^k y[u]`` per point for a direction u per point (N, n_in): (N,).

    Computed through the engine path (:func:`wrt.directional_derivative`), so the
    exact-norm path and every engine fix apply to it too. An engine that computes
    partials only (``finite_diff``) hands it to ``auto``, with a FallbackWarning.
    """
    try:
        value = _directional(
            model, x, direction, order=order, output=output, engine=engine
        )
    except EngineError as exc:
        warnings.warn(
            f"{exc} The directional derivative along the data is computed with "
            "engine='auto' instead.",
            FallbackWarning,
            stacklevel=2,
        )
        value = _directional(
            model, x, direction, order=order, output=output, engine="auto"
        )
    return value.detach()


def _determined_direction(projector: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The unit direction (N, n_in) nearest to the spec's own that the data determines.

    The spec's direction is its multi-index (e_i for d/dx_i) made unit length; its
    projection onto the determined span, signed to agree with it. Where the
    projection vanishes, the leading determined direction is used.
    """
    wanted = alpha / alpha.norm()
    projected = projector @ wanted  # (N, n_in)
    size = projected.norm(dim=1, keepdim=True)
    leading = torch.linalg.eigh(projector)[1][..., -1]  # top eigenvector of P
    leading = leading * torch.sign((leading * wanted).sum(1, keepdim=True) + 1e-300)
    return torch.where(size > 1e-9, projected / size.clamp_min(1e-300), leading)


def _specs(model: Model, specs: str | Sequence[str] | None) -> list[str]:
    if specs is None:
        return [
            format_spec(Partial(out, {name: 1}))
            for out in model.outputs
            for name in model.inputs
        ]
    return [specs] if isinstance(specs, str) else list(dict.fromkeys(specs))


def _as_text(inputs: Sequence[str], direction: torch.Tensor) -> str:
    """``(0.5547 x1 + 0.8321 x2)``."""
    text = ""
    for name, c in zip(inputs, direction.tolist(), strict=True):
        if abs(c) > 1e-12:
            sign = "-" if c < 0 else "+"
            text += f" {sign} {abs(c):.4g} {name}" if text else f"{c:.4g} {name}"
    return f"({text})"


def _order_word(order: int) -> str:
    words = {1: "the", 2: "the second", 3: "the third"}
    return words.get(order, f"the order-{order}")
