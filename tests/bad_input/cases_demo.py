"""Bad input of ``wrt demo`` and of :mod:`wrt.demo`: options, --out folders holding
the user's files, settings out of range. Every refusal comes before any training
(these cases run in well under a second each)."""

from __future__ import annotations

import torch

from bad_input.harness import Api, Cli, write
from wrt.demo import DemoConfig, seed_network, train
from wrt.errors import DataError


def _demo(*extra: str) -> list[str]:
    return ["demo", "--quick", *extra]


def _out_holding(folder, name: str, text: str) -> list[str]:
    """--out is an existing folder that holds the user's ``name`` and a note."""
    out = folder / "results"
    write(out, "notes.txt", "the user's own notes\n")
    write(out, name, text)
    return _demo("--out", str(out))


def _out_with_subfolder(folder, name: str) -> list[str]:
    out = folder / "results"
    write(out / name, "keep.txt", "the user's file inside a folder\n")
    return _demo("--out", str(out))


_X = torch.zeros(6, 2)
_Y = torch.zeros(6)

CASES = [
    # -- --out: the user's files of the names the demo writes are never replaced --
    Cli(
        "demo-out-holds-users-csv",
        lambda f: _out_holding(f, "partials_on_line.csv", "a,b\n1,2\n"),
        2,
        r"--out .*results.*partials_on_line\.csv.*did not write",
    ),
    Cli(
        "demo-out-holds-users-report",
        lambda f: _out_holding(f, "report-grid.html", "<html>my report</html>"),
        2,
        r"report-grid\.html.*another --out",
    ),
    Cli(
        "demo-out-holds-csv-with-demo-like-header",
        # the demo's columns but one missing: not the demo's file
        lambda f: _out_holding(f, "partials_on_line.csv", "x1,x2,cos(x1)\n0,0,1\n"),
        2,
        r"partials_on_line\.csv",
    ),
    Cli(
        "demo-out-holds-report-of-the-other-model",
        # a demo report, but of the collinear model under the grid's name
        lambda f: _out_holding(
            f, "report-grid.html", "<title>wrt demo: the collinear model</title>"
        ),
        2,
        r"report-grid\.html",
    ),
    Cli(
        "demo-out-holds-empty-csv",
        lambda f: _out_holding(f, "partials_on_line.csv", ""),
        2,
        r"partials_on_line\.csv",
    ),
    Cli(
        "demo-out-holds-binary-file",
        lambda f: _out_holding(f, "report-collinear.html", "\x00\xff\x00binary"),
        2,
        r"report-collinear\.html",
    ),
    Cli(
        "demo-out-holds-folder-of-an-output-name",
        lambda f: _out_with_subfolder(f, "report-collinear.html"),
        2,
        r"report-collinear\.html",
    ),
    # -- options ---------------------------------------------------------------
    Cli("demo-seed-too-large", lambda f: _demo("--seed", str(2**64)), 2, r"--seed"),
    Cli("demo-seed-negative", lambda f: _demo("--seed", "-1"), 2, r"--seed"),
    Cli("demo-seed-not-integer", lambda f: _demo("--seed", "abc"), 2, r"--seed"),
    Cli("demo-seed-fraction", lambda f: _demo("--seed", "1.5"), 2, r"--seed"),
    Cli("demo-seed-empty", lambda f: _demo("--seed", ""), 2, r"--seed"),
    Cli("demo-unknown-option", lambda f: _demo("--fast"), 2, r"no such option"),
    Cli(
        "demo-quick-takes-no-value",
        lambda f: ["demo", "--quick=yes"],
        2,
        r"--quick.*does not take a value",
    ),
    Cli(
        "demo-out-without-value",
        lambda f: ["demo", "--out"],
        2,
        r"--out.*requires an argument",
    ),
    Cli(
        "demo-extra-argument",
        lambda f: _demo("model.pt"),
        2,
        r"unexpected extra argument.*model\.pt",
    ),
    # -- the Python API ----------------------------------------------------------
    Api(
        "demo-api-config-negative-steps",
        lambda f: DemoConfig(adam_steps=-3),
        DataError,
        r"adam_steps=-3.*integer >= 0",
    ),
    Api(
        "demo-api-config-fractional-size",
        lambda f: DemoConfig(n_side=7.5),
        DataError,
        r"n_side=7\.5.*integer >= 2",
    ),
    Api(
        "demo-api-config-one-line-point",
        lambda f: DemoConfig(n_line=1),
        DataError,
        r"n_line=1.*>= 2",
    ),
    Api(
        "demo-api-config-zero-lr",
        lambda f: DemoConfig(lr=0.0),
        DataError,
        r"lr=0\.0.*> 0",
    ),
    Api(
        "demo-api-config-nan-lr",
        lambda f: DemoConfig(lr=float("nan")),
        DataError,
        r"lr=nan.*finite",
    ),
    Api(
        "demo-api-config-box-upside-down",
        lambda f: DemoConfig(box=(1.0, 0.0, 0.0, 1.0)),
        DataError,
        r"box=.*lo1 < hi1",
    ),
    Api(
        "demo-api-config-box-three-numbers",
        lambda f: DemoConfig(box=(0.0, 1.0, 2.0)),
        DataError,
        r"box=.*four finite numbers",
    ),
    Api(
        "demo-api-config-zero-threads",
        lambda f: DemoConfig(num_threads=0),
        DataError,
        r"num_threads=0.*>= 1",
    ),
    Api(
        "demo-api-config-seed-too-large",
        lambda f: DemoConfig(seed=2**70),
        DataError,
        r"seed=\d+.*0 to 2\*\*63 - 1",
    ),
    Api(
        "demo-api-train-negative-seed",
        lambda f: train(_X, _Y, steps=1, seed=-1),
        DataError,
        r"seed=-1",
    ),
    Api(
        "demo-api-train-negative-steps",
        lambda f: train(_X, _Y, steps=-1),
        DataError,
        r"steps.*-1",
    ),
    Api(
        "demo-api-train-three-inputs",
        lambda f: train(torch.zeros(6, 3), _Y, steps=1),
        DataError,
        r"X must be \(N, 2\).*\(6, 3\)",
    ),
    Api(
        "demo-api-train-targets-short",
        lambda f: train(_X, torch.zeros(5), steps=1),
        DataError,
        r"\(6, 2\) and \(5,\)",
    ),
    Api(
        "demo-api-network-unknown-activation",
        lambda f: seed_network(torch.zeros(2), torch.ones(2), activation="swish"),
        DataError,
        r"swish.*tanh",
    ),
]
