"""Bad or unusual input to the numerics: finite differences, their check, extremes."""

from __future__ import annotations

import pandas as pd
import torch

import wrt
from bad_input.harness import Api, Cli, model_file, points_file
from models import mlp
from wrt.engines.finite_diff import FiniteDiffEngine
from wrt.errors import DataError, EngineError


def _model():
    return wrt.wrap(mlp(2, 1))


def _x():
    return torch.tensor([[0.1, 0.2], [0.3, -0.4]], dtype=torch.float64)


def _fd(**kwargs):
    """Partials through a FiniteDiffEngine built with ``kwargs``."""
    return lambda f: wrt.partials(
        _model(), _x(), "dy/dx1", engine=FiniteDiffEngine(**kwargs)
    )


def _extreme_points(folder, name="big.csv"):
    """Points at +-1e300 beside an ordinary one (row 2: x1 = 0.5, x2 = 0.3)."""
    path = folder / name
    table = pd.DataFrame({"x1": [1e300, -1e300, 0.5], "x2": [0.1, 0.2, 0.3]})
    table.to_csv(path, index=False)
    return path


def _partials_at_extremes(engine):
    def argv(folder):
        return [
            "partials",
            str(model_file(folder)),
            str(_extreme_points(folder)),
            "-d",
            "dy/dx1",
            "--engine",
            engine,
        ]

    return argv


# dy/dx1 of tests' mlp(2, 1) at (0.5, 0.3), by autograd: 0.112832390186...
_AT_HALF = r"0\.5,0\.3,0\.1128323901865"  # inputs written as read


CASES = [
    Cli(
        "fd-beyond-order-4",
        lambda f: [
            "partials",
            str(model_file(f)),
            str(points_file(f)),
            "-d",
            "d5y/dx1^5",
            "--engine",
            "finite_diff",
        ],
        2,
        r"up to order 4 \(asked: 5\)",
    ),
    Cli(
        "fd-order-option-beyond-4",
        lambda f: [
            "partials",
            str(model_file(f)),
            str(points_file(f)),
            "--order",
            "5",
            "--engine",
            "finite_diff",
        ],
        2,
        r"up to order 4",
    ),
    Cli(
        "check-fd-engine-beyond-order-4",
        lambda f: [
            "check",
            str(model_file(f)),
            "--data",
            str(points_file(f)),
            "-d",
            "d5y/dx1^5",
            "--engine",
            "finite_diff",
        ],
        2,
        r"up to order 4",
    ),
    Cli(
        "check-order-5-skips-fd-with-a-reason",
        lambda f: [
            "check",
            str(model_file(f)),
            "--data",
            str(points_file(f)),
            "-d",
            "d5y/dx1^5",
        ],
        0,
        r"check-skipped.*No finite-difference check above order 4",
    ),
    Cli(
        "check-no-verify-order-5-says-nothing-of-fd",
        lambda f: [
            "check",
            str(model_file(f)),
            "--data",
            str(points_file(f)),
            "-d",
            "d5y/dx1^5",
            "--no-verify",
        ],
        0,
        r"^(?!.*finite-difference).*No findings",
    ),
    Cli(
        "check-no-verify-with-fd-engine-order-5",
        lambda f: [
            "check",
            str(model_file(f)),
            "--data",
            str(points_file(f)),
            "-d",
            "d5y/dx1^5",
            "--no-verify",
            "--engine",
            "finite_diff",
        ],
        2,
        r"up to order 4",
    ),
    Cli(
        "fd-extreme-points-leave-the-others-right",
        _partials_at_extremes("finite_diff"),
        0,
        _AT_HALF,
    ),
    Cli(
        "autograd-extreme-points",
        _partials_at_extremes("autograd"),
        0,
        _AT_HALF,
    ),
    Cli(
        "taylor-extreme-points",
        _partials_at_extremes("taylor"),
        0,
        _AT_HALF,
    ),
    Api(
        "api-fd-beyond-order-4",
        lambda f: wrt.partials(_model(), _x(), "d5y/dx1^5", engine="finite_diff"),
        EngineError,
        r"up to order 4 \(asked: 5\).*engine='autograd'",
    ),
    Api(
        "api-fd-differentiable",
        lambda f: wrt.partials(
            _model(), _x(), "dy/dx1", engine="finite_diff", differentiable=True
        ),
        EngineError,
        r"cannot be backpropagated",
    ),
    Api(
        "api-fd-levels-zero",
        _fd(levels=0),
        EngineError,
        r"levels=0 is out of range.*2 to 40",
    ),
    Api(
        "api-fd-levels-one",
        _fd(levels=1),
        EngineError,
        r"levels=1 is out of range",
    ),
    Api(
        "api-fd-levels-not-whole",
        _fd(levels=2.5),
        EngineError,
        r"levels must be a whole number.*2\.5",
    ),
    Api(
        "api-fd-levels-huge",
        _fd(levels=500),
        EngineError,
        r"levels=500 is out of range",
    ),
    Api(
        "api-fd-scale-zero",
        _fd(scale=[0.0, 1.0]),
        EngineError,
        r"scale for input x1 is 0\.0.*positive finite",
    ),
    Api(
        "api-fd-scale-negative",
        _fd(scale=[1.0, -2.0]),
        EngineError,
        r"scale for input x2 is -2\.0",
    ),
    Api(
        "api-fd-scale-nan",
        _fd(scale=[float("nan"), 1.0]),
        EngineError,
        r"scale for input x1 is nan",
    ),
    Api(
        "api-fd-scale-wrong-length",
        _fd(scale=[1.0, 1.0, 1.0]),
        EngineError,
        r"scale has 3 entries but the model has 2 inputs \(x1, x2\)",
    ),
    Api(
        "api-fd-scale-not-numbers",
        _fd(scale=["a", "b"]),
        EngineError,
        r"scale must be numbers",
    ),
    Api(
        "api-check-roundoff-tol-negative",
        lambda f: wrt.check(_model(), _x(), verify=False, roundoff_tol=-1.0),
        DataError,
        r"roundoff_tol must be a relative error between 0 and 1, not -1\.0",
    ),
    Api(
        "api-check-roundoff-tol-not-a-number",
        lambda f: wrt.check(_model(), _x(), verify=False, roundoff_tol="tight"),
        DataError,
        r"roundoff_tol must be .* not 'tight'",
    ),
    Api(
        "api-check-fd-engine-order-5",
        lambda f: wrt.check(_model(), _x(), specs=["d5y/dx1^5"], engine="finite_diff"),
        EngineError,
        r"up to order 4",
    ),
]
