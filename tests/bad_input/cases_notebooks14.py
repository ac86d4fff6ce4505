"""Bad input of the public surface (issue 15): names, error estimates, objectives.

A misspelt public name says which one was meant (``import wrt`` is lazy, so the
names are looked up on use); error estimates are keyed like the values and say
which engine gives them; an objective without its points says the argument.
"""

from __future__ import annotations

from pathlib import Path

import torch

import wrt
from bad_input.harness import Api


def _name(name: str):
    def call(_: Path) -> object:
        return getattr(wrt, name)

    return call


def _model() -> wrt.Model:
    return wrt.wrap(lambda x: x[:, 0] ** 2 * x[:, 1], inputs=["x", "t"])


def _errors_of_autograd(_: Path) -> object:
    P = wrt.partials(_model(), torch.rand(5, 2, dtype=torch.float64), ["dy/dx"])
    return P.errors["dy/dx"]


def _errors_not_asked(_: Path) -> object:
    X = torch.rand(5, 2, dtype=torch.float64)
    P = wrt.partials(_model(), X, ["dy/dx"], engine="finite_diff")
    return P.errors["d2y/dxdt"]


def _objective_without_points(_: Path) -> object:
    return wrt.objective("du/dx")  # type: ignore[call-arg]


CASES = [
    Api(
        "misspelt-function", _name("partial"), AttributeError, "did you mean 'partials'"
    ),
    Api("misspelt-module", _name("plot"), AttributeError, "did you mean 'plots'"),
    Api(
        "misspelt-class", _name("Partial_s"), AttributeError, "did you mean 'Partials'"
    ),
    Api("no-such-name", _name("torch"), AttributeError, "has no attribute 'torch'"),
    Api(
        "errors-of-an-exact-engine",
        _errors_of_autograd,
        KeyError,
        "dy/dx.*not given an error estimate.*engine='finite_diff'",
    ),
    Api(
        "errors-of-a-spec-not-asked",
        _errors_not_asked,
        KeyError,
        "d2y/dxdt.*not given an error estimate.*have: dy/dx",
    ),
    Api(
        "objective-without-points",
        _objective_without_points,
        TypeError,
        "missing 1 required positional argument: 'points'",
    ),
]
