"""Bad input that every command shares: model files, points, specs."""

from __future__ import annotations

import torch

import wrt
from bad_input.harness import Api, Cli, model_file, points_file, write
from wrt.errors import DataError, SpecError


def _partials(folder, *extra):
    return ["partials", str(model_file(folder)), str(points_file(folder)), *extra]


CASES = [
    Cli(
        "partials-unknown-input-in-spec",
        lambda f: _partials(f, "-d", "dy/dx3"),
        2,
        r"unknown input 'x3'.*x1, x2",
    ),
    Cli(
        "partials-order-mismatch",
        lambda f: _partials(f, "-d", "d3y/dx1dx2"),
        2,
        r"d3y/dx1dx2",
    ),
    Cli(
        "partials-missing-model-file",
        lambda f: ["partials", str(f / "nope.pt"), str(points_file(f)), "-d", "dy/dx1"],
        2,
        r"nope\.pt",
    ),
    Cli(
        "partials-points-not-numeric",
        lambda f: [
            "partials",
            str(model_file(f)),
            str(write(f, "p.csv", "x1,x2\n1,a\n")),
            "-d",
            "dy/dx1",
        ],
        2,
        r"x2",
    ),
    Api(
        "api-unknown-output",
        lambda f: wrt.partials(
            wrt.wrap(torch.nn.Linear(2, 1)), torch.ones(1, 2), "dz/dx1"
        ),
        SpecError,
        r"unknown output 'z'",
    ),
    Api(
        "api-nan-point",
        lambda f: wrt.partials(
            wrt.wrap(torch.nn.Linear(2, 1)),
            torch.tensor([[1.0, float("nan")]]),
            "dy/dx1",
        ),
        DataError,
        r"nan",
    ),
]
