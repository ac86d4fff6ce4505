"""Bad input of the issue 15 CLI vocabulary: one name per option, refusals that say
which option to change, and data messages that name the file's rows."""

from __future__ import annotations

import torch

import wrt
from bad_input.harness import Api, Cli, model_file, points_file, write
from models import save_torchscript
from wrt.data import kept_columns


def _two_outputs(folder):
    return str(save_torchscript(torch.nn.Linear(2, 2).double(), folder / "two.pt"))


def _sens(folder, *extra):
    return ["sens", _two_outputs(folder), "--data", str(points_file(folder)), *extra]


def _partials(folder, points, *extra):
    return ["partials", str(model_file(folder)), str(points), "-d", "dy/dx1", *extra]


def _labelled(folder):
    return write(folder, "p.csv", "id,x1,x2\na,1,2\nb,3,4\nc,5,6\n")


CASES = [
    Cli(
        "sens-old-and-new-output-names-differ",
        lambda f: _sens(f, "--output-name", "y1", "--output", "y2"),
        2,
        r"--output-name y1 and --output y2 pick different outputs",
    ),
    Cli(
        "sens-range-without-colon",
        lambda f: _sens(f, "--output-name", "y1", "--range", "x1=0"),
        2,
        r"--range 'x1=0': write NAME=LOW:HIGH",
    ),
    Cli(
        "sens-variance-not-a-number",
        lambda f: _sens(f, "--output-name", "y1", "--variance", "x1=big"),
        2,
        r"--variance 'x1=big': V is 'big', not a number",
    ),
    Cli(
        "sens-variance-of-unknown-input",
        lambda f: _sens(f, "--output-name", "y1", "--variance", "x3=1"),
        2,
        r"Unknown input 'x3' in --variance",
    ),
    Cli(
        "sens-unknown-distribution",
        lambda f: _sens(f, "--output-name", "y1", "--distribution", "lognormal"),
        2,
        r"--distribution 'lognormal': give uniform .* or normal",
    ),
    Cli(
        "report-format-md-into-html",
        lambda f: [
            "report",
            str(model_file(f)),
            "--data",
            str(points_file(f, rows=20)),
            "--format",
            "md",
            "-o",
            str(f / "r.html"),
        ],  # fmt: skip
        2,
        r"--format md does not fit -o .*r\.html",
    ),
    Cli(
        "quiet-and-verbose",
        lambda f: ["inspect", str(model_file(f)), "--quiet", "--verbose"],
        2,
        r"not both",
    ),
    Cli(
        "partials-keep-unknown-column",
        lambda f: _partials(f, _labelled(f), "--keep", "ids", "-o", str(f / "o.csv")),
        2,
        r"--keep names the column 'ids'.*'id', 'x1', 'x2'.*Did you mean 'id'",
    ),
    Cli(
        "partials-keep-with-ray",
        lambda f: _partials(
            f, _labelled(f), "--keep", "id", "--ray", "-o", str(f / "o.csv")
        ),
        2,
        r"--keep is not available with --ray",
    ),
    Cli(
        "partials-keep-clashes-with-a-spec",
        lambda f: _partials(
            f,
            write(f, "q.csv", "x1,x2,dy/dx1\n1,2,0\n"),
            "--keep",
            "all",
            "--json",
        ),  # fmt: skip
        2,
        r"--keep copies the column 'dy/dx1', and -d computes",
    ),
    Cli(
        "partials-text-in-a-later-chunk",
        lambda f: _partials(
            f,
            write(f, "t.csv", "x1,x2\n" + "1,2\n" * 7 + "3,four\n" + "5,6\n" * 3),
            "--chunk-size",
            "3",
            "-o",
            str(f / "o.csv"),
        ),  # fmt: skip
        2,
        r"t\.csv: Column 'x2' is not numeric .*row 7 \(from 0\) holds 'four'",
    ),
    Cli(
        "partials-inputs-not-identifiers",
        lambda f: _partials(f, points_file(f), "--inputs", "x 1,x2"),
        2,
        r"Invalid input name 'x 1'.*identifiers",
    ),
    Api(
        "kept-columns-unknown",
        lambda f: kept_columns(["id", "x"], ["x"], "label"),
        wrt.DataError,
        r"keep= names the column 'label'",
    ),
]
