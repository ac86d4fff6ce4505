"""Bad ``compile=`` / ``--compile`` values (issue 14): refused, valid ones named."""

from __future__ import annotations

import torch

import wrt
from bad_input.harness import Api, Cli, points_file
from models import mlp, save_torchscript
from wrt.errors import EngineError


def _model():
    return wrt.wrap(mlp(2, 1).double(), inputs=["x1", "x2"])


def _x():
    return torch.rand(4, 2, dtype=torch.float64)


def _file(folder):
    return str(save_torchscript(mlp(2, 1), folder / "model.pt"))


CASES = [
    Api(
        "compile14-partials-unknown-value",
        lambda f: wrt.partials(_model(), _x(), "dy/dx1", compile="sometimes"),
        EngineError,
        r"compile must be 'auto', True or False, not 'sometimes'",
    ),
    Api(
        "compile14-laplacian-number",
        lambda f: wrt.laplacian(_model(), _x(), compile=2),
        EngineError,
        r"compile must be 'auto', True or False, not 2",
    ),
    Api(
        "compile14-engine-none",
        lambda f: wrt.TaylorEngine(compile=None),  # type: ignore[arg-type]
        EngineError,
        r"compile must be 'auto', True or False, not None",
    ),
    Api(
        "compile14-hessian-unknown-value-with-engine-object",
        lambda f: wrt.hessian(
            _model(), _x(), engine=wrt.TaylorEngine(), compile="yes please"
        ),
        EngineError,
        r"compile must be",
    ),
    Cli(
        "compile14-cli-unknown-value",
        lambda f: [
            "partials",
            _file(f),
            str(points_file(f)),
            "-d",
            "dy/dx1",
            "--compile",
            "maybe",
        ],
        2,
        r"--compile.*'maybe' is not one of 'auto',",
    ),
]
