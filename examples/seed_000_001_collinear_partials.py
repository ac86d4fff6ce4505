"""Seeds 000 and 001: "autodiff gives the total derivative, not the partial".

The user trained a network on points with x2 = 1.5 x1 and found that dy/dx1 did not
match cos(x1). The partials were computed correctly; the data could not determine
them. This script trains the same network on that collinear data and on a grid,
then asks wrt for dy/dx1 and dy/dx2 of both at the same points on the line, and for
the derivative along the line, which the collinear data does determine.

Run: python examples/seed_000_001_collinear_partials.py   (about 20 s; --quick: 2 s)
"""

from __future__ import annotations

import argparse

import torch

import wrt
from wrt.demo import DemoConfig, explanation, heldout_line, run_demo


def main(quick: bool = False) -> None:
    """Train both models and print their partials beside the true ones."""
    collinear, grid = run_demo(DemoConfig.quick() if quick else DemoConfig())
    X = heldout_line(5)
    for result in (collinear, grid):
        P = wrt.partials(result.model, X, ["dy/dx1", "dy/dx2"])
        table = P.to_frame(with_inputs=True)
        table["cos(x1)"] = torch.cos(X[:, 0]).numpy()
        table["-sin(x2)"] = (-torch.sin(X[:, 1])).numpy()
        # the derivative along the data's line, (1, 1.5)/sqrt(3.25)
        table["along line"] = ((P["dy/dx1"] + 1.5 * P["dy/dx2"]) / 3.25**0.5).numpy()
        true_along = (torch.cos(X[:, 0]) - 1.5 * torch.sin(X[:, 1])) / 3.25**0.5
        table["true along"] = true_along.numpy()
        print(f"\n{result.name} data ({result.n_train} points):")
        print(table.round(4).to_string(index=False))
    print()
    print(explanation(collinear, grid))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    main(quick=parser.parse_args().quick)
