"""``wrt check``, ``wrt sens`` and ``wrt report``: JSON shapes, exit codes, files."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models import mlp, save_torchscript
from wrt.cli.app import app

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    model = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    rng = np.random.default_rng(0)
    t = rng.uniform(-1, 1, size=200)
    pd.DataFrame({"x1": t, "x2": 1.5 * t}).to_csv(tmp_path / "line.csv", index=False)
    a, b = np.meshgrid(np.linspace(-1, 1, 15), np.linspace(-1.5, 1.5, 15))
    pd.DataFrame({"x1": a.ravel(), "x2": b.ravel()}).to_csv(
        tmp_path / "grid.csv", index=False
    )
    return model, tmp_path


def test_check_json_and_exit_code_on_collinear_data(files):
    model, tmp = files
    result = runner.invoke(
        app, ["check", str(model), "--data", str(tmp / "line.csv"), "--json"]
    )
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    flagged = [f for f in findings if f["code"] == "not-identifiable"]
    assert sorted(f["specs"][0] for f in flagged) == ["dy/dx1", "dy/dx2"]
    assert all(f["severity"] == "error" for f in flagged)
    assert len(flagged[0]["directional_derivative"]) == 200
    assert flagged[0]["direction"] == pytest.approx([0.5547002, 0.8320503])


def test_check_is_clean_on_a_grid_and_says_so(files):
    model, tmp = files
    result = runner.invoke(app, ["check", str(model), "--data", str(tmp / "grid.csv")])
    assert result.exit_code == 0, result.output
    assert "No findings" in result.stdout


def test_check_points_and_specs(files):
    model, tmp = files
    pd.DataFrame({"x1": [0.1, 9.0], "x2": [0.2, 9.0]}).to_csv(
        tmp / "pts.csv", index=False
    )
    result = runner.invoke(
        app,
        ["check", str(model), "--data", str(tmp / "grid.csv"), "--points",
         str(tmp / "pts.csv"), "-d", "d2y/dx1dx2", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    codes = [f["code"] for f in json.loads(result.stdout)["findings"]]
    assert codes == ["far-from-data"]


def test_check_needs_data(files):
    model, _ = files
    result = runner.invoke(app, ["check", str(model)])
    assert result.exit_code == 2


def test_sens_json_and_plots(files):
    model, tmp = files
    result = runner.invoke(
        app,
        ["sens", str(model), "--data", str(tmp / "grid.csv"), "--order", "2",
         "--range", "x1=-1:1", "--plots", str(tmp / "plots"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    assert set(parsed["inputs"]) == {"x1", "x2"}
    assert parsed["inputs"]["x1"]["sobol_total_bound"] > 0
    assert parsed["inputs"]["x2"]["sobol_total_bound"] is None
    assert len(parsed["interactions"]["mean_abs_second_partials"]) == 2
    assert sorted(p.name for p in (tmp / "plots").glob("*.png")) == [
        "importance.png", "interactions.png", "mean_sd.png", "partials_vs_inputs.png"
    ]  # fmt: skip
    bad = runner.invoke(
        app, ["sens", str(model), "--data", str(tmp / "grid.csv"), "--range", "x1=0"]
    )
    assert bad.exit_code == 2 and "NAME=LOW:HIGH" in bad.output


def test_report_writes_html_and_markdown(files):
    model, tmp = files
    out = tmp / "r.html"
    result = runner.invoke(
        app, ["report", str(model), "--data", str(tmp / "line.csv"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "not-identifiable" in out.read_text()
    md = tmp / "m" / "r.md"
    result = runner.invoke(
        app,
        ["report", str(model), "--data", str(tmp / "grid.csv"), "-o", str(md),
         "--format", "md"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert md.exists() and list((tmp / "m").glob("*.png"))
