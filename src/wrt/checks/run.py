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
from wrt.checks import neighbours as neighbours_module
from wrt.checks.findings import CheckReport, Finding
from wrt.checks.inputs import check_options, training_index
from wrt.checks.neighbours import DataIndex
from wrt.data import PointsLike, as_points
from wrt.derivatives import ModelLike, as_model, partials
from wrt.engines.base import Engine
from wrt.engines.compiling import CompileOption
from wrt.errors import EngineError, FallbackWarning, NonFiniteWarning
from wrt.model import Model
from wrt.names import listing
from wrt.operators import directional_derivative as _directional
from wrt.spec import Partial, format_spec, parse_spec

#: Points beyond this many are checked for identifiability at a seeded sample.
MAX_POINTS = 5_000
#: More points than this get the float32 and finite-difference checks at a seeded
#: random sample of this many (each costs a float64 pass and a Richardson table).
NUMERIC_POINTS = 20_000


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
    compile: CompileOption = "auto",
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
        neighbours: k, training rows per local neighbourhood: one size for
            both checks (an int >= 2, at most the distinct training rows). By
            default, identifiability looks at neighbourhoods of several sizes
            and coverage uses ``max(2 n_in + 2, 16)``.
        rel_spread: a direction is determined by the data when its spread is at
            least this fraction of the largest spread nearby.
        angle_tol: an input is in the determined span when the sine of its angle
            to it is below this.
        far_factor: points farther from the data than this many times the data's
            own typical spacing (95th percentile) are ``far-from-data``.
        roundoff_tol: relative float32 error that makes ``float32-roundoff``.
        verify: run the finite-difference verification (``fd-disagreement``).
        compile: for the partials checked, see :func:`wrt.partials`.

    Returns:
        A :class:`~wrt.checks.findings.CheckReport`, errors first. More than
        5000 points are checked for identifiability at a seeded random sample
        of 5000 (a ``check-skipped`` info finding says so).

    Raises:
        CheckOptionError: ``neighbours``, ``rel_spread``, ``angle_tol`` or
            ``far_factor`` out of range.
        DataError: ``data`` malformed (columns, NaN), empty or of one row.

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
    check_options(neighbours, rel_spread, angle_tol, far_factor)
    model = as_model(model)
    names = _specs(model, specs)
    train = None if data is None else training_index(data, model.inputs, neighbours)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    # non-finite values are findings here (with the first point and advice), not
    # warnings of every computation the checks make
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)
        values = partials(
            model, x, [*names, *model.outputs], engine=engine, compile=compile
        )
        outputs = {name: values[name] for name in model.outputs}
        asked = {spec: values[spec] for spec in names}
        found: list[Finding] = numerics.nonfinite(model, x, asked, outputs)
        found += activations.piecewise_linear(model, names)
        if train is not None:
            found += data_checks(
                model,
                x,
                train,
                names,
                neighbours,
                rel_spread,
                angle_tol,
                far_factor,
                engine=engine,
            )
        else:
            found.append(
                Finding(
                    "check-skipped",
                    "No training data given: whether the data determines these "
                    "partials (not-identifiable) and whether the points lie near "
                    "it (far-from-data) was not checked.",
                    "Pass the training inputs: wrt.check(model, X, data=train) or "
                    "wrt check MODEL --data TRAIN.",
                )
            )
        sample = neighbours_module.sample_points(x.shape[0], NUMERIC_POINTS, seed=1)
        rows = None if sample is None else torch.from_numpy(sample)
        xs = x if rows is None else x[rows]
        sampled = asked if rows is None else {s: v[rows] for s, v in asked.items()}
        numeric = numerics.roundoff(model, xs, names, engine, sampled, roundoff_tol)
        if verify and not any(f.code == "piecewise-linear" for f in found):
            numeric += numerics.fd_disagreement(model, xs, names, engine)
        found += numerics.at_rows(numeric, sample, x.shape[0])
        if sample is not None:
            found.append(
                Finding(
                    "check-skipped",
                    f"float32-roundoff{' and fd-disagreement' if verify else ''} "
                    f"were checked at a random sample of {NUMERIC_POINTS} of the "
                    f"{x.shape[0]} points (seeded, the same on every run).",
                    "Pass fewer points (wrt check --points PTS) to check each one.",
                    details={"checked": NUMERIC_POINTS, "of": int(x.shape[0])},
                )
            )
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
    return CheckReport(found).sorted()


