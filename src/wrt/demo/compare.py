"""The demo's measurements: a trained model against the true function, with wrt.

Both models of :mod:`wrt.demo.run` fit y = sin(x1) + cos(x2) well. Only the grid
model's partials are right: the collinear data determines the derivative along its
line and nothing across it. Every derivative here comes from :func:`wrt.partials`;
the finite-difference engine cross-checks them, so what goes wrong is the model, not
the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wrt.demo.problem import (
    LINE_DIRECTION,
    line_points,
    target,
    target_partials,
)
from wrt.derivatives import partials
from wrt.model import Model


@dataclass(frozen=True)
class Errors:
    """Root-mean-square errors of a model against the true function at some points.

    Attributes:
        fit: of y vs sin(x1) + cos(x2).
        d_x1: of dy/dx1 vs cos(x1).
        d_x2: of dy/dx2 vs -sin(x2).
        along_line: of the derivative along (1, 1.5)/sqrt(3.25) vs the true one.
    """

    fit: float
    d_x1: float
    d_x2: float
    along_line: float


@dataclass(frozen=True)
class DifferenceChecks:
    """The seed's hand-made derivative check next to correct ones (collinear model).

    All are root-mean-square differences over the seed's own line points (spacing
    6 pi / 1999 in x1), against wrt's exact partials.

    Attributes:
        user_quotient: ``np.diff(y) / 0.01`` (the seed's check) vs dy/dx1: wrong in
            direction (along the line, not along x1) and in step (0.01 is not the
            spacing).
        line_quotient: ``np.diff(y) / |step along the line|`` vs the exact
            derivative along the line: right, because it differences along the line
            with the true step.
        fd_x1: wrt's finite differences along x1 (float64, Richardson) vs dy/dx1.
        spacing: the actual spacing of the points in x1.
    """

    user_quotient: float
    line_quotient: float
    fd_x1: float
    spacing: float


def difference_checks(model: Model, n: int = 2000) -> DifferenceChecks:
    """Compare the seed's difference quotient and two correct ones with the exact."""
    X = line_points(n).double()
    P = partials(model, X, ["y", "dy/dx1", "dy/dx2"], dtype="float64")
    y, d1, d2 = P["y"], P["dy/dx1"], P["dy/dx2"]
    mid = lambda t: (t[1:] + t[:-1]) / 2  # noqa: E731 - a one-line helper
    user = torch.diff(y) / 0.01
    step = (X[1:] - X[:-1]).norm(dim=1)
    u = LINE_DIRECTION.double()
    along = torch.diff(y) / step
    fd = partials(model, X, ["dy/dx1"], engine="finite_diff")["dy/dx1"]
    return DifferenceChecks(
        user_quotient=_rmse(user, mid(d1)),
        line_quotient=_rmse(along, mid(u[0] * d1 + u[1] * d2)),
        fd_x1=_rmse(fd, d1),
        spacing=float(X[1, 0] - X[0, 0]),
    )


def evaluate(model: Model, X: torch.Tensor) -> Errors:
    """Compare a model's value and partials with the true ones.

    Args:
        model: inputs x1, x2; output y.
        X: points, shape (N, 2).
    """
    P = partials(model, X, ["y", "dy/dx1", "dy/dx2"])
    got = torch.stack([P["dy/dx1"], P["dy/dx2"]], dim=1)
    want = target_partials(X)
    u = LINE_DIRECTION.to(got.dtype)
    return Errors(
        fit=_rmse(P["y"], target(X)),
        d_x1=_rmse(got[:, 0], want[:, 0]),
        d_x2=_rmse(got[:, 1], want[:, 1]),
        along_line=_rmse(got @ u, want @ u),
    )


def fd_agreement(model: Model, X: torch.Tensor) -> float:
    """Largest difference between autograd and finite differences, in float64."""
    specs = ["dy/dx1", "dy/dx2"]
    exact = partials(model, X, specs, dtype="float64")
    approx = partials(model, X, specs, engine="finite_diff")
    return max(float((exact[s] - approx[s]).abs().max()) for s in specs)


def _rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.sqrt(torch.mean((a.double() - b.double()) ** 2)))
