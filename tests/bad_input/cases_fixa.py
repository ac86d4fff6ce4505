"""Bad input found by a new-user tester: report files, quiet notes, CLI words."""

from __future__ import annotations

from bad_input.harness import Cli, model_file, points_file, write


def _report(folder, output, *extra):
    data = str(points_file(folder, rows=40))
    return ["report", str(model_file(folder)), "--data", data, "-o", output, *extra]


def _check(folder, *extra):
    data = str(points_file(folder, rows=40, name="t.csv"))
    return ["check", str(model_file(folder)), "--data", data, *extra]


def _nan_points(folder):
    write(folder, "nan.csv", "x1,x2\n0.1,0.2\nnan,0.3\n")
    return _check(folder, "--points", str(folder / "nan.csv"))


def _text_data(folder):
    write(folder, "bad.csv", "x1,x2\n1,2\nfoo,3\n1,1\n")
    return ["check", str(model_file(folder)), "--data", str(folder / "bad.csv")]


def _on_a_line(folder):
    """Training data along x2 = 2 x1: dy/dx1 is not determined by it."""
    rows = "\n".join(f"{i / 10},{2 * i / 10}" for i in range(40))
    write(folder, "line.csv", f"x1,x2\n{rows}\n")
    return ["check", str(model_file(folder)), "--data", str(folder / "line.csv")]


#: no Python argument may show in a CLI message (a negative look-ahead per line)
PY = (
    r"^(?!.*(neighbours=|rel_spread=|data=|chunk_size|source_bytes|torch\.float"
    r"|computing partials))"
)


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
    Cli(
        "check-neighbours-zero-cli-words",
        lambda f: _check(f, "--neighbours", "0"),
        2,
        PY + r".*--neighbours 0 .*leave the option out",
    ),
    Cli(
        "check-neighbours-many-cli-words",
        lambda f: _check(f, "--neighbours", "1000"),
        2,
        PY + r".*--neighbours 1000 .*pass --neighbours between",
    ),
    Cli(
        "check-rel-spread-cli-words",
        lambda f: _check(f, "--rel-spread", "-1"),
        2,
        PY + r".*--rel-spread -1",
    ),
    Cli(
        "check-text-in-data-names-the-file",
        _text_data,
        2,
        PY + r".*training data \S*bad\.csv \(--data\): column 'x1' is not numeric",
    ),
    Cli(
        "check-nan-points-names-the-file",
        _nan_points,
        2,
        PY + r".*the points \S*nan\.csv \(--points\): row 1 \(from 0\), column .x1",
    ),
    Cli(
        "check-not-identifiable-hint-cli-words",
        _on_a_line,
        1,
        r"^(?!.*attribute\s+directional_derivative).*the\s+field\s+"
        r"directional_derivative\s+of\s+the\s+finding\s+in\s+wrt\s+check\s+--json",
    ),
    Cli(
        "partials-dtype-float16-cli-words",
        lambda f: [
            "partials",
            str(model_file(f)),
            str(points_file(f)),
            "--order",
            "1",
            "--dtype",
            "float16",
        ],
        2,
        PY + r".*Use --dtype float32 or --dtype float64",
    ),
    Cli(
        "sens-unknown-output-name-hint",
        lambda f: [
            "sens",
            str(model_file(f)),
            "--data",
            str(points_file(f, rows=40)),
            "--output-name",
            "z",
        ],
        2,
        r"^(?!.*specs look).*no output 'z'.*hint: give --output-name with one of the "
        r"model's outputs",
    ),
    Cli(
        "check-header-stray-spaces-hint-rename",
        lambda f: [
            "check",
            str(model_file(f)),
            "--data",
            str(write(f, "sp.csv", "x1 , x2\n1,2\n3,4\n5,7\n")),
        ],
        2,
        r"'x1 ', ' x2'.*hint: .*--rename 'x1 =x1' --rename ' x2=x2'",
    ),
    Cli(
        "report-data-other-columns-hint-inputs",
        lambda f: [
            "report",
            str(model_file(f)),
            "--data",
            str(write(f, "ab.csv", "a,b\n1,2\n3,4\n5,7\n")),
            "-o",
            str(f / "r.html"),
        ],
        2,
        r"ab\.csv \(--data\).*hint: (?!.*see the command's --help).*--inputs",
    ),
]
