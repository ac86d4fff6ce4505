"""Poisson's equation on the unit square, by a PINN written with wrt's terms.

    -(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y) in (0, 1)^2,  u = 0 on the boundary;
    exact solution u = sin(pi x) sin(pi y).

Run: python examples/train_poisson.py   (full: about a minute on 2 cores, relative L2
     error about 2e-4; target 1e-3. --quick: seconds, not converged)
"""

from __future__ import annotations

import argparse
import math
import time

import torch

import wrt
from wrt.training.samplers import sample


def main(quick: bool = False) -> float:
    """Train; return the relative L2 error at 4000 fresh points."""
    box = {"x": (0.0, 1.0), "y": (0.0, 1.0)}
    n_inside, adam, lbfgs = (200, 30, 20) if quick else (1000, 1000, 2000)
    model = wrt.mlp(["x", "y"], ["u"], hidden=[32, 32, 32], activation="tanh")
    inside = sample(box, n_inside, model.inputs, method="sobol", seed=0)
    edges = sample(box, 400, model.inputs, method="lhs", boundary=True, seed=1)
    terms = [
        wrt.residual(
            "d2u/dx^2 + d2u/dy^2 + 2*pi^2*sin(pi*x)*sin(pi*y)", inside, name="PDE"
        ),
        wrt.match(
            "u", edges, torch.zeros(len(edges)), weight=10.0, name="u = 0 on edges"
        ),
    ]
    test = sample(box, 4000, model.inputs, method="uniform", seed=2)
    before = relative_error(model, test)
    start = time.perf_counter()
    history = wrt.fit(
        model, terms, optimizer="adam+lbfgs", steps=adam, lr=5e-3, lbfgs_steps=lbfgs
    )
    seconds = time.perf_counter() - start
    error = relative_error(model, test)
    print(
        f"Poisson PINN: {len(history.frame)} steps in {seconds:.0f} s "
        f"({compiled(history)}); final loss "
        f"{history.final['loss']:.2e}; relative L2 error {before:.2e} -> {error:.2e} "
        "(target 1e-3)"
    )
    if quick:
        # 30 Adam + 20 L-BFGS steps: measured 0.64 -> 0.14; the claim is that
        # the terms train the model towards the exact solution.
        assert error < 0.5 * before, (before, error)
    else:
        # the full budget reaches about 2e-4 (see the docstring); the target is 1e-3
        assert error < 1e-3, error
    print(f"verified: relative L2 error {error:.2e} (was {before:.2e} untrained)")
    return error


def relative_error(model: wrt.Model, test: torch.Tensor) -> float:
    """Relative L2 error against sin(pi x) sin(pi y) at the points ``test``."""
    exact = torch.sin(math.pi * test[:, 0]) * torch.sin(math.pi * test[:, 1])
    with torch.no_grad():
        return float((model(test)[:, 0] - exact).norm() / exact.norm())


def compiled(history: wrt.History) -> str:
    """How the steps ran: compiled (and the compile time) or eagerly."""
    if history.compiled:
        return f"compiled in {history.compile_seconds:.0f} s"
    return "eager"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget")
    main(quick=parser.parse_args().quick)
