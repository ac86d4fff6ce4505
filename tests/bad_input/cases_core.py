"""Bad input to the derivative path: chunk sizes, operators, engines, dtypes.

Every public function that computes derivatives (``partials``, ``grad``,
``jacobian``, ``hessian``, ``laplacian``, ``laplacian_estimate``,
``directional_derivative``, ``sensitivity``) refuses a bad ``chunk_size`` up front,
bad trace weights, bad directions and orders, bad sample counts, unknown names in
``over=`` / ``output=``, and an engine that cannot compute what is asked, each
with a message naming the argument, the bad value and what is valid.
"""

from __future__ import annotations

import torch

import wrt
from bad_input.harness import Api, Cli, points_file
from models import mlp, save_torchscript
from wrt.errors import DataError, EngineError, ModelError, SpecError


def _model(n_in: int = 2):
    return wrt.wrap(mlp(n_in, 1))


def _x(n_in: int = 2, rows: int = 4):
    return torch.rand(rows, n_in, dtype=torch.float64)


class _Lgamma(torch.nn.Module):
    """Smooth, differentiable by autograd, without a Taylor rule (lgamma)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.lgamma(x).sum(1, keepdim=True) + x[:, :1] ** 3


def _lgamma_model():
    return wrt.wrap(_Lgamma(), inputs=["x1", "x2", "x3"])


def _lgamma_file(folder):
    return str(save_torchscript(_Lgamma(), folder / "lgamma.pt"))


def _partials(folder, *extra):
    return [
        "partials",
        str(save_torchscript(mlp(2, 1), folder / "model.pt")),
        str(points_file(folder)),
        *extra,
    ]


def _chunk_cases():
    calls = {
        "partials": lambda c: wrt.partials(_model(), _x(), "dy/dx1", chunk_size=c),
        "grad": lambda c: wrt.grad(_model(), _x(), chunk_size=c),
        "jacobian": lambda c: wrt.jacobian(_model(), _x(), chunk_size=c),
        "hessian": lambda c: wrt.hessian(_model(), _x(), chunk_size=c),
        "laplacian": lambda c: wrt.laplacian(_model(), _x(), chunk_size=c),
        "estimate": lambda c: wrt.laplacian_estimate(_model(), _x(), chunk_size=c),
        "directional": lambda c: wrt.directional_derivative(
            _model(), _x(), [1.0, 0.0], chunk_size=c
        ),
    }
    sizes = {"0": 0, "-1": -1, "2.5": 2.5, "true": True}
    return [
        Api(
            f"core-{name}-chunk-size-{label}",
            lambda f, call=call, size=size: call(size),
            DataError,
            rf"chunk_size must be a positive.*{label if label != 'true' else 'True'}"
            r".*chunk_size=4096",
        )
        for name, call in calls.items()
        for label, size in sizes.items()
    ]


CASES = [
    *_chunk_cases(),
    Api(
        "core-laplacian-weights-wrong-shape",
        lambda f: wrt.laplacian(_model(3), _x(3), weights=[1.0, 2.0]),
        DataError,
        r"weights= has shape \(2,\).*3 inputs.*\(3,\) vector or a \(3, 3\) matrix",
    ),
    Api(
        "core-laplacian-weights-not-symmetric",
        lambda f: wrt.laplacian(_model(), _x(), weights=[[1.0, 2.0], [0.0, 1.0]]),
        DataError,
        r"not symmetric.*\(C \+ C\.T\) / 2",
    ),
    Api(
        "core-laplacian-weights-nan",
        lambda f: wrt.laplacian(_model(), _x(), weights=[1.0, float("nan")]),
        DataError,
        r"weights= holds NaN or Inf",
    ),
    Api(
        "core-laplacian-weights-not-numbers",
        lambda f: wrt.laplacian(_model(), _x(), weights=["a", "b"]),
        DataError,
        r"weights= must be numbers",
    ),
    Api(
        "core-laplacian-over-unknown",
        lambda f: wrt.laplacian(_model(), _x(), over=["x1", "x3"]),
        SpecError,
        r"unknown input 'x3' in over=.*x1, x2",
    ),
    Api(
        "core-laplacian-over-empty",
        lambda f: wrt.laplacian(_model(), _x(), over=[]),
        SpecError,
        r"over= is empty",
    ),
    Api(
        "core-laplacian-output-unknown",
        lambda f: wrt.laplacian(_model(), _x(), output="u"),
        SpecError,
        r"unknown output 'u'.*y",
    ),
    Api(
        "core-laplacian-unknown-engine",
        lambda f: wrt.laplacian(_model(), _x(), engine="tailor"),
        EngineError,
        r"unknown engine 'tailor'.*did you mean 'taylor'",
    ),
    Api(
        "core-laplacian-finite-diff",
        lambda f: wrt.laplacian(_model(), _x(), engine="finite_diff"),
        EngineError,
        r"finite_diff engine cannot.*partials only.*engine='autograd'",
    ),
    Api(
        "core-laplacian-taylor-without-rule",
        lambda f: wrt.laplacian(_lgamma_model(), _x(3), engine="taylor"),
        EngineError,
        r"taylor engine cannot.*no Taylor rule for aten\.lgamma",
    ),
    Api(
        "core-estimate-samples-zero",
        lambda f: wrt.laplacian_estimate(_model(), _x(), samples=0),
        DataError,
        r"samples must be a whole number >= 1, not 0",
    ),
    Api(
        "core-estimate-samples-fraction",
        lambda f: wrt.laplacian_estimate(_model(), _x(), samples=2.5),
        DataError,
        r"samples must be a whole number >= 1, not 2\.5",
    ),
    Api(
        "core-estimate-seed-text",
        lambda f: wrt.laplacian_estimate(_model(), _x(), seed="one"),
        DataError,
        r"seed must be a whole number, not 'one'",
    ),
    Api(
        "core-estimate-over-unknown",
        lambda f: wrt.laplacian_estimate(_model(), _x(), over=["t"]),
        SpecError,
        r"unknown input 't' in over=",
    ),
    Api(
        "core-estimate-finite-diff",
        lambda f: wrt.laplacian_estimate(_model(), _x(), engine="finite_diff"),
        EngineError,
        r"finite_diff engine cannot.*partials only",
    ),
    Api(
        "core-directional-wrong-length",
        lambda f: wrt.directional_derivative(_model(), _x(), [1.0, 0.0, 0.0]),
        DataError,
        r"direction= has shape \(3,\).*\(2,\) vector.*\(4, 2\) array",
    ),
    Api(
        "core-directional-per-point-wrong-rows",
        lambda f: wrt.directional_derivative(_model(), _x(), torch.ones(5, 2)),
        DataError,
        r"direction= has shape \(5, 2\).*\(4, 2\) array",
    ),
    Api(
        "core-directional-nan",
        lambda f: wrt.directional_derivative(_model(), _x(), [float("nan"), 1.0]),
        DataError,
        r"direction= holds NaN or Inf",
    ),
    Api(
        "core-directional-zero",
        lambda f: wrt.directional_derivative(_model(), _x(), [0.0, 0.0]),
        DataError,
        r"direction= is all zeros.*nonzero",
    ),
    Api(
        "core-directional-not-numbers",
        lambda f: wrt.directional_derivative(_model(), _x(), "x1"),
        DataError,
        r"direction= must be numbers",
    ),
    Api(
        "core-directional-order-zero",
        lambda f: wrt.directional_derivative(_model(), _x(), [1.0, 0.0], order=0),
        DataError,
        r"order must be a whole number >= 1, not 0",
    ),
    Api(
        "core-directional-order-fraction",
        lambda f: wrt.directional_derivative(_model(), _x(), [1.0, 0.0], order=1.5),
        DataError,
        r"order must be a whole number >= 1, not 1\.5",
    ),
    Api(
        "core-directional-taylor-without-rule",
        lambda f: wrt.directional_derivative(
            _lgamma_model(), _x(3), [1.0, 0.0, 0.0], order=3, engine="taylor"
        ),
        EngineError,
        r"no Taylor rule for aten\.lgamma",
    ),
    Api(
        "core-partials-taylor-without-rule",
        lambda f: wrt.partials(_lgamma_model(), _x(3), "d4y/dx1^4", engine="taylor"),
        EngineError,
        r"taylor engine cannot.*aten\.lgamma.*engine='autograd'",
    ),
    Api(
        "core-partials-finite-diff-order-5",
        lambda f: wrt.partials(_model(), _x(), "d5y/dx1^5", engine="finite_diff"),
        EngineError,
        r"up to order 4 \(asked: 5\)",
    ),
    Api(
        "core-partials-finite-diff-differentiable",
        lambda f: wrt.partials(
            _model(), _x(), "dy/dx1", engine="finite_diff", differentiable=True
        ),
        EngineError,
        r"cannot be backpropagated",
    ),
    Api(
        "core-partials-dtype-float16",
        lambda f: wrt.partials(_model(), _x(), "dy/dx1", dtype="float16"),
        ModelError,
        r"unknown dtype 'float16'.*float32.*float64",
    ),
    Api(
        "core-converted-dtype-int",
        lambda f: _model().converted(torch.int64),
        ModelError,
        r"torch\.int64 is not supported",
    ),
    Api(
        "core-sensitivity-unknown-engine",
        lambda f: wrt.sensitivity(_model(), _x(), engine="autograde"),
        EngineError,
        r"unknown engine 'autograde'.*did you mean 'autograd'",
    ),
    Api(
        "core-errors-not-estimated",
        lambda f: wrt.partials(_model(), _x(), "dy/dx1").errors["dy/dx1"],
        KeyError,
        r"'dy/dx1' was not given an error estimate.*finite_diff",
    ),
    Api(
        "core-errors-not-computed",
        lambda f: wrt.partials(_model(), _x(), "dy/dx1", engine="finite_diff").errors[
            "dy/dx2"
        ],
        KeyError,
        r"'dy/dx2' was not given an error estimate.*have: dy/dx1",
    ),
    Cli(
        "core-cli-chunk-size-zero",
        lambda f: _partials(f, "-d", "dy/dx1", "--chunk-size", "0"),
        2,
        r"chunk-size",
    ),
    Cli(
        "core-cli-unknown-engine",
        lambda f: _partials(f, "-d", "dy/dx1", "--engine", "tailor"),
        2,
        r"unknown engine 'tailor'.*taylor",
    ),
    Cli(
        "core-cli-dtype-float16",
        lambda f: _partials(f, "-d", "dy/dx1", "--dtype", "float16"),
        2,
        r"float16",
    ),
    Cli(
        "core-cli-finite-diff-order-5",
        lambda f: _partials(f, "-d", "d5y/dx1^5", "--engine", "finite_diff"),
        2,
        r"order 4",
    ),
    Cli(
        "core-cli-taylor-without-rule",
        lambda f: [
            "partials",
            _lgamma_file(f),
            str(points_file(f, columns=("x1", "x2", "x3"))),
            "-d",
            "d4y/dx1^4",
            "--engine",
            "taylor",
        ],
        2,
        r"lgamma",
    ),
]
