"""One CLI vocabulary (issue 15): help text, -q / -v, option names, messages."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import wrt
from models import mlp, save_torchscript
from wrt.cli.app import app

runner = CliRunner()
COMMANDS = ["partials", "inspect", "check", "sens", "report", "train", "demo", "bench"]


def _help(command: str) -> str:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_bool_type_and_upper_case_arguments(command):
    text = _help(command)
    assert "<bool>" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    # every argument in the usage line is upper case
    words = usage.split("[OPTIONS]", 1)[1].split()
    assert all(w.strip("[]").isupper() for w in words), usage


def test_the_top_level_help_has_no_bool_type():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--version" in result.output and "<bool>" not in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_quiet_and_verbose(command):
    text = _help(command)
    assert "--quiet" in text and "-q" in text
    assert "--verbose" in text and "-v" in text


def test_quiet_and_verbose_together_are_refused():
    result = runner.invoke(app, ["inspect", "m.pt", "-q", "-v"])
    assert result.exit_code == 2
    assert "not both" in result.output


def test_brackets_in_help_are_shown_as_written():
    assert "pip install 'wrt[ray]'" in re.sub(r"\s*│\s*", " ", _help("partials"))


# -- sens and report: one vocabulary, the input distribution ---------------------


@pytest.fixture
def linear(tmp_path):
    """y1 = 2a + 3b, y2 = a - b (float64 TorchScript) and 40 points of (a, b, id)."""
    net = torch.nn.Linear(2, 2, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[2.0, 3.0], [1.0, -1.0]]))
    model = tmp_path / "linear.pt"
    torch.jit.script(net).save(str(model))
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {"a": rng.uniform(-1, 3, 40), "b": rng.normal(0, 2, 40), "id": range(40)}
    )
    table.to_csv(tmp_path / "data.csv", index=False)
    return str(model), str(tmp_path / "data.csv"), table


def _sens(model, data, *extra):
    result = runner.invoke(
        app, ["sens", model, "--data", data, "--inputs", "a,b", "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result


def test_sens_output_name_and_the_variance_option_give_the_closed_form(linear):
    model, data, table = linear
    got, _ = _sens(model, data, "--output-name", "y1", "--variance", "a=0.5")
    y = 2 * table["a"] + 3 * table["b"]
    assert got["output"] == "y1"
    assert got["inputs"]["a"]["dgsm"] == pytest.approx(4.0, rel=1e-12)
    # Sobol' bound of a normal input: variance * DGSM / Var(y)
    bound = got["inputs"]["a"]["sobol_total_bound"]
    assert bound == pytest.approx(0.5 * 4.0 / y.var(), rel=1e-10)
    assert got["inputs"]["b"]["sobol_total_bound"] is None  # no distribution given


@pytest.mark.parametrize("kind", ["uniform", "normal"])
def test_sens_distribution_from_the_data(linear, kind):
    model, data, table = linear
    got, _ = _sens(model, data, "--output-name", "y2", "--distribution", kind)
    y = table["a"] - table["b"]
    for name in ("a", "b"):
        column = table[name]
        constant = (
            (column.max() - column.min()) ** 2 / math.pi**2
            if kind == "uniform"
            else column.var()
        )
        expected = constant * 1.0 / y.var()  # DGSM = 1 for both inputs of y2
        got_bound = got["inputs"][name]["sobol_total_bound"]
        assert got_bound == pytest.approx(expected, rel=1e-10)


def test_sens_explicit_options_win_over_the_distribution(linear):
    model, data, table = linear
    got, _ = _sens(
        model,
        data,
        "--output-name",
        "y2",
        "--distribution",
        "normal",
        "--range",
        "a=0:1",
    )
    y = table["a"] - table["b"]
    a = got["inputs"]["a"]["sobol_total_bound"]
    assert a == pytest.approx(1 / math.pi**2 / y.var(), rel=1e-10)


def test_sens_old_output_option_still_works_and_warns(linear):
    model, data, _ = linear
    got, result = _sens(model, data, "--output", "y2")
    assert got["output"] == "y2"
    assert "--output-name y2" in result.stderr


def test_sens_multi_output_needs_output_name(linear):
    model, data, _ = linear
    result = runner.invoke(app, ["sens", model, "--data", data, "--inputs", "a,b"])
    assert result.exit_code == 2
    assert "--output-name" in result.stderr


def test_sens_order_2_shows_interactions_and_flags_bounds_above_1(linear):
    model, data, _ = linear
    result = runner.invoke(
        app,
        [
            "sens",
            model,
            "--data",
            data,
            "--inputs",
            "a,b",
            "--output-name",
            "y1",
            "--order",
            "2",
            "--variance",
            "a=100",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "interactions of y1" in result.stdout
    assert "a bound above 1 says nothing" in result.stdout
    line = next(x for x in result.stdout.splitlines() if x.startswith("│ a "))
    assert line.rstrip("│ ").endswith("*")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--range", "a=1"], "NAME=LOW:HIGH"),
        (["--range", "a=0:x"], "'x', not a number"),
        (["--variance", "a"], "NAME=V"),
        (["--variance", "a=-1"], "positive"),
        (["--distribution", "cauchy"], "uniform .* or normal"),
        (["--variance", "c=1"], "Unknown input 'c'"),
    ],
)
def test_sens_bad_distribution_options(linear, extra, fragment):
    model, data, _ = linear
    result = runner.invoke(
        app,
        [
            "sens",
            model,
            "--data",
            data,
            "--inputs",
            "a,b",
            "--output-name",
            "y1",
            *extra,
        ],
    )
    assert result.exit_code == 2, result.output
    assert re.search(fragment, result.stderr), result.stderr


def test_report_takes_what_sens_and_check_take(linear, tmp_path):
    model, data, _ = linear
    points = tmp_path / "where.csv"
    pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [0.5, -0.5, 1.0]}).to_csv(
        points, index=False
    )
    result = runner.invoke(
        app,
        [
            "report",
            model,
            "-d",
            "dy1/da",
            "--data",
            data,
            "--points",
            str(points),
            "--inputs",
            "a,b",
            "--outputs",
            "y1,y2",
            "--range",
            "a=-1:3",
            "--distribution",
            "normal",
            "--dtype",
            "float64",
            "-o",
            str(tmp_path / "r.md"),
        ],
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.md").read_text()
    rows = [x for x in text.splitlines() if x.startswith(("| a |", "| b |"))]
    assert len(rows) == 4, rows  # a and b, for y1 and y2
    for row in rows:  # the Sobol' bound column is filled for every input
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert float(cells[-1]) > 0, row


@pytest.mark.parametrize(
    ("argv", "code", "written"),
    [
        (["-o", "r.md"], 0, "r.md"),  # the format follows the suffix
        (["-o", "r.htm"], 0, "r.htm"),
        (["--format", "md", "-o", "r.html"], 2, None),
        (["--format", "html", "-o", "r.md"], 2, None),
        (["--format", "pdf", "-o", "r.pdf"], 2, None),
        (["-o", "r.txt"], 2, None),
    ],
)
def test_report_format_agrees_with_the_suffix(linear, tmp_path, argv, code, written):
    model, data, _ = linear
    argv = [str(tmp_path / a) if a.startswith("r.") else a for a in argv]
    result = runner.invoke(
        app,
        [
            "report",
            model,
            "--data",
            data,
            "--inputs",
            "a,b",
            "--outputs",
            "y1,y2",
            *argv,
        ],
    )
    assert result.exit_code == code, result.output
    made = sorted(p.name for p in tmp_path.glob("r.*"))
    assert made == ([written] if written else []), made
    if written and written.endswith(".md"):
        assert (tmp_path / written).read_text().startswith("#")


# -- pass-through columns -------------------------------------------------------


@pytest.fixture
def labelled(tmp_path):
    """A 2-input model, and 23 points with an id, a label and a weight column."""
    model = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    rng = np.random.default_rng(3)
    table = pd.DataFrame(
        {
            "id": [f"p{i:03d}" for i in range(23)],
            "x1": rng.normal(size=23),
            "label": rng.integers(0, 3, 23),
            "x2": rng.normal(size=23),
            "weight": rng.uniform(size=23),
        }
    )
    table.loc[5, "label"] = 7
    table.to_csv(tmp_path / "points.csv", index=False)
    table.to_parquet(tmp_path / "points.parquet", index=False)
    return str(model), tmp_path, table


def _partials(model, points, *extra):
    return runner.invoke(app, ["partials", model, str(points), "-d", "dy/dx1", *extra])


def _read(path):
    if path.suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text()))
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.mark.parametrize("source", ["points.csv", "points.parquet"])
@pytest.mark.parametrize("sink", ["out.csv", "out.parquet", "out.json"])
@pytest.mark.parametrize("chunk", ["5", "65536"])  # streamed in chunks, and whole
def test_keep_copies_columns_in_row_order(labelled, source, sink, chunk):
    model, tmp, table = labelled
    out = tmp / sink
    result = _partials(
        model, tmp / source, "--keep", "label,id", "--chunk-size", chunk, "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    got = _read(out)
    # inputs, then kept columns in the file's order, then the partials
    assert list(got.columns) == ["x1", "x2", "id", "label", "dy/dx1"]
    assert got["id"].tolist() == table["id"].tolist()
    assert [int(v) for v in got["label"]] == table["label"].tolist()
    np.testing.assert_array_equal(got["x1"].to_numpy(), table["x1"].to_numpy())
    expected = wrt.partials(wrt.load(model), table, ["dy/dx1"])["dy/dx1"].numpy()
    np.testing.assert_allclose(got["dy/dx1"].to_numpy(), expected, rtol=1e-14)


def test_keep_all_and_the_note_without_keep(labelled):
    model, tmp, table = labelled
    result = _partials(model, tmp / "points.parquet", "--keep", "all", "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert list(got) == ["x1", "x2", "id", "label", "weight", "dy/dx1"]
    assert got["weight"] == table["weight"].tolist()  # Parquet keeps its types
    said = _partials(model, tmp / "points.csv", "--json")
    assert "'id', 'label', 'weight'" in said.stderr and "--keep" in said.stderr
    assert list(json.loads(said.stdout)) == ["x1", "x2", "dy/dx1"]
    quiet = _partials(model, tmp / "points.csv", "--json", "-q")
    assert quiet.stderr == ""


@pytest.mark.parametrize(
    ("keep", "fragment"),
    [
        ("lable", "'lable'.*Did you mean 'label'"),
        ("id,nope", "'nope'"),
    ],
)
@pytest.mark.parametrize("sink", ["out.csv", "out.json"])
def test_keep_unknown_columns_are_refused(labelled, keep, fragment, sink):
    model, tmp, _ = labelled
    result = _partials(model, tmp / "points.csv", "--keep", keep, "-o", str(tmp / sink))
    assert result.exit_code == 2
    assert re.search(fragment, result.stderr), result.stderr
    assert not (tmp / sink).exists()


def test_keep_a_column_named_like_a_spec_is_refused(labelled):
    model, tmp, table = labelled
    table.rename(columns={"weight": "dy/dx1"}).to_csv(tmp / "p.csv", index=False)
    result = _partials(model, tmp / "p.csv", "--keep", "all", "-o", str(tmp / "o.csv"))
    assert result.exit_code == 2
    assert "'dy/dx1'" in result.stderr


# -- progress lines when stderr is not a terminal -------------------------------


def test_progress_lines_say_count_share_rate_and_eta(capsys, monkeypatch):
    from wrt.cli import progress

    now = [0.0]
    tracker = progress.Tracker("partials", 1000, "points", None, clock=lambda: now[0])
    for _ in range(4):  # 100 points every 5 s: a line every 10 s
        now[0] += 5.0
        tracker.advance(100)
    tracker.finish()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "wrt: partials: 200/1,000 points (20%), 20 points/s, ETA 40s",
        "wrt: partials: 400/1,000 points (40%), 20 points/s, ETA 30s",
        "wrt: partials: 400 points in 20s, 20 points/s",
    ]


def test_a_short_run_writes_no_progress_line(capsys):
    from wrt.cli import progress

    tracker = progress.Tracker("train", 10, "steps", None, clock=lambda: 0.0)
    tracker.update(10, "loss 1e-3")
    tracker.finish()
    assert capsys.readouterr().err == ""


def test_partials_progress_lines_without_a_terminal(labelled, monkeypatch):
    from wrt.cli import progress

    monkeypatch.setattr(progress, "EVERY", 0.0)
    model, tmp, _ = labelled
    for sink in ("o.csv", "o.json"):  # streamed, and in memory
        result = _partials(
            model, tmp / "points.parquet", "--chunk-size", "10", "-o", str(tmp / sink),
            "--keep", "all",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        lines = [x for x in result.stderr.splitlines() if "partials:" in x]
        assert lines[0].startswith("wrt: partials: 10/23 points (43%)"), lines
        assert "points/s" in lines[0] and "ETA" in lines[0]
        assert lines[-1].startswith("wrt: partials: 23 points in "), lines
        quiet = _partials(
            model, tmp / "points.parquet", "--chunk-size", "10", "--json", "-q"
        )
        assert quiet.exit_code == 0 and quiet.stderr == ""


TRAIN = """
[model]
inputs = ["x", "t"]
outputs = ["u"]
hidden = [4]

