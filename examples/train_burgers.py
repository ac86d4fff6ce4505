"""Burgers' equation by a PINN, checked against the exact (Cole-Hopf) solution.

    u_t + u u_x = (0.01 / pi) u_xx,  x in [-1, 1], t in [0, 1],
    u(x, 0) = -sin(pi x),  u(-1, t) = u(1, t) = 0.

The network is trained with wrt's terms only: the residual as a string, the initial
and boundary values as matches. The reference is computed here: the Cole-Hopf
transform turns the equation into the heat equation, whose solution is a Gaussian
convolution, evaluated by Gauss-Hermite quadrature (no data files, no downloads).

Run: python examples/train_burgers.py   (full: about 3 minutes on 2 cores,
     relative L2 error about 6e-4; --quick: seconds, far from converged)
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

import wrt
from wrt.training.samplers import sample

NU = 0.01 / math.pi


def exact(x: np.ndarray, t: np.ndarray, nodes: int = 200) -> np.ndarray:
    """Cole-Hopf solution at points (x, t), by Gauss-Hermite quadrature.

    u = -int sin(pi (x - e)) F(x - e) G_t(e) de / int F(x - e) G_t(e) de, with
    F(y) = exp(-cos(pi y) / (2 pi nu)) and G_t the heat kernel of variance 2 nu t.
    """
    z, w = np.polynomial.hermite.hermgauss(nodes)
    x, t = np.broadcast_arrays(np.asarray(x, float), np.asarray(t, float))
    out = -np.sin(np.pi * x)  # t = 0
    later = t > 0
    xs, ts = x[later][:, None], t[later][:, None]
    y = xs - np.sqrt(4 * NU * ts) * z[None, :]
    exponent = -np.cos(np.pi * y) / (2 * np.pi * NU)
    weight = w[None, :] * np.exp(exponent - exponent.max(axis=1, keepdims=True))
    out[later] = -(weight * np.sin(np.pi * y)).sum(1) / weight.sum(1)
    return out


def main(quick: bool = False) -> float:
    """Train and return the relative L2 error on a 256 x 100 grid."""
    torch.manual_seed(0)
    box = {"x": (-1.0, 1.0), "t": (0.0, 1.0)}
    n_f, adam, lbfgs = (500, 50, 20) if quick else (6000, 1000, 3000)
    hidden = [20] * (3 if quick else 8)
    model = wrt.mlp(["x", "t"], ["u"], hidden=hidden, activation="tanh", seed=0)
    inside = sample(box, n_f, model.inputs, method="sobol", seed=0)
    initial = sample({"x": (-1, 1), "t": (0, 0)}, 256, model.inputs, method="lhs")
    walls = sample(box, 256, model.inputs, method="lhs", boundary=True, faces=["x"])
    terms = [
        wrt.residual("du/dt + u*du/dx - 0.01/pi*d2u/dx^2", inside, name="PDE"),
        wrt.match("u", initial, -torch.sin(math.pi * initial[:, 0]), name="u(x,0)"),
        wrt.match("u", walls, torch.zeros(len(walls)), name="u(+-1,t)"),
    ]
    before = relative_error(model)
    start = time.perf_counter()
    history = wrt.fit(
        model, terms, optimizer="adam+lbfgs", steps=adam, lr=1e-3, lbfgs_steps=lbfgs
    )
    seconds = time.perf_counter() - start
    error = relative_error(model)
    print(
        f"Burgers PINN: {len(history.frame)} steps in {seconds:.0f} s "
        f"({compiled(history)}), final loss "
        f"{history.final['loss']:.2e}; relative L2 error {before:.2e} -> {error:.2e} "
        "(target 1e-2)"
    )
    if quick:
        # 50 Adam + 20 L-BFGS steps only start the fit: measured 0.92 -> 0.55; the
        # claim is that the terms train the model towards the exact solution.
        assert error < 0.8 * before, (before, error)
    else:
        # the full budget reaches about 6e-4 (see the docstring); the target is 1e-2
        assert error < 1e-2, error
    print(f"verified: relative L2 error {error:.2e} (was {before:.2e} untrained)")
    return error


def relative_error(model: wrt.Model) -> float:
    """Relative L2 error against :func:`exact` on a 256 x 100 grid of (x, t)."""
    xg, tg = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, 1, 100))
    grid = torch.tensor(np.stack([xg.ravel(), tg.ravel()], 1))
    with torch.no_grad():
        u = model(grid)[:, 0].numpy()
    reference = exact(xg.ravel(), tg.ravel())
    return float(np.linalg.norm(u - reference) / np.linalg.norm(reference))


def compiled(history: wrt.History) -> str:
    """How the steps ran: compiled (and the compile time) or eagerly."""
    if history.compiled:
        return f"compiled in {history.compile_seconds:.0f} s"
    return "eager"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget")
    main(quick=parser.parse_args().quick)
