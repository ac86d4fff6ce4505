"""Bad and unusual input of the command line itself: exit codes, options, output.

Exit codes mean one thing: 0 success, 1 a check found an error, 2 bad usage or
input, 3 an internal error (a model whose own code raises inside ``forward``),
with one line of what and one of how (or a request to report it). A model whose
output is NaN at some points still runs: one warning line names the count and the
first point, and every format writes the same missing value (JSON ``null``).
"""

from __future__ import annotations

import warnings

import torch

import wrt
from bad_input.harness import Api, Cli, model_file, points_file, write
from models import save_torchscript


class FailsOnBigBatches(torch.nn.Module):
    """Passes the loader's 2-point probe, then raises inside forward."""

    def forward(self, x):
        if x.shape[0] > 2:
            raise RuntimeError("boom inside forward")
        return x[:, :1] * x[:, 1:2]


class SqrtPlusSquare(torch.nn.Module):
    """u = sqrt(x1) + x2^2: NaN where x1 < 0."""

    def forward(self, x):
        return (torch.sqrt(x[:, 0]) + x[:, 1] ** 2).unsqueeze(1)


class AbsRoot(torch.nn.Module):
    """y = sqrt(|x1|) + x2: finite, with an infinite slope at x1 = 0."""

    def forward(self, x):
        return (torch.sqrt(torch.abs(x[:, 0])) + x[:, 1]).unsqueeze(1)


NAN_POINTS = "x1,x2\n1,2\n-1,3\n4,-1\n-2,0.5\n9,0\n"
NAMES = ["--inputs", "x1,x2"]


def _fails(folder):
    return str(save_torchscript(FailsOnBigBatches(), folder / "fails.pt"))


def _nan(folder):
    return str(save_torchscript(SqrtPlusSquare().double(), folder / "nan.pt"))


def _nan_points(folder, name="p.csv"):
    return str(write(folder, name, NAN_POINTS))


def _partials(folder, points, *extra):
    return ["partials", str(model_file(folder)), str(points), *extra]


def _ok_partials(folder, *extra):
    return _partials(folder, points_file(folder), "-d", "dy/dx1", *extra)


def _command(name, model, folder, *extra):
    data = _nan_points(folder)
    if name == "partials":
        return ["partials", model, data, *NAMES, "-d", "dy/dx1", *extra]
    if name == "check":
        return ["check", model, "--data", data, *NAMES, "--no-verify", *extra]
    if name == "sens":
        return ["sens", model, "--data", data, *NAMES, *extra]
    return ["report", model, "--data", data, *NAMES, *extra]


def _report(folder, output):
    data = str(points_file(folder))
    return ["report", str(model_file(folder)), "--data", data, "-o", output]


def _sens_plots(folder, plots):
    data = str(points_file(folder))
    return ["sens", str(model_file(folder)), "--data", data, "--plots", str(plots)]


