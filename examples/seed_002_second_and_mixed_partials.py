"""Seed 002: df/dx, d2f/dx2 and d2f/dxdt of a small network at one point.

The user's ``tape.gradient(f, inp[0][0])`` returned None: ``inp[0][0]`` is a new
tensor made by slicing, and f was computed from ``inp``, not from the slice. wrt
always differentiates with respect to the whole input tensor and hands back one
named partial per spec, of any order, so neither nested tapes nor slices appear.

The network here takes a per-sample input of shape (2, 1), as the user's did, and
uses sigmoid units so that second partials are not zero. For one hidden layer
f(z) = sum_k v_k s(w_k . z + b_k) + c the partials have a closed form, which the
script checks wrt against.

Run: python examples/seed_002_second_and_mixed_partials.py
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import wrt


def build_network(hidden: int, seed: int = 0) -> nn.Sequential:
    """(N, 2) points -> (N, 2, 1) as the user's model took them -> 28 sigmoids -> f."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Unflatten(1, (2, 1)),  # the user's per-sample shape
        nn.Flatten(),
        nn.Linear(2, hidden),
        nn.Sigmoid(),
        nn.Linear(hidden, 1),
    ).double()


def closed_form(net: nn.Sequential, point: torch.Tensor) -> dict[str, float]:
    """df/dx, df/dt, d2f/dx2, d2f/dxdt, d2f/dt2 from the sigmoid's derivatives."""
    w, b = net[2].weight.detach(), net[2].bias.detach()  # (H, 2), (H,)
    v = net[4].weight.detach()[0]  # (H,)
    s = torch.sigmoid(w @ point + b)
    s1 = s * (1 - s)  # s'
    s2 = s1 * (1 - 2 * s)  # s''
    wx, wt = w[:, 0], w[:, 1]
    return {
        "df/dx": float((v * s1 * wx).sum()),
        "df/dt": float((v * s1 * wt).sum()),
        "d2f/dx^2": float((v * s2 * wx * wx).sum()),
        "d2f/dxdt": float((v * s2 * wx * wt).sum()),
        "d2f/dt^2": float((v * s2 * wt * wt).sum()),
    }


def main(quick: bool = False) -> dict[str, float]:
    """Compute the partials with wrt and print them beside the closed form."""
    net = build_network(hidden=8 if quick else 28)
    model = wrt.wrap(net, inputs=["x", "t"], outputs=["f"])
    point = torch.rand(2, dtype=torch.float64)
    specs = ["df/dx", "df/dt", "d2f/dx^2", "d2f/dxdt", "d2f/dt^2"]
    result = wrt.partials(model, point[None], specs)  # one point: shape (1, 2)
    expected = closed_form(net, point)
    print(f"point x={point[0]:.6f}, t={point[1]:.6f}")
    print(f"{'spec':>10} {'wrt':>22} {'closed form':>22}")
    for spec in specs:
        print(f"{spec:>10} {result[spec].item():>22.15e} {expected[spec]:>22.15e}")
        torch.testing.assert_close(
            result[spec].item(), expected[spec], rtol=1e-12, atol=1e-15
        )
    # An independent engine agrees too: Richardson-extrapolated central differences
    # in float64 (measured within 4e-14 here; their truncation error grows with the
    # curvature, so the bound is 1e-6 of the largest partial).
    fd = wrt.partials(model, point[None], specs, engine="finite_diff")
    scale = max(abs(v) for v in expected.values())
    worst = max(abs(fd[spec].item() - expected[spec]) for spec in specs)
    assert worst < 1e-6 * scale, worst
    print(
        "verified: wrt agrees with the closed form to 1e-12 (relative) for every "
        f"partial; finite differences within {worst:.1e}"
    )
    return {spec: result[spec].item() for spec in specs}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller network")
    main(quick=parser.parse_args().quick)
