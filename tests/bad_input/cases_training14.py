"""Bad input of compiled training: ``compile=`` of ``wrt.fit``, ``train.compile``."""

from __future__ import annotations

import torch

import wrt
from bad_input.cases_training import _config_case
from bad_input.harness import Api
from wrt.errors import DataError, EngineError


def _fit(**kw):
    def call(folder):
        model = wrt.mlp(["x"], ["u"], hidden=[3])
        x = torch.linspace(0, 1, 6)[:, None]
        return wrt.fit(model, [wrt.match("u", x, torch.zeros(6))], steps=1, **kw)

    return call


CASES = [
    Api("fit-compile-word", _fit(compile="always"), EngineError,
        r"compile must be 'auto', True or False, not 'always'"),
    Api("fit-compile-number", _fit(compile=1), EngineError,
        r"compile must be 'auto', True or False, not 1"),
    Api("fit-compile-with-autograd", _fit(compile=True, engine="autograd"),
        DataError, r"compile=True .*'autograd' engine.*engine='auto'.*compile=False"),
    _config_case("train-compile-word", "lr = 1e-3", 'lr = 1e-3\ncompile = "fast"',
                 r"train\.compile.*\"auto\", true or false"),
    _config_case("train-compile-number", "lr = 1e-3", "lr = 1e-3\ncompile = 1",
                 r"train\.compile.*\"auto\", true or false"),
]  # fmt: skip

CASES.append(
    _config_case(
        "train-compile-gradient-free",
        'optimizer = "adam"\nsteps = 3\nlr = 1e-3',
        'optimizer = "pso"\nsteps = 3\ncompile = true',
        r"train\.compile = true: compile is used by optimizer = 'adam' or 'lbfgs'",
    )
)
