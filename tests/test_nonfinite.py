"""NaN and Inf outputs: one missing value everywhere, a warning naming where.

Where a model's output is NaN or Inf, every partial of that output is missing
(NaN in tensors; empty CSV cell, Parquet null, JSON null in files), whatever a
formula would say there, and ``wrt.partials`` warns once with the count and the
first point. Elsewhere the partials equal their closed forms.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

import wrt
from models import save_torchscript
from wrt.cli.app import app
from wrt.data import frame_to_json, json_text, with_missing, write_table

ENGINES = ["auto", "autograd", "taylor", "finite_diff"]
runner = CliRunner()


def _strict(text: str):
    """Parse JSON refusing the NaN / Infinity tokens Python accepts by default."""

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


class SqrtPlusSquare(torch.nn.Module):
    """u = sqrt(x1) + x2^2 (NaN for x1 < 0), v = x2^3 (finite everywhere)."""

    def forward(self, x):
        u = torch.sqrt(x[:, 0]) + x[:, 1] ** 2
        return torch.stack([u, x[:, 1] ** 3], dim=1)


class LogModel(torch.nn.Module):
    """y = log(x1) * x2: NaN for x1 < 0, -Inf at x1 = 0."""

    def forward(self, x):
        return (torch.log(x[:, 0]) * x[:, 1]).unsqueeze(1)


class ExpOverflow(torch.nn.Module):
    """y = exp(x1) + x2: Inf in float32 above x1 ~ 88.7."""

    def forward(self, x):
        return (torch.exp(x[:, 0]) + x[:, 1]).unsqueeze(1)


POINTS = torch.tensor(
    [[1.0, 2.0], [-1.0, 3.0], [4.0, -1.0], [-2.0, 0.5], [9.0, 0.0]],
    dtype=torch.float64,
)


@pytest.mark.parametrize("engine", ENGINES)
def test_partials_where_the_output_is_nan_are_missing_and_warned(engine):
    model = wrt.wrap(SqrtPlusSquare(), inputs=["x1", "x2"], outputs=["u", "v"])
    specs = ["du/dx1", "du/dx2", "d2u/dx1^2", "dv/dx2"]
    with pytest.warns(wrt.NonFiniteWarning) as caught:
        P = wrt.partials(model, POINTS, specs, engine=engine)
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "output u is NaN or Inf at 2 of 5 points" in text
    assert "row 1, x1=-1, x2=3" in text
    bad = POINTS[:, 0] < 0
    x1, x2 = POINTS[:, 0], POINTS[:, 1]
    tol = {"rtol": 1e-6, "atol": 1e-8} if engine == "finite_diff" else {}
    for spec, exact in {
        "du/dx1": 0.5 / torch.sqrt(x1),
        "du/dx2": 2 * x2,  # finite formula, but u is undefined there: missing
        "d2u/dx1^2": -0.25 * x1**-1.5,
    }.items():
        assert torch.isnan(P[spec][bad]).all(), spec
        torch.testing.assert_close(P[spec][~bad], exact[~bad], **tol)
    # v is defined everywhere: its partial is kept at every point, u's gaps or not
    torch.testing.assert_close(P["dv/dx2"], 3 * x2**2, **tol)
    assert [t for t, _ in P.requested] == specs and len(P) == 4


@pytest.mark.parametrize(
    ("module", "points", "count", "first"),
    [
        (LogModel(), [[1.0, 1.0], [0.0, 1.0], [-3.0, 2.0], [2.0, 2.0]], 2, 1),
        (ExpOverflow(), [[0.0, 1.0], [1.0, 1.0], [100.0, 2.0]], 1, 2),
    ],
    ids=["log", "exp-overflow-float32"],
)
def test_every_kind_of_nonfinite_output_is_warned(module, points, count, first):
    model = wrt.wrap(module, inputs=["x1", "x2"], outputs=["y"])
    x = torch.tensor(points, dtype=torch.float32)
    with pytest.warns(wrt.NonFiniteWarning, match=rf"at {count} of {len(points)} "):
        P = wrt.partials(model, x, ["dy/dx1", "dy/dx2"])
    with torch.no_grad():
        ok = torch.isfinite(module(x)[:, 0])
    assert int((~ok).sum()) == count and int(torch.nonzero(~ok)[0]) == first
    for spec in ("dy/dx1", "dy/dx2"):
        assert torch.isnan(P[spec][~ok]).all() and torch.isfinite(P[spec][ok]).all()


def test_a_nonfinite_partial_of_a_finite_output_is_warned_and_kept():
    # sqrt(|x1|) is finite at 0 but its slope is not
    model = wrt.wrap(
        lambda x: torch.sqrt(torch.abs(x[:, 0])) + x[:, 1], inputs=["x1", "x2"]
    )
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 1.0]], dtype=torch.float64)
    with pytest.warns(wrt.NonFiniteWarning, match=r"dy/dx1 is NaN or Inf at 1 of 3"):
        P = wrt.partials(model, x, ["dy/dx1", "dy/dx2"])
    assert not math.isfinite(float(P["dy/dx1"][1]))
    torch.testing.assert_close(P["dy/dx2"], torch.ones(3, dtype=torch.float64))


def test_finite_models_do_not_warn():
    model = wrt.wrap(SqrtPlusSquare(), inputs=["x1", "x2"], outputs=["u", "v"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = wrt.partials(model, POINTS.abs() + 0.5, "du/dx1")
    assert list(P.to_frame().columns) == ["du/dx1"]


def test_training_values_pass_through_untouched():
    model = wrt.wrap(SqrtPlusSquare(), inputs=["x1", "x2"], outputs=["u", "v"])
    P = wrt.partials(model, POINTS, ["du/dx2"], differentiable=True)
    assert float(P["du/dx2"][1].detach()) == 6.0  # its guard reports NaN losses


def test_tables_write_one_missing_value_in_every_format(tmp_path):
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 4.0], "d": [0.5, np.nan, np.inf, -np.inf], "i": range(4)}
    )
    assert with_missing(frame)["d"].isna().tolist() == [False, True, True, True]
    assert np.isinf(frame["d"]).sum() == 2  # the caller's frame is not changed
    write_table(frame, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines()[1:] == [
        "1.0,0.5,0",
        "2.0,,1",
        "3.0,,2",
        "4.0,,3",
    ]
    write_table(frame, tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").column("d").null_count == 3
    write_table(frame, tmp_path / "t.json")
    for text in ((tmp_path / "t.json").read_text(), frame_to_json(frame)):
        assert _strict(text)["d"] == [0.5, None, None, None]


def test_json_text_is_strict_for_any_result():
    value = {
        "a": float("nan"),
        "b": [1.0, float("inf")],
        "c": torch.tensor([1.0, float("-inf")]),
        "d": np.array([[np.nan, 2.0]]),
        "e": np.float32("inf"),
        "f": wrt.Partial("y", {"x": 1}),
    }
    parsed = _strict(json_text(value))
    assert parsed == {
        "a": None,
        "b": [1.0, None],
        "c": [1.0, None],
        "d": [[None, 2.0]],
        "e": None,
        "f": "dy/dx",
    }


@pytest.fixture
def nan_files(tmp_path):
    model = save_torchscript(SqrtPlusSquare().double(), tmp_path / "m.pt")
    table = pd.DataFrame(POINTS.numpy(), columns=["x1", "x2"])
    table.to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "p.json").write_text(json.dumps(table.to_dict(orient="list")))
    return model, tmp_path


def _partials(model, points, *extra):
    args = ["partials", str(model), str(points), "--inputs", "x1,x2"]
    return runner.invoke(
        app, [*args, "--outputs", "u,v", "-d", "du/dx1", "-d", "du/dx2", *extra]
    )


def _one_warning(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("wrt: warning: output u is NaN")
    assert "2 of 5 points" in lines[0] and "row 1, x1=-1, x2=3" in lines[0]


def test_cli_stdout_csv_and_json_leave_the_whole_row_missing(nan_files):
    model, tmp = nan_files
    result = _partials(model, tmp / "p.csv")
    assert result.exit_code == 0, result.output
    _one_warning(result.stderr)
    rows = result.stdout.splitlines()
    assert rows[0] == "x1,x2,du/dx1,du/dx2"
    assert rows[2] == "-1.0,3.0,," and rows[4] == "-2.0,0.5,,"
    assert rows[1] == "1.0,2.0,0.5,4.0"
    result = _partials(model, tmp / "p.csv", "--json")
    assert result.exit_code == 0 and "NaN" not in result.stdout
    _one_warning(result.stderr)
    got = _strict(result.stdout)
    assert got["du/dx1"] == [0.5, None, 0.25, None, 1 / 6]
    assert got["du/dx2"] == [4.0, None, -2.0, None, 0.0]


@pytest.mark.parametrize("suffix", [".json", ".parquet", ".csv"])
def test_cli_output_files_leave_the_whole_row_missing(nan_files, suffix):
    model, tmp = nan_files
    out = tmp / f"out{suffix}"
    result = _partials(model, tmp / "p.json", "-o", str(out))  # JSON in: not streamed
    assert result.exit_code == 0, result.output
    _one_warning(result.stderr)
    if suffix == ".json":
        frame = pd.DataFrame(_strict(out.read_text()))
    else:
        frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert frame["du/dx1"].isna().tolist() == [False, True, False, True, False]
    assert frame["du/dx2"].isna().tolist() == [False, True, False, True, False]
    np.testing.assert_allclose(frame["du/dx2"][[0, 2, 4]], [4.0, -2.0, 0.0])


def test_check_json_with_a_nonfinite_partial_is_valid_and_fails(tmp_path):
    # finite output everywhere, an infinite partial at x1 = 0: the old crash
    save_torchscript(_AbsRoot().double(), tmp_path / "m.pt")
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"x1": rng.normal(size=30), "x2": rng.normal(size=30)})
    data.loc[4, "x1"] = 0.0
    data.to_csv(tmp_path / "d.csv", index=False)
    args = ["check", str(tmp_path / "m.pt"), "--data", str(tmp_path / "d.csv")]
    result = runner.invoke(app, [*args, "--inputs", "x1,x2", "--json"])
    assert result.exit_code == 1, result.output
    found = _strict(result.stdout)["findings"]
    nonfinite = [f for f in found if f["code"] == "nonfinite"]
    assert nonfinite and nonfinite[0]["specs"] == ["dy/dx1"]
    assert nonfinite[0]["first_point"] == 4


class _AbsRoot(torch.nn.Module):
    def forward(self, x):
        return (torch.sqrt(torch.abs(x[:, 0])) + torch.tanh(x[:, 1])).unsqueeze(1)


@pytest.mark.parametrize("kind", ["nan-output", "inf-partial"])
def test_sens_and_report_draw_and_print_nonfinite_values(tmp_path, kind):
    module = SqrtPlusSquare() if kind == "nan-output" else _AbsRoot()
    save_torchscript(module.double(), tmp_path / "m.pt")
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"x1": rng.normal(size=40), "x2": rng.normal(size=40)})
    data.loc[2, "x1"] = 0.0
    data.to_csv(tmp_path / "d.csv", index=False)
    common = [str(tmp_path / "m.pt"), "--data", str(tmp_path / "d.csv")]
    names = ["--inputs", "x1,x2"]
    if kind == "nan-output":
        names += ["--outputs", "u,v", "--output", "u"]
    result = runner.invoke(
        app,
        ["sens", *common, *names, "--order", "2", "--json", "--plots", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    # the engine path names the non-finite output first; sens then names the
    # measures it could not compute
    assert (
        "wrt: warning: du/dx" if kind == "nan-output" else "wrt: warning: dy/dx"
    ) in result.stderr
    parsed = _strict(result.stdout)
    assert parsed["inputs"]["x1"]["mean"] is None
    assert {p.name for p in tmp_path.glob("*.png")} >= {"importance.png", "mean_sd.png"}
    for fmt in ("html", "md"):
        out = tmp_path / f"r.{fmt}"
        result = runner.invoke(
            app, ["report", *common, *names, "-o", str(out), "--format", fmt]
        )
        assert result.exit_code == 0, result.output
        text = out.read_text()
        assert "nonfinite" in text and "NaN or Inf at some points" in text


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_streamed_runs_leave_the_same_rows_missing_and_name_file_rows(tmp_path, suffix):
    model = save_torchscript(SqrtPlusSquare().double(), tmp_path / "m.pt")
    (tmp_path / "p.csv").write_text(
        "x1,x2\n1.5,2.5\n2.5,3.5\n4.5,-1.5\n-2.5,0.5\n9.5,0.5\n"
    )
    out = tmp_path / f"out{suffix}"
    result = _partials(model, tmp_path / "p.csv", "-o", str(out), "--chunk-size", "2")
    assert result.exit_code == 0, result.output
    # the bad point is in the second chunk: its row is counted in the whole file
    assert "wrt: warning: output u is NaN or Inf at 1 of 2 points" in result.stderr
    assert "row 3, x1=-2.5, x2=0.5" in result.stderr
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert frame["du/dx2"].isna().tolist() == [False, False, False, True, False]
    np.testing.assert_allclose(frame["du/dx2"][[0, 1, 2, 4]], [5.0, 7.0, -3.0, 1.0])
    np.testing.assert_allclose(
        frame["du/dx1"][[0, 1, 2, 4]], 0.5 / np.sqrt([1.5, 2.5, 4.5, 9.5])
    )


def test_error_estimates_are_missing_where_the_value_is():
    model = wrt.wrap(SqrtPlusSquare(), inputs=["x1", "x2"], outputs=["u", "v"])
    with pytest.warns(wrt.NonFiniteWarning):
        P = wrt.partials(model, POINTS, ["du/dx2", "dv/dx2"], engine="finite_diff")
    bad = POINTS[:, 0] < 0
    for spec in ("du/dx2", "dv/dx2"):
        error = P.errors[P.key(spec)]
        assert torch.equal(torch.isnan(error), torch.isnan(P[spec]))
    assert torch.isnan(P.errors[P.key("du/dx2")][bad]).all()
    assert torch.isfinite(P.errors[P.key("dv/dx2")]).all()


@pytest.mark.parametrize("compose", ["grad", "jacobian", "hessian"])
def test_every_composition_screens_like_partials(compose):
    # sqrt(x1) + x2^2: at x1 < 0 the output is NaN, and so is every partial there,
    # although autograd's dy/dx2 = 2 x2 is finite.
    model = wrt.wrap(lambda x: torch.sqrt(x[:, 0]) + x[:, 1] ** 2, inputs=["x1", "x2"])
    x = torch.tensor([[1.0, 2.0], [-1.0, 3.0], [4.0, 1.0]], dtype=torch.float64)
    with pytest.warns(wrt.NonFiniteWarning, match=r"output y .* 1 of 3 .* row 1"):
        got = getattr(wrt, compose)(model, x)
    assert torch.isnan(got[1]).all()
    finite = got[[0, 2]]
    assert torch.isfinite(finite).all()
    if compose == "grad":
        expected = torch.tensor([[0.5, 4.0], [0.25, 2.0]], dtype=torch.float64)
        torch.testing.assert_close(finite, expected, rtol=1e-15, atol=0)


def test_differentiable_results_are_not_screened():
    # training: the loss guard names the term and point instead
    model = wrt.wrap(lambda x: torch.sqrt(x[:, 0]) + x[:, 1] ** 2, inputs=["x1", "x2"])
    x = torch.tensor([[-1.0, 3.0]], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", wrt.NonFiniteWarning)
        got = wrt.partials(model, x, "dy/dx2", differentiable=True)
    assert float(got["dy/dx2"][0].detach()) == 6.0
