"""Bad input found by the new-user tester (fixb): compile=, and more."""

from __future__ import annotations

import torch

import wrt
from bad_input.harness import Api, Cli, model_file, points_file
from models import mlp
from wrt.errors import DataError, EngineError, OutputPathError
from wrt.streaming import partials_stream


def _model():
    return wrt.wrap(mlp(2, 1).double(), inputs=["x1", "x2"])


def _x():
    return torch.rand(4, 2, dtype=torch.float64)


def _fit(**kw):
    def call(folder):
        model = wrt.mlp(["x"], ["u"], hidden=[3])
        x = torch.linspace(0, 1, 6)[:, None]
        return wrt.fit(model, [wrt.match("u", x, torch.zeros(6))], steps=1, **kw)

    return call


def _partials_cli(*extra):
    def argv(folder):
        return [
            "partials",
            str(model_file(folder)),
            str(points_file(folder)),
            "-d",
            "dy/dx1",
            "--json",
            *extra,
        ]

    return argv


CASES = [
    # compile=True with an engine that never compiles
    Api(
        "fixb-partials-autograd-compile",
        lambda f: wrt.partials(_model(), _x(), ["dy/dx1"], engine="autograd",
                               compile=True),
        EngineError,
        r"compile=True applies to the Taylor engine \(engine='taylor' or 'auto'\)"
        r".*'autograd'.*compile=False",
    ),
    Api(
        "fixb-partials-finite-diff-compile-on",
        lambda f: wrt.partials(_model(), _x(), ["dy/dx1"], engine="finite_diff",
                               compile="on"),
        EngineError,
        r"compile=True applies to the Taylor engine.*'finite_diff'",
    ),
    Cli(
        "fixb-cli-autograd-compile-on",
        _partials_cli("-e", "autograd", "--compile", "on"),
        2,
        r"--compile on applies to the Taylor engine \(--engine taylor",
    ),
    Api(
        "fixb-fit-pso-compile",
        _fit(optimizer="pso", compile=True),
        DataError,
        r"compile=True: compile is used by optimizer='adam'.*not by 'pso'",
    ),
    # one rule for compile= values
    Api(
        "fixb-partials-compile-true-string",
        lambda f: wrt.partials(_model(), _x(), ["dy/dx1"], compile="True"),
        EngineError,
        r"compile must be 'auto', True or False, not 'True' \('on' and 'off'",
    ),
    Api(
        "fixb-partials-compile-false-string",
        lambda f: wrt.partials(_model(), _x(), ["dy/dx1"], compile="false"),
        EngineError,
        r"compile must be 'auto', True or False, not 'false'",
    ),
    Api(
        "fixb-fit-compile-true-string",
        _fit(compile="true"),
        EngineError,
        r"compile must be 'auto', True or False, not 'true' \('on' and 'off'",
    ),
]  # fmt: skip

CASES += [
    # --row-id only names the row-id column of a --ray run into a folder
    Cli(
        "fixb-cli-row-id-without-ray",
        lambda f: [
            "partials", str(model_file(f)), str(points_file(f)), "-d", "dy/dx1",
            "--row-id", "myrow", "-o", str(f / "nr.csv"),
        ],
        2,
        r"--row-id names the row-id column of a --ray run into a folder",
    ),
    Cli(
        "fixb-cli-row-id-default-name-without-ray",
        _partials_cli("--row-id", "row"),
        2,
        r"--row-id names the row-id column",
    ),
]  # fmt: skip


def _stream_over_a_file(folder):
    points_file(folder, name="small.csv")
    (folder / "precious.csv").write_text("keep me\n")
    model = wrt.wrap(mlp(2, 1), inputs=["x1", "x2"])
    try:
        return partials_stream(
            model, folder / "small.csv", ["dy/dx1"], folder / "precious.csv"
        )
    finally:
        assert (folder / "precious.csv").read_text() == "keep me\n"
        assert sorted(p.name for p in folder.iterdir()) == ["precious.csv", "small.csv"]


def _stream_keep_unknown(folder):
    points_file(folder, name="small.csv")
    model = wrt.wrap(mlp(2, 1), inputs=["x1", "x2"])
    try:
        return partials_stream(
            model, folder / "small.csv", ["dy/dx1"], folder / "o.csv", keep=["nope"]
        )
    finally:
        assert sorted(p.name for p in folder.iterdir()) == ["small.csv"]


CASES += [
    # partials_stream never replaces a user's file unless overwrite=True
    Api("fixb-stream-existing-sink", _stream_over_a_file, OutputPathError,
        r"precious\.csv.*overwrite=True", new_files=True),
    Api("fixb-stream-keep-unknown", _stream_keep_unknown, DataError,
        r"keep=.*'nope'", new_files=True),
]  # fmt: skip


def _sens(folder, *extra):
    return ["sens", str(model_file(folder)), "--data", str(points_file(folder)), *extra]


def _sensitivity(**options):
    def call(folder):
        return wrt.sensitivity(_model(), _x(), **options)

    return call


CASES += [
    # non-finite ranges and variances, repeated names
    Cli("fixb-sens-variance-inf", lambda f: _sens(f, "--variance", "x1=inf"), 2,
        r"--variance 'x1' = inf: it must be a finite, positive number"),
    Cli("fixb-sens-range-inf", lambda f: _sens(f, "--range", "x1=0:inf"), 2,
        r"--range 'x1' = \(0\.0, inf\): low and high must be finite"),
    Cli("fixb-sens-variance-twice",
        lambda f: _sens(f, "--variance", "x1=1", "--variance", "x1=2"), 2,
        r"--variance x1=\.\.\. is given twice"),
    Cli("fixb-sens-range-twice",
        lambda f: _sens(f, "--range", "x1=0:1", "--range", "x1=0:2"), 2,
        r"--range x1=\.\.\. is given twice"),
    Api("fixb-api-variance-nan", _sensitivity(variances={"x1": float("nan")}),
        DataError, r"variances\['x1'\] = nan: it must be a finite, positive number"),
    Api("fixb-api-range-inf", _sensitivity(ranges={"x1": (float("-inf"), 0.0)}),
        DataError, r"ranges\['x1'\] = \(-inf, 0\.0\): low and high must be finite"),
]  # fmt: skip