def _warns_nonfinite(folder):
    model = wrt.wrap(SqrtPlusSquare(), inputs=["x1", "x2"])
    x = torch.tensor([[1.0, 2.0], [-1.0, 3.0]], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", wrt.NonFiniteWarning)
        return wrt.partials(model, x, ["dy/dx1", "dy/dx2"])


INTERNAL = r"internal error: RuntimeError: boom inside forward.*report it.*--debug"
NAN_WARNING = r"wrt: warning: output y is NaN or Inf at 2 of 5 points.*row 1, x1=-1"
# no bare NaN / Infinity token anywhere in the output (a JSON value would be one)
NO_BARE_NAN = r"^(?!.*\b(?:NaN|Infinity)[,\]\n]).*"

CASES = [
    # an exception inside the model's own forward: internal error, exit 3
    *(
        Cli(
            f"{name}-model-raises-inside-forward",
            lambda f, name=name: _command(
                name,
                _fails(f),
                f,
                *(["-o", str(f / "r.html")] if name == "report" else []),
            ),
            3,
            INTERNAL,
        )
        for name in ("partials", "check", "sens", "report")
    ),
    # NaN output: partials, check, sens, report with and without --json
    Cli(
        "partials-nan-output-csv",
        lambda f: _command("partials", _nan(f), f, "-d", "dy/dx2"),
        0,
        NAN_WARNING + r".*\n-1,3\.0,,\n",
    ),
    Cli(
        "partials-nan-output-json",
        lambda f: _command("partials", _nan(f), f, "-d", "dy/dx2", "--json"),
        0,
        NO_BARE_NAN + NAN_WARNING + r'.*"dy/dx2": \[4\.0, null, -2\.0, null, 0\.0\]',
    ),
    Cli(
        "partials-nan-output-json-file",
        lambda f: _command("partials", _nan(f), f, "-o", str(f / "out.json")),
        0,
        NAN_WARNING,
    ),
    Cli(
        "partials-inf-partial-json",
        lambda f: [
            "partials",
            str(save_torchscript(AbsRoot().double(), f / "abs.pt")),
            str(write(f, "p.csv", "x1,x2\n1,0\n0,2\n4,1\n")),
            *NAMES,
            "-d",
            "dy/dx1",
            "--json",
        ],
        0,
        NO_BARE_NAN + r"warning: dy/dx1 is NaN or Inf at 1 of 3.*\[0\.5, null, 0\.25\]",
    ),
    Cli("check-nan-output", lambda f: _command("check", _nan(f), f), 1, r"nonfinite"),
    Cli(
        "check-nan-output-json",
        lambda f: _command("check", _nan(f), f, "--json"),
        1,
        NO_BARE_NAN + r'"code": "nonfinite".*"first_point": 1',
    ),
    Cli(
        "sens-nan-output",
        lambda f: _command("sens", _nan(f), f),
        0,
        r"warning: dy/dx is NaN or Inf at 2 of 5 points.*sensitivity of y",
    ),
    Cli(
        "sens-nan-output-json",
        lambda f: _command("sens", _nan(f), f, "--json", "--order", "2"),
        0,
        NO_BARE_NAN + r'"mean": null',
    ),
    *(
        Cli(
            f"report-nan-output-{fmt}",
            lambda f, fmt=fmt: _command(
                "report", _nan(f), f, "--format", fmt, "-o", str(f / f"r.{fmt}")
            ),
            0,
            rf"wrote .*r\.{fmt}",
        )
        for fmt in ("html", "md")
    ),
    # unknown options and bad option values: exit 2, naming the option
    Cli(
        "partials-unknown-option",
        lambda f: _ok_partials(f, "--colour"),
        2,
        r"no such option.*--colour",
    ),
    Cli(
        "partials-order-negative",
        lambda f: _partials(f, points_file(f), "--order", "-1"),
        2,
        r"--order must be at least 1, not -1",
    ),
    Cli(
        "partials-order-not-a-number",
        lambda f: _partials(f, points_file(f), "--order", "two"),
        2,
        r"invalid value for .--order.*integer",
    ),
    Cli(
        "partials-chunk-size-zero",
        lambda f: _ok_partials(f, "--chunk-size", "0"),
        2,
        r"--chunk-size",
    ),
    Cli(
        "partials-dtype-float16",
        lambda f: _ok_partials(f, "--dtype", "float16"),
        2,
        r"unknown dtype 'float16'.*float32.*float64",
    ),
    Cli(
        "partials-engine-nope",
        lambda f: _ok_partials(f, "--engine", "nope"),
        2,
        r"unknown engine 'nope'",
    ),
    Cli(
        "partials-outputs-count",
        lambda f: _ok_partials(f, "--outputs", "y,z"),
        2,
        r"2 output name.*1 output.*hint: names are identifiers.*--outputs",
    ),
    Cli(
        "partials-output-unknown-suffix",
        lambda f: _ok_partials(f, "-o", str(f / "out.txt")),
        2,
        r"out\.txt.*\.txt.*\.csv",
    ),
    Cli(
        "partials-resume-without-output",
        lambda f: _ok_partials(f, "--resume"),
        2,
        r"--resume needs -o",
    ),
    # unreadable points
    Cli(
        "partials-points-empty-file",
        lambda f: _partials(f, write(f, "e.csv", ""), "-d", "dy/dx1"),
        2,
        r"cannot read .*e\.csv",
    ),
    Cli(
        "partials-points-header-only",
        lambda f: _partials(f, write(f, "h.csv", "x1,x2\n"), "-d", "dy/dx1"),
        2,
        r"h\.csv holds no rows.*x1, x2",
    ),
    Cli(
        "partials-points-folder",
        lambda f: _partials(
            f, (f / "pts.csv").mkdir() or f / "pts.csv", "-d", "dy/dx1"
        ),
        2,
        r"pts\.csv is a folder",
    ),
    Cli(
        "partials-points-damaged-parquet",
        lambda f: _partials(f, write(f, "p.parquet", "not parquet"), "-d", "dy/dx1"),
        2,
        r"cannot read .*p\.parquet as parquet.*hint: .*to_parquet",
    ),
    Cli(
        "partials-points-broken-json",
        lambda f: _partials(f, write(f, "p.json", "[1, 2"), "-d", "dy/dx1"),
        2,
        r"cannot read .*p\.json as json.*hint: a json table",
    ),
    Cli(
        "partials-points-ragged-json",
        lambda f: _partials(
            f, write(f, "p.json", '{"x1": [1, 2], "x2": [3]}'), "-d", "dy/dx1"
        ),
        2,
        r"same length",
    ),
    Cli(
        "partials-points-unknown-suffix",
        lambda f: _partials(f, write(f, "p.xlsx", "x1,x2\n1,2\n"), "-d", "dy/dx1"),
        2,
        r"cannot tell the format.*\.xlsx",
    ),
    Cli(
        "partials-points-semicolons",
        lambda f: _partials(f, write(f, "p.csv", "x1;x2\n1;2\n"), "-d", "dy/dx1"),
        2,
        r"lack column\(s\) 'x1', 'x2'.*'x1;x2'.*hint: .*--inputs",
    ),
    # the other commands' own options
    Cli("check-without-data", lambda f: ["check", str(model_file(f))], 2, r"--data"),
    Cli(
        "sens-order-three",
        lambda f: [
            "sens",
            str(model_file(f)),
            "--data",
            str(points_file(f)),
            "--order",
            "3",
        ],
        2,
        r"--order",
    ),
    Cli(
        "sens-bad-range",
        lambda f: [
            "sens",
            str(model_file(f)),
            "--data",
            str(points_file(f)),
            "--range",
            "x1=0..1",
        ],
        2,
        r"--range 'x1=0\.\.1'.*NAME=LOW:HIGH",
    ),
    Cli(
        "sens-two-outputs-without-output",
        lambda f: [
            "sens",
            str(save_torchscript(torch.nn.Linear(2, 2).double(), f / "two.pt")),
            "--data",
            str(points_file(f)),
        ],
        2,
        r"2 outputs.*--output-name NAME",
    ),
    Cli(
        "report-format-pdf",
        lambda f: [
            "report",
            str(model_file(f)),
            "--data",
            str(points_file(f)),
            "--format",
            "pdf",
        ],
        2,
        r"unknown report format 'pdf'.*html or md",
    ),
    Cli(
        "inspect-a-points-file",
        lambda f: ["inspect", str(points_file(f))],
        2,
        r"not a model file",
    ),
    # where results go is checked before any work
    Cli(
        "report-output-is-a-folder",
        lambda f: _report(f, str((f / "out").mkdir() or f / "out")),
        2,
        r"-o .*out is a folder",
    ),
    Cli(
        "report-output-under-a-file",
        lambda f: _report(f, str(write(f, "file.txt", "keep") / "r.html")),
        2,
        r"lies under .*file\.txt, which is a file",
    ),
    Cli(
        "sens-plots-is-a-file",
        lambda f: _sens_plots(f, write(f, "figs", "keep")),
        2,
        r"--plots .*figs is a file, not a folder",
    ),
    Cli(
        "sens-plots-under-a-file",
        lambda f: _sens_plots(f, write(f, "figs", "keep") / "more"),
        2,
        r"lies under .*figs, which is a file",
    ),
    Api(
        "api-nonfinite-output-warns",
        _warns_nonfinite,
        wrt.NonFiniteWarning,
        r"output y is NaN or Inf at 1 of 2 points \(first: row 1, x1=-1, x2=3\)",
    ),
]
