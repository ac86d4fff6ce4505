"""The wrt command line: outputs equal the API's, errors exit 2 with two lines."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import wrt
from models import mlp, save_torchscript
from wrt.cli.app import app

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    model = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    rng = np.random.default_rng(0)
    # columns out of order and an extra one: matched by name
    points = pd.DataFrame(
        {"t": rng.normal(size=9), "x": rng.normal(size=9), "id": range(9)}
    )
    points.to_csv(tmp_path / "points.csv", index=False)
    points.to_parquet(tmp_path / "points.parquet", index=False)
    return model, tmp_path


def api(model_path, table, specs):
    m = wrt.load(model_path, inputs=["x", "t"], outputs=["u"])
    return wrt.partials(m, table, specs)


def test_json_equals_the_api(files):
    model, tmp = files
    specs = ["du/dx", "d2u/dtdx", "d3u/dx^3"]
    args = [
        "partials",
        str(model),
        str(tmp / "points.csv"),
        "--inputs",
        "x,t",
        "--outputs",
        "u",
        "--json",
    ]
    for spec in specs:
        args += ["-d", spec]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert list(got) == ["x", "t", *specs]
    table = pd.read_csv(tmp / "points.csv")
    expected = api(model, table, specs)
    for spec in specs:
        np.testing.assert_array_equal(np.array(got[spec]), expected[spec].numpy())
    np.testing.assert_array_equal(np.array(got["x"]), table["x"].to_numpy())


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_output_files(files, suffix):
    model, tmp = files
    out = tmp / f"out{suffix}"
    result = runner.invoke(
        app,
        [
            "partials",
            str(model),
            str(tmp / "points.parquet"),
            "--inputs",
            "x,t",
            "-d",
            "dy/dx",
            "-d",
            "d2y/dt^2",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = wrt.data.read_table(out)
    assert list(frame.columns) == ["x", "t", "dy/dx", "d2y/dt^2"]
    expected = wrt.partials(wrt.load(model, inputs="x,t"), frame, ["dy/dx", "d2y/dt^2"])
    np.testing.assert_array_equal(
        frame["d2y/dt^2"].to_numpy(), expected["d2y/dt^2"].numpy()
    )


def test_order_k_gives_every_partial(files):
    model, tmp = files
    result = runner.invoke(
        app,
        [
            "partials",
            str(model),
            str(tmp / "points.csv"),
            "--inputs",
            "x,t",
            "--order",
            "2",
            "--engine",
            "autograd",
            "--dtype",
            "float64",
        ],
    )
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split(",")
    assert header == ["x", "t", "dy/dx", "dy/dt", "d2y/dx^2", "d2y/dxdt", "d2y/dt^2"]
    assert len(result.stdout.splitlines()) == 1 + 9


def test_chunked_cli_equals_one_batch(files):
    model, tmp = files
    base = [
        "partials",
        str(model),
        str(tmp / "points.csv"),
        "--inputs",
        "x,t",
        "-d",
        "d2y/dxdt",
        "--json",
    ]
    whole = json.loads(runner.invoke(app, base).stdout)
    chunked = json.loads(runner.invoke(app, [*base, "--chunk-size", "2"]).stdout)
    assert whole.keys() == chunked.keys()
    # batch size changes the BLAS kernels' summation order: equal to round-off
    for column in whole:
        np.testing.assert_allclose(chunked[column], whole[column], rtol=1e-13, atol=0)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["-d", "dy/dq"], "Unknown input 'q'"),
        (["-d", "d3y/dxdt"], "states order 3"),
        ([], "No derivative asked for"),
        (["-d", "dy/dx", "--engine", "magic"], "Unknown engine"),
        (["-d", "dy/dx", "--dtype", "float8"], "Unknown dtype"),
    ],
)
def test_bad_input_exits_2_with_what_and_how(files, extra, fragment):
    model, tmp = files
    result = runner.invoke(
        app,
        ["partials", str(model), str(tmp / "points.csv"), "--inputs", "x,t", *extra],
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and fragment in lines[0]
    assert lines[0].startswith("wrt: error:") and lines[1].startswith("wrt: hint:")


def test_missing_columns_and_nan_rows(files):
    model, tmp = files
    result = runner.invoke(
        app, ["partials", str(model), str(tmp / "points.csv"), "-d", "dy/dx1"]
    )
    assert result.exit_code == 2 and "lack column(s) 'x1', 'x2'" in result.stderr
    pd.DataFrame({"x": [0.0, np.nan], "t": [1.0, 2.0]}).to_csv(
        tmp / "nan.csv", index=False
    )
    result = runner.invoke(
        app,
        [
            "partials",
            str(model),
            str(tmp / "nan.csv"),
            "--inputs",
            "x,t",
            "-d",
            "dy/dx",
        ],
    )
    assert (
        result.exit_code == 2 and "Row 1 (from 0), column 'x' is nan" in result.stderr
    )


def test_a_points_file_given_as_model(files):
    _, tmp = files
    result = runner.invoke(
        app,
        ["partials", str(tmp / "points.csv"), str(tmp / "points.csv"), "-d", "dy/dx"],
    )
    assert result.exit_code == 2
    assert "text file starting with 't,x,id'" in result.stderr


def test_version_and_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"wrt {wrt.__version__}"
    result = runner.invoke(app, ["partials", "--help"])
    assert result.exit_code == 0 and "Examples" in result.stdout


def test_console_script_runs(files):
    model, tmp = files
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wrt",
            "partials",
            str(model),
            str(tmp / "points.csv"),
            "--inputs",
            "x,t",
            "-d",
            "dy/dx",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "x,t,dy/dx"
    torch.testing.assert_close(
        torch.tensor(pd.read_csv(tmp / "points.csv")["x"].to_numpy()),
        torch.tensor(
            [float(line.split(",")[0]) for line in done.stdout.splitlines()[1:]],
            dtype=torch.float64,
        ),
    )


def test_debug_shows_the_traceback(files):
    model, tmp = files
    args = ["partials", str(model), str(tmp / "points.csv"), "--inputs", "x,t"]
    result = runner.invoke(app, ["--debug", *args, "-d", "dy/dq"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "SpecError" in result.stderr
    runner.invoke(app, [*args, "-d", "dy/dq"])  # and it does not stick
    assert "Traceback" not in runner.invoke(app, [*args, "-d", "dy/dq"]).stderr


def test_state_dict_with_module_option(tmp_path, monkeypatch):
    (tmp_path / "my_nets.py").write_text(
        "import torch\n\n\n"
        "class Net(torch.nn.Sequential):\n"
        "    def __init__(self):\n"
        "        super().__init__(torch.nn.Linear(2, 4), torch.nn.Tanh(), "
        "torch.nn.Linear(4, 1))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from my_nets import Net

    net = Net()
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "p.csv").write_text("x1,x2\n0.5,0.25\n")
    args = ["partials", str(tmp_path / "weights.pt"), str(tmp_path / "p.csv")]
    result = runner.invoke(app, [*args, "-d", "dy/dx1", "--json"])
    assert result.exit_code == 2 and "--module" in result.stderr
    result = runner.invoke(
        app, [*args, "-d", "dy/dx1", "--module", "my_nets:Net", "--json"]
    )
    assert result.exit_code == 0, result.output
    expected = wrt.partials(net, torch.tensor([[0.5, 0.25]]), "dy/dx1")["dy/dx1"]
    assert json.loads(result.stdout)["dy/dx1"] == [expected.item()]
    inspected = runner.invoke(
        app, ["inspect", str(tmp_path / "weights.pt"), "--module", "my_nets:Net"]
    )
    assert inspected.exit_code == 0 and "torch-pickle" in inspected.stdout


def test_a_format_option_that_does_not_apply(files):
    model, tmp = files
    result = runner.invoke(app, ["inspect", str(model), "--module", "os:path"])
    assert result.exit_code == 2 and "do not apply" in result.stderr


def test_bench_runs_the_checkouts_benchmark(monkeypatch, tmp_path):
    import wrt.cli.bench as bench

    seen = []

    class Done:
        returncode = 0

    monkeypatch.setattr(
        bench.subprocess, "run", lambda cmd, check: seen.append(cmd) or Done
    )
    result = runner.invoke(app, ["bench", "--quick", "--write", str(tmp_path / "b.md")])
    assert result.exit_code == 0, result.output
    assert seen[0][1].endswith("bench/bench_engines.py")
    assert seen[0][2:] == ["--quick", "--write", str(tmp_path / "b.md")]
