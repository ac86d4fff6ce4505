"""Derivative labels are worth having: the same rows, with and without them.

30 rows of y = sin(x1) + cos(x2) on [-2, 2]^2. One network learns the values only;
another learns, at the same 30 rows, the value and both partials (Sobolev training,
Czarnecki et al. 2017). Measured at 2000 fresh points, the second's dy/dx1 is
several times more accurate (the target: at least 3x).

Run: python examples/sobolev_vs_plain.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

import wrt


def rows(n: int = 30, seed: int = 1) -> pd.DataFrame:
    """Every row labelled with y, dy/dx1 and dy/dx2."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "y": np.sin(x1) + np.cos(x2),
            "dy/dx1": np.cos(x1),
            "dy/dx2": -np.sin(x2),
        }
    )


def dy_dx1_error(model: wrt.Model) -> float:
    """RMS error of dy/dx1 at 2000 fresh points."""
    x = torch.tensor(np.random.default_rng(7).uniform(-2, 2, (2000, 2)))
    got = wrt.partials(model, x, "dy/dx1")["dy/dx1"]
    return float((got - torch.cos(x[:, 0])).pow(2).mean().sqrt())


def main(quick: bool = False) -> float:
    """Train both; print the errors and return their ratio."""
    table = rows()
    adam, lbfgs = (50, 20) if quick else (1500, 1500)
    errors = {}
    for name, labels in {
        "values only": ["y"],
        "values + partials": ["y", "dy/dx1", "dy/dx2"],
    }.items():
        model = wrt.mlp(["x1", "x2"], ["y"], hidden=[32, 32], activation="tanh", seed=0)
        terms = wrt.rows(table[["x1", "x2", *labels]], labels=labels)
        wrt.fit(
            model, terms, optimizer="adam+lbfgs", steps=adam, lr=3e-3, lbfgs_steps=lbfgs
        )
        errors[name] = dy_dx1_error(model)
        print(f"{name:17s}: RMS error of dy/dx1 {errors[name]:.4f}")
    ratio = errors["values only"] / errors["values + partials"]
    print(f"ratio: {ratio:.1f}x lower with derivative labels (target >= 3x)")
    # Full budget: the target, at least 3x. --quick (50 + 20 steps) measured 2.5x;
    # the claim there is only that the labels help, by at least 1.5x.
    target = 1.5 if quick else 3.0
    assert ratio >= target, (ratio, errors)
    print(
        f"verified: derivative labels cut the dy/dx1 error {ratio:.1f}x (>= {target})"
    )
    return ratio


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets")
    main(quick=parser.parse_args().quick)
