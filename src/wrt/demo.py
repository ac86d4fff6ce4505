"""The demo: the seed network trained on collinear data and on a grid, measured by wrt.

Both models fit y = sin(x1) + cos(x2) well. Only the grid model's partials are
right: the collinear data determines the derivative along its line and nothing
across it. Every derivative here comes from :func:`wrt.partials`; the finite-
difference engine cross-checks them, so what goes wrong is the model, not the
arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from wrt.derivatives import partials
from wrt.model import Model, wrap
from wrt.seed_problem import (
    LINE_DIRECTION,
    DemoConfig,
    collinear_data,
    grid_data,
    heldout_box,
    heldout_line,
    target,
    target_partials,
    train,
)


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
class DemoResult:
    """One trained model and how it did.

    Attributes:
        name: ``"collinear"`` or ``"grid"``.
        model: the trained network with named inputs x1, x2 and output y.
        n_train: number of training points.
        seconds: training wall time.
        heldout: errors at held-out points of its own data's distribution.
        on_line: errors at held-out points on the line (the same for both models).
        fd_agreement: largest |autograd - finite differences| of dy/dx1 and dy/dx2
            over the points on the line, both in float64.
    """

    name: str
    model: Model
    n_train: int
    seconds: float
    heldout: Errors
    on_line: Errors
    fd_agreement: float


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


def run_demo(config: DemoConfig | None = None) -> list[DemoResult]:
    """Train the seed network on collinear data and on a grid; measure both with wrt.

    Args:
        config: sizes and training settings (``DemoConfig()`` by default;
            ``DemoConfig.quick()`` for a run of about a second).

    Returns:
        ``[collinear, grid]``.
    """
    c = config if config is not None else DemoConfig()
    on_line = heldout_line(c.n_eval)
    datasets = {
        "collinear": (collinear_data(c.n_line), on_line),
        "grid": (grid_data(c.n_side, c.box), heldout_box(c.n_eval, c.box)),
    }
    results = []
    for name, ((X, y), X_eval) in datasets.items():
        trained = train(
            X,
            y,
            steps=c.adam_steps,
            seed=c.seed,
            lr=c.lr,
            lr_final=c.lr_final,
            lbfgs_steps=c.lbfgs_steps,
            num_threads=c.num_threads,
        )
        model = wrap(trained.net, inputs=["x1", "x2"], outputs=["y"])
        results.append(
            DemoResult(
                name=name,
                model=model,
                n_train=X.shape[0],
                seconds=trained.seconds,
                heldout=evaluate(model, X_eval),
                on_line=evaluate(model, on_line),
                fd_agreement=fd_agreement(model, on_line),
            )
        )
    return results


def explanation(collinear: DemoResult, grid: DemoResult) -> str:
    """Plain-language account of the table, with the measured numbers."""
    spacing = 6 * math.pi / 1999
    c, g = collinear.on_line, grid.on_line
    return (
        "Every collinear training point has x2 = 1.5 x1, so the data only shows how y "
        "changes along the direction (1, 1.5)/sqrt(3.25). The model learned that "
        f"derivative (error {c.along_line:.3f}), but dy/dx1 and dy/dx2 separately are "
        "set by how the network bends off the line, where it never saw data: their "
        f"errors ({c.d_x1:.2f} and {c.d_x2:.2f}) are as large as the partials "
        "themselves (RMS about 0.71). No derivative method can recover them from "
        "this model; the data must vary in both directions. On the grid it does, and "
        f"the partials are right (errors {g.d_x1:.3f} and {g.d_x2:.3f} at the same "
        "points).\n"
        "The derivatives themselves are exact: wrt's finite-difference engine agrees "
        f"with autograd to {max(collinear.fd_agreement, grid.fd_agreement):.1e}. The "
        "hand-made check np.diff(y)/0.01 measured something else: differencing "
        "consecutive points on the line gives d/dx1 of y(x1, 1.5 x1) = dy/dx1 + 1.5 "
        f"dy/dx2, and the points were {spacing:.5f} apart, not 0.01, which scales it "
        f"by {spacing / 0.01:.3f}."
    )


def _rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.sqrt(torch.mean((a.double() - b.double()) ** 2)))
