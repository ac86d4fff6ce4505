"""Cases a new user found by trying to break wrt (after the areas' own tables)."""

from __future__ import annotations

import torch

import wrt
from bad_input.harness import Api, Cli, model_file, points_file, write
from wrt.errors import DataError, SpecError


def _partials(folder, points, *extra):
    return ["partials", str(model_file(folder)), str(points), *extra]


def _report(folder, out, *extra):
    data = points_file(folder, rows=30, name="train.csv")
    return ["report", str(model_file(folder)), "--data", str(data), "-o", out, *extra]


def _model():
    return wrt.wrap(lambda x: torch.sin(3 * x[:, 0]) * x[:, 1], inputs=["x1", "x2"])


CASES = [
    Cli(  # pandas took the first column as the index and shifted the rest
        "csv-more-values-than-header",
        lambda f: _partials(f, write(f, "p.csv", "x1,x2\n1,2,3\n4,5\n"), "-d", "y"),
        2,
        r"line 2: 3 values under a header of 2 names",
    ),
    Cli(
        "csv-more-values-than-header-streamed",
        lambda f: _partials(
            f,
            write(f, "p.csv", "x1,x2\n1,2,3\n4,5\n"),
            "-d",
            "y",
            "-o",
            str(f / "out.csv"),
        ),
        2,
        r"line 2: 3 values",
    ),
    Cli(
        "csv-long-row-in-a-later-chunk",
        lambda f: _partials(
            f,
            write(f, "p.csv", "x1,x2\n" + "1,2\n" * 9 + "7,8,9\n"),
            "-d",
            "y",
            "-o",
            str(f / "out.parquet"),
            "--chunk-size",
            "4",
        ),
        2,
        r"line 11",
    ),
    Cli(  # the second x1 was silently ignored
        "csv-duplicated-header",
        lambda f: _partials(f, write(f, "p.csv", "x1,x1,x2\n1,5,2\n"), "-d", "y"),
        2,
        r"names the column 'x1' more than once",
    ),
    Cli(
        "csv-duplicated-header-streamed",
        lambda f: _partials(
            f, write(f, "p.csv", "x1,x2,x2\n1,5,2\n"), "-d", "y", "-o", str(f / "o.csv")
        ),
        2,
        r"'x2' more than once",
    ),
    Api(
        "api-csv-duplicated-header-path",
        lambda f: wrt.partials(_model(), write(f, "p.csv", "x1,x1,x2\n1,5,2\n"), "y"),
        DataError,
        r"'x1' more than once",
        new_files=True,  # the case's own points file, written by the call
    ),
    Cli(  # a model file was replaced by HTML
        "report-over-a-model-file",
        lambda f: _report(f, str(model_file(f, name="other.pt"))),
        2,
        r"cannot write a \.pt file",
    ),
    Cli(
        "report-over-a-users-html",
        lambda f: _report(f, str(write(f, "notes.html", "<p>mine</p>"))),
        2,
        r"notes\.html exists.*--overwrite",
    ),
    Cli(
        "report-md-suffix-for-html-format",
        lambda f: _report(f, str(f / "r.md"), "--format", "html"),
        2,
        r"--format html does not fit -o .*r\.md",
    ),
    Cli(
        "partials-json-with-output-file",
        lambda f: _partials(
            f, points_file(f), "-d", "dy/dx1", "--json", "-o", str(f / "o.csv")
        ),
        2,
        r"--json prints the results and -o writes them",
    ),
    Cli(  # 5150 partials up to order 100: ran for minutes without a word
        "partials-order-too-many-partials",
        lambda f: _partials(f, points_file(f), "--order", "100"),
        2,
        r"--order 100 asks for 5150 partials",
    ),
    Api(
        "api-complex-points",
        lambda f: wrt.partials(_model(), torch.ones(2, 2, dtype=torch.complex64), "y"),
        DataError,
        r"complex",
    ),
    Api(
        "api-missing-points-file",
        lambda f: wrt.partials(_model(), f / "nope.csv", "dy/dx1"),
        DataError,
        r"No such points file",
    ),
    Api(
        "api-order-too-many-partials",
        lambda f: wrt.spec.partials_up_to(60, ["a", "b", "c"], ["y"]),
        SpecError,
        r"asks for \d+ partials",
    ),
]
