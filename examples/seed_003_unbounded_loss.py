"""Seed 003: a loss made of d/dx + d2/dy2 of the output went to NaN. Why, and the fix.

The user minimised ``mean(du/dx + d2u/dy^2)`` directly. That quantity has no lower
bound: the network can make it as negative as it likes (u = -c x does, for any c),
so the optimiser runs off towards minus infinity until the numbers overflow.
wrt refuses such an objective before training, says why, and suggests the squared
residual, which is bounded below by zero and is what "make this expression vanish"
means.

Run: python examples/seed_003_unbounded_loss.py [--quick]
"""

from __future__ import annotations

import argparse

import torch

import wrt


def main(quick: bool = False) -> float:
    """Show the refusal, then train the squared residual; return its final loss."""
    model = wrt.mlp(["x", "y"], ["u"], hidden=[32], activation="softplus")
    points = torch.rand(
        256, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    try:
        wrt.fit(model, [wrt.objective("du/dx + d2u/dy^2", points)], steps=10)
    except wrt.UnboundedLossError as refused:
        print("wrt.objective('du/dx + d2u/dy^2') ->", type(refused).__name__)
        print(" ", str(refused).split(". ")[0] + ".")
    else:  # pragma: no cover - the guard is the point of the example
        raise SystemExit("the unbounded objective was accepted")
    history = wrt.fit(
        model,
        [wrt.residual("du/dx + d2u/dy^2", points)],
        steps=50 if quick else 500,
        lr=1e-2,
    )
    first, last = history.frame["loss"].iloc[0], history.final["loss"]
    print(f"wrt.residual('du/dx + d2u/dy^2'): mean square {first:.2e} -> {last:.2e}")
    return last


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    main(quick=parser.parse_args().quick)
