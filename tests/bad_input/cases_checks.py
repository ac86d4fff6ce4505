"""Bad input to ``wrt check`` / ``wrt.check``: training data and check options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

import wrt
from bad_input.harness import Api, Cli, model_file, points_file, write
from models import mlp
from wrt.errors import CheckOptionError, DataError


def _check(folder, *extra, data=None):
    train = data if data is not None else points_file(folder, rows=40, name="t.csv")
    return ["check", str(model_file(folder)), "--data", str(train), *extra]


def _model():
    return wrt.wrap(mlp(2, 1), inputs=["x1", "x2"])


def _train(rows=40):
    return torch.rand(rows, 2, generator=torch.Generator().manual_seed(0)).double()


def _api(**options):
    return lambda f: wrt.check(_model(), _train(), data=_train(), **options)


def _api_data(data):
    return lambda f: wrt.check(_model(), _train(5), data=data, verify=False)


CASES = [
    Cli(
        "check-data-missing-column",
        lambda f: _check(f, data=points_file(f, ("x1", "x3"), rows=40, name="t.csv")),
        2,
        r"training data.*x2",
    ),
    Cli(
        "check-data-nan-row",
        lambda f: _check(f, data=write(f, "t.csv", "x1,x2\n0,1\n1,nan\n2,0\n3,3\n")),
        2,
        r"training data.*row 1.*nan",
    ),
    Cli(
        "check-data-inf-row",
        lambda f: _check(f, data=write(f, "t.csv", "x1,x2\n0,1\n1,2\ninf,0\n2,2\n")),
        2,
        r"training data.*row 2.*inf",
    ),
    Cli(
        "check-data-header-only",
        lambda f: _check(
            f, "--points", str(points_file(f)), data=write(f, "t.csv", "x1,x2\n")
        ),
        2,
        r"(no rows|empty)",
    ),
    Cli(
        "check-data-one-row",
        lambda f: _check(f, data=write(f, "t.csv", "x1,x2\n0.5,0.25\n")),
        2,
        r"1 row.*at least 2 distinct",
    ),
    Cli(
        "check-data-rows-all-equal",
        lambda f: _check(f, data=write(f, "t.csv", "x1,x2\n1,2\n1,2\n1,2\n")),
        2,
        r"3 row.*only 1 distinct",
    ),
    Cli(
        "check-data-not-numeric",
        lambda f: _check(f, data=write(f, "t.csv", "x1,x2\n1,a\n2,b\n")),
        2,
        r"x2.*not numeric",
    ),
    Cli(
        "check-data-file-missing",
        lambda f: _check(f, data=f / "nothere.csv"),
        2,
        r"nothere\.csv",
    ),
    Cli(
        "check-neighbours-zero",
        lambda f: _check(f, "--neighbours", "0"),
        2,
        r"--neighbours 0.*>= 2",
    ),
    Cli(
        "check-neighbours-negative",
        lambda f: _check(f, "--neighbours", "-1"),
        2,
        r"--neighbours -1",
    ),
    Cli(
        "check-neighbours-one",
        lambda f: _check(f, "--neighbours", "1"),
        2,
        r"--neighbours 1\b",
    ),
    Cli(
        "check-neighbours-not-integer",
        lambda f: _check(f, "--neighbours", "2.5"),
        2,
        r"--neighbours.*integer",
    ),
    Cli(
        "check-neighbours-more-than-rows",
        lambda f: _check(f, "--neighbours", "50"),
        2,
        r"--neighbours 50.*40 distinct training rows",
    ),
    Cli(
        "check-rel-spread-zero",
        lambda f: _check(f, "--rel-spread", "0"),
        2,
        r"--rel-spread 0.*between 0 and 1",
    ),
    Cli(
        "check-rel-spread-one",
        lambda f: _check(f, "--rel-spread", "1"),
        2,
        r"--rel-spread 1",
    ),
    Cli(
        "check-rel-spread-negative",
        lambda f: _check(f, "--rel-spread", "-0.1"),
        2,
        r"--rel-spread -0\.1",
    ),
    Cli(
        "check-rel-spread-nan",
        lambda f: _check(f, "--rel-spread", "nan"),
        2,
        r"--rel-spread nan",
    ),
    Api(
        "api-check-neighbours-zero",
        _api(neighbours=0),
        CheckOptionError,
        r"neighbours=0.*integer >= 2",
    ),
    Api(
        "api-check-neighbours-bool",
        _api(neighbours=True),
        CheckOptionError,
        r"neighbours=True",
    ),
    Api(
        "api-check-neighbours-float",
        _api(neighbours=8.0),
        CheckOptionError,
        r"neighbours=8\.0",
    ),
    Api(
        "api-check-neighbours-more-than-distinct-rows",
        lambda f: wrt.check(
            _model(), _train(5), data=_train(10).repeat(4, 1), neighbours=20
        ),
        CheckOptionError,
        r"neighbours=20.*10 distinct",
    ),
    Api(
        "api-check-rel-spread-above-one",
        _api(rel_spread=1.5),
        CheckOptionError,
        r"rel_spread=1\.5",
    ),
    Api(
        "api-check-rel-spread-string",
        _api(rel_spread="0.1"),
        CheckOptionError,
        r"rel_spread='0\.1'",
    ),
    Api(
        "api-check-angle-tol-zero",
        _api(angle_tol=0.0),
        CheckOptionError,
        r"angle_tol=0\.0.*\(0, 1\]",
    ),
    Api(
        "api-check-far-factor-inf",
        _api(far_factor=float("inf")),
        CheckOptionError,
        r"far_factor=inf",
    ),
    Api(
        "api-check-far-factor-negative",
        _api(far_factor=-3.0),
        CheckOptionError,
        r"far_factor=-3\.0",
    ),
    Api(
        "api-check-data-empty",
        _api_data(torch.zeros(0, 2, dtype=torch.float64)),
        DataError,
        r"training data.*no rows",
    ),
    Api(
        "api-check-data-one-row",
        _api_data(torch.ones(1, 2, dtype=torch.float64)),
        DataError,
        r"1 row",
    ),
    Api(
        "api-check-data-wrong-width",
        _api_data(torch.ones(10, 3, dtype=torch.float64)),
        DataError,
        r"training data.*3",
    ),
    Api(
        "api-check-data-nan",
        _api_data(torch.tensor([[0.0, 1.0], [float("nan"), 2.0], [1.0, 1.0]])),
        DataError,
        r"training data.*nan",
    ),
    Api(
        "api-check-data-frame-missing-column",
        _api_data(pd.DataFrame({"x1": np.arange(5.0), "y": np.arange(5.0)})),
        DataError,
        r"training data.*x2",
    ),
]
