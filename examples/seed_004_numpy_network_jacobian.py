"""Seed 004: the input Jacobian of a network written with numpy arrays.

The user coded the Jacobian of a sigmoid MLP by hand and got the shapes wrong. With
the worked example's all-ones network (2 inputs, 2 sigmoid units with weights and
biases 1, a linear output with weights 1 and no bias) the Jacobian at x = [1, 1] is
2 a / (1 + a)^2 * [1, 1] with a = exp(-3), i.e. [0.0903533, 0.0903533]. Here the
same arrays become a torch network (by hand, and straight from a ``.npz`` file with
``wrt.load``), and wrt gives the Jacobian, and second partials too, at any number of
points in one call.

Run: python examples/seed_004_numpy_network_jacobian.py
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

import wrt


def network_from_arrays(
    weights: list[np.ndarray], biases: list[np.ndarray | None], activations: list[str]
) -> nn.Sequential:
    """A torch MLP from numpy weight matrices of layout (in, out), as the user had.

    Args:
        weights: one (n_in, n_out) array per layer.
        biases: one (n_out,) array per layer, or None for no bias.
        activations: one of "sigmoid", "linear" per layer.
    """
    layers: list[nn.Module] = []
    for w, b, act in zip(weights, biases, activations, strict=True):
        linear = nn.Linear(w.shape[0], w.shape[1], bias=b is not None).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))  # torch stores (out, in)
            if b is not None:
                linear.bias.copy_(torch.from_numpy(b.copy()))
        layers.append(linear)
        if act == "sigmoid":
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def main(quick: bool = False) -> np.ndarray:
    """Print the Jacobian at [1, 1] and check it against the worked answer."""
    net = network_from_arrays(
        weights=[np.ones((2, 2)), np.ones((2, 1))],
        biases=[np.ones(2), None],
        activations=["sigmoid", "linear"],
    )
    model = wrt.wrap(net)  # inputs x1, x2; output y
    jac = wrt.jacobian(model, np.array([[1.0, 1.0]]))  # (N, n_out, n_in)
    a = math.exp(-3.0)
    expected = 2 * a / (1 + a) ** 2
    print("Jacobian at [1, 1]:", jac[0, 0].numpy(), f"(expected {expected:.7f} twice)")
    np.testing.assert_allclose(jac[0, 0].numpy(), [0.0903533, 0.0903533], atol=5e-8)
    np.testing.assert_allclose(jac[0, 0].numpy(), [expected, expected], rtol=1e-14)

    # The same network saved as weight arrays (W1, b1, W2 + activations) loads
    # directly: the layout (in, out) is inferred from the chain of shapes.
    arrays = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "seed004.npz"
    from_file = wrt.jacobian(wrt.load(arrays), np.array([[1.0, 1.0]]))
    np.testing.assert_allclose(
        from_file[0, 0].numpy(), [expected, expected], rtol=1e-14
    )
    print("from seed004.npz:", from_file[0, 0].numpy())

    # Many points at once, and orders the hand-written code never reached.
    n = 5 if quick else 1000
    points = np.random.default_rng(0).uniform(-2, 2, size=(n, 2))
    second = wrt.partials(model, points, ["dy/dx1", "dy/dx2", "d2y/dx1dx2"])
    print(second.to_frame(with_inputs=True).head())
    # Closed form: both hidden units compute s(z), z = x1 + x2 + 1, so y = 2 s(z),
    # dy/dx1 = dy/dx2 = 2 s'(z) = 2 s (1 - s), d2y/dx1dx2 = 2 s (1 - s) (1 - 2 s).
    s = 1 / (1 + np.exp(-(points[:, 0] + points[:, 1] + 1)))
    want = {
        "dy/dx1": 2 * s * (1 - s),
        "dy/dx2": 2 * s * (1 - s),
        "d2y/dx1dx2": 2 * s * (1 - s) * (1 - 2 * s),
    }
    for spec, values in want.items():  # float64 throughout: round-off only
        np.testing.assert_allclose(second[spec].numpy(), values, rtol=1e-12, atol=1e-15)
    print(
        f"verified: Jacobian at [1, 1] = {expected:.7f} twice (by hand and from "
        f"seed004.npz); dy/dx and d2y/dx1dx2 at {n} points match the closed form"
    )
    return jac[0, 0].numpy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points")
    main(quick=parser.parse_args().quick)
