"""Bad input found by a new-user tester: report files, quiet notes, CLI words."""

from __future__ import annotations

from bad_input.harness import Cli, model_file, points_file, write


def _report(folder, output, *extra):
    data = str(points_file(folder, rows=40))
    return ["report", str(model_file(folder)), "--data", data, "-o", output, *extra]


def _md_over_figure(folder):
    write(folder, "u-figure1.png", "not a figure of wrt's")
    return _report(folder, str(folder / "u.md"))


CASES = [
    Cli(
        "report-md-over-user-figure",
        _md_over_figure,
        2,
        r"u-figure1\.png.*--overwrite",
    ),
    Cli(
        "report-unknown-suffix-lists-all",
        lambda f: _report(f, str(f / "r.txt")),
        2,
        r"\.html, \.htm, \.md, \.markdown",
    ),
]
