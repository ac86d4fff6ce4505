"""Bad points after issue 14's cheap finiteness test (one sum, then entry by entry).

The points are first tested by one sum (NaN and Inf propagate through it); only a
non-finite sum looks entry by entry. These cases hold the bad value where that
shortcut could go wrong: among finite values whose sum overflows, as Inf beside
-Inf (their sum is NaN), at the last row, and as a finite float64 value beyond
the float32 model's range (the converted copy is tested too).
"""

from __future__ import annotations

import math

import torch

import wrt
from bad_input.harness import Api
from wrt.errors import DataError

_BIG = torch.finfo(torch.float32).max


def _model():
    return wrt.wrap(
        torch.nn.Sequential(
            torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)
        ),
        inputs=["a", "b"],
    )


def _points(row: int, col: int, value: float, fill: float = _BIG, dtype=torch.float32):
    x = torch.full((6, 2), fill, dtype=dtype)
    x[row, col] = value
    return x


CASES = [
    Api(
        "engines14-inf-among-values-whose-sum-overflows",
        lambda f: wrt.grad(_model(), _points(5, 1, math.inf)),
        DataError,
        r"row 5 \(from 0\), column 'b' is inf",
    ),
    Api(
        "engines14-inf-beside-minus-inf",
        lambda f: wrt.grad(_model(), _points(2, 0, -math.inf, fill=math.inf)),
        DataError,
        r"row 0 \(from 0\), column 'a' is inf \(12 non-finite",
    ),
    Api(
        "engines14-nan-at-the-last-row",
        lambda f: wrt.grad(_model(), _points(5, 0, math.nan, fill=0.5)),
        DataError,
        r"row 5 \(from 0\), column 'a' is nan",
    ),
    Api(
        "engines14-float64-beyond-float32",
        lambda f: wrt.grad(
            _model(), _points(3, 1, 1e300, fill=0.5, dtype=torch.float64)
        ),
        DataError,
        r"row 3 \(from 0\), column 'b' is 1e\+300, a finite number beyond "
        r"the range of float32",
    ),
]
