import numpy as np
import pandas as pd
import pytest
import torch

from wrt.data import as_points, read_table, write_table
from wrt.errors import DataError

NAMES = ["x", "t"]


def test_tensor_array_frame_and_mapping_agree():
    values = np.array([[1.0, 2.0], [3.0, 4.0]])
    expected = torch.from_numpy(values)
    frame = pd.DataFrame({"t": [2.0, 4.0], "x": [1.0, 3.0], "extra": ["a", "b"]})
    for points in (
        values,
        expected,
        frame,
        {"x": [1, 3], "t": [2, 4]},
        values.tolist(),
    ):
        torch.testing.assert_close(as_points(points, NAMES), expected)


def test_dtype_and_one_input_column():
    x = as_points(np.arange(3), ["x"], dtype=torch.float32)
    assert x.shape == (3, 1) and x.dtype == torch.float32


def test_missing_columns_list_the_expected_ones():
    with pytest.raises(
        DataError, match=r"lack column\(s\) 't'.*inputs are 'x', 't'.*has 'x', 'u'"
    ):
        as_points(pd.DataFrame({"x": [1.0], "u": [2.0]}), NAMES)


def test_nan_and_inf_name_row_and_column():
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0], "t": [0.0, 0.0, float("inf")]})
    with pytest.raises(DataError, match=r"Row 2 \(from 0\), column 't' is inf"):
        as_points(frame, NAMES)
    with pytest.raises(DataError, match=r"Row 1 \(from 0\), column 'x' is nan"):
        as_points(torch.tensor([[0.0, 1.0], [float("nan"), 1.0]]), NAMES)


@pytest.mark.parametrize(
    ("points", "fragment"),
    [
        (np.ones((3, 3)), r"shape \(3, 3\)"),
        (np.ones(3), r"shape \(3,\)"),
        (np.array([["a", "b"]]), "must be numbers"),
        (pd.DataFrame({"x": ["a"], "t": ["b"]}), "not numeric"),
    ],
)
def test_bad_points(points, fragment):
    with pytest.raises(DataError, match=fragment):
        as_points(points, NAMES)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_tables_round_trip_exactly(tmp_path, suffix):
    frame = pd.DataFrame({"x": [0.1, 1 / 3, -2e-300], "dy/dx": [np.pi, 1e17, -0.0]})
    write_table(frame, tmp_path / f"t{suffix}")
    back = read_table(tmp_path / f"t{suffix}")
    pd.testing.assert_frame_equal(back, frame, check_exact=True)


def test_bad_table_paths(tmp_path):
    with pytest.raises(DataError, match="No such points file"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "p.txt").write_text("x\n1\n")
    with pytest.raises(DataError, match="suffix"):
        read_table(tmp_path / "p.txt")
    (tmp_path / "p.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="Cannot read"):
        read_table(tmp_path / "p.parquet")
    with pytest.raises(DataError, match="unknown suffix"):
        write_table(pd.DataFrame({"x": [1]}), tmp_path / "o.xlsx")


def test_csv_floats_are_written_in_the_shortest_form_that_reads_back_exactly(tmp_path):
    from wrt.data import read_table, write_table

    rng = np.random.default_rng(7)
    doubles = np.concatenate([[0.1, 1 / 3, 3.0, 1e-300, -2.5e17], rng.normal(size=200)])
    singles = rng.normal(size=len(doubles)).astype(np.float32)
    singles[0] = np.float32(0.1)
    path = tmp_path / "out.csv"
    write_table(pd.DataFrame({"x": doubles, "dy/dx": singles}), path)
    lines = path.read_text().splitlines()
    assert lines[1] == "0.1,0.1"  # not 0.10000000000000001, nor float32's 0.100000001
    back = read_table(path)
    assert np.array_equal(back["x"].to_numpy(), doubles)
    assert np.array_equal(back["dy/dx"].to_numpy().astype(np.float32), singles)
    # float32 results carry float32 precision: at most 9 significant digits
    mantissas = (v.split(",")[1].split("e")[0] for v in lines[1:])
    digits = [m.lstrip("-").replace(".", "").lstrip("0") for m in mantissas]
    assert max(len(d) for d in digits) <= 9


def test_a_finite_point_beyond_float32_is_not_called_infinite():
    from wrt.data import as_points
    from wrt.errors import DataError

    table = pd.DataFrame({"a": [0.5, 1e40], "b": [0.1, 0.2]})
    with pytest.raises(
        DataError,
        match=r"Row 1 \(from 0\), column 'a' is 1e\+40, a finite number beyond",
    ):
        as_points(table, ["a", "b"], dtype=torch.float32)
    assert as_points(table, ["a", "b"], dtype=torch.float64)[1, 0] == 1e40
    with pytest.raises(DataError, match=r"column 'b' is inf"):
        as_points(pd.DataFrame({"a": [0.5], "b": [np.inf]}), ["a", "b"])


def test_unreadable_parquet_is_named_as_parquet_in_one_sentence(tmp_path):
    from wrt.sources import source_columns

    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError) as whole:
        read_table(bad)
    with pytest.raises(DataError) as streamed:
        source_columns(bad, ["x1"])
    for caught in (whole, streamed):
        said = str(caught.value)
        assert "as Parquet: " in said and not said.endswith(".."), said


def test_rows_are_said_alike_for_nan_and_for_text():
    with pytest.raises(DataError, match=r"Row 1 \(from 0\), column 'b' is nan"):
        as_points(torch.tensor([[0.0, 1.0], [2.0, float("nan")]]), ["a", "b"])
    table = pd.DataFrame({"a": [0.0, 1.0], "b": ["1.5", "abc"]})
    with pytest.raises(DataError, match=r"row 1 \(from 0\) holds 'abc'"):
        as_points(table, ["a", "b"])
