"""Bad input to the Taylor engine's new rules (issue 13): writes it cannot follow.

The Taylor rules are functional; an in-place operation takes its functional rule
and the result is bound to the tensor it wrote. A write into memory that another
view reads afterwards would be lost, so the engine refuses it by name (``auto``
falls back to autograd with a warning instead), from Python and from the CLI, for
a module and a TorchScript file alike.
"""

from __future__ import annotations

import torch

import wrt
from bad_input.harness import Api, Cli, points_file
from models import save_torchscript
from wrt.errors import EngineError


class _WriteThroughView(torch.nn.Module):
    """Scales a column in place through a view, then reads the whole tensor."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = z * 2.0
        first = a[:, :1]
        first.mul_(3.0)
        return (a**2).sum(1, keepdim=True)


def _x():
    return torch.rand(4, 2, dtype=torch.float64)


def _file(folder):
    return str(save_torchscript(_WriteThroughView(), folder / "view_write.pt"))


CASES = [
    Api(
        "taylor13-in-place-through-a-view",
        lambda f: wrt.partials(
            wrt.wrap(_WriteThroughView(), inputs=["a", "b"]),
            _x(),
            "d2y/da^2",
            engine="taylor",
        ),
        EngineError,
        r"taylor engine cannot.*aten\.mul_\.Tensor \(in place; \w+ reads after\).*"
        r"engine='autograd'",
    ),
    Api(
        "taylor13-laplacian-in-place-through-a-view",
        lambda f: wrt.laplacian(
            wrt.wrap(_WriteThroughView(), inputs=["a", "b"]), _x(), engine="taylor"
        ),
        EngineError,
        r"aten\.mul_\.Tensor \(in place",
    ),
    Cli(
        "taylor13-cli-in-place-through-a-view",
        lambda f: [
            "partials",
            _file(f),
            str(points_file(f)),
            "-d",
            "d2y/dx1^2",
            "--engine",
            "taylor",
            "--inputs",
            "x1,x2",
        ],
        2,
        r"mul_.*in place",
    ),
]