[[terms]]
kind = "residual"
expr = "du/dt + u*du/dx"
points = { sampler = "sobol", n = 16, box = { x = [-1, 1], t = [0, 1] } }

[train]
optimizer = "adam+lbfgs"
steps = 5
lbfgs_steps = 4
lr = 1e-3

[output]
folder = "out"
"""


def test_train_progress_summary_and_history_agree_on_steps(tmp_path, monkeypatch):
    from wrt.cli import progress

    monkeypatch.setattr(progress, "EVERY", 0.0)
    (tmp_path / "c.toml").write_text(TRAIN)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "c.toml"])
    assert result.exit_code == 0, result.output
    history = pd.read_csv(tmp_path / "out" / "history.csv")
    reached = int(history["step"].iloc[-1]) + 1
    summary = re.search(r"trained (\d+) steps", result.stdout)
    assert summary and int(summary.group(1)) == reached
    lines = [x for x in result.stderr.splitlines() if x.startswith("wrt: train:")]
    assert lines and "/9 steps" in lines[0] and "loss" in lines[0]
    last = re.match(r"wrt: train: (\d+) steps in", lines[-1])
    assert last and int(last.group(1)) == reached, lines


# -- names, spec readings, expression errors -------------------------------------


@pytest.mark.parametrize(
    ("inputs", "outputs", "spec", "column"),
    [
        (["α", "β"], ["ψ"], "d2ψ/dαdβ", lambda a, b: 2 * a),
        (["x_1", "température"], ["y"], "dy/dtempérature", lambda a, b: a**2),
        (["λ1", "λ2"], ["Ω"], "d2Ω/dλ1^2", lambda a, b: 2 * b),
    ],
)
def test_unicode_identifiers_are_names(inputs, outputs, spec, column):
    model = wrt.wrap(lambda x: x[:, 0] ** 2 * x[:, 1], inputs=inputs, outputs=outputs)
    x = torch.tensor([[1.0, 2.0], [3.0, -4.0]], dtype=torch.float64)
    got = wrt.partials(model, x, [spec])[spec]
    torch.testing.assert_close(got, column(x[:, 0], x[:, 1]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["1x", "x-1", "x 1", "t.0", "", "a+b"])
def test_non_identifiers_are_refused(name):
    with pytest.raises(wrt.InvalidNameError, match="identifiers"):
        wrt.wrap(lambda x: x[:, :1], inputs=[name, "b"])


def test_an_ambiguous_spec_shows_its_two_different_readings():
    from wrt.spec import parse_spec

    with pytest.raises(wrt.SpecError) as info:
        parse_spec("d2y/dadda", inputs=["a", "da", "ad"])
    text = str(info.value)
    readings = re.findall(r"as (\S+) \(inputs ([^)]*)\)", text)
    assert len(readings) == 2, text
    assert readings[0] != readings[1]
    assert {r[1] for r in readings} == {"ad, a", "a, da"}


@pytest.mark.parametrize(
    ("text", "blamed", "says"),
    [
        ("du/dt + u*du/dz", "z", "Unknown input 'z'"),
        ("du/dt + du/dxx", "xx", "Unknown input 'xx'"),
        ("du/dt + dv/dx", "v", "Unknown output 'v'"),
        ("du/dt + d2u/dx^3", "d2u", "states order 2"),
        ("du/dt + 2*", "", "ends too early"),
        ("sin(u + foo", "foo", "unknown name 'foo'"),
    ],
)
def test_expression_errors_point_at_the_bad_token(text, blamed, says):
    from wrt.training.expression import Expression

    with pytest.raises(wrt.ExpressionError) as info:
        Expression(text, ["x", "t"], ["u"])
    message, source, caret = str(info.value).split("\n")
    assert says in message
    column = caret.index("^") - 2
    assert source.strip() == text
    if blamed:
        assert text[column:].startswith(blamed), (text, column)
    else:
        assert column == len(text)


# -- messages about data ------------------------------------------------------------


def _rows(tmp_path, bad_row, bad_text, rows=30, name="p.csv"):
    lines = ["x1,x2"] + [f"{i},{i}" for i in range(rows)]
    lines[bad_row + 1] = f"{bad_row},{bad_text}"
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("bad_row", [0, 3, 17, 29])
@pytest.mark.parametrize("sink", ["o.csv", "o.json"])  # streamed in chunks, whole
def test_the_first_non_numeric_cell_is_named_by_its_row_of_the_file(
    tmp_path, bad_row, sink
):
    model = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    points = _rows(tmp_path, bad_row, "abc")
    result = _partials(
        str(model), points, "--chunk-size", "5", "-o", str(tmp_path / sink)
    )
    assert result.exit_code == 2
    assert f"row {bad_row} (from 0) holds 'abc'" in result.stderr, result.stderr


@pytest.mark.parametrize("bad_row", [2, 13, 26])
def test_a_nan_in_a_later_chunk_is_named_by_its_row_of_the_file(tmp_path, bad_row):
    model = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    points = _rows(tmp_path, bad_row, "nan")
    result = _partials(
        str(model), points, "--chunk-size", "5", "-o", str(tmp_path / "o.csv")
    )
    assert result.exit_code == 2
    assert f"Row {bad_row} (from 0), column 'x2' is nan" in result.stderr, result.stderr


def test_column_names_are_quoted_so_that_spaces_show(tmp_path):
    model = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    (tmp_path / "p.csv").write_text("x1, x2\n1,2\n")
    result = _partials(str(model), tmp_path / "p.csv", "--json")
    assert result.exit_code == 2
    assert "' x2'" in result.stderr


# -- errors speak CLI options on the command line ----------------------------------

_PYTHON_ARGUMENT = re.compile(
    r"\b(inputs|outputs|engine|dtype|chunk_size|module|output|ranges|variances)"
    r"(=|\[')"
)


@pytest.mark.parametrize(
    ("python", "cli"),
    [
        ("Pass your own names (inputs=[...] / outputs=[...], --inputs / --outputs).",
         "Pass your own names (--inputs NAMES / --outputs NAMES)."),
        ("(pass inputs=[...] / --inputs with one name per column).",
         "(pass --inputs NAMES with one name per column)."),
        ("Compare engine='autograd' with engine='taylor' instead.",
         "Compare --engine autograd with --engine taylor instead."),
        ("Compute in float64: dtype='float64' (--dtype float64), or rescale",
         "Compute in float64: --dtype float64, or rescale"),
        ("Rename one of them (e.g. outputs=['u'] / --outputs u).",
         "Rename one of them (e.g. --outputs u)."),
        ("name the inputs after them (inputs=[...]).",
         "name the inputs after them (--inputs NAMES)."),
        ("say which one with output=...", "say which one with --output-name NAME"),
        ("pass e.g. chunk_size=4096, or None", "pass e.g. --chunk-size 4096, or None"),
        ("Unknown input 'c' in variances=.", "Unknown input 'c' in --variance."),
        ("wrt.load(path, module=MyNet()) in Python, or --module package.module:MyNet",
         "--module package.module:MyNet"),
    ],
)  # fmt: skip
def test_python_arguments_are_said_as_cli_options(python, cli):
    from wrt.cli.errors import cli_words

    assert cli_words(python) == cli
    assert not _PYTHON_ARGUMENT.search(cli_words(python))


def _message_texts():
    """The literal text of every message in wrt outside the CLI (f-string parts)."""
    import ast
    from pathlib import Path

    root = Path(wrt.__file__).parent
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "").endswith(
                ("Error", "Warning")
            ):
                parts = [
                    n.value
                    for arg in [*node.args, *(k.value for k in node.keywords)]
                    for n in ast.walk(arg)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)
                ]
                yield path.name, " ".join(" ".join(parts).split())


def test_no_message_reaching_the_cli_speaks_python_arguments():
    from wrt.cli.errors import cli_words

    texts = list(_message_texts())
    assert len(texts) > 300  # the scan sees wrt's messages
    assert any(_PYTHON_ARGUMENT.search(text) for _, text in texts)
    leaks = [
        (name, text) for name, text in texts if _PYTHON_ARGUMENT.search(cli_words(text))
    ]
    assert not leaks, "\n".join(f"{n}: {t}" for n, t in leaks)


def test_a_cli_error_names_the_option(linear):
    model, data, _ = linear
    result = runner.invoke(
        app, ["sens", model, "--data", data, "--inputs", "a,b", "--output-name", "y1",
              "--variance", "c=1"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "in --variance" in result.stderr and "variances=" not in result.stderr


# -- --rename, repeated headers ---------------------------------------------------


@pytest.mark.parametrize("source", ["p.csv", "p.parquet"])
@pytest.mark.parametrize("sink", ["o.csv", "o.json"])  # streamed, and in memory
def test_rename_reads_headers_that_are_not_names(tmp_path, source, sink):
    model = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    rng = np.random.default_rng(5)
    table = pd.DataFrame({"x 1": rng.normal(size=9), "t.0": rng.normal(size=9)})
    table["row id"] = range(9)
    path = tmp_path / source
    _ = (
        table.to_csv(path, index=False)
        if source.endswith("csv")
        else (table.to_parquet(path, index=False))
    )
    out = tmp_path / sink
    result = _partials(
        str(model), path, "--rename", "x 1=x1", "--rename", "t.0=x2",
        "--rename", "row id=id", "--keep", "id", "--chunk-size", "4", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got = _read(out)
    assert list(got.columns) == ["x1", "x2", "id", "dy/dx1"]
    x = table[["x 1", "t.0"]].to_numpy()
    expected = wrt.partials(wrt.load(model), x, ["dy/dx1"])["dy/dx1"].numpy()
    np.testing.assert_allclose(got["dy/dx1"].to_numpy(), expected, rtol=1e-14)
    assert [int(v) for v in got["id"]] == list(range(9))


@pytest.mark.parametrize(
    ("rename", "fragment"),
    [
        (["x_1=x1"], "--rename names the column 'x_1'.*Did you mean 'x 1'"),
        (["x1"], "write OLD=NEW"),
        (["x 1=x2"], "'x2' appears more than once"),
    ],
)
def test_bad_renames_are_refused(tmp_path, rename, fragment):
    model = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    (tmp_path / "p.csv").write_text("x 1,x2\n1,2\n")
    argv = [a for r in rename for a in ("--rename", r)]
    result = _partials(str(model), tmp_path / "p.csv", *argv, "--json")
    assert result.exit_code == 2
    assert re.search(fragment, result.stderr), result.stderr


def test_a_json_table_naming_a_column_twice_is_refused(tmp_path):
    model = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    (tmp_path / "p.json").write_text('{"x1": [1], "x2": [2], "x1": [3]}')
    result = _partials(str(model), tmp_path / "p.json", "--json")
    assert result.exit_code == 2
    assert "names the column 'x1' more than once" in result.stderr


def test_sens_and_check_take_rename(linear, tmp_path):
    model, data, table = linear
    table.rename(columns={"a": "a (m)"}).to_csv(tmp_path / "d.csv", index=False)
    got, _ = _sens(
        model, str(tmp_path / "d.csv"), "--rename", "a (m)=a", "--output-name", "y1"
    )
    assert got["inputs"]["a"]["dgsm"] == pytest.approx(4.0, rel=1e-12)
    result = runner.invoke(
        app, ["check", model, "--data", str(tmp_path / "d.csv"), "--inputs", "a,b",
              "--rename", "a (m)=a", "--json", "--no-verify"],
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    assert "findings" in json.loads(result.stdout)
