"""Output paths: checked before computing, never an input, written atomically."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models import mlp, save_torchscript
from wrt.cli.app import app
from wrt.errors import OutputPathError
from wrt.outputs import atomic_write, output_file, output_folder

UNWRITABLE = Path("/proc/wrt-cannot-write-here")


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def points(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("x1,x2,label\n1,2,a\n3,4,b\n")
    return path


@pytest.mark.parametrize(
    "spell",
    [
        lambda p: p,
        lambda p: Path(f"{p.parent}/./{p.name}"),
        lambda p: Path(f"{p.parent}/../{p.parent.name}/{p.name}"),
        lambda p: Path(os.path.relpath(p)),
    ],
    ids=["same", "dot", "dotdot", "relative"],
)
def test_an_input_is_refused_however_it_is_spelled(points, spell):
    with pytest.raises(OutputPathError, match=r"-o .* is the input file"):
        output_file(spell(points), option="-o", inputs=[points])


def test_links_to_an_input_are_refused(points):
    (points.parent / "soft.csv").symlink_to(points)
    os.link(points, points.parent / "hard.csv")
    for name in ("soft.csv", "hard.csv"):
        with pytest.raises(OutputPathError, match=rf"{name} is the input file"):
            output_file(points.parent / name, option="-o", inputs=[None, points])


def test_a_different_file_beside_the_input_is_fine(points):
    out = output_file(points.parent / "out.csv", option="-o", inputs=[points])
    assert out == points.parent / "out.csv" and not out.exists()


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (lambda d: d, r"is a folder; give a file name in it, e.g. -o .*result\.csv"),
        (lambda d: d / "points.csv" / "o.csv", r"lies under .*points\.csv"),
        (lambda d: d / "points.csv" / "a" / "b" / "o.csv", r"lies under"),
        (lambda d: UNWRITABLE / "o.csv", r"cannot be written"),
        (lambda d: Path(f"{UNWRITABLE}.csv"), r"cannot be written"),
        (lambda d: d / "o.xlsx", r"cannot write a \.xlsx file; use one of \.csv"),
    ],
    ids=["folder", "under-file", "deep-under-file", "proc-dir", "proc", "suffix"],
)  # fmt: skip
def test_places_results_cannot_go(points, where, says):
    before = _files(points.parent)
    with pytest.raises(OutputPathError, match=says):
        output_file(where(points.parent), option="-o", suffixes=[".csv", ".json"])
    assert _files(points.parent) == before  # the probe leaves nothing


def test_a_device_is_not_an_output_file():
    with pytest.raises(OutputPathError, match=r"/dev/null exists and is not a regular"):
        output_file("/dev/null", option="-o")


def test_missing_folders_are_fine_and_not_created_by_the_check(tmp_path):
    out = output_file(tmp_path / "a" / "b" / "o.json", option="-o")
    assert not (tmp_path / "a").exists()
    atomic_write(out, lambda t: t.write_text("{}"))
    assert out.read_text() == "{}"


def test_an_existing_file_is_replaced_only_when_allowed(points):
    old = points.parent / "old.csv"
    old.write_text("mine")
    with pytest.raises(OutputPathError, match=r"exists .* unless you pass --overwrite"):
        output_file(old, option="-o", overwrite=False)
    assert output_file(old, option="-o", overwrite=True) == old


def test_folders(points):
    tmp = points.parent
    with pytest.raises(OutputPathError, match=r"--plots .* is a file, not a folder"):
        output_folder(points, option="--plots")
    with pytest.raises(OutputPathError, match=r"--plots .* lies under"):
        output_folder(points / "figs", option="--plots")
    with pytest.raises(OutputPathError, match=r"--out .* cannot be written"):
        output_folder(UNWRITABLE / "figs", option="--out")
    with pytest.raises(OutputPathError, match=r"is the input file"):
        output_folder(tmp, option="--out", inputs=[points], files=["points.csv"])
    assert output_folder(tmp / "new", option="--out") == tmp / "new"
    assert not (tmp / "new").exists()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, error):
    path = tmp_path / "o.csv"
    path.write_text("old")

    def half(temporary):
        temporary.write_text("half")
        raise error

    with pytest.raises(error):
        atomic_write(path, half)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv"]


# -- the commands ----------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    model = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(40, 2)), columns=["x1", "x2"])
    table["note"] = "keep me"
    table.to_csv(tmp_path / "points.csv", index=False)
    return model, tmp_path / "points.csv"


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_partials_writes_into_new_folders_and_keeps_a_result_unless_told(files, suffix):
    model, points = files
    out = points.parent / "new" / "deeper" / f"o{suffix}"
    base = ["partials", str(model), str(points), "-d", "dy/dx1", "-o", str(out)]
    assert CliRunner().invoke(app, base).exit_code == 0
    first = out.read_bytes()
    again = CliRunner().invoke(app, base)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert out.read_bytes() == first
    out.write_bytes(b"stale")
    assert CliRunner().invoke(app, [*base, "--overwrite"]).exit_code == 0
    assert out.read_bytes() == first
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_points_file_survives_every_spelling_on_the_cli(files, monkeypatch):
    model, points = files
    monkeypatch.chdir(points.parent)
    before = points.read_bytes()
    for spelling in ("points.csv", "./points.csv", str(points), "../" +
                     points.parent.name + "/points.csv"):  # fmt: skip
        result = CliRunner().invoke(
            app, ["partials", str(model), "points.csv", "-d", "dy/dx1", "-o", spelling,
                  "--overwrite"],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "is the input file" in result.stderr
    assert points.read_bytes() == before


def test_report_and_sens_write_where_asked(files):
    model, points = files
    report = points.parent / "reports" / "r.html"
    result = CliRunner().invoke(
        app, ["report", str(model), "--data", str(points), "-o", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert report.read_text().startswith("<!doctype html>")
    figs = points.parent / "figs"
    result = CliRunner().invoke(
        app, ["sens", str(model), "--data", str(points), "--plots", str(figs)]
    )
    assert result.exit_code == 0, result.output
    assert {"importance.png", "mean_sd.png"} <= {p.name for p in figs.iterdir()}


def test_ctrl_c_in_memory_writes_nothing_and_exits_130(files, monkeypatch):
    model, points = files
    out = points.parent / "o.json"

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("wrt.derivatives.partials", ctrl_c)
    result = CliRunner().invoke(
        app, ["partials", str(model), str(points), "-d", "dy/dx1", "-o", str(out)]
    )
    assert result.exit_code == 130, result.output
    assert "nothing was written" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in points.parent.iterdir()) == ["model.pt", "points.csv"]