def data_checks(
    model: Model,
    x: torch.Tensor,
    index: DataIndex,
    specs: list[str],
    neighbours: int | None,
    rel_spread: float,
    angle_tol: float,
    far_factor: float,
    *,
    engine: str | Engine = "auto",
) -> list[Finding]:
    """Identifiability and coverage over one index of the training data."""
    found = identifiability(
        model, x, index, specs, neighbours, rel_spread, angle_tol, engine=engine
    )
    found += coverage(model, x, index, neighbours, far_factor)
    if x.shape[0] > MAX_POINTS:
        found.append(
            Finding(
                "check-skipped",
                f"not-identifiable was checked at a random sample of {MAX_POINTS} "
                f"of the {x.shape[0]} points (seeded, the same on every run); "
                "far-from-data at every point.",
                "Pass fewer points (wrt check --points PTS) to check each one.",
                details={"checked": MAX_POINTS, "of": int(x.shape[0])},
            )
        )
    return found


def identifiability(
    model: Model,
    x: torch.Tensor,
    data: torch.Tensor | DataIndex,
    specs: list[str],
    neighbours: int | None = None,
    rel_spread: float = 0.05,
    angle_tol: float = 0.1,
    max_points: int | None = None,
    *,
    engine: str | Engine = "auto",
) -> list[Finding]:
    """``not-identifiable`` findings; see :mod:`wrt.checks.support`.

    ``data`` is the training inputs (M, n_in) or their :class:`DataIndex`. More
    than ``max_points`` points (default :data:`MAX_POINTS`) are checked at a
    seeded random sample of that many (the finding's ``checked`` detail lists
    them; its per-point arrays follow it).
    """
    index = data if isinstance(data, DataIndex) else DataIndex(data)
    n_in = model.n_inputs
    limit = MAX_POINTS if max_points is None else max_points
    sample = neighbours_module.sample_points(x.shape[0], limit)
    where = x if sample is None else x[torch.from_numpy(sample)]
    geometry = support.local_geometry(index, where, rel_spread, neighbours)
    projector, rank = geometry.projector, geometry.rank
    numbers = torch.arange(x.shape[0]) if sample is None else torch.from_numpy(sample)
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
            model,
            where,
            direction.to(where.dtype),
            partial.order,
            partial.output,
            engine,
        )
        local = torch.nonzero(bad).flatten()
        rows = numbers[local].tolist()
        first = int(local[0])
        missing = [
            model.inputs[i]
            for i, o in zip(involved, off[first], strict=True)
            if o > angle_tol
        ]
        along = _as_text(model.inputs, direction[first])
        checked = "" if sample is None else f" (of a random sample of {len(sample)})"
        details = {
            "count": len(rows),
            "direction": direction[first],
            "directions": direction,
            "directional_derivative": derivative,
            "data_rank": rank,
        }
        if sample is not None:
            details["checked"] = sample
        findings.append(
            Finding(
                "not-identifiable",
                f"{spec} is not determined by the training data at {len(rows)} of "
                f"{x.shape[0]} points{checked}: near them the data spans "
                f"{int(rank[first])} direction(s) of the {n_in} inputs, and "
                f"{listing(missing)} is not among them, so the network's slope along "
                f"{listing(missing)} is whatever it does off the data. The data "
                f"determines the derivative along {along} (unit length): "
                f"{_order_word(partial.order)} derivative there is "
                f"{float(derivative[first]):.6g} at point {rows[0]}.",
                "Use the directional derivative along the data (attribute "
                "directional_derivative, per point), or train on data that varies "
                f"{listing(missing)} independently.",
                specs=[spec],
                points=rows[:100],
                details=details,
            )
        )
    return findings


def coverage(
    model: Model,
    x: torch.Tensor,
    data: torch.Tensor | DataIndex,
    neighbours: int | None = None,
    far_factor: float = 3.0,
) -> list[Finding]:
    """``far-from-data`` finding; see :mod:`wrt.checks.support`.

    Every point is checked (one k-d tree query each).
    """
    index = data if isinstance(data, DataIndex) else DataIndex(data)
    k = min(neighbours or support.default_neighbours(model.n_inputs), index.size)
    distance_np, spacing = support.coverage_distance(index, x, k)
    distance = torch.from_numpy(distance_np)
    limit = far_factor * spacing
    far = distance > limit if spacing > 0 else distance > 1e-9
    if not far.any():
        return []
    rows = torch.nonzero(far).flatten().tolist()
    return [
        Finding(
            "far-from-data",
            f"{len(rows)} of {x.shape[0]} points lie outside the region the training "
            f"data covers (their distance to the {k}th nearest distinct "
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
